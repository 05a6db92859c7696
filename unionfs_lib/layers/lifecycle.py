"""Layer lifecycle: which layer backs a path, copy up a tree, detach a lower, squash.

A lazily loaded lower has a life: the overlay starts over it, copies
everything up bit by bit, marks each directory whose whole subtree now lives
in the upper as opaque ("opaquify"), and finally detaches the lower once
nothing visible depends on it. Checkpoint/restore tools also ask which layer
backs a path.

The functions take the overlay as a plain ``FS`` (they sit beneath the
``OverlayFS`` façade, which calls them) and find its state with
:func:`~unionfs_lib.ops.superblock.overlay_super`.

Layers are numbered as in the ``overlay`` info namespace: 0 is the upper,
1..N the lowers top-first. Detaching lower ``k`` renumbers the lowers beneath
it (``k+1`` becomes ``k``...), exactly as if the overlay had been built
without it.
"""

from __future__ import annotations

import typing
import weakref

import attrs
import fs.errors
from fs.base import FS
from fs.osfs import OSFS

from ..errors import LayerInUse, literal
from ..host.confine import check_inside
from ..host.datacopy import stream_copy
from ..host.layer_io import copy_times, syspaths
from ..host.long_paths import SHORT_ENOUGH, LongPathOSFS
from ..model.paths import join_path
from ..model.progress import ProgressCallback, ProgressTracker
from ..model.records import UPPER, Node
from ..ops.info_ops import overlay_ino
from ..ops.superblock import OverlaySuper, overlay_super
from ..resolve.resolver import Resolver
from .nested_overlays import LayeredFS
from .recorded_fingerprints import forget_lower


@attrs.frozen
class Backing:
    """The layer entry that backs an overlay path (what :func:`which` returns).

    Unpacks as ``index, layer, path``.

    Attributes:
        index: the layer number (0 upper, 1..N lowers top-first).
        layer: the layer FS.
        path: the path inside ``layer`` (differs from the overlay path below
            a renamed directory, whose lower content is found by redirect).
        data_index: the layer holding the file's bytes (differs from
            ``index`` for a metadata-only copy-up).
        data_path: the path of the bytes inside layer ``data_index``.
        data_layer: the layer FS ``data_index`` (``None`` where unknown).

    """

    index: int
    layer: FS
    path: str
    data_index: int
    data_path: str
    data_layer: FS | None = None
    #: The OS path of the entry, found once (``None``: look it up on each call).
    known_syspath: str | None = attrs.field(default=None, eq=False, repr=False, kw_only=True)

    @property
    def syspath(self) -> str | None:
        """The OS path of the entry (:attr:`path` in :attr:`layer`); ``None`` if it has none.

        See :func:`unionfs_lib.host.layer_io.syspaths`.
        """
        if self.known_syspath is not None:
            return self.known_syspath
        found = syspaths(self.layer, self.path)
        return None if found is None else found[0]

    def data_syspath(self) -> str | None:
        """Return the OS path of the file holding the bytes (``None`` if it has none).

        Bytes found through a record (a metadata-only copy-up), not through
        their directory's checked listing, must lie inside their layer:
        ``EscapesLayer`` otherwise (see :func:`unionfs_lib.host.confine.check_inside`).
        """
        if self.known_syspath is not None:  # kept for whole files only
            return self.known_syspath
        layer = self.data_layer
        if layer is None:
            return None
        found = syspaths(layer, self.data_path)
        if found is None:
            return None
        if (self.data_index, self.data_path) != (self.index, self.path):
            check_inside(layer, self.data_path)
        return found[0]

    def __iter__(self) -> typing.Iterator[typing.Any]:
        """Unpack as ``(index, layer, path)``."""
        return iter((self.index, self.layer, self.path))


def which(overlay: FS, path: str) -> Backing:
    """Return the layer index, layer FS and layer path backing ``path``.

    Raises ``ResourceNotFound`` when nothing is visible at ``path``.
    """
    sb = overlay_super(overlay)
    with sb.lock:
        return _kept_backing(sb, _found(overlay, sb, path))


def which_with_ino(overlay: FS, path: str) -> tuple[Backing, int]:
    """Return :func:`which`'s answer and the overlay's ``ino`` of ``path``, from one lookup.

    The ``ino`` is the one ``getinfo(path, ["overlay"])`` reports, without
    building an ``Info``: what a ``stat`` of the FUSE mount needs per entry.
    """
    sb = overlay_super(overlay)
    with sb.lock:
        node = _found(overlay, sb, path)
        backing = _kept_backing(sb, node)
        known = backing.known_syspath if backing.index == UPPER == node.refs[0].layer else None
        if known is not None and backing.path != node.path:
            known = None
        return backing, overlay_ino(sb, node, known)


def _found(overlay: FS, sb: OverlaySuper, path: str) -> Node:
    """Return the node visible at ``path`` (``ResourceNotFound`` if none); call under the lock."""
    node = sb.resolver.lookup(overlay.validatepath(path))
    if node is None:
        raise fs.errors.ResourceNotFound(path)
    return node


#: Backings :func:`_kept_backing` keeps per overlay; all are dropped past this.
KEPT_BACKINGS_LIMIT = 8192


def _kept_backing(sb: OverlaySuper, node: Node) -> Backing:
    """Return the :class:`Backing` of ``node``, its OS path found once per node.

    A mount asks for the same entry's backing in several requests (the
    ``readdirplus`` or ``getattr`` that describes it, the ``open`` that opens
    it). The resolver returns the same (frozen) node for a path until the
    entry or its directory changes, so a backing kept with that node and
    the layers it was made for answers again while both are the same
    objects. Kept only for a whole file or directory (bytes and entry in one
    entry: a metadata-only copy-up checks its data path on every call) of
    an ``OSFS`` layer, whose OS paths follow from the path alone and are
    short enough to need no alias. Call under the overlay's lock.
    """
    kept = sb.backings.get(node.path)
    if kept is not None and kept[0] is node and kept[1] is sb.lowers:
        found: Backing = kept[2]
        return found
    top, data = node.top, node.data_ref
    layer = sb.layer(top.layer)
    if data != top or not isinstance(layer, OSFS):
        return _backing(sb, node)
    fresh = _fresh_syspath(sb, node)
    located = fresh[0] if fresh is not None else _os_path(layer, top.path)
    if located is None or len(located) * 4 > SHORT_ENOUGH:
        return _backing(sb, node)
    backing = Backing(
        top.layer, layer, top.path, top.layer, top.path, layer, known_syspath=located
    )
    if len(sb.backings) >= KEPT_BACKINGS_LIMIT:
        sb.backings.clear()
    sb.backings[node.path] = (node, sb.lowers, backing)
    return backing


def _fresh_syspath(sb: OverlaySuper, node: Node) -> list[str] | None:
    """Return the OS path the overlay has just made file ``node`` at, if nothing changed since.

    What :func:`~unionfs_lib.host.layer_io.syspaths` gives for it (see
    :attr:`~unionfs_lib.ops.superblock.OverlaySuper.fresh_file`), without
    working it out a second time for the ``getattr`` that follows a create.
    """
    fresh = sb.fresh_file
    if fresh is None or fresh[2] is None or fresh[0] != node.path or node.top.layer != UPPER:
        return None
    if fresh[1] != sb.resolver.generation or node.top.path != node.path:
        return None
    return [fresh[2]]


#: ``OSFS`` classes whose OS path of ``path`` is their root's followed by
#: ``path`` (``OSFS.getsyspath``; ``LongPathOSFS`` for paths short enough).
_PLAIN_OSFS = (OSFS, LongPathOSFS)

#: The OS path of the root of each such layer, with a final separator.
_ROOT_PREFIXES: weakref.WeakKeyDictionary[FS, str] = weakref.WeakKeyDictionary()


def _os_path(layer: OSFS, path: str) -> str | None:
    """Return the OS path of ``path`` in ``layer`` (``None`` if it has none).

    What :func:`~unionfs_lib.host.layer_io.syspaths` gives, for a layer of
    exactly ``OSFS`` or ``LongPathOSFS`` found by joining the root's OS path
    (asked of the layer once) and ``path``: a listing of the mount finds
    every entry's backing. A joined path too long to be used as it is is
    not kept (:func:`_kept_backing` checks it).
    """
    if type(layer) in _PLAIN_OSFS:
        prefix = _ROOT_PREFIXES.get(layer)
        if prefix is None:
            prefix = _ROOT_PREFIXES[layer] = OSFS.getsyspath(layer, "/")
        return prefix + path.lstrip("/")
    located = syspaths(layer, path)
    return None if located is None else located[0]


def _backing(sb: OverlaySuper, node: Node) -> Backing:
    """Return the :class:`Backing` of ``node``."""
    top, data = node.top, node.data_ref
    layer = sb.layer(top.layer)
    data_layer = layer if data.layer == top.layer else sb.layer(data.layer)
    return Backing(top.layer, layer, top.path, data.layer, data.path, data_layer)


# -- copy_up_tree ------------------------------------------------------------


def copy_up_tree(
    overlay: FS, path: str = "/", progress: ProgressCallback | None = None
) -> int:
    """Copy up everything visible under ``path``; return the number of entries copied.

    Files are streamed by the overlay's copy-up engine, one at a time under
    the overlay lock (other threads interleave between files). Directories
    are visited depth-first; after its subtree, each directory whose every
    visible child now lives only in the upper is marked opaque, so lookups
    and listings below it no longer touch the lowers. ``progress`` receives
    one event per visible entry.
    """
    sb = overlay_super(overlay)
    with sb.lock:
        _path = overlay.validatepath(path)
        sb.writable_upper(path)
        node = sb.resolver.lookup(_path)
        if node is None:
            raise fs.errors.ResourceNotFound(path)
    total = count_entries(overlay, _path) if progress is not None else None
    tracker = ProgressTracker("copy-up-tree", progress, total)
    if not node.is_dir:
        return _copy_up_file(sb, _path, tracker)
    copied = 0
    stack: list[tuple[str, bool]] = [(_path, False)]
    while stack:
        dir_path, finished = stack.pop()
        if finished:
            with sb.lock:
                opaquify(sb, dir_path)
            continue
        with sb.lock:
            dir_node = sb.resolver.dir_node(dir_path)
            if dir_node is None:
                continue
            if not dir_node.in_upper:
                # The node changes with the copy-up: list the fresh one, never
                # the stale one (the resolver would cache it again).
                dir_node = sb.copier.ensure_dir(sb, dir_path)
                copied += 1
            names = list(sb.resolver.names(dir_node))
        tracker.step(dir_path)
        stack.append((dir_path, True))
        subdirs = []
        for name in names:
            child_path = join_path(dir_path, name)
            with sb.lock:
                child = sb.resolver.lookup(child_path)
            if child is None:
                continue
            if child.is_dir:
                subdirs.append(child_path)
            else:
                copied += _copy_up_file(sb, child_path, tracker)
        stack.extend((sub, False) for sub in reversed(subdirs))
    # Every copy-up and opaque marker above updated the caches as it went.
    return copied


def _copy_up_file(sb: OverlaySuper, path: str, tracker: ProgressTracker) -> int:
    """Copy up one file unless its data is in the upper already; return 0 or 1."""
    with sb.lock:
        node = sb.resolver.lookup(path)
        if node is None or node.is_dir:
            return 0
        size = node.info.size if node.info is not None and node.info.has_namespace("details") else 0
        copied = 0
        if node.data_ref.layer != UPPER:
            sb.copier.copy_up(sb, node)
            copied = 1
    tracker.step(path, size)
    return copied


def opaquify(sb: OverlaySuper, path: str) -> bool:
    """Mark upper directory ``path`` opaque if its whole subtree lives in the upper.

    That is: the directory still has lower layers merged in, and every
    visible child is an upper entry that needs nothing below it. Returns
    whether the marker was set. The view does not change.
    """
    node = sb.resolver.dir_node(path)
    if node is None or not node.in_upper or not node.lower_refs:
        return False
    for name in sb.resolver.names(node):
        child = sb.resolver.child(node, name)
        if child is None or not _upper_only(child):
            return False
    sb.store.set_opaque(sb.writable_upper(path), path)
    # The nodes below lose their lower view with it: forget them.
    sb.resolver.refresh(path, subtree=True)
    return True


def _upper_only(node: Node) -> bool:
    """Tell whether ``node`` (and its data) lives only in the upper."""
    if node.is_dir:
        return all(ref.layer == UPPER for ref in node.refs)
    return node.in_upper and node.data_ref.layer == UPPER


def count_entries(overlay: FS, path: str = "/") -> int:
    """Count the visible entries under ``path`` (itself included)."""
    sb = overlay_super(overlay)
    count = 0
    stack = [path]
    while stack:
        current = stack.pop()
        with sb.lock:
            node = sb.resolver.lookup(current)
            if node is None:
                continue
            count += 1
            if node.is_dir:
                stack.extend(join_path(current, name) for name in sb.resolver.names(node))
    return count


# -- detach_lower ------------------------------------------------------------


def detach_lower(overlay: LayeredFS, index: int) -> FS:
    """Remove lower ``index`` (1..N) from the overlay and return it.

    Refused with :class:`~unionfs_lib.errors.LayerInUse`, naming the first
    path concerned, unless the view without the layer is the same as now:
    the same names, types and backing entries everywhere. A layer that still
    provides an entry, or that hides an entry of a layer beneath it (a
    whiteout or opaque directory in a lower), cannot go. The check walks the
    whole merged tree once over the current layers and once over the
    remaining ones (cached listings make the first walk cheap); run
    :func:`copy_up_tree` first to move everything into the upper.

    The returned FS is no longer used by the overlay (nor closed by it) and
    can be closed. Files opened through the overlay before the detach keep
    reading from it until they are closed.
    """
    sb = overlay_super(overlay)
    with sb.lock:
        if not 1 <= index <= len(sb.lowers):
            raise fs.errors.ResourceNotFound(f"lower layer {index} (there are {len(sb.lowers)})")
        detached = sb.lowers[index - 1]
        remaining = sb.lowers[: index - 1] + sb.lowers[index:]
        candidate = attrs.evolve(sb.resolver, layers=(sb.upper, *remaining))
        _check_same_view(sb.resolver, candidate, index)
        forget_lower(overlay, index)
        sb.replace_lowers(remaining, candidate)
        return detached


def _check_same_view(old: Resolver, new: Resolver, removed: int) -> None:
    """Raise ``LayerInUse`` at the first path where the two resolvers differ."""

    def renumber(layer: int) -> int:
        if layer == removed:
            return -1
        return layer - 1 if layer > removed else layer

    def refuse(path: str, reason: str) -> typing.NoReturn:
        message = f"cannot detach lower layer {removed}: '{path}' {reason}"
        raise LayerInUse(path, msg=literal(message))

    stack = ["/"]
    while stack:
        path = stack.pop()
        before, after = old.lookup(path), new.lookup(path)
        if before is None or after is None or before.is_dir != after.is_dir:
            refuse(path, "would change type or vanish without it")
        if before.top.layer == removed or before.data_ref.layer == removed:
            refuse(path, "is provided by it (copy it up first: copy_up_tree)")
        for mine, theirs in ((before.top, after.top), (before.data_ref, after.data_ref)):
            if renumber(mine.layer) != theirs.layer or mine.path != theirs.path:
                refuse(path, "refers to a layer number that would shift (copy it up first)")
        if not before.is_dir:
            continue
        names, other = old.names(before), new.names(after)
        if names != other:
            extra = sorted(set(names).symmetric_difference(other))
            refuse(join_path(path, extra[0]), "is hidden or provided by it")
        stack.extend(join_path(path, name) for name in reversed(names))


# -- squash --------------------------------------------------------------------


def squash(overlay: FS, target: FS, progress: ProgressCallback | None = None) -> FS:
    """Write the merged view of ``overlay`` into the empty FS ``target``; return it.

    The result is one plain layer with no markers: the overlay's visible
    tree, with file data streamed in chunks and modification times kept. It
    can serve as the single lower of a new overlay. Only the public FS API of
    ``overlay`` is used, so any FS can be squashed. Raises
    ``DirectoryNotEmpty`` if ``target`` is not empty.
    """
    if not target.isempty("/"):
        raise fs.errors.DirectoryNotEmpty("/", msg="the squash target must be an empty FS")
    total = sum(1 for _ in overlay.walk.info("/")) + 1 if progress is not None else None
    tracker = ProgressTracker("squash", progress, total)
    tracker.step("/")
    _squash_dir(overlay, target, "/", tracker)
    return target


def _squash_dir(source: FS, target: FS, root: str, tracker: ProgressTracker) -> None:
    """Copy directory ``root`` depth-first; directory times are set after their content."""
    stack: list[tuple[str, bool]] = [(root, False)]
    while stack:
        path, finished = stack.pop()
        if finished:
            if path != "/":
                copy_times(source, path, target, path)
            continue
        stack.append((path, True))
        infos = sorted(source.scandir(path, namespaces=["details"]), key=lambda i: i.name)
        subdirs = []
        for info in infos:
            child = join_path(path, info.name)
            if info.is_dir:
                target.makedir(child)
                subdirs.append(child)
                tracker.step(child)
            else:
                size = stream_copy(source, child, target, child)
                copy_times(source, child, target, child)
                tracker.step(child, size)
        stack.extend((sub, False) for sub in reversed(subdirs))
