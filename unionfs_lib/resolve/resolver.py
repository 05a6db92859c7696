"""Lookup: resolving overlay paths to the layer entries that back them.

This is the overlay's ``namei.c``. A path resolves to a :class:`Node` whose
``refs`` list the layer entries behind it, top-most first: one entry for a
file, the merge stack for a directory. The rules are Linux overlayfs's:

* lookup goes top-down and stops at a whiteout or an opaque directory;
* a non-directory hides everything beneath it, and a directory hides a
  non-directory beneath it (the merge of that name stops there);
* directories at the same path in several layers merge;
* a directory carrying a redirect takes its lower content from the redirect
  target, looked up in the layers beneath the one holding the redirect.

Lower layers are read-only, so what is read from them is cached: one
:class:`~unionfs_lib.stores.marker_whiteouts.DirListing` per layer directory, and one merged
child table per overlay directory, both in LRU caches bounded by a documented
budget (:data:`DEFAULT_LISTING_BUDGET` entries, :data:`DEFAULT_DIR_BUDGET`
directories). Upper listings are cached the same way. The overlay's own
changes update the caches in place, name by name (:meth:`Resolver.refresh`),
so a change costs the same in any directory; :meth:`Resolver.invalidate` and
:meth:`Resolver.clear` drop them after changes the overlay did not make.

The resolver is written in three parts, one job each: this module resolves
paths (layer listings, nodes, merge stacks); :mod:`.merging` merges the
child tables of directories (:class:`~.merging.TableMerging`);
:mod:`.cache_upkeep` keeps the caches right after changes
(:class:`~.cache_upkeep.CacheUpkeep`).
"""

from __future__ import annotations

import typing

import attrs
from fs.base import FS

from ..host.confine import check_entry_inside, check_inside
from ..host.tar_index import indexed
from ..model.paths import join_path, split_path
from ..model.records import (
    EMPTY_LISTING,
    UPPER,
    Candidate,
    DirListing,
    EntryRecord,
    LayerRef,
    MergedDir,
    Node,
)
from ..stores.whiteout_store import WhiteoutStore
from .cache_upkeep import _GENERATIONS, CacheUpkeep
from .caches import IndexedCache, LRUCache, UpperPathIndex
from .inode_numbers import derived_ino, ino_key
from .link_index import LinkIndex
from .merging import TableMerging

#: Total directory entries kept in the per-layer listing cache. A lower
#: listing is kept in columns (see :mod:`unionfs_lib.model.listing_columns`) and a merged
#: table keeps no object per entry (see :mod:`unionfs_lib.resolve.merged_table`): about
#: 40-120 bytes per lower entry, so full caches of lower entries take about
#: 0.1 GiB; pass ``cache_entries=`` to ``OverlayFS`` to change both budgets.
DEFAULT_LISTING_BUDGET = 1_000_000
#: Merged-directory child entries kept in the directory cache.
DEFAULT_DIR_BUDGET = 1_000_000
#: Most candidates kept built by the merged tables, which keep no object per
#: entry (see :mod:`unionfs_lib.resolve.merged_table`).
MEMO_BUDGET = 16_384

@attrs.define
class Resolver(TableMerging, CacheUpkeep):
    """Resolves overlay paths over a layer list, caching what it reads.

    ``layers[0]`` is the upper (or ``None`` for a read-only overlay) and
    ``layers[1:]`` the lowers, top-most first. ``scope`` arguments name the
    first layer a lookup may use: 0 for the overlay itself, ``k`` for "the
    layers from ``k`` down", which is what redirects resolve against.

    :attr:`generation` changes whenever what a path resolves to may have
    changed: every change the overlay makes reaches :meth:`refresh`, and
    changes made behind its back reach :meth:`invalidate` or :meth:`clear`.
    Front ends keep answers tagged with it (see :mod:`unionfs_lib.fsspec`).
    """

    layers: tuple[FS | None, ...]
    store: WhiteoutStore
    listing_budget: int = DEFAULT_LISTING_BUDGET
    dir_budget: int = DEFAULT_DIR_BUDGET
    #: ``id()`` of lower layers that were a flattened nested overlay's upper
    #: (see :mod:`unionfs_lib.layers.nested_overlays`): their metadata-only copy-up records
    #: still apply, counting data layers from that layer's own position.
    record_layers: frozenset[int] = frozenset()
    _listings: LRUCache[tuple[int, str], DirListing] = attrs.field(init=False)
    _dirs: LRUCache[tuple[int, str], MergedDir] = attrs.field(init=False)
    _flags: LRUCache[tuple[int, str], tuple[bool, str | None]] = attrs.field(init=False)
    _memo: LRUCache[tuple[int, str], Candidate] = attrs.field(init=False)
    #: the symbolic links of cached upper listings (see :mod:`.link_types`)
    _links: LinkIndex = attrs.field(init=False, factory=LinkIndex)
    #: the views lower layers are read through, by layer index (see :meth:`reader`)
    _readers: dict[int, FS] = attrs.field(init=False, factory=dict)

    _below: UpperPathIndex = attrs.field(init=False)
    #: A new value after every change to the caches' view (never reused).
    generation: int = attrs.field(
        init=False, eq=False, repr=False, factory=lambda: next(_GENERATIONS)
    )

    def __attrs_post_init__(self) -> None:
        """Create the caches (their upper keys indexed by directory, see :meth:`_forget`)."""
        self._below = UpperPathIndex()
        self._listings = IndexedCache(self.listing_budget, self._below)
        self._dirs = IndexedCache(self.dir_budget, self._below)
        self._flags = IndexedCache(self.dir_budget, self._below)
        self._memo = LRUCache(min(self.dir_budget, MEMO_BUDGET))
        self._below.caches = (self._listings, self._dirs, self._flags)

    # -- layer listings ------------------------------------------------------

    def reader(self, index: int) -> FS | None:
        """Return layer ``index`` as the lookup reads it (``None`` for a missing upper).

        A ``TarFS`` lower is read through a :class:`~unionfs_lib.host.tar_index.TarIndex`
        (made once per layer): the layer itself scans the whole archive for
        every listing and every absent name. Other layers are read as they are.
        """
        layer = self.layers[index]
        if layer is None or index == UPPER:
            return layer
        found = self._readers.get(index)
        if found is None:
            found = self._readers[index] = indexed(layer)
        return found

    def listing(self, ref: LayerRef) -> DirListing:
        """Return the store's reading of layer directory ``ref`` (cached)."""
        key = (ref.layer, ref.path)
        found = self._listings.get(key)
        if found is None:
            layer = self.reader(ref.layer)
            if layer is None:
                return EMPTY_LISTING
            self._check_inside(layer, ref)
            found = self.store.read_dir(layer, ref.path, with_info=ref.layer != UPPER)
            self._listings.put(key, found, found.weight)
            if ref.layer == UPPER:
                self._links.note(ref.path, found.links)
        return found

    def _check_inside(self, layer: FS, ref: LayerRef) -> None:
        """Refuse to list layer directory ``ref`` if it resolves outside its layer.

        A directory whose parent's listing is cached was reached through that
        listing, which was checked when it was read: only the directory itself
        can still be a link, and one ``lstat`` decides
        (:func:`~unionfs_lib.host.confine.check_entry_inside`). Otherwise its whole
        path is resolved, one ``lstat`` per component: done for every
        directory of a chain, that cost grew with the square of its depth.
        """
        if ref.path != "/" and (ref.layer, split_path(ref.path)[0]) in self._listings:
            check_entry_inside(layer, ref.path)
        else:
            check_inside(layer, ref.path)

    def flags(self, ref: LayerRef) -> tuple[bool, str | None]:
        """Return ``(opaque, redirect)`` of layer directory ``ref``.

        Taken from the cached listing when there is one; otherwise asked of the
        store without listing the directory (which may be huge), and cached.
        """
        key = (ref.layer, ref.path)
        listing = self._listings.get(key)
        if listing is not None:
            return listing.opaque, listing.redirect
        found = self._flags.get(key)
        if found is None:
            layer = self.reader(ref.layer)
            found = (False, None) if layer is None else self.store.dir_flags(layer, ref.path)
            self._flags.put(key, found)
        return found

    # -- resolution ----------------------------------------------------------

    def root(self, scope: int = UPPER) -> Node:
        """Return the merged root directory as seen from layer ``scope`` down."""
        cached = self._dirs.get((scope, "/"))
        if cached is not None:
            return cached.node
        refs: list[LayerRef] = []
        for index in range(scope, len(self.layers)):
            if self.layers[index] is None:
                continue
            ref = LayerRef(index, "/")
            refs.append(ref)
            if self.listing(ref).opaque:
                break
        node = Node("/", True, tuple(refs), "/" if scope == UPPER else None)
        self._dirs.put((scope, "/"), MergedDir(node))
        return node

    def dir_node(self, path: str, scope: int = UPPER) -> Node | None:
        """Return the directory at canonical ``path``, or ``None`` if it is not one.

        The walk starts at the deepest ancestor the cache holds, found from
        the bottom up, and resolves (and caches) only the levels beneath it:
        a directory whose parent is cached costs one step at any depth.
        """
        cached = self._dirs.get((scope, path))
        if cached is not None:
            return cached.node
        if path == "/":
            return self.root(scope)
        node, end = self._deepest_cached(path, scope)
        while end < len(path):
            following = path.find("/", end + 1)
            if following < 0:
                following = len(path)
            child = self.child(node, path[end + 1 : following], scope)
            if child is None or not child.is_dir:
                return None
            self._dirs.put((scope, path[:following]), MergedDir(child))
            node, end = child, following
        return node

    def _deepest_cached(self, path: str, scope: int) -> tuple[Node, int]:
        """Return the deepest cached proper ancestor of ``path`` and where its path ends.

        The root is the ancestor of last resort (ending at offset 0).
        """
        end = len(path)
        while True:
            end = path.rfind("/", 0, end)
            if end <= 0:
                return self.root(scope), 0
            cached = self._dirs.get((scope, path[:end]))
            if cached is not None:
                return cached.node, end

    def lookup(self, path: str, scope: int = UPPER) -> Node | None:
        """Return the entry at canonical ``path``, or ``None`` if nothing is visible."""
        if path == "/":
            return self.root(scope)
        cached = self._dirs.get((scope, path))
        if cached is not None:
            return cached.node
        parent_path, name = split_path(path)
        merged = self._dirs.get((scope, parent_path))
        if merged is not None and merged.children is not None:
            # The hot path: the parent's table is cached and knows the name.
            candidate = merged.children.get(name)
            if candidate is None:
                return None
            if candidate.node is not None:
                return candidate.node
            return self._node_of(merged.node, name, candidate)
        parent = self.dir_node(parent_path, scope)
        if parent is None:
            return None
        return self.child(parent, name, scope)

    def child(self, parent: Node, name: str, scope: int = UPPER) -> Node | None:
        """Resolve ``name`` inside merged directory ``parent``."""
        candidate = self.children(parent, scope).get(name)
        if candidate is None:
            return None
        if candidate.node is not None:
            return candidate.node
        return self._node_of(parent, name, candidate)

    def _node_of(self, parent: Node, name: str, candidate: Candidate) -> Node:
        """Return the node of ``parent``'s child ``name``, merged as ``candidate``."""
        generation = 0
        if candidate.refs[0].layer == UPPER:
            record, generation = self._record(parent, name)
        else:
            record = self.lower_record(candidate) if self.record_layers else None
        node = self.resolve(parent, name, candidate, record, generation)
        if not candidate.is_dir:
            # A file's node depends on nothing else but its record, which is
            # read from the cached upper listing; a change to either replaces
            # the candidate (see refresh), so the node is kept with it.
            candidate.node = node
        return node

    def resolve(
        self,
        parent: Node,
        name: str,
        candidate: Candidate,
        record: EntryRecord | None,
        generation: int = 0,
    ) -> Node:
        """Turn a merged child table entry into a node, reading its own markers.

        A directory's merge stack stops at an opaque layer and continues at a
        redirect's target in the layers beneath the one holding the redirect.
        ``generation`` is how many times the upper's ``name`` was vacated
        (see :func:`unionfs_lib.resolve.inode_numbers.ino_key`).
        """
        path = join_path(parent.path, name)
        key = ino_key(parent, path, generation) if candidate.refs[0].layer == UPPER else None
        if not candidate.is_dir:
            return Node(path, False, (candidate.refs[0],), None, candidate.info, record, key)
        refs, view = merge_stack(self.flags, self.dir_node, parent, name, candidate.refs)
        info = candidate.info if refs[0].layer != UPPER else None
        return Node(path, True, tuple(refs), view, info, record, key)

    def _record(self, parent: Node, name: str) -> tuple[EntryRecord | None, int]:
        """Return the upper's identity record for ``name`` in ``parent``, and its generation."""
        if not parent.refs or parent.refs[0].layer != UPPER:
            return None, 0
        listing = self.listing(parent.refs[0])
        generation = listing.vacated.get(name, 0) if listing.vacated else 0
        return self.parse_record(listing.records.get(name)), generation

    def lower_record(self, candidate: Candidate) -> EntryRecord | None:
        """Return the metadata-only copy-up record of a flattened nested upper's file.

        Its data layer is counted from that layer, so it is shifted by the
        layer's position here; other records of a lower layer do not apply.
        """
        top = candidate.refs[0]
        if candidate.is_dir or id(self.layers[top.layer]) not in self.record_layers:
            return None
        parent, name = split_path(top.path)
        record = self.parse_record(self.listing(LayerRef(top.layer, parent)).records.get(name))
        if record is None or record.data is None or top.layer + record.data[0] >= len(self.layers):
            return None
        data = (top.layer + record.data[0], record.data[1])
        return EntryRecord(derived_ino(top.layer, top.path), top.layer, data)

    def parse_record(self, raw: bytes | None) -> EntryRecord | None:
        """Parse a raw identity record (``None`` stays ``None``; see ``EntryRecord.load``)."""
        return EntryRecord.load(raw, len(self.layers) - 1) if raw is not None else None


def merge_stack(
    flags: typing.Callable[[LayerRef], tuple[bool, str | None]],
    find_dir: typing.Callable[[str, int], Node | None],
    parent: Node,
    name: str,
    candidates: typing.Iterable[LayerRef],
) -> tuple[list[LayerRef], str | None]:
    """Return the merge stack of directory ``name`` in ``parent`` and its lower view.

    ``candidates`` are the layer directories holding the name, top-most
    first. The stack stops at an opaque layer and continues at a redirect's
    target, found with ``find_dir(path, first layer)`` in the layers beneath
    the one holding the redirect. The lower view is where the lower layers
    show the directory's content (``None`` when none can exist).
    """
    view = join_path(parent.lower_view, name) if parent.lower_view else None
    refs: list[LayerRef] = []
    for ref in candidates:
        refs.append(ref)
        opaque, redirect_marker = flags(ref)
        if opaque:
            return refs, view if ref.layer != UPPER else None
        if redirect_marker is not None:
            found = redirect_target(redirect_marker, ref, parent)
            if found is None:
                return refs, view if ref.layer != UPPER else None
            redirect, scope = found
            if ref.layer == UPPER:
                view = redirect
            target = find_dir(redirect, scope)
            if target is not None:
                refs.extend(target.refs)
            return refs, view
    return refs, view


def redirect_target(redirect: str, ref: LayerRef, parent: Node) -> tuple[str, int] | None:
    """Return where a redirect found at ``ref`` points: ``(path, first layer)``.

    Absolute redirects are looked up from the layer below ``ref``. A relative
    one (Linux overlayfs writes a bare name for a rename within one directory)
    names an entry of the parent's directory in the layers beneath, as the
    kernel looks it up in the parent's lower dentries: for the upper, in the
    parent's ``lower_view``; for a lower layer, in the parent's next layer
    entry (which has followed the parent's own redirect). ``None`` when the
    parent has nothing beneath.
    """
    if redirect.startswith("/"):
        return redirect, ref.layer + 1
    if ref.layer == UPPER:
        return (join_path(parent.lower_view, redirect), 1) if parent.lower_view else None
    for below in parent.refs:
        if below.layer > ref.layer:
            return join_path(below.path, redirect), below.layer
    return None



__all__ = [
    "DEFAULT_DIR_BUDGET",
    "DEFAULT_LISTING_BUDGET",
    "Resolver",
    "merge_stack",
    "redirect_target",
]
