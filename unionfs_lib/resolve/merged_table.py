"""The merged child table of a cached directory, without an object per entry.

A merged directory's table says, for each visible name, which layer entries
back it (a :class:`~unionfs_lib.model.records.Candidate`). :class:`MergedTable`
keeps only what the merge decided: for a directory that one lower layer
holds, nothing at all (the layer's columnar listing is the table, see
:mod:`unionfs_lib.model.listing_columns`); otherwise one dict from each visible name to
the position of the top-most layer holding it, plus the layer lists of the
few directories that several layers hold. The merge itself is a few dict and
set operations per layer, run in C; the rules are those of
:func:`unionfs_lib.resolve.merging.merge_listings`, which it gives the same answers as.

A ``Candidate`` is built when a name is read, and kept in a memo shared by
the resolver's tables: a bounded cache keyed by the table's serial number
and the name, so a table never sees another's candidates. Changes the
overlay makes are kept as edits beside the table (a small dict consulted
first, before the memo), so a change costs the same in any directory.

>>> from unionfs_lib.resolve.caches import LRUCache
>>> from unionfs_lib.model.records import DirListing, LayerRef
>>> from unionfs_lib.resolve.merged_table import MergedTable
>>> upper = DirListing({"a": False, "d": True})
>>> lower = DirListing({"d": True, "b": False}, whiteouts=frozenset({"c"}))
>>> table = MergedTable.merge(
...     [(LayerRef(0, "/x"), upper), (LayerRef(1, "/x"), lower)], LRUCache(8))
>>> list(table), table["d"].refs == [LayerRef(0, "/x/d"), LayerRef(1, "/x/d")]
(['a', 'd', 'b'], True)
"""

from __future__ import annotations

import itertools
import typing

import attrs
from fs.info import Info

from ..model.listing_columns import Columns, listing_columns
from ..model.records import Candidate, DirListing, LayerRef
from .caches import LRUCache

#: The memo of built candidates, by ``(table serial number, name)``.
Memo = LRUCache[typing.Tuple[int, str], Candidate]
_SERIALS = itertools.count()
#: One merged layer directory: where it is, and its listing.
Source = typing.Tuple[LayerRef, DirListing]


class MergedTable(typing.MutableMapping[str, Candidate]):
    """A merged directory's children: visible name to :class:`~unionfs_lib.model.records.Candidate`.

    Made by :meth:`merge`. It iterates in the layers' listing order (each
    new name, top-most layer first; names added later come last), like the
    dict :func:`~unionfs_lib.resolve.merging.merge_listings` returns.
    """

    __slots__ = (
        "sources",
        "columns",
        "top",
        "multi",
        "memo",
        "serial",
        "_edits",
        "_removed",
        "_built",
        "_size",
    )

    def __init__(
        self,
        sources: list[Source],
        top: dict[str, int] | None,
        multi: dict[str, list[LayerRef]],
        memo: Memo,
    ) -> None:
        """Wrap a merge's outcome (see :meth:`merge`); ``top`` ``None``: one layer's columns."""
        self.sources = sources
        self.columns = listing_columns(sources[0][1]) if top is None else None
        self.top = top
        self.multi = multi
        self.memo = memo
        self.serial = next(_SERIALS)
        #: names set since the merge, in the order a dict would keep them
        self._edits: dict[str, Candidate] = {}
        #: names of the merge removed since (shown, if set again, among the added)
        self._removed: set[str] = set()
        #: every candidate of the merge, once :meth:`materialize` made them
        self._built: dict[str, Candidate] | None = None
        self._size = len(self.columns) if self.columns is not None else len(top or ())

    @classmethod
    def merge(cls, sources: list[Source], memo: Memo) -> MergedTable:
        """Merge the listings of one directory's layers, top-most first.

        A name's merge stops at a whiteout, at a non-directory, or where a
        non-directory lies beneath a directory.
        """
        if len(sources) == 1 and listing_columns(sources[0][1]) is not None:
            return cls(sources, None, {}, memo)
        sources = [_snapshot(source) for source in sources]
        top: dict[str, int] = {}
        stopped: set[str] = set()
        multi: dict[str, list[LayerRef]] = {}
        for position, (_, listing) in enumerate(sources):
            columns = listing_columns(listing)
            listed = listing.entries if columns is None else columns.in_listing_order()
            if not top and not stopped:
                top = dict.fromkeys(listed, position)
            else:
                new = dict.fromkeys(listed, position)
                for name in top.keys() & new.keys():
                    del new[name]
                    _merge_name(sources, top, stopped, multi, name, position)
                for name in stopped & new.keys():
                    del new[name]
                top.update(new)
            entries = listing.entries
            stopped.update(name for name in listing.whiteouts if name not in entries)
        return cls(sources, top, multi, memo)

    # -- reading -------------------------------------------------------------

    def get(self, name: str, default: typing.Any = None) -> typing.Any:
        """Return the candidate of ``name``, or ``default`` if it is not visible."""
        if self._edits or self._removed:
            edited = self._edits.get(name)
            if edited is not None:
                return edited
            if name in self._removed:
                return default
        if self._built is not None:
            return self._built.get(name, default)
        key = (self.serial, name)
        found = self.memo.get(key)
        if found is not None:
            return found
        found = self._build(name)
        if found is None:
            return default
        self.memo.put(key, found)
        return found

    @property
    def materialized(self) -> bool:
        """Whether every candidate of the merge is built and kept (see :meth:`materialize`)."""
        return self._built is not None

    def materialize(self) -> None:
        """Build and keep a candidate for every name of the merge.

        For iterating entry by entry, whose batches hand out nodes: they are
        kept with the candidates, as a dict table keeps them, so that a
        second iteration builds nothing. Costs what the dict form costs.
        """
        if self._built is None:
            built = {}
            # made in name order, the order listings walk them (memory read in sequence)
            names = self.columns.names if self.columns is not None else sorted(self.top or ())
            memo, serial = self.memo, self.serial
            for name in names:
                # a candidate already looked up (and perhaps given a node) is kept, not rebuilt
                candidate = memo.get((serial, name)) or self._build(name)
                if candidate is not None:
                    built[name] = candidate
            self._built = built

    def __getitem__(self, name: str) -> Candidate:
        """Return the candidate of ``name`` (``KeyError`` if it is not visible)."""
        found: Candidate | None = self.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def _build(self, name: str) -> Candidate | None:
        """Build the candidate of ``name`` from the layer listings, or ``None``."""
        if self.top is None:
            position = 0
        else:
            found = self.top.get(name)
            if found is None:
                return None
            position = found
        ref, listing = self.sources[position]
        entry = _entry(listing, name)
        if entry is None:
            return None
        refs = self.multi.get(name)
        own = list(refs) if refs is not None else [LayerRef(ref.layer, _child(ref.path, name))]
        return Candidate(entry[0], own, entry[1])

    def __contains__(self, name: object) -> bool:
        """Tell whether ``name`` is a visible child."""
        if not isinstance(name, str):
            return False
        if name in self._edits:
            return True
        return name not in self._removed and self._in_merge(name)

    def _in_merge(self, name: str) -> bool:
        """Tell whether the merge (before any edit) shows ``name``."""
        if self.columns is not None:
            return self.columns.index(name) >= 0
        return self.top is not None and name in self.top

    def __iter__(self) -> typing.Iterator[str]:
        """Iterate over the visible names, in the layers' listing order."""
        if not self._edits and not self._removed:
            return self._merged_names()
        return self._edited_names()

    def _merged_names(self) -> typing.Iterator[str]:
        """Iterate over the names of the merge, before any edit."""
        if self.columns is not None:
            return self.columns.in_listing_order()
        return iter(self.top or ())

    def _edited_names(self) -> typing.Iterator[str]:
        """Yield the visible names of an edited table: the merge's, then added ones."""
        removed = self._removed
        for name in self._merged_names():
            if name not in removed:
                yield name
        for name in self._edits:
            if name in removed or not self._in_merge(name):
                yield name

    def __len__(self) -> int:
        """Return the number of visible names."""
        return self._size

    def sorted_names(self) -> list[str]:
        """Return the visible names sorted (one layer's columns: their own list).

        The columns' list is shared: callers must copy it before changing it
        (see :meth:`shares`).
        """
        if not self._edits and not self._removed and self.columns is not None:
            return self.columns.names
        return sorted(self)

    def shares(self, names: list[str]) -> bool:
        """Tell whether ``names`` is the columns' own list (which must not change)."""
        return self.columns is not None and names is self.columns.names

    def lower_kinds(
        self, names: typing.Iterable[str]
    ) -> typing.Iterator[tuple[str, bool | None]]:
        """Yield ``(name, is_dir)`` of each of ``names`` held by a lower layer with packed info.

        The others (upper entries, edited names, names gone, info that is not
        packed) give ``None``: the caller looks them up. Names of one
        layer's columns in their order are read in step with the kinds
        column, without a search.
        """
        columns = self.columns
        if columns is not None and columns.plain and self.sources[0][0].layer != 0:
            return self._column_kinds(columns, names)
        return ((name, self._lower_kind(name)) for name in names)

    def _column_kinds(
        self, columns: Columns, names: typing.Iterable[str]
    ) -> typing.Iterator[tuple[str, bool | None]]:
        """:meth:`lower_kinds` for one layer's columns."""
        column_names, kinds = columns.names, columns.kinds
        edited = self._edits.keys() | self._removed
        count = len(column_names)
        position = 0
        for name in names:
            if edited and name in edited:
                yield name, None
                continue
            if position >= count or column_names[position] is not name:
                position = columns.index(name)
                if position < 0:
                    position = 0
                    yield name, None
                    continue
            yield name, kinds[position] == 1
            position += 1

    def _lower_kind(self, name: str) -> bool | None:
        """Return ``is_dir`` of ``name`` held below with packed info (else ``None``)."""
        if self.top is None or name in self._edits or name in self._removed:
            return None
        position = self.top.get(name)
        if position is None:
            return None
        ref, listing = self.sources[position]
        columns = listing_columns(listing)
        if ref.layer == 0 or columns is None or not columns.plain:
            return None
        index = columns.index(name)
        return None if index < 0 else columns.kinds[index] == 1

    # -- edits ---------------------------------------------------------------

    def __setitem__(self, name: str, candidate: Candidate) -> None:
        """Make ``candidate`` the entry of ``name``."""
        if name not in self:
            self._size += 1
        self._edits[name] = candidate

    def __delitem__(self, name: str) -> None:
        """Remove ``name`` from the table."""
        if name not in self:
            raise KeyError(name)
        self._size -= 1
        self._edits.pop(name, None)
        if self._in_merge(name):
            self._removed.add(name)


def _snapshot(source: Source) -> Source:
    """Return ``source`` with its entries copied when they are a dict.

    A cached upper listing is updated in place by the overlay's changes,
    which reach the table as edits: the table must keep the entries it was
    merged from.
    """
    ref, listing = source
    if type(listing.entries) is dict:
        return ref, attrs.evolve(listing, entries=dict(listing.entries))
    return source


def _merge_name(
    sources: list[Source],
    top: dict[str, int],
    stopped: set[str],
    multi: dict[str, list[LayerRef]],
    name: str,
    position: int,
) -> None:
    """Merge ``name``, held by layer ``position``, with the layer above that shows it."""
    if name in stopped:
        return
    holder_ref, holder = sources[top[name]]
    above = _entry(holder, name)
    if above is None or not above[0]:
        return  # a non-directory hides everything beneath it
    ref, listing = sources[position]
    here = _entry(listing, name)
    if here is None or not here[0]:
        stopped.add(name)  # a directory hides a non-directory beneath it
        return
    refs = multi.get(name)
    if refs is None:
        refs = multi[name] = [LayerRef(holder_ref.layer, _child(holder_ref.path, name))]
    refs.append(LayerRef(ref.layer, _child(ref.path, name)))


def _entry(listing: DirListing, name: str) -> tuple[bool, Info | None] | None:
    """Return ``(is_dir, info)`` of ``name`` in one layer listing, or ``None``."""
    columns = listing_columns(listing)
    if columns is not None:
        return columns.entry(name)
    is_dir = listing.entries.get(name)
    if is_dir is None:
        return None
    infos = listing.infos
    return is_dir, infos.get(name) if infos is not None else None


def _child(path: str, name: str) -> str:
    """Return the path of ``name`` inside layer directory ``path``."""
    return f"{path}{name}" if path == "/" else f"{path}/{name}"


__all__ = ["MergedTable", "Memo", "Source"]
