"""The overlay's shared record types: the counterpart of Linux's ``ovl_entry.h``.

Every other module of the package speaks in these types, so they live at the
bottom of the import graph and import nothing of the package:

* :class:`LayerRef`, :class:`Node`: a layer entry and a resolved overlay
  entry (``lookup`` makes them, everything else reads them);
* :class:`ScanItem`, :class:`DirListing`: one layer directory as a whiteout
  store reads it;
* :class:`Candidate`, :class:`MergedDir`: the merged child table the lookup
  caches;
* :class:`EntryRecord`: what the upper remembers of one entry's identity.

Layer numbers are positions: :data:`UPPER` (0) is the upper, 1..N the
lowers, top-most first.
"""

from __future__ import annotations

import enum
import json
import logging
import typing

import attrs
from fs.info import Info

log = logging.getLogger(__name__)

#: Layer number of the upper layer; lowers are 1..N, top-most first.
UPPER = 0

#: The largest inode number the overlay shows (63 bits: what it derives, what
#: ``st_ino`` and FUSE hold); a record or pin naming a larger one is malformed.
MAX_INO = (1 << 63) - 1

#: Bytes moved per read/write when data is streamed between layers
#: (copy-up, squash, fingerprints, lazy fetches): memory stays flat.
CHUNK_SIZE = 1 << 20


class ScanKind(str, enum.Enum):
    """What one item of a layer directory is, as a whiteout store reads it.

    The values are plain strings, so ``ScanKind.ENTRY == "entry"``.
    """

    #: a visible name (with ``is_dir`` and, for lowers, ``info``)
    ENTRY = "entry"
    #: ``name`` is hidden in the layers beneath
    WHITEOUT = "whiteout"
    #: the directory hides the same directory beneath
    OPAQUE = "opaque"
    #: the directory shows lower content from elsewhere
    REDIRECT = "redirect"
    #: ``name`` has an identity record
    RECORD = "record"
    #: entries left ``name`` keeping their numbers (see ``unionfs_lib.resolve.inode_numbers``)
    VACATED = "vacated"
    #: a name the store keeps for itself (work area, unknown markers)
    INTERNAL = "internal"


ENTRY, WHITEOUT, OPAQUE, REDIRECT, RECORD, INTERNAL, VACATED = (
    ScanKind.ENTRY,
    ScanKind.WHITEOUT,
    ScanKind.OPAQUE,
    ScanKind.REDIRECT,
    ScanKind.RECORD,
    ScanKind.INTERNAL,
    ScanKind.VACATED,
)


@attrs.frozen
class LayerRef:
    """One layer entry: layer index (0 is the upper, 1..N the lowers) and path."""

    layer: int
    path: str


@attrs.frozen
class Node:
    """A resolved overlay entry.

    Attributes:
        path: the overlay path.
        is_dir: whether it is a (possibly merged) directory.
        refs: backing layer entries, top-most first.
        lower_view: for directories, the path at which the lower layers show
            this directory's content (differs from ``path`` after a rename
            recorded as a redirect); ``None`` when no lower content can exist.
        info: the lower layer's cached ``Info`` when the top entry is in a
            lower layer, else ``None``.
        record: the upper's identity record of the entry, if it has one.
        ino_key: what a record-less upper entry's number derives from, when
            that is not ``path`` itself: the path with the generation of
            each vacated name on the way (see :func:`unionfs_lib.resolve.inode_numbers.ino_key`).
    """

    path: str
    is_dir: bool
    refs: tuple[LayerRef, ...]
    lower_view: str | None = None
    info: Info | None = None
    record: EntryRecord | None = None
    ino_key: str | None = None

    @property
    def is_metacopy(self) -> bool:
        """Whether the upper holds only this file's metadata (data still below)."""
        return self.record is not None and self.record.data is not None

    @property
    def data_ref(self) -> LayerRef:
        """The layer entry holding the file's bytes."""
        if self.record is not None and self.record.data is not None:
            return LayerRef(*self.record.data)
        return self.refs[0]

    @property
    def top(self) -> LayerRef:
        """The entry that decides type and content."""
        return self.refs[0]

    @property
    def in_upper(self) -> bool:
        """Whether the upper layer holds this entry."""
        return self.refs[0].layer == UPPER

    @property
    def lower_refs(self) -> tuple[LayerRef, ...]:
        """The entries in lower layers."""
        return tuple(ref for ref in self.refs if ref.layer != UPPER)


@attrs.define
class Candidate:
    """A child name in a merged directory before its own markers are read."""

    is_dir: bool
    refs: list[LayerRef]
    info: Info | None
    #: the resolved node of a lower file, kept once built (it cannot change)
    node: Node | None = None


@attrs.define
class MergedDir:
    """A cached merged directory: its node and, once computed, its children."""

    node: Node
    #: the merged child table: a dict, or a columnar table
    #: (see ``unionfs_lib.model.listing_columns``)
    children: typing.MutableMapping[str, Candidate] | None = None
    names: list[str] | None = None
    #: the candidates of ``names``, in the same order (built when first asked)
    in_name_order: list[Candidate] | None = None


@attrs.frozen
class ScanItem:
    """One item of a layer directory as a whiteout store reads it.

    ``kind`` is one of ``entry`` (a visible name, with ``is_dir`` and ``info``),
    ``whiteout`` (``name`` is hidden beneath), ``opaque``, ``redirect``,
    ``record`` (``name`` has an identity record) or ``internal``.
    """

    kind: ScanKind
    name: str
    is_dir: bool = False
    info: Info | None = None


@attrs.frozen
class DirListing:
    """What one layer holds in one directory, as read by a whiteout store.

    Attributes:
        entries: visible names mapped to ``True`` for directories (a dict;
            for a lower layer read with its info, a sorted columnar view,
            see :mod:`unionfs_lib.model.listing_columns`).
        infos: the layer's ``Info`` for each entry (basic and details), kept
            only for read-only lower layers whose metadata cannot change.
        whiteouts: names this layer hides in the layers beneath it (a
            mutable set once the overlay updated a cached upper listing in
            place, see ``Resolver.refresh``).
        opaque: whether this directory hides the same directory beneath it.
        redirect: absolute path where lower layers hold this directory's
            content (set when a merged directory was renamed), or ``None``.
        records: the raw identity records of entries, by name.
        vacated: for each name that entries left keeping their numbers, how
            many times (its generation, see :mod:`unionfs_lib.resolve.inode_numbers`); only
            ever grows.
        links: the entries that are symbolic links whose type (in
            ``entries``) is their target's, as a store that follows links
            reads them; the resolver checks their type again after every
            change (see :mod:`unionfs_lib.resolve.link_index`).

    """

    entries: typing.Mapping[str, bool]
    infos: typing.Mapping[str, Info] | None = None
    whiteouts: typing.AbstractSet[str] = frozenset()
    opaque: bool = False
    redirect: str | None = None
    records: dict[str, bytes] = attrs.field(factory=dict)
    vacated: dict[str, int] = attrs.field(factory=dict)
    links: typing.AbstractSet[str] = frozenset()

    @property
    def weight(self) -> int:
        """Cost of keeping this listing in a cache, in entries."""
        return 1 + len(self.entries) + len(self.whiteouts) + len(self.records) + len(self.vacated)


EMPTY_LISTING = DirListing(entries={})



@attrs.frozen
class EntryRecord:
    """What the upper remembers about one entry.

    Attributes:
        ino: the entry's overlay inode number.
        origin: the lower layer the entry was copied up from, if any.
        data: for a metadata-only copy-up, the ``(layer, path)`` still holding
            the file's bytes; ``None`` once the data lives in the upper.
    """

    ino: int
    origin: int | None = None
    data: tuple[int, str] | None = None

    def dump(self) -> bytes:
        """Serialise the record."""
        raw: dict[str, typing.Any] = {"ino": self.ino, "origin": self.origin}
        if self.data is not None:
            raw["data"] = [self.data[0], self.data[1]]
        return json.dumps(raw, sort_keys=True).encode("utf-8")

    @classmethod
    def load(cls, raw: bytes, lowers: int | None = None) -> EntryRecord | None:
        """Parse a record; a malformed one is ignored (with a warning).

        Records are read from the upper, where anyone may have laid anything:
        a record is malformed unless it is a JSON object with an ``ino`` from
        1 to :data:`MAX_INO` and, if it has ``data``, a ``[layer, path]``
        naming a lower layer (1 to ``lowers``, when given) and an absolute,
        normalised path. An ``origin`` that names no lower layer is dropped.
        """
        try:
            return cls._parse(json.loads(raw.decode("utf-8")), lowers)
        except (ValueError, TypeError, RecursionError) as error:  # UnicodeDecodeError too
            log.warning("ignoring malformed entry record %r: %s", raw[:80], error)
            return None

    @classmethod
    def _parse(cls, found: object, lowers: int | None) -> EntryRecord:
        """Check the decoded JSON of a record (see :meth:`load`); raise ``ValueError``."""
        if not isinstance(found, dict):
            raise ValueError("not an object")
        ino, origin, data = found.get("ino"), found.get("origin"), found.get("data")
        if not _is_int(ino) or not 0 < ino <= MAX_INO:
            raise ValueError("ino is not a number from 1 to MAX_INO")
        if origin is not None and not _is_int(origin):
            raise ValueError("origin is not a number")
        if origin is not None and not _names_lower(origin, lowers):
            origin = None
        if data is not None:
            if not isinstance(data, list) or len(data) != 2:
                raise ValueError("data is not [layer, path]")
            layer, path = data
            if not _is_int(layer) or not _names_lower(layer, lowers):
                raise ValueError("bad data reference")
            if not isinstance(path, str) or not is_layer_path(path):
                raise ValueError("data path is not an absolute, normalised path")
            data = (layer, path)
        return cls(ino, origin, data)


def _is_int(value: object) -> typing.TypeGuard[int]:
    """Tell whether ``value`` is an ``int`` and not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def _names_lower(layer: int, lowers: int | None) -> bool:
    """Tell whether ``layer`` is a lower layer's number (1 to ``lowers``, if known)."""
    return layer >= 1 and (lowers is None or layer <= lowers)


#: The longest layer path a record may hold (Linux's PATH_MAX).
MAX_RECORD_PATH = 4096


def is_layer_path(path: str) -> bool:
    """Tell whether ``path`` is an absolute, normalised path that the OS can encode.

    No empty, ``.`` or ``..`` component, no NUL, no trailing ``/`` (but
    ``/`` itself), at most :data:`MAX_RECORD_PATH` characters.
    """
    if not path.startswith("/") or len(path) > MAX_RECORD_PATH or "\0" in path:
        return False
    try:
        path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return path == "/" or all(part not in ("", ".", "..") for part in path[1:].split("/"))


@attrs.frozen
class Batch:
    """One batch of a directory iteration, as a directory iterator returns it.

    Attributes:
        entries: ``(cookie, node)`` of each visible entry, in the iterator's
            order; passing an entry's cookie back resumes right after it.
        done: whether the iteration is complete after this batch.
        resume: the cookie to pass for the next batch (``None`` when done).

    """

    entries: list[tuple[str, Node]]
    done: bool
    resume: str | None
