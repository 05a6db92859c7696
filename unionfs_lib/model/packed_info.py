"""Packed info: a lower entry's cached ``basic`` and ``details`` info in a few bytes.

The lookup caches keep the info of every lower entry they list, so that
``getinfo`` and ``scandir`` answer without asking the layer again. A plain
:class:`fs.info.Info` holds two dicts and their values (about 600 bytes per
entry); a :class:`PackedInfo` keeps the entry's name, whether it is a
directory, and the ``details`` values packed with :mod:`struct` into one
``bytes`` object, and builds the dicts only when someone reads ``raw``.

The keys of a ``details`` namespace and the kind of each value (float, int,
``None``, or a constant such as the ``_write`` list) form its *shape*; an FS
reports the same shape for all its entries, so the shapes are kept once, in a
small process-wide table, and each packed entry refers to its shape by
number. Info that does not fit (another namespace, a string or huge value, too
many distinct shapes) is kept as it is.

>>> from fs.info import Info
>>> from unionfs_lib.model.packed_info import PackedInfo, pack_info
>>> info = Info({"basic": {"name": "a", "is_dir": False},
...              "details": {"size": 3, "type": 2, "modified": 1.5}})
>>> packed = pack_info(info)
>>> isinstance(packed, PackedInfo), packed.size, packed.raw == info.raw
(True, 3, True)
"""

from __future__ import annotations

import functools
import operator
import struct
import threading
import typing

from fs.info import Info
from fs.time import epoch_to_datetime

#: Most distinct ``details`` shapes remembered; more is kept unpacked.
MAX_SHAPES = 4096

_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1
_NAMESPACES = frozenset({"basic", "details"})

#: One key of a shape: ``(key, code, constant)``; code ``d`` float, ``q``
#: int, ``c`` the constant (compared for equality, rebuilt on unpacking).
_Field = typing.Tuple[str, str, typing.Any]


class _Shape(typing.NamedTuple):
    """The keys of one ``details`` namespace and how each value is stored."""

    fields: tuple[_Field, ...]
    codec: struct.Struct


_SHAPES: list[_Shape] = []
_SHAPE_NUMBERS: dict[tuple[_Field, ...], int] = {}
_SHAPES_LOCK = threading.Lock()
_HEADER = struct.Struct("<H")


_BASIC = frozenset({"basic"})


class BasicInfo(Info):
    """An ``Info`` with only the ``basic`` namespace, made at a fraction of the cost.

    Listings build one per entry; this skips computing the namespaces of
    each (they are always just ``basic``).
    """

    __slots__ = ()

    namespaces = _BASIC
    _to_datetime = staticmethod(epoch_to_datetime)  # type: ignore[assignment]

    def __init__(self, name: str, is_dir: bool) -> None:
        """Describe entry ``name``, a directory if ``is_dir``."""
        self.raw = {"basic": {"name": name, "is_dir": is_dir}}


class PackedInfo(Info):
    """A read-only ``Info`` (``basic`` and ``details``) kept packed in one ``bytes``.

    It behaves like the ``Info`` it was packed from (``raw``, ``name``,
    ``is_dir``, ``size``, ``modified``, ``==``); ``raw`` is built on each read,
    so hot paths should use the properties.
    """

    __slots__ = ("_name", "_is_dir", "_packed")

    _to_datetime = staticmethod(epoch_to_datetime)  # type: ignore[assignment]

    def __init__(self, name: str, is_dir: bool, packed: bytes) -> None:
        """Wrap the packed ``details`` of entry ``name`` (see :func:`pack_info`)."""
        self._name = name
        self._is_dir = is_dir
        self._packed = packed

    @property
    def raw(self) -> dict[str, dict[str, typing.Any]]:  # type: ignore[override]
        """The info as a fresh raw dict (built from the packed bytes)."""
        return {
            "basic": {"name": self._name, "is_dir": self._is_dir},
            "details": unpack_details(self._packed),
        }

    @property
    def namespaces(self) -> frozenset[str]:  # type: ignore[override]
        """Always ``basic`` and ``details``."""
        return _NAMESPACES

    @property
    def name(self) -> str:
        """The entry's name."""
        return self._name

    @property
    def is_dir(self) -> bool:
        """Whether the entry is a directory."""
        return self._is_dir

    def basic_raw(self, name: str | None = None) -> dict[str, typing.Any]:
        """Return the ``basic`` namespace, under ``name`` if given."""
        return {"name": self._name if name is None else name, "is_dir": self._is_dir}


class DetailsOnDemand(PackedInfo):
    """A :class:`PackedInfo` whose ``details`` are read the first time they are asked for.

    A cold listing of an OS layer keeps each entry's name and kind from the
    directory itself (no ``stat``); its details come from ``read(name)``
    (called once, then kept) only when something reads them (``raw``,
    ``size``, ``modified`` ...). ``name`` and ``is_dir`` never read them,
    nor does comparing two infos of the same entry made with the same
    ``read`` (one listing): they are equal, as the packed infos of one
    listing's record were.
    """

    __slots__ = ("_read", "_details")

    def __init__(
        self, name: str, is_dir: bool, read: typing.Callable[[str], dict[str, typing.Any]]
    ) -> None:
        """Describe entry ``name`` (a directory if ``is_dir``); ``read(name)`` gives its details."""
        self._name = name
        self._is_dir = is_dir
        self._read = read
        self._details: dict[str, typing.Any] | None = None

    @property
    def raw(self) -> dict[str, dict[str, typing.Any]]:  # type: ignore[override]
        """The info as a fresh raw dict (the details read on the first call)."""
        details = self._details
        if details is None:
            details = self._details = self._read(self._name)
        copied = {
            key: list(value) if isinstance(value, list) else value
            for key, value in details.items()
        }
        return {"basic": {"name": self._name, "is_dir": self._is_dir}, "details": copied}

    def __eq__(self, other: object) -> bool:
        """Compare as ``Info`` does; the same entry of the same listing is equal unread."""
        if (
            type(other) is DetailsOnDemand
            and other._read is self._read
            and other._name == self._name
            and other._is_dir == self._is_dir
        ):
            return True
        return bool(super().__eq__(other))


def pack_info(info: Info) -> Info:
    """Return ``info`` packed when it holds only ``basic`` and ``details`` that fit, else itself."""
    if isinstance(info, PackedInfo):
        return info
    basic = info.raw.get("basic", {})
    name, is_dir = basic.get("name"), basic.get("is_dir")
    if type(name) is not str or type(is_dir) is not bool:
        return info
    packed = pack_details(info, name, is_dir)
    return info if packed is None else PackedInfo(name, is_dir, packed)


def pack_details(info: Info, name: str, is_dir: bool) -> bytes | None:
    """Return the ``details`` of ``info`` packed (as :class:`PackedInfo` keeps them), or ``None``.

    ``None`` when ``info`` holds more than ``basic`` (exactly ``name`` and
    ``is_dir``) and ``details``, or details that do not fit.
    """
    raw = info.raw
    if len(raw) != 2:
        return None
    basic, details = raw["basic"], raw.get("details")
    if details is None or len(basic) != 2:
        return None
    if basic.get("name") != name or basic.get("is_dir") is not is_dir:
        return None
    return _pack_any(details)


def _pack_any(details: typing.Mapping[str, object]) -> bytes | None:
    """Pack ``details`` in their shape (adding the shape if new), or ``None`` if they do not fit."""
    packed = _pack_known(details)
    if packed is None:
        fields, values = _fields_of(details)
        if fields is None:
            return None
        number = _shape_number(fields)
        if number is None:
            return None
        _remember_layout(details, number)
        packed = _SHAPES[number].codec.pack(number, *values)
    return packed


_Pick = typing.Callable[[typing.Tuple[object, ...]], typing.Tuple[object, ...]]


def _picker(positions: tuple[int, ...]) -> _Pick:
    """Return a function picking ``positions`` of a tuple, as a tuple."""
    if len(positions) > 1:
        return operator.itemgetter(*positions)
    if positions:
        index = positions[0]
        return lambda values: (values[index],)
    return lambda values: ()


class _Layout(typing.NamedTuple):
    """How a ``details`` dict of known keys and value types packs into one shape."""

    number: int
    pick_packed: _Pick
    pick_constants: _Pick
    constants: tuple[object, ...]
    pack: typing.Callable[..., bytes]


#: Known layouts, by the keys and value types of a ``details`` dict.
_LAYOUTS: dict[tuple[tuple[str, ...], tuple[type, ...]], list[_Layout]] = {}


def _pack_known(details: typing.Mapping[str, object]) -> bytes | None:
    """Pack ``details`` if its layout was seen before (the common case), else ``None``."""
    values = tuple(details.values())
    layout = _find_layout(details, values)
    if layout is None:
        return None
    try:
        return layout.pack(layout.number, *layout.pick_packed(values))
    except struct.error:  # an int out of range
        return None


def _find_layout(
    details: typing.Mapping[str, object], values: tuple[object, ...]
) -> _Layout | None:
    """Return the known layout of ``details`` (whose values are ``values``), if any."""
    layouts = _LAYOUTS.get((tuple(details), tuple(map(type, values))))
    if layouts is None:
        return None
    for layout in layouts:
        if layout.pick_constants(values) == layout.constants:
            return layout
    return None


class DetailsPacker:
    """Packs the ``details`` of many entries, as :func:`pack_details` does, a little faster.

    A directory's entries nearly always share one layout: the packer keeps
    the layout of the last dict it packed and tries it first.
    """

    __slots__ = ("_keys", "_types", "_check", "_pack", "_pick")

    def __init__(self) -> None:
        """Start with no layout remembered."""
        self._keys: tuple[str, ...] | None = None
        self._types: tuple[type, ...] | None = None
        self._check: typing.Callable[[tuple[object, ...]], bool] = bool
        self._pack: typing.Callable[..., bytes] = bytes
        self._pick: _Pick = tuple

    def pack(self, details: typing.Mapping[str, object]) -> bytes | None:
        """Return ``details`` packed (with the shape header), or ``None`` if they do not fit."""
        values = tuple(details.values())
        if (
            tuple(map(type, values)) == self._types
            and tuple(details) == self._keys
            and self._check(values)
        ):
            try:
                return self._pack(*self._pick(values))
            except struct.error:  # an int out of range
                return None
        packed = _pack_any(details)
        if packed is not None:
            self._remember(details, values)
        return packed

    def pack_values(self, keys: tuple[str, ...], values: tuple[object, ...]) -> bytes | None:
        """Pack the ``details`` whose keys are ``keys`` and values ``values`` (no dict needed).

        The same result as :meth:`pack` of ``dict(zip(keys, values))``; the
        dict is built only when the layout is not the one remembered.
        """
        if keys == self._keys and tuple(map(type, values)) == self._types and self._check(values):
            try:
                return self._pack(*self._pick(values))
            except struct.error:  # an int out of range
                return None
        return self.pack(dict(zip(keys, values)))

    def _remember(self, details: typing.Mapping[str, object], values: tuple[object, ...]) -> None:
        """Make the layout of ``details`` (just packed) the one tried first."""
        layout = _find_layout(details, values)
        if layout is None:
            return
        self._keys, self._types = tuple(details), tuple(map(type, values))
        pick_constants, constants = layout.pick_constants, layout.constants
        self._check = lambda values: pick_constants(values) == constants
        self._pack = functools.partial(layout.pack, layout.number)
        self._pick = layout.pick_packed


def _remember_layout(details: typing.Mapping[str, object], number: int) -> None:
    """Remember how ``details`` packs into shape ``number`` for :func:`_pack_known`."""
    shape = _SHAPES[number]
    packed = tuple(i for i, (_, code, _) in enumerate(shape.fields) if code != "c")
    constant = tuple(i for i, (_, code, _) in enumerate(shape.fields) if code == "c")
    constants = tuple(_unfrozen(shape.fields[i][2]) for i in constant)
    layout = _Layout(number, _picker(packed), _picker(constant), constants, shape.codec.pack)
    key = (tuple(details), tuple(map(type, details.values())))
    with _SHAPES_LOCK:
        layouts = _LAYOUTS.setdefault(key, [])
        if all(known.number != number for known in layouts) and len(layouts) < 16:
            layouts.append(layout)


def _unfrozen(constant: object) -> object:
    """Return a shape's constant as the ``details`` value it stands for (a list for a tuple)."""
    return list(constant) if isinstance(constant, tuple) else constant


def unpack_details(packed: bytes) -> dict[str, typing.Any]:
    """Rebuild the ``details`` dict of a packed entry (bytes past its shape's size are ignored)."""
    shape = _SHAPES[_HEADER.unpack_from(packed)[0]]
    values = iter(shape.codec.unpack_from(packed)[1:])
    details: dict[str, typing.Any] = {}
    for key, code, constant in shape.fields:
        details[key] = _unfrozen(constant) if code == "c" else next(values)
    return details


def _fields_of(
    details: typing.Mapping[str, object],
) -> tuple[tuple[_Field, ...] | None, list[typing.Any]]:
    """Return the shape fields and packed values of ``details`` (``None``: does not fit)."""
    fields: list[_Field] = []
    values: list[typing.Any] = []
    for key, value in details.items():
        if type(value) is float:
            fields.append((key, "d", None))
            values.append(value)
        elif type(value) is int and _INT_MIN <= value <= _INT_MAX:
            fields.append((key, "q", None))
            values.append(value)
        elif value is None or type(value) is bool:
            fields.append((key, "c", value))
        elif type(value) is list and all(type(item) is str for item in value):
            fields.append((key, "c", tuple(value)))
        else:
            return None, []
    return tuple(fields), values


def _shape_number(fields: tuple[_Field, ...]) -> int | None:
    """Return the number of shape ``fields``, adding it if there is room."""
    number = _SHAPE_NUMBERS.get(fields)
    if number is not None:
        return number
    with _SHAPES_LOCK:
        number = _SHAPE_NUMBERS.get(fields)
        if number is None:
            if len(_SHAPES) >= MAX_SHAPES:
                return None
            codes = "".join(code for _, code, _ in fields if code != "c")
            _SHAPES.append(_Shape(fields, struct.Struct(_HEADER.format + codes)))
            number = _SHAPE_NUMBERS[fields] = len(_SHAPES) - 1
        return number


__all__ = [
    "MAX_SHAPES",
    "BasicInfo",
    "DetailsOnDemand",
    "DetailsPacker",
    "PackedInfo",
    "pack_details",
    "pack_info",
    "unpack_details",
]
