"""Commit an overlay's changes into a writable FS, or discard them from the upper.

:func:`commit` applies :func:`~unionfs_lib.changesets.changes.changes` to ``target``,
typically the real directory the lower reads (opened as its own FS). It
first checks every path it would touch: the target must hold what the
lowers showed there (the whole subtree for a deletion), or already what the
merged view shows (a commit interrupted earlier got that far). Anything else
means someone changed the target meanwhile, and the commit raises
:class:`~unionfs_lib.errors.CommitConflict` before writing anything.

Then each entry is applied in one atomic step: a file is streamed to a
temporary name in a work area at the target's root (``/.unionfs-commit``)
and renamed into place, a directory is created with one ``makedir``, and a
deletion renames the doomed entry into the work area before removing it. A
crash therefore leaves every entry old or new, and running ``commit`` again
finishes the job. Additions and modifications go first (parents before
children), then deletions, and last the old paths of renamed directories.
A directory renamed by redirect and otherwise unchanged (a plain ``mv``) is
committed as one directory rename where the target renames in one step (an
FS with OS paths, or a ``MemoryFS``); a renamed directory whose content also
changed is committed entry by entry.

Symbolic links are data. A link in the merged view (one made by
``symlink``, whatever it points to, even outside every layer) is committed
as a link with the same target text, made with ``os.symlink`` and renamed
into place, never followed or read through; a target without OS paths
cannot hold one, and the commit raises ``Unsupported`` naming it before
writing anything. A link in the target is never followed either: the
commit checks every directory above every path it writes or removes with
``lstat`` and raises :class:`~unionfs_lib.errors.LinkInPath`, having
written nothing, where the target holds a link it would have to descend
through; a link the commit replaces or removes goes as a link, and trees
leave through :mod:`unionfs_lib.host.safe_tree`.

The upper is only read: a failed commit leaves it as it was. After a commit
into the directory a lower reads, call ``discard()`` and ``invalidate()`` to
see the same view with an empty upper.

:func:`discard` reverts paths (or everything) to the lowers' view by
removing their upper entries, whiteouts, opaque markers, redirects and
identity records, through the whiteout store.
"""

from __future__ import annotations

import hashlib
import logging
import os
import typing
import uuid

import attrs
import fs.errors
from fs.base import FS
from fs.error_tools import convert_os_errors
from fs.memoryfs import MemoryFS

from ..errors import CannotDiscard, CommitConflict, ReservedName, literal
from ..host import syscalls
from ..host.datacopy import stream_copy
from ..host.layer_io import syspaths
from ..host.safe_tree import (
    DIR,
    LINK,
    check_no_link_above,
    clear_dir,
    entry_kind,
    move_tree,
    readlink,
    remove_entry,
    remove_tree,
    rename_dir,
    walk_entries,
)
from ..model.paths import components, is_same_or_below, join_path, split_path
from ..model.progress import ProgressCallback, ProgressTracker
from ..model.records import CHUNK_SIZE, UPPER, Node
from ..ops.dir_ops import vacate_if_vacated_beneath
from ..ops.special_files import special_digest, write_special
from ..ops.superblock import overlay_super
from ..resolve.name_probe import NameProbe
from .changes import DELETED, Change, changes, sort_key

log = logging.getLogger(__name__)

#: The work area a commit keeps at the target's root while it runs.
COMMIT_AREA = "/.unionfs-commit"

State = typing.Optional[typing.Tuple[typing.Any, ...]]


@attrs.frozen
class Step:
    """One planned action of a commit.

    ``action`` is ``write``, ``makedir``, ``link`` (to ``link``, the stored
    target text), ``metadata``, ``remove`` or ``rename`` (of ``source`` to
    the change's path).
    """

    change: Change
    action: str
    source: str | None = None
    link: str | None = None


# -- commit --------------------------------------------------------------------


def commit(
    overlay: FS,
    target: FS,
    paths: typing.Iterable[str] | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> int:
    """Apply the changes (all, or those at and beneath ``paths``) to ``target``.

    Returns the number of entries written or removed. Raises
    :class:`~unionfs_lib.errors.CommitConflict` (having written nothing) when
    the target no longer holds what the lowers showed.
    """
    with overlay_super(overlay).lock:
        found = selected_changes(overlay, paths)
        planner = Planner(overlay, target)
        planner.prepare(found)
        steps = [step for change in found if (step := planner.plan(change)) is not None]
        tracker = ProgressTracker("commit", progress, len(steps))
        clear_area(target)
        try:
            for step in sorted(steps, key=planner.phase):
                apply_step(overlay, target, step)
                tracker.step(step.change.path)
        finally:
            clear_area(target)
    return len(steps)


def selected_changes(overlay: FS, paths: typing.Iterable[str] | None) -> list[Change]:
    """Return the changes at and beneath ``paths`` (every change for ``None``), sorted."""
    if paths is None:
        return changes(overlay, detailed=True)
    chosen: dict[str, Change] = {}
    for path in paths:
        for change in changes(overlay, path, detailed=True):
            chosen[change.path] = change
    return [chosen[path] for path in sorted(chosen, key=sort_key)]


@attrs.define
class Planner:
    """Decides what a commit does for each change, checking the target first."""

    overlay: FS
    target: FS
    probe: NameProbe = attrs.field(init=False)
    #: new path -> source of the renamed directories committed by one rename
    renames: dict[str, str] = attrs.field(factory=dict)
    #: lower paths that directories renamed by redirect came from
    sources: set[str] = attrs.field(factory=set)
    #: paths committed as links: nothing beneath them is committed
    links: set[str] = attrs.field(factory=set)
    #: target directories found to be real ones (not links) on the way to a path
    checked: set[str] = attrs.field(factory=set)

    def __attrs_post_init__(self) -> None:
        """Build the name probe over the overlay's layers."""
        self.probe = NameProbe(overlay_super(self.overlay).resolver)

    def prepare(self, found: list[Change]) -> None:
        """Find the renamed directories that one rename in the target can commit.

        That is a directory renamed by redirect whose old path is deleted and
        whose upper directory holds nothing of its own (a plain ``mv``), on a
        target that renames directories in one step.
        """
        self.sources = {change.source for change in found if change.source is not None}
        if not renames_atomically(self.target):
            return
        deleted = {change.path for change in found if change.kind == DELETED}
        store, upper = overlay_super(self.overlay).store, overlay_super(self.overlay).layer(UPPER)
        for change in found:
            if change.source is None or change.source not in deleted or self.covered(change):
                continue
            listing = store.read_dir(upper, change.path, with_info=False)
            if not listing.entries and not listing.whiteouts:
                self.renames[change.path] = change.source

    def covered(self, change: Change) -> bool:
        """Tell whether ``change`` lies beneath a directory committed by one rename, or a link."""
        return any(change.path.startswith(path + "/") for path in (*self.renames, *self.links))

    def phase(self, step: Step) -> int:
        """Order of the steps: writes first, then removals, the renamed sources last.

        A directory renamed by redirect shows its old lower content until its
        source goes, so a commit interrupted before then can still read it.
        """
        if step.action != "remove":
            return 0
        return 2 if step.change.path in self.sources else 1

    def plan(self, change: Change) -> Step | None:
        """Return the step that brings the target to the merged view, or ``None``.

        Raises :class:`CommitConflict` when the target holds neither the old
        nor the new state, :class:`~unionfs_lib.errors.LinkInPath` when a
        directory above the path in the target is a link, ``Unsupported``
        for a link the target cannot hold, and ``ReservedName`` for the
        commit's own work area.
        """
        if self.covered(change):
            return None
        if is_same_or_below(change.path, COMMIT_AREA):
            raise ReservedName(change.path)
        check_no_link_above(self.target, change.path, self.checked)
        if change.path in self.renames:
            check_no_link_above(self.target, self.renames[change.path], self.checked)
            return self._plan_rename(change, self.renames[change.path])
        if change.kind == DELETED and self.below_dangling_redirect(change.path):
            log.warning("not committing the deletion of %s: its directory's redirect "
                        "target is gone from the lowers (an interrupted commit?)", change.path)
            return None
        new = self.new_state(change)
        link = new[1] if new is not None and new[0] == "link" else None
        if link is not None:
            self.links.add(change.path)
            if syspaths(self.target, "/") is None:
                message = f"cannot commit symbolic link '{change.path}': the target has no OS paths"
                raise fs.errors.Unsupported(change.path, msg=literal(message))
        deep = change.kind == DELETED or (change.is_dir is False and self.lower_is_dir(change))
        old = self.old_state(change.path, deep)
        actual = tree_state(self.target, change.path, deep)
        if actual == new:
            if change.kind == DELETED or link is not None:
                return None  # nothing to do (a link has no metadata of its own to set)
            return Step(change, "metadata")
        if actual != old:
            raise CommitConflict(change.path)
        if change.kind == DELETED:
            return Step(change, "remove")
        if link is not None:
            return Step(change, "link", link=link)
        return Step(change, "makedir" if change.is_dir else "write")

    def _plan_rename(self, change: Change, source: str) -> Step | None:
        """Plan the one rename of ``source`` to ``change.path`` in the target."""
        old = self.old_state(source, deep=True)
        at_source = tree_state(self.target, source, deep=True)
        at_path = tree_state(self.target, change.path, deep=True)
        if at_path is None and at_source == old:
            return Step(change, "rename", source)
        if at_source is None and at_path == old:
            return Step(change, "metadata")
        raise CommitConflict(change.path if at_path is not None else source)

    def below_dangling_redirect(self, path: str) -> bool:
        """Tell whether an ancestor of ``path`` is a renamed directory whose source is gone.

        Its lower content no longer shows, so what the lowers hold beneath it
        looks deleted; after an interrupted commit into the lower, that
        content is what the commit already moved there.
        """
        resolver = overlay_super(self.overlay).resolver
        current = "/"
        for name in components(path)[:-1]:
            current = join_path(current, name)
            node = self.probe.lookup(current, UPPER)
            if node is None or not node.is_dir:
                return False
            if node.in_upper and not node.lower_refs and resolver.flags(node.top)[1]:
                return True
        return False

    def lower_is_dir(self, change: Change) -> bool:
        """Tell whether the lowers show a directory at the change's path."""
        node = self.probe.lookup(change.path, 1)
        return node is not None and node.is_dir

    def new_state(self, change: Change) -> State:
        """Return the merged view's state at the change's path (``None`` when deleted)."""
        if change.kind == DELETED:
            return None
        node = self.probe.lookup(change.path, UPPER)
        link = self._link_text(node) if node is not None else None
        if link is not None:
            return ("link", link)
        if change.is_dir:
            return ("dir",)
        return ("file", digest(self.overlay, change.path))

    def _link_text(self, node: Node) -> str | None:
        """Return the stored target of ``node`` if it is a symbolic link in its layer."""
        layer = overlay_super(self.overlay).layer(node.top.layer)
        if entry_kind(layer, node.top.path) != LINK:
            return None
        return readlink(layer, node.top.path)

    def old_state(self, path: str, deep: bool) -> State:
        """Return the lowers' state at ``path`` (with the whole subtree when ``deep``).

        A link is a link (its target text), never walked into.
        """
        node = self.probe.lookup(path, 1)
        if node is None:
            return None
        link = self._link_text(node)
        if link is not None:
            return ("link", link)
        if not node.is_dir:
            top = node.top
            return ("file", digest(overlay_super(self.overlay).layer(top.layer), top.path))
        if not deep:
            return ("dir",)
        entries = []
        links: set[str] = set()
        for child in self.probe.walk(node, 1, enter=lambda found: found.path not in links):
            relative = child.path[len(path) :]
            link = self._link_text(child)
            if link is not None:
                links.add(child.path)
                entries.append((relative, "link:" + link))
            elif child.is_dir:
                entries.append((relative, "dir"))
            else:
                layer = overlay_super(self.overlay).layer(child.top.layer)
                entries.append((relative, digest(layer, child.top.path)))
        return ("dir", tuple(sorted(entries)))


def tree_state(layer: FS, path: str, deep: bool) -> State:
    """Return the state of ``path`` in ``layer``: ``None``, a file's digest, a link, or a directory.

    With ``deep`` a directory's state lists its whole subtree. A link is its
    target text: it is never followed, nor walked into.
    """
    kind = entry_kind(layer, path)
    if kind is None:
        return None
    if kind == LINK:
        return ("link", readlink(layer, path))
    if kind != DIR:
        return ("file", digest(layer, path))
    if not deep:
        return ("dir",)
    entries = []
    for found, found_kind, target in walk_entries(layer, path):
        relative = found[len(path) :] if path != "/" else found
        if found_kind == LINK:
            entries.append((relative, f"link:{target}"))
        else:
            entries.append((relative, "dir" if found_kind == DIR else digest(layer, found)))
    return ("dir", tuple(sorted(entries)))


def digest(layer: FS, path: str) -> str:
    """Return the SHA-256 of a file's bytes, read in chunks."""
    special = special_digest(layer, path)  # a FIFO is never read
    if special is not None:
        return special
    hasher = hashlib.sha256()
    with layer.openbin(path, "r") as data:
        for chunk in iter(lambda: data.read(CHUNK_SIZE), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


# -- applying --------------------------------------------------------------------


def apply_step(overlay: FS, target: FS, step: Step) -> None:
    """Apply one planned step to ``target``, atomically."""
    path = step.change.path
    if step.action == "remove":
        if entry_kind(target, path) is not None:  # a rename may have taken it already
            _set_aside(target, path)
    elif step.action == "rename":
        assert step.source is not None
        target.makedirs(split_path(path)[0], recreate=True)
        move_tree(target, step.source, path)
        copy_metadata(overlay, target, path, path)
    elif step.action == "link":
        assert step.link is not None
        _write_link(target, path, step.link)
    elif step.action == "makedir":
        target.makedirs(split_path(path)[0], recreate=True)
        if entry_kind(target, path) is not None:  # a file or link replaced by a directory
            temp = _area_name(target)
            target.makedir(temp)
            copy_metadata(overlay, target, path, temp)
            _replace_other_type(target, temp, path)
        else:
            target.makedir(path, recreate=True)
            copy_metadata(overlay, target, path, path)
    elif step.action == "write":
        _write_file(overlay, target, path)
    else:
        copy_metadata(overlay, target, path, path)


def _write_file(overlay: FS, target: FS, path: str) -> None:
    """Stream a merged file to a temporary name in the target, then rename it into place."""
    temp = _area_name(target)
    if not write_special(overlay, path, target, temp):  # special files: a new node
        stream_copy(overlay, path, target, temp)
    copy_metadata(overlay, target, path, temp)
    _put_in_place(target, temp, path)


def _write_link(target: FS, path: str, text: str) -> None:
    """Make link ``path`` -> ``text`` in the target: made in the work area, renamed into place.

    The link keeps no metadata of its own (setting times or a mode on it
    would reach what it points to).
    """
    temp = _area_name(target)
    found = syspaths(target, temp)
    assert found is not None  # the plan refused a target without OS paths
    with convert_os_errors("symlink", path):
        os.symlink(text, found[0])
    _put_in_place(target, temp, path)


def _put_in_place(target: FS, temp: str, path: str) -> None:
    """Rename non-directory ``temp`` over ``path``: a file or link there is replaced, unfollowed."""
    target.makedirs(split_path(path)[0], recreate=True)
    if entry_kind(target, path) == DIR:  # a directory replaced by a file or link
        _replace_other_type(target, temp, path)
        return
    found = syspaths(target, temp, path)
    if found is None:
        target.move(temp, path, overwrite=True)
        return
    with convert_os_errors("move", path):
        os.rename(found[0], found[1])


def _replace_other_type(target: FS, temp: str, path: str) -> None:
    """Put ``temp`` at ``path`` where an entry of the other type stands.

    On an FS with OS paths the two are swapped by one ``renameat2``
    (``RENAME_EXCHANGE``), so ``path`` is never missing; the old entry then
    leaves from the work area. Elsewhere it takes two steps.
    """
    found = syspaths(target, temp, path)
    if found is not None:
        try:
            syscalls.renameat2(found[0], found[1], syscalls.RENAME_EXCHANGE)
        except OSError:
            pass
        else:
            _set_aside(target, temp)
            return
    _set_aside(target, path)
    if entry_kind(target, temp) == DIR:
        move_tree(target, temp, path)
    else:
        _put_in_place(target, temp, path)


def copy_metadata(overlay: FS, target: FS, path: str, dest: str) -> None:
    """Give ``dest`` in the target the merged entry's permissions and modified time."""
    info = overlay.getinfo(path, namespaces=["details", "access"])
    raw: dict[str, dict[str, typing.Any]] = {}
    modified = info.raw.get("details", {}).get("modified")
    if modified is not None:
        raw["details"] = {"modified": modified, "accessed": modified}
    if info.has_namespace("access") and info.permissions is not None:
        raw["access"] = {"permissions": info.permissions.dump()}
    if raw:
        target.setinfo(dest, raw)


def renames_atomically(target: FS) -> bool:
    """Tell whether ``target`` renames a directory in one step (OS paths, or a MemoryFS)."""
    return isinstance(target, MemoryFS) or syspaths(target, "/") is not None


def _area_name(target: FS) -> str:
    """Return a fresh name in the target's commit work area (creating the area).

    Anything but a real directory at the area's name (a link, even to a
    directory) is removed as what it is first, never followed.
    """
    kind = entry_kind(target, COMMIT_AREA)
    if kind != DIR:
        if kind is not None:
            remove_entry(target, COMMIT_AREA)
        target.makedir(COMMIT_AREA, recreate=True)
    return join_path(COMMIT_AREA, uuid.uuid4().hex)


def _set_aside(target: FS, path: str) -> None:
    """Remove ``path`` from the target: a directory leaves by one rename first.

    A link, even to a directory, is removed as a link; a tree is removed
    without following any link in it (:mod:`unionfs_lib.host.safe_tree`).
    """
    if entry_kind(target, path) != DIR:
        remove_entry(target, path)
        return
    temp = _area_name(target)
    move_tree(target, path, temp)
    remove_tree(target, temp)


def clear_area(target: FS) -> None:
    """Remove the commit work area (and what an interrupted commit left in it).

    A link standing at the area's name is removed as a link, never emptied.
    """
    if entry_kind(target, COMMIT_AREA) is not None:
        remove_entry(target, COMMIT_AREA)


# -- discard ---------------------------------------------------------------------


def discard(overlay: FS, paths: typing.Iterable[str] | None = None) -> None:
    """Revert ``paths`` (everything for ``None``) to the lowers' view.

    Raises ``ResourceLocked`` when a path at or beneath one of them has an
    open handle, and :class:`~unionfs_lib.errors.CannotDiscard` when an
    ancestor directory hides or replaces the lowers' directory (discard that
    ancestor instead). Nothing is removed unless every path passes.
    """
    with overlay_super(overlay).lock:
        sb = overlay_super(overlay)
        upper = sb.writable_upper("/")
        chosen = ["/"] if paths is None else [overlay.validatepath(path) for path in paths]
        probe = NameProbe(sb.resolver)
        for path in chosen:
            _check_discard(overlay, probe, path)
        for path in sorted(set(chosen), key=sort_key):
            if path == "/":
                _discard_all(upper)
                sb.resolver.clear(upper_only=True)
            else:
                _discard_entry(overlay, upper, path)
                sb.resolver.invalidate(path, subtree=True)


def _check_discard(overlay: FS, probe: NameProbe, path: str) -> None:
    """Refuse a path that is open, reserved, unknown, or not revertible alone."""
    sb = overlay_super(overlay)
    opened = sb.open_paths(path)
    if opened:
        raise fs.errors.ResourceLocked(opened[0])
    if any(sb.store.is_reserved(name) for name in components(path)):
        raise ReservedName(path)
    if path == "/":
        return
    check_no_link_above(sb.layer(UPPER), path)  # never reach through a link out of the upper
    merged, lower = probe.lookup(path, UPPER), probe.lookup(path, 1)
    if merged is None and lower is None and not _in_upper(sb.layer(UPPER), path):
        raise fs.errors.ResourceNotFound(path)
    parent_path = split_path(path)[0]
    parent, lower_parent = probe.lookup(parent_path, UPPER), probe.lookup(parent_path, 1)
    if lower_parent is None or not lower_parent.is_dir:
        return
    if parent is None or not parent.is_dir or parent.lower_view != parent_path:
        raise CannotDiscard(path)


def _in_upper(upper: FS, path: str) -> bool:
    """Tell whether the upper holds an entry at ``path`` (a whiteout included)."""
    try:
        return upper.exists(path)
    except fs.errors.FSError:
        return False


def _discard_entry(overlay: FS, upper: FS, path: str) -> None:
    """Remove the upper entry, whiteout and identity record of ``path``."""
    store = overlay_super(overlay).store
    parent = split_path(path)[0]
    if entry_kind(upper, parent) != DIR:
        return
    store.remove_whiteout(upper, path)
    store.set_record(upper, path, None)
    kind = entry_kind(upper, path)
    if kind == DIR:
        vacate_if_vacated_beneath(overlay_super(overlay), path)
        try:
            temp = overlay_super(overlay).work.temp_path()
        except fs.errors.Unsupported:
            remove_tree(upper, path)
            return
        rename_dir(upper, path, temp)
        remove_tree(upper, temp)
    elif kind is not None:  # a file, or a link (even to a directory): never followed
        remove_entry(upper, path)


def _discard_all(upper: FS) -> None:
    """Empty the upper: every entry and marker of its root goes, links as links."""
    clear_dir(upper, "/")
