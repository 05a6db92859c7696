"""Columns: a lower directory's listing kept in a few flat objects instead of one per entry.

A read-only lower directory is listed once and then served from the cache,
so its entries are kept in a compact, columnar form: one sorted list of
names, one ``bytes`` of kinds (a byte per entry, 1 for a directory) and one
``bytes`` of fixed-size records, each the entry's ``details`` packed as
:mod:`unionfs_lib.model.packed_info` packs them. A name is found by bisecting the
sorted names; ``Info`` objects are built from the records only when asked
for. Info that does not pack (another namespace, a string value) is kept as
it is, beside the columns. An entry listed without its details (an ``OSFS``
lower, see :func:`unionfs_lib.host.os_scan.os_dir_entries`) has a record
saying so, and its info reads them through the columns' ``details`` reader
when they are first asked for
(:class:`~unionfs_lib.model.packed_info.DetailsOnDemand`).

:class:`ColumnarEntries` and :class:`ColumnarInfos` show the columns as the
``entries`` and ``infos`` mappings of a :class:`~unionfs_lib.model.records.DirListing`.
A directory that only one lower layer holds uses them as its merged child
table too (see :mod:`unionfs_lib.resolve.merged_table`).

>>> from fs.info import Info
>>> from unionfs_lib.model.listing_columns import ColumnsBuilder
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

from .packed_info import DetailsOnDemand, DetailsPacker, PackedInfo, pack_details
from .records import DirListing

#: Record header of an entry whose info is kept as it is, beside the columns.
_LOOSE = b"\xff\xff"
#: Record header of an entry without info (its details could not be read).
_ABSENT = b"\xfe\xff"
#: Record header of an entry whose details are read when asked for (see ``details``).
_ON_DEMAND = b"\xfd\xff"
_SPECIAL = frozenset({_LOOSE, _ABSENT, _ON_DEMAND})

#: Reads the ``details`` of one entry (by name) of a directory listed without them.
DetailsReader = typing.Callable[[str], typing.Dict[str, typing.Any]]


class Columns:
    """One directory's entries: sorted names, kinds and packed ``details`` records.

    Built by :class:`ColumnsBuilder`; never changed afterwards (the layer it
    was read from is read-only).
    """

    __slots__ = ("names", "kinds", "records", "stride", "loose", "plain", "listed", "details")

    def __init__(
        self,
        names: list[str],
        kinds: bytes,
        records: bytes,
        stride: int,
        loose: dict[str, Info] | None = None,
        plain: bool = True,
        listed: list[str] | None = None,
        details: DetailsReader | None = None,
    ) -> None:
        """Wrap columns of equal length (``records`` holds ``stride`` bytes per entry).

        ``details`` reads the details of an entry listed without them (its
        info is then a :class:`~unionfs_lib.model.packed_info.DetailsOnDemand`).
        """
        self.names = names
        self.kinds = kinds
        self.records = records
        self.stride = stride
        self.loose = loose
        #: whether every entry's info is packed (none loose, none absent)
        self.plain = plain
        #: the names in the layer's own listing order, if that is not name order
        self.listed = listed
        #: reads the details of an entry listed without them
        self.details = details

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
            if header == _ON_DEMAND and self.details is not None:
                name = self.names[position]
                return DetailsOnDemand(name, self.kinds[position] == 1, self.details)
            if header != _LOOSE or self.loose is None:
                return None
            return self.loose.get(self.names[position])
        return PackedInfo(self.names[position], self.kinds[position] == 1, record)

    def entry(self, name: str) -> tuple[bool, Info | None] | None:
        """Return ``(is_dir, info)`` of entry ``name``, or ``None`` if it is not an entry."""
        position = self.index(name)
        if position < 0:
            return None
        return self.kinds[position] == 1, self.info_at(position)

    def info(self, name: str) -> Info | None:
        """Return the info of entry ``name`` (``None`` if it has none or is not an entry)."""
        position = self.index(name)
        return None if position < 0 else self.info_at(position)


class ColumnsBuilder:
    """Collects one directory's entries, in any order, into :class:`Columns`.

    Each entry's ``details`` are packed as it is added; :meth:`build` sorts
    the entries by name.
    """

    __slots__ = (
        "_names",
        "_kinds",
        "_records",
        "_loose",
        "_stride",
        "_plain",
        "_packer",
        "_ragged",
        "_details",
    )

    def __init__(self) -> None:
        """Start an empty directory."""
        self._names: list[str] = []
        self._kinds = bytearray()
        self._records: list[bytes] = []
        self._loose: dict[str, Info] | None = None
        self._stride = 2
        self._plain = True
        self._packer = DetailsPacker()
        self._ragged = False
        self._details: DetailsReader | None = None

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
        self._records.append(record)
        if len(record) != self._stride:
            self._note_length(record)

    def add_infos(self, infos: typing.Iterable[Info], reserved: str) -> list[str]:
        """Add an entry for each of a layer's ``infos`` (basic and details), as :meth:`add` does.

        Names starting with ``reserved`` are no entries: they are returned,
        in order.
        """
        return self.add_raw_infos((info.raw for info in infos), reserved)

    def add_raw_infos(
        self, raws: typing.Iterable[typing.Mapping[str, typing.Any]], reserved: str
    ) -> list[str]:
        """Add an entry for each raw info (the ``raw`` of an ``Info``), as :meth:`add_infos` does.

        This is the loop of every cold listing, so the common case (info of
        just ``basic`` and ``details`` in a known layout) is inline.
        """
        set_aside: list[str] = []
        names, kinds, records = self._names, self._kinds, self._records
        pack = self._packer.pack
        stride = self._stride
        for raw in raws:
            basic: typing.Mapping[str, typing.Any] = raw["basic"]
            name: str = basic["name"]
            if name.startswith(reserved):
                set_aside.append(name)
                continue
            is_dir = basic.get("is_dir")
            details = raw.get("details")
            packed = None
            if len(raw) == 2 and details is not None and len(basic) == 2 and type(is_dir) is bool:
                packed = pack(details)
            if packed is None:
                self._stride = stride
                self.add(name, bool(is_dir), Info(typing.cast(typing.Any, raw)))
                stride = self._stride
                continue
            names.append(name)
            kinds.append(1 if is_dir else 0)
            records.append(packed)
            if len(packed) != stride:
                self._stride = stride
                self._note_length(packed)
                stride = self._stride
        self._stride = stride
        return set_aside

    def add_details_values(
        self,
        entries: typing.Iterable[tuple[str, bool, tuple[object, ...] | None]],
        keys: tuple[str, ...],
        reserved: str,
        reader: DetailsReader | None = None,
    ) -> list[str]:
        """Add each ``(name, is_dir, values)``: ``details`` of keys ``keys`` given by their values.

        What :meth:`add_raw_infos` does with the raw info ``{"basic": {"name":
        name, "is_dir": is_dir}, "details": dict(zip(keys, values))}``, without
        the dicts for an entry whose details pack. Names starting with
        ``reserved`` are no entries: they are returned, in order. An entry
        whose values are ``None`` has its details read by ``reader(name)``
        when they are asked for (not before).
        """
        set_aside: list[str] = []
        names, kinds, records = self._names, self._kinds, self._records
        pack_values = self._packer.pack_values
        if reader is not None:
            self._details = reader
        for name, is_dir, values in entries:
            if name.startswith(reserved):
                set_aside.append(name)
                continue
            if values is None:
                if self._details is None:
                    raise ValueError(f"no reader for the details of {name!r}")
                names.append(name)
                kinds.append(1 if is_dir else 0)
                records.append(_ON_DEMAND)
                if len(_ON_DEMAND) != self._stride:
                    self._note_length(_ON_DEMAND)
                continue
            packed = pack_values(keys, values)
            if packed is None:
                details = {key: _unshared(value) for key, value in zip(keys, values)}
                raw = {"basic": {"name": name, "is_dir": is_dir}, "details": details}
                self.add(name, is_dir, Info(typing.cast(typing.Any, raw)))
                continue
            names.append(name)
            kinds.append(1 if is_dir else 0)
            records.append(packed)
            if len(packed) != self._stride:
                self._note_length(packed)
        return set_aside

    def _note_length(self, record: bytes) -> None:
        """Widen the stride to fit ``record``; note when records differ in length."""
        if len(record) > self._stride:
            if len(self._records) > 1:
                self._ragged = True
            self._stride = len(record)
        elif len(record) < self._stride:
            self._ragged = True

    def build(self) -> Columns:
        """Return the entries added so far as columns sorted by name."""
        names, kinds, records, stride = self._names, bytes(self._kinds), self._records, self._stride
        if self._ragged:
            records = [record.ljust(stride, b"\0") for record in records]
        listed = None
        if not _is_sorted(names):
            listed = names
            order = sorted(range(len(names)), key=names.__getitem__)
            names = list(map(names.__getitem__, order))
            kinds = bytes(map(kinds.__getitem__, order))
            records = list(map(records.__getitem__, order))
        joined = b"".join(records)
        return Columns(
            names, kinds, joined, stride, self._loose, self._plain, listed, self._details
        )


def _unshared(value: object) -> object:
    """Return ``value``, or a copy of it if it is a list (values may be shared between entries)."""
    return list(value) if isinstance(value, list) else value


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


__all__ = [
    "ColumnarEntries",
    "ColumnarInfos",
    "Columns",
    "ColumnsBuilder",
    "DetailsReader",
    "columnar_listing",
    "listing_columns",
]
