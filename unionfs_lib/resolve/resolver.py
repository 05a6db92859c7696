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
"""

from __future__ import annotations

import bisect
import itertools
import typing

import attrs
from fs.base import FS
from fs.info import Info

from ..host.confine import check_entry_inside, check_inside
from ..host.tar_index import indexed
from ..host.util import folds_case, is_same_or_below, join_path, split_path
from ..model.listing_columns import listing_columns
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
from .caches import IndexedCache, LRUCache, UpperPathIndex
from .inode_numbers import derived_ino, ino_key
from .link_index import LinkIndex
from .merged_table import MergedTable

#: Total directory entries kept in the per-layer listing cache. A lower
#: listing is kept in columns (see :mod:`unionfs_lib.model.listing_columns`) and a merged
#: table keeps no object per entry (see :mod:`unionfs_lib.resolve.merged_table`): about
#: 40-120 bytes per lower entry, so full caches of lower entries take about
#: 0.1 GiB; pass ``cache_entries=`` to ``OverlayFS`` to change both budgets.
DEFAULT_LISTING_BUDGET = 1_000_000
#: Merged-directory child entries kept in the directory cache.
DEFAULT_DIR_BUDGET = 1_000_000
#: Source of :attr:`Resolver.generation` values, shared by every resolver so
#: that a resolver built to replace another never repeats one of its values.
_GENERATIONS = itertools.count(1)
#: Most candidates kept built by the merged tables, which keep no object per
#: entry (see :mod:`unionfs_lib.resolve.merged_table`).
MEMO_BUDGET = 16_384

@attrs.define
class Resolver:
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

    def children(self, parent: Node, scope: int = UPPER) -> typing.Mapping[str, Candidate]:
        """Return the visible children of merged directory ``parent`` (cached).

        Only the current node of ``parent.path`` is cached. A caller holding a
        node from before a change gets a merge of that node's refs, uncached:
        a stale node put back in the cache would hide the change from every
        later lookup (a ``movedir`` merge once copied a directory up twice).
        """
        key = (scope, parent.path)
        merged = self._dirs.get(key)
        if merged is None:
            self.dir_node(parent.path, scope)
            merged = self._dirs.get(key)
        if merged is None or (merged.node is not parent and merged.node != parent):
            return self._merge(parent.refs)
        if merged.children is None:
            merged.children = self._table(parent)
            self._dirs.put(key, merged, 1 + len(merged.children))
        return merged.children

    def _table(self, parent: Node) -> MergedTable:
        """Merge the child table of cached directory ``parent`` (no object per entry).

        A directory only one lower layer holds needs no merge: its columnar
        listing serves as the table.
        """
        sources = [(ref, self.listing(ref)) for ref in parent.refs]
        return MergedTable.merge(sources, self._memo)

    def names(self, parent: Node, scope: int = UPPER) -> list[str]:
        """Return the visible child names of ``parent`` in sorted order (cached).

        The list is shared with the cache: callers must not modify it.
        """
        children = self.children(parent, scope)
        merged = self._dirs.get((scope, parent.path))
        if merged is None:
            return sorted(children)
        if merged.names is None:
            table = merged.children
            if isinstance(table, MergedTable):
                merged.names = table.sorted_names()
            else:
                merged.names = sorted(children)
        return merged.names

    def children_in_name_order(
        self, parent: Node, scope: int = UPPER, build: bool = False
    ) -> list[Candidate]:
        """Return the candidates of :meth:`names`, in the same order (cached with them).

        Listings walk it in step with the names: no table lookup per name, and
        the candidates were made in name order, so memory is read in sequence.
        A :class:`~unionfs_lib.resolve.merged_table.MergedTable` keeps no object per entry:
        for it the list is empty unless ``build`` (iteration, whose batches
        hand out nodes) makes and keeps a candidate for every entry.
        """
        names = self.names(parent, scope)
        merged = self._dirs.get((scope, parent.path))
        if merged is None or merged.names is not names:
            children = self.children(parent, scope)
            return [children[name] for name in names]
        table = merged.children
        if type(table) is MergedTable and not table.materialized:
            if not build:
                return []  # listings read the table itself (see info.child_infos)
            table.materialize()
        if merged.in_name_order is None:
            assert merged.children is not None
            children = merged.children
            merged.in_name_order = [children[name] for name in names]
        return merged.in_name_order

    def _merge(self, refs: tuple[LayerRef, ...]) -> dict[str, Candidate]:
        """Merge the listings of a directory's layers into one child table."""
        return merge_listings((ref, self.listing(ref)) for ref in refs)

    @property
    def cacheable_entries(self) -> int:
        """The largest directory (entries in all layers) worth merging into the cache."""
        return min(self.listing_budget, self.dir_budget) // 4

    def cached_names(self, parent: Node, scope: int = UPPER) -> list[str] | None:
        """Return the sorted child names if they are cached already, else ``None``."""
        merged = self._dirs.get((scope, parent.path))
        if merged is None or merged.children is None or merged.node != parent:
            return None
        return self.names(parent, scope)


    def lower_has(self, parent: Node, name: str) -> bool:
        """Tell whether the lower layers show ``name`` inside ``parent``.

        This decides whether removing or renaming the upper entry must leave a
        whiteout behind.
        """
        if parent.lower_view is None:
            return False
        if not any(ref.layer != UPPER for ref in parent.refs):
            return False
        lower_parent = self.dir_node(parent.lower_view, scope=1)
        if lower_parent is None:
            return False
        cached = self._dirs.get((1, lower_parent.path))
        if cached is not None and cached.children is not None and cached.node == lower_parent:
            return name in cached.children
        # One name merged from the (cached) lower listings: no second table of
        # a big directory just to answer for one name.
        pairs = [(ref, name_listing(self.listing(ref), name)) for ref in lower_parent.refs]
        return name in merge_listings(pairs)

    # -- invalidation --------------------------------------------------------

    def refresh(
        self, path: str, subtree: bool = False, now: DirListing | None = None
    ) -> None:
        """Bring the caches up to date after the overlay itself changed upper ``path``.

        The overlay calls this after it created, removed, whited out, renamed
        or copied up the entry at ``path``, or changed its markers. Only what
        depends on that entry is touched, so the cost does not grow with the
        size of its directory: the store reads ``path``'s name alone again
        (a few calls on the upper), which updates the parent's cached upper
        listing and merged child table in place, sorted names included; what
        was cached for ``path`` itself (with ``subtree``, also below it) is
        forgotten. A directory that was just copied up keeps its merged
        table, since an empty upper directory adds nothing to it.

        ``now`` is what the upper holds about the name (a listing of that
        name alone, as the store's ``read_name`` gives it), for a caller that
        knows it exactly: it is then not read back.

        A change can also change the type of a cached upper symbolic link
        elsewhere (its target appeared, went or changed type): those links
        are checked again afterwards (see :mod:`unionfs_lib.resolve.link_index`).

        Changes the overlay did not make itself need :meth:`invalidate` or
        :meth:`clear`.
        """
        self.generation = next(_GENERATIONS)
        if path == "/":
            self.invalidate(path, subtree)
            return
        self._refresh_path(path, subtree, now)
        self._recheck_links(path)

    def _refresh_path(self, path: str, subtree: bool, now: DirListing | None) -> None:
        """Update the caches for upper ``path`` itself (see :meth:`refresh`)."""
        previous = self._dirs.get((UPPER, path))
        self._forget(path, subtree)
        parent, name = split_path(path)
        if not self._refresh_name(parent, name, now):
            self._forget(parent)
            return
        if previous is not None and not subtree:
            self._keep_table_after_copy_up(path, previous)

    def _forget(self, path: str, subtree: bool = False) -> None:
        """Drop what is cached for upper ``path`` itself (and, with ``subtree``, below it).

        The paths below come from the index of cached upper paths, so the cost
        is proportional to what is cached below ``path``, not to the caches.
        """
        paths = [path, *self._below.pop_subtree(path)] if subtree else [path]
        for cache in (self._listings, self._flags, self._dirs):
            for below in paths:
                cache.discard((UPPER, below))
        self._links.forget(paths)

    def _recheck_links(self, changed_path: str) -> None:
        """Bring cached upper links up to date after a change at ``changed_path``.

        A link whose target's type changed is read again by name; what is
        cached below a link to a directory, and below its target, is read
        again when the change lies below either (one name's change seen
        under the other), and so is the target of a link changed itself.
        One ``stat`` per cached upper link, none without links; see
        :mod:`unionfs_lib.resolve.link_index`.
        """
        upper = self.layers[UPPER]
        if not self._links or upper is None:
            return
        check = self._links.check(upper, self._cached_type, changed_path)
        for parent, name in check.changed:
            self._forget(join_path(parent, name), subtree=True)
            if not self._refresh_name(parent, name):
                self._forget(parent)
        for view in check.stale_views:
            self._forget(view, subtree=True)
        for alias in check.aliases:
            self._forget(alias, subtree=True)
            if alias != "/" and not self._refresh_name(*split_path(alias)):
                self._forget(split_path(alias)[0])

    def is_known_link(self, path: str) -> bool:
        """Tell whether upper ``path`` is a symbolic link of a cached upper listing."""
        return self._links.holds(*split_path(path))

    def _cached_type(self, parent: str, name: str) -> bool | None:
        """Return the type the caches hold for upper entry ``name`` of ``parent`` (or ``None``)."""
        listing = self._listings.get((UPPER, parent))
        if listing is not None:
            return listing.entries.get(name)
        merged = self._dirs.get((UPPER, parent))
        if merged is None or merged.children is None:
            return None
        candidate = merged.children.get(name)
        if candidate is None or candidate.refs[0].layer != UPPER:
            return None
        return candidate.is_dir

    def _refresh_name(self, parent: str, name: str, now: DirListing | None = None) -> bool:
        """Read ``name`` of upper directory ``parent`` again and update the caches of ``parent``.

        Returns ``False`` when that cannot be done name by name (a
        case-insensitive upper, where names fold together): the caller then
        forgets ``parent``'s caches instead.
        """
        upper = self.layers[UPPER]
        key = (UPPER, parent)
        listing = self._listings.get(key)
        merged = self._dirs.get(key)
        if upper is None or (listing is None and (merged is None or merged.children is None)):
            return True
        if folds_case(upper):
            return False
        found = now if now is not None else self.store.read_name(upper, parent, name)
        self._links.note_name(parent, name, name in found.links)
        if listing is not None:
            self._update_listing(key, listing, name, found)
        if merged is not None and merged.children is not None:
            self._update_table(key, merged, name, found)
        return True

    def _update_listing(
        self, key: tuple[int, str], listing: DirListing, name: str, found: DirListing
    ) -> None:
        """Make cached upper ``listing`` say about ``name`` what ``found`` says."""
        entries = listing.entries
        assert isinstance(entries, dict)  # upper listings are read without info: dicts
        _copy_key(found.entries, entries, name)
        _copy_key(found.records, listing.records, name)
        if name in found.vacated:  # generations only grow: a listing without one keeps it
            listing.vacated[name] = found.vacated[name]
        hidden = name in found.whiteouts
        if hidden != (name in listing.whiteouts):
            whiteouts = listing.whiteouts
            if not isinstance(whiteouts, set):
                whiteouts = set(whiteouts)  # once per cached listing; then in place
                listing = attrs.evolve(listing, whiteouts=whiteouts)
            if hidden:
                whiteouts.add(name)
            else:
                whiteouts.discard(name)
        self._listings.put(key, listing, listing.weight)

    def _update_table(
        self, key: tuple[int, str], merged: MergedDir, name: str, found: DirListing
    ) -> None:
        """Merge ``name`` again in cached table ``merged``, the upper saying ``found``.

        The lower listings are cached already (the table was merged from
        them); each contributes what it holds about ``name`` alone.
        """
        pairs = [
            (ref, found if ref.layer == UPPER else name_listing(self.listing(ref), name))
            for ref in merged.node.refs
        ]
        candidate = merge_listings(pairs).get(name)
        children = merged.children
        assert children is not None
        names = merged.names
        if names is not None and type(children) is MergedTable and children.shares(names):
            names = merged.names = list(names)  # the columns' own list stays as read
        merged.in_name_order = None  # rebuilt when next asked
        if candidate is None:
            if children.pop(name, None) is not None and names is not None:
                index = bisect.bisect_left(names, name)
                if index < len(names) and names[index] == name:
                    del names[index]
        else:
            if name not in children and names is not None:
                bisect.insort(names, name)
            children[name] = candidate
        self._dirs.put(key, merged, 1 + len(children))

    def _keep_table_after_copy_up(self, path: str, previous: MergedDir) -> None:
        """Keep the merged table of a directory that was just copied up.

        The new upper directory is empty and unmarked, so it adds nothing to
        the merge: the table built from the lower layers still holds, and only
        the directory's node (now with its upper entry) is new. The new
        directory is listed before its node is resolved, when its parent's
        cached listing shows it: its flags then come from that listing, not
        from two more calls on the upper (for each ancestor a copy-up makes).
        """
        if previous.children is None or previous.node.in_upper:
            return
        if self._cached_type(*split_path(path)) and _adds_entries(
            self.listing(LayerRef(UPPER, path))
        ):
            return
        node = self.dir_node(path)
        if node is None or not node.in_upper or node.refs[1:] != previous.node.refs:
            return
        if node.lower_view != previous.node.lower_view:
            return
        if _adds_entries(self.listing(node.top)):
            return
        merged = self._dirs.get((UPPER, path))
        if merged is None or merged.node is not node:
            return
        merged.children, merged.names = previous.children, previous.names
        merged.in_name_order = previous.in_name_order
        self._dirs.put((UPPER, path), merged, 1 + len(previous.children))

    def may_hide(self, path: str) -> bool:
        """Tell whether the upper may hold a whiteout at ``path``.

        ``False`` only when the parent's upper listing is cached and has none
        there: the caller can skip removing a whiteout that is not there.
        """
        parent, name = split_path(path)
        listing = self._listings.get((UPPER, parent))
        return listing is None or name in listing.whiteouts

    def invalidate(self, path: str, subtree: bool = False) -> None:
        """Forget what was cached about upper ``path`` and its parent.

        With ``subtree`` everything cached below ``path`` goes too (used when
        a directory is removed, renamed, or made opaque).
        """
        self.generation = next(_GENERATIONS)
        parent, _ = split_path(path)
        for target in {path, parent}:
            self._listings.discard((UPPER, target))
            self._flags.discard((UPPER, target))
            self._dirs.discard((UPPER, target))
        self._links.forget({path, parent})
        if subtree:
            self._links.forget_below(path)
        if subtree and path != "/":
            self._listings.discard_where(
                lambda key: key[0] == UPPER and is_same_or_below(key[1], path)
            )
            self._flags.discard_where(
                lambda key: key[0] == UPPER and is_same_or_below(key[1], path)
            )
            self._dirs.discard_where(
                lambda key: key[0] == UPPER and is_same_or_below(key[1], path)
            )
        elif subtree:
            self.clear(upper_only=True)
        self._recheck_links(path)

    def clear(self, upper_only: bool = False) -> None:
        """Forget cached state: the upper's only, or everything (lowers changed)."""
        self.generation = next(_GENERATIONS)
        self._below.clear()
        self._memo.clear()
        self._links.clear()
        if not upper_only:
            self._readers.clear()
            self._listings.clear()
            self._dirs.clear()
            self._flags.clear()
            return
        self._flags.discard_where(lambda key: key[0] == UPPER)
        self._listings.discard_where(lambda key: key[0] == UPPER)
        self._dirs.discard_where(lambda key: key[0] == UPPER)


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


def _adds_entries(listing: DirListing) -> bool:
    """Tell whether an upper directory's ``listing`` adds anything to a merge beneath it."""
    return bool(
        listing.entries or listing.whiteouts or listing.opaque or listing.redirect is not None
    )


def _copy_key(
    source: typing.Mapping[str, typing.Any], target: dict[str, typing.Any], key: str
) -> None:
    """Make ``target[key]`` what ``source`` holds at ``key`` (or drop it)."""
    if key in source:
        target[key] = source[key]
    else:
        target.pop(key, None)


def name_listing(listing: DirListing, name: str) -> DirListing:
    """Return the part of ``listing`` about ``name`` alone (for merging one name)."""
    entries = {name: listing.entries[name]} if name in listing.entries else {}
    infos = None
    if listing.infos is not None:
        infos = {name: listing.infos[name]} if name in listing.infos else {}
    whiteouts = frozenset((name,)) if name in listing.whiteouts else frozenset()
    return DirListing(entries, infos, whiteouts)


def merge_listings(
    layers: typing.Iterable[tuple[LayerRef, DirListing]],
) -> dict[str, Candidate]:
    """Merge one directory's layer listings, top-most first, into a child table.

    A name's merge stops at a whiteout, at a non-directory, or where a
    non-directory lies beneath a directory. The listings may be partial (a
    window of names, as the streaming iterator reads them): each name is
    decided from what the listings say about that name alone.

    The table keeps the layers' listing order (each new name, top-most
    layer first), but its entries are made in name order: a listing walks
    them in name order (:meth:`Resolver.children_in_name_order`) and reads
    memory in sequence (the same walk over entries made in a layer's own
    hash order took twice as long).
    """
    merged: dict[str, Candidate] = {}
    stopped: set[str] = set()
    listings: list[DirListing] = []
    for ref, listing in layers:
        listings.append(listing)
        layer, prefix = ref.layer, join_path(ref.path, "")
        rows, info_of = _rows(listing)
        for name, is_dir, key in rows:
            if name in stopped:
                continue
            found = merged.get(name)
            if found is None:
                merged[name] = Candidate(is_dir, [LayerRef(layer, prefix + name)], info_of(key))
            elif not found.is_dir:
                continue  # a non-directory hides everything beneath it
            elif is_dir:
                found.refs.append(LayerRef(layer, prefix + name))
            else:
                stopped.add(name)
        for name in listing.whiteouts:
            if name not in listing.entries:
                stopped.add(name)
    return {name: merged[name] for name in _listing_order(listings, merged)}


_Rows = typing.Iterable[typing.Tuple[str, bool, typing.Any]]


def _rows(listing: DirListing) -> tuple[_Rows, typing.Callable[[typing.Any], Info | None]]:
    """Return ``(name, is_dir, key)`` of each entry of ``listing`` in name order, and ``info_of``.

    ``info_of(key)`` gives an entry's info: it is built only for the entries
    the merge keeps.
    """
    columns = listing_columns(listing)
    if columns is not None:
        kinds = map((1).__eq__, columns.kinds)
        return zip(columns.names, kinds, itertools.count()), columns.info_at
    entries, infos = listing.entries, listing.infos
    names = sorted(entries)
    rows = zip(names, map(entries.__getitem__, names), names)
    return rows, (infos.get if infos is not None else _nothing)


def _nothing(key: object) -> None:
    """Return ``None`` (the info of an entry of a listing read without info)."""
    return None


def _listing_order(listings: list[DirListing], merged: dict[str, Candidate]) -> list[str]:
    """Return the merged names in the layers' listing order: each new name, top-most first."""
    if len(listings) == 1:
        return [name for name in listings[0].entries if name in merged]
    order: dict[str, None] = {}
    for listing in listings:
        for name in listing.entries:
            if name in merged and name not in order:
                order[name] = None
    return list(order)


__all__ = [
    "DEFAULT_DIR_BUDGET",
    "DEFAULT_LISTING_BUDGET",
    "Resolver",
    "merge_listings",
    "merge_stack",
    "redirect_target",
]
