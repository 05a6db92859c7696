"""Columns: a lower directory's listing kept in a few flat objects instead of one per entry.

A read-only lower directory is listed once and then served from the cache,
so its entries are kept in a compact, columnar form: one sorted list of
names, one ``bytes`` of kinds (a byte per entry, 1 for a directory) and one
``bytes`` of fixed-size records, each the entry's ``details`` packed as
:mod:`unionfs_lib.packed_info` packs them. A name is found by bisecting the
sorted names; ``Info`` objects are built from the records only when asked
for. Info that does not pack (another namespace, a string value) is kept as
it is, beside the columns.

:class:`ColumnarEntries` and :class:`ColumnarInfos` show the columns as the
``entries`` and ``infos`` mappings of a :class:`~unionfs_lib.entry.DirListing`.
:class:`ColumnarTable` shows them as the merged child table of a directory
that only one lower layer holds: no ``Candidate`` per entry, one is built
(and kept in a small shared memo) when a name is looked up. Changes the
overlay makes in such a directory are kept in a per-directory table of
edits over the columns, so a change costs the same in any directory.

>>> from fs.info import Info
>>> from unionfs_lib.columns import ColumnsBuilder
>>> builder = ColumnsBuilder()
>>> builder.add("b", False, Info({"basic": {"name": "b", "is_dir": False},
...                               "details": {"size": 3, "type": 2}}))
>>> builder.add("a", True, None)
>>> columns = builder.build()
>>> columns.names, columns.is_dir("a"), columns.info("b").size, columns.info("a")
(['a', 'b'], True, 3, None)
"""

from __future__ import annotations

import bisect
import typing

import attrs
from fs.info import Info

from .entry import Candidate, DirListing, LayerRef
from .packed_info import PackedInfo, pack_details

#: Record header of an entry whose info is kept as it is, beside the columns.
_LOOSE = b"\xff\xff"
#: Record header of an entry without info (its details could not be read).
_ABSENT = b"\xfe\xff"
_SPECIAL = frozenset({_LOOSE, _ABSENT})


class Columns:
    """One directory's entries: sorted names, kinds and packed ``details`` records.

    Built by :class:`ColumnsBuilder`; never changed afterwards (the layer it
    was read from is read-only).
    """

    __slots__ = ("names", "kinds", "records", "stride", "loose", "plain", "listed")

    def __init__(
        self,
        names: list[str],
        kinds: bytes,
        records: bytes,
        stride: int,
        loose: dict[str, Info] | None = None,
        plain: bool = True,
        listed: list[str] | None = None,
    ) -> None:
        """Wrap columns of equal length (``records`` holds ``stride`` bytes per entry)."""
        self.names = names
        self.kinds = kinds
        self.records = records
        self.stride = stride
        self.loose = loose
        #: whether every entry's info is packed (none loose, none absent)
        self.plain = plain
        #: the names in the layer's own listing order, if that is not name order
        self.listed = listed

    def __len__(self) -> int:
        """Return the number of entries."""
        return len(self.names)

    def in_listing_order(self) -> typing.Iterator[str]:
        """Iterate over the names in the layer's own listing order."""
        return iter(self.names if self.listed is None else self.listed)

    def index(self, name: str) -> int:
        """Return the position of ``name``, or -1 when it is not an entry."""
        names = self.names
        position = bisect.bisect_left(names, name)
        if position < len(names) and names[position] == name:
            return position
        return -1

    def is_dir(self, name: str) -> bool:
        """Return whether entry ``name`` is a directory (``KeyError`` if not an entry)."""
        position = self.index(name)
        if position < 0:
            raise KeyError(name)
        return self.kinds[position] == 1

    def info_at(self, position: int) -> Info | None:
        """Return the info of the entry at ``position`` (``None`` if it has none)."""
        stride = self.stride
        record = self.records[position * stride : position * stride + stride]
        header = record[:2]
        if header in _SPECIAL:
            if header == _ABSENT or self.loose is None:
                return None
            return self.loose.get(self.names[position])
        return PackedInfo(self.names[position], self.kinds[position] == 1, record)

    def info(self, name: str) -> Info | None:
        """Return the info of entry ``name`` (``None`` if it has none or is not an entry)."""
        position = self.index(name)
        return None if position < 0 else self.info_at(position)


class ColumnsBuilder:
    """Collects one directory's entries, in any order, into :class:`Columns`.

    Each entry's ``details`` are packed as it is added; :meth:`build` sorts
    the entries by name.
    """

    __slots__ = ("_names", "_kinds", "_records", "_loose", "_stride", "_plain")

    def __init__(self) -> None:
        """Start an empty directory."""
        self._names: list[str] = []
        self._kinds = bytearray()
        self._records: list[bytes] = []
        self._loose: dict[str, Info] | None = None
        self._stride = 2
        self._plain = True

    def add(self, name: str, is_dir: bool, info: Info | None) -> None:
        """Add entry ``name`` with the layer's ``info`` (basic and details) or ``None``."""
        self._names.append(name)
        self._kinds.append(1 if is_dir else 0)
        if info is None:
            self._plain = False
            record = _ABSENT
        else:
            packed = pack_details(info, name, is_dir)
            if packed is None:
                if self._loose is None:
                    self._loose = {}
                self._loose[name] = info
                self._plain = False
                record = _LOOSE
            else:
                record = packed
        if len(record) > self._stride:
            self._stride = len(record)
        self._records.append(record)

    def build(self) -> Columns:
        """Return the entries added so far as columns sorted by name."""
        names, kinds, records, stride = self._names, bytes(self._kinds), self._records, self._stride
        if any(len(record) != stride for record in records):
            records = [record.ljust(stride, b"\0") for record in records]
        listed = None
        if not _is_sorted(names):
            listed = names
            order = sorted(range(len(names)), key=names.__getitem__)
            names = list(map(names.__getitem__, order))
            kinds = bytes(map(kinds.__getitem__, order))
            records = list(map(records.__getitem__, order))
        joined = b"".join(records)
        return Columns(names, kinds, joined, stride, self._loose, self._plain, listed)


def _is_sorted(names: list[str]) -> bool:
    """Tell whether ``names`` are in ascending order (and unique)."""
    return all(map(str.__lt__, names, names[1:]))


class ColumnarEntries(typing.Mapping[str, bool]):
    """The ``entries`` of a listing kept as :class:`Columns`: name to ``is_dir``."""

    __slots__ = ("columns",)

    def __init__(self, columns: Columns) -> None:
        """Show ``columns`` as a mapping."""
        self.columns = columns

    def __getitem__(self, name: str) -> bool:
        """Return whether entry ``name`` is a directory."""
        return self.columns.is_dir(name)

    def __contains__(self, name: object) -> bool:
        """Tell whether ``name`` is an entry."""
        return isinstance(name, str) and self.columns.index(name) >= 0

    def __iter__(self) -> typing.Iterator[str]:
        """Iterate over the names in the layer's listing order."""
        return self.columns.in_listing_order()

    def __len__(self) -> int:
        """Return the number of entries."""
        return len(self.columns)



class ColumnarInfos(typing.Mapping[str, Info]):
    """The ``infos`` of a listing kept as :class:`Columns`: name to ``Info``, built on demand."""

    __slots__ = ("columns",)

    def __init__(self, columns: Columns) -> None:
        """Show the records of ``columns`` as a mapping."""
        self.columns = columns

    def __getitem__(self, name: str) -> Info:
        """Return the info of entry ``name``."""
        found = self.columns.info(name)
        if found is None:
            raise KeyError(name)
        return found

    def __iter__(self) -> typing.Iterator[str]:
        """Iterate over the names that have info, in the layer's listing order."""
        columns = self.columns
        return (name for name in columns.in_listing_order() if columns.info(name) is not None)

    def __len__(self) -> int:
        """Return the number of entries that have info."""
        return sum(1 for _ in self)


def columnar_listing(columns: Columns, listing: DirListing) -> DirListing:
    """Return ``listing`` with ``columns`` as its entries and infos."""
    return attrs.evolve(listing, entries=ColumnarEntries(columns), infos=ColumnarInfos(columns))


def listing_columns(listing: DirListing) -> Columns | None:
    """Return the columns behind ``listing``'s entries, or ``None`` for a dict listing."""
    entries = listing.entries
    return entries.columns if type(entries) is ColumnarEntries else None


#: A shared memo of the candidates a :class:`ColumnarTable` built, by
#: ``(scope, overlay path)``; the resolver bounds and forgets it.
CandidateMemo = typing.Any


class ColumnarTable(typing.MutableMapping[str, Candidate]):
    """The merged child table of a directory only one lower layer holds, over its columns.

    Reading a name bisects the columns and builds the ``Candidate`` (kept in
    ``memo``, a bounded cache the resolver owns and forgets with the
    overlay's changes). Setting or deleting a name records an edit in a small
    per-table dict, which reads and iteration consult first; the columns are
    never copied.
    """

    __slots__ = ("columns", "layer", "prefix", "memo", "scope", "overlay_prefix", "_edits", "_size")

    def __init__(
        self,
        columns: Columns,
        ref: LayerRef,
        memo: CandidateMemo,
        scope: int,
        overlay_path: str,
    ) -> None:
        """Show ``columns`` (read from lower directory ``ref``) as directory ``overlay_path``."""
        self.columns = columns
        self.layer = ref.layer
        self.prefix = ref.path.rstrip("/") + "/"
        self.memo = memo
        self.scope = scope
        self.overlay_prefix = overlay_path.rstrip("/") + "/"
        self._edits: dict[str, Candidate | None] | None = None
        self._size = len(columns)

    @property
    def pristine(self) -> bool:
        """Whether the table holds exactly the columns (no edits)."""
        return not self._edits

    def edited(self, name: str) -> bool:
        """Tell whether ``name`` was set or deleted since the table was made."""
        return self._edits is not None and name in self._edits

    def __getitem__(self, name: str) -> Candidate:
        """Return the candidate of ``name`` (built from the columns, or as edited)."""
        edits = self._edits
        if edits is not None and name in edits:
            edited = edits[name]
            if edited is None:
                raise KeyError(name)
            return edited
        key = (self.scope, self.overlay_prefix + name)
        found: Candidate | None = self.memo.get(key)
        if found is not None:
            return found
        columns = self.columns
        position = columns.index(name)
        if position < 0:
            raise KeyError(name)
        found = Candidate(
            columns.kinds[position] == 1,
            [LayerRef(self.layer, self.prefix + name)],
            columns.info_at(position),
        )
        self.memo.put(key, found)
        return found

    def __contains__(self, name: object) -> bool:
        """Tell whether ``name`` is a visible child."""
        if not isinstance(name, str):
            return False
        edits = self._edits
        if edits is not None and name in edits:
            return edits[name] is not None
        return self.columns.index(name) >= 0

    def __setitem__(self, name: str, candidate: Candidate) -> None:
        """Make ``candidate`` the entry of ``name``."""
        if name not in self:
            self._size += 1
        self._edit()[name] = candidate

    def __delitem__(self, name: str) -> None:
        """Remove ``name`` from the table."""
        if name not in self:
            raise KeyError(name)
        self._size -= 1
        edits = self._edit()
        if self.columns.index(name) >= 0:
            edits[name] = None
        else:
            del edits[name]

    def _edit(self) -> dict[str, Candidate | None]:
        """Return the table of edits (created at the first one)."""
        if self._edits is None:
            self._edits = {}
        return self._edits

    def __iter__(self) -> typing.Iterator[str]:
        """Iterate over the visible names: the layer's in its listing order, then added ones."""
        edits = self._edits
        if not edits:
            return self.columns.in_listing_order()
        return self._edited_names(edits)

    def _edited_names(self, edits: dict[str, Candidate | None]) -> typing.Iterator[str]:
        """Yield the visible names of an edited table."""
        for name in self.columns.in_listing_order():
            if name not in edits or edits[name] is not None:
                yield name
        for name, candidate in edits.items():
            if candidate is not None and self.columns.index(name) < 0:
                yield name

    def __len__(self) -> int:
        """Return the number of visible names."""
        return self._size

    def sorted_names(self) -> list[str]:
        """Return the visible names sorted: the columns' own list while there are no edits.

        The columns' list is shared: callers must copy it before changing it
        (see :meth:`shares`).
        """
        return self.columns.names if not self._edits else sorted(self)

    def shares(self, names: list[str]) -> bool:
        """Tell whether ``names`` is the columns' own list (which must not change)."""
        return names is self.columns.names

    def is_dir_in_step(
        self, names: typing.Iterable[str]
    ) -> typing.Iterator[tuple[str, bool | None]]:
        """Yield ``(name, is_dir)`` for ``names``, ``None`` for a name to look up in the table.

        ``names`` in the columns' order are read in step with the kinds
        column (no bisection); edited names and names out of step give ``None``.
        """
        columns = self.columns
        column_names, kinds = columns.names, columns.kinds
        edits = self._edits
        if not columns.plain:  # some info is not packed: every name is looked up
            yield from ((name, None) for name in names)
            return
        count = len(column_names)
        position = 0
        for name in names:
            if edits and name in edits:
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


__all__ = [
    "ColumnarEntries",
    "ColumnarInfos",
    "ColumnarTable",
    "Columns",
    "ColumnsBuilder",
    "columnar_listing",
    "listing_columns",
]
