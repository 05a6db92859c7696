"""Merging: the child tables of merged directories.

A merged directory's children are its layers' listings merged top-most
first (:func:`merge_listings`): a name's merge stops at a whiteout, at a
non-directory, or where a non-directory lies beneath a directory. The
:class:`TableMerging` part of :class:`~unionfs_lib.resolve.resolver.Resolver`
keeps one table per cached directory (a
:class:`~unionfs_lib.resolve.merged_table.MergedTable`, no object per
entry), its sorted names and its candidates in name order.
"""

from __future__ import annotations

import itertools
import typing

from fs.info import Info

from ..model.listing_columns import listing_columns
from ..model.paths import join_path
from ..model.records import UPPER, Candidate, DirListing, LayerRef, MergedDir, Node
from .merged_table import MergedTable

if typing.TYPE_CHECKING:
    from .caches import LRUCache


class TableMerging:
    """The merged child tables of a :class:`~unionfs_lib.resolve.resolver.Resolver`.

    A part of the resolver (it holds no state of its own): it reads layer
    listings and directory nodes through the resolver and keeps the tables
    in the resolver's directory cache.
    """

    if typing.TYPE_CHECKING:  # what the part uses of the resolver
        listing_budget: int
        dir_budget: int
        _dirs: LRUCache[tuple[int, str], MergedDir]
        _memo: LRUCache[tuple[int, str], Candidate]

        def listing(self, ref: LayerRef) -> DirListing:
            """See :meth:`Resolver.listing`."""

        def dir_node(self, path: str, scope: int = UPPER) -> Node | None:
            """See :meth:`Resolver.dir_node`."""

    else:
        __slots__ = ()  # no state of its own: the resolver's slots hold it

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


__all__ = ["TableMerging", "merge_listings", "name_listing"]
