"""A whiteout store that keeps all of a directory's markers in one side-car record.

:class:`SidecarWhiteouts` is written against
:class:`unionfs_lib.stores.whiteout_store.WhiteoutStore` alone. Where the default store writes
one marker file per whiteout, flag and identity record, this one keeps them
all in a single JSON file per directory, :data:`SIDECAR_NAME`::

    {"version": 1, "whiteouts": ["gone"], "opaque": false,
     "redirect": "/old/name", "records": {"file.txt": "<base64>"},
     "vacated": {"moved.txt": 1}}

Whiteouts, records and generations of ``<dir>/<name>`` live in ``<dir>``'s side-car; the
opaque flag and redirect of ``<dir>`` live in its own. A directory without
markers has no side-car at all.

Every change rewrites the side-car atomically: the new content is written
to a temporary file beside it and moved over it (one ``os.rename`` on an OS
directory), so a crash leaves the old record or the new one, never half of
one; a leftover temporary file is a reserved name, hidden and removed with
its directory. Each write method still changes exactly one record, as the
protocol's crash-ordering contract asks.

A side-car that cannot be read or parsed is ignored with a warning (the
directory shows as having no markers); it is never followed half-way.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import typing
import uuid

import attrs
import fs.errors
import fs.path
from fs.base import FS
from fs.info import Info

from unionfs_lib.model.records import DirListing, ScanItem, ScanKind

log = logging.getLogger(__name__)

#: Every name this store keeps for itself starts with this prefix.
RESERVED_PREFIX = ".unionfs-"
#: The side-car record of one directory.
SIDECAR_NAME = RESERVED_PREFIX + "dir.json"
#: The work area, at the root of the upper.
WORK_DIR_NAME = RESERVED_PREFIX + "work"
#: Version number written into every side-car.
FORMAT_VERSION = 1


@attrs.frozen
class DirMarkers:
    """What one directory's side-car says.

    Attributes:
        whiteouts: names of the directory hidden in the layers beneath.
        opaque: whether the directory hides the same directory beneath.
        redirect: absolute path whose lower content the directory shows.
        records: identity records of the directory's entries, by name.
        vacated: how many times each name was vacated (its generation).
    """

    whiteouts: frozenset[str] = frozenset()
    opaque: bool = False
    redirect: str | None = None
    records: typing.Mapping[str, bytes] = attrs.field(factory=dict)
    vacated: typing.Mapping[str, int] = attrs.field(factory=dict)

    @property
    def is_empty(self) -> bool:
        """Whether there is nothing to record (the side-car can go)."""
        return not (
            self.whiteouts or self.opaque or self.redirect or self.records or self.vacated
        )

    def dump(self) -> bytes:
        """Serialise the markers as the side-car's JSON."""
        raw = {
            "version": FORMAT_VERSION,
            "whiteouts": sorted(self.whiteouts),
            "opaque": self.opaque,
            "redirect": self.redirect,
            "records": {
                name: base64.b64encode(record).decode("ascii")
                for name, record in sorted(self.records.items())
            },
            "vacated": dict(sorted(self.vacated.items())),
        }
        return json.dumps(raw, sort_keys=True).encode("utf-8")

    @classmethod
    def load(cls, raw: bytes) -> DirMarkers:
        """Parse a side-car; raise ``ValueError`` if it is not one."""
        try:
            found = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, RecursionError) as error:  # nested past the parser's depth
            raise ValueError(str(error)) from error
        if not isinstance(found, dict) or found.get("version") != FORMAT_VERSION:
            raise ValueError("not a side-car of this version")
        whiteouts = found.get("whiteouts", [])
        opaque = found.get("opaque", False)
        redirect = found.get("redirect")
        records = found.get("records", {})
        vacated = found.get("vacated", {})
        if not isinstance(vacated, dict) or not all(map(_is_entry_name, vacated)):
            raise ValueError("bad generation table")
        if not all(isinstance(count, int) and count >= 0 for count in vacated.values()):
            raise ValueError("bad generation")
        if not isinstance(whiteouts, list) or not all(map(_is_entry_name, whiteouts)):
            raise ValueError("bad whiteout list")
        if not isinstance(opaque, bool):
            raise ValueError("bad opaque flag")
        if redirect is not None and not _is_canonical_redirect(redirect):
            raise ValueError(f"bad redirect {str(redirect)[:200]!r}")
        if not isinstance(records, dict) or not all(map(_is_entry_name, records)):
            raise ValueError("bad record table")
        try:
            decoded = {
                name: base64.b64decode(value, validate=True) for name, value in records.items()
            }
        except (TypeError, binascii.Error) as error:
            raise ValueError(f"bad record: {error}") from error
        return cls(frozenset(whiteouts), opaque, redirect, decoded, vacated)


NO_MARKERS = DirMarkers()


def _is_entry_name(name: object) -> bool:
    """Tell whether ``name`` can be the name of an entry of a directory."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name


def _is_canonical_redirect(target: object) -> bool:
    """Tell whether ``target`` is an absolute, normalised path without a NUL."""
    if not isinstance(target, str) or not target.startswith("/") or "\0" in target:
        return False
    try:
        return fs.path.normpath(target) == target and (target == "/" or not target.endswith("/"))
    except fs.errors.IllegalBackReference:
        return False


def _join(directory: str, name: str) -> str:
    """Return the path of ``name`` inside ``directory``."""
    return directory.rstrip("/") + "/" + name


def _split(path: str) -> tuple[str, str]:
    """Return ``(parent directory, name)`` of a canonical path."""
    parent, _, name = path.rpartition("/")
    return parent or "/", name


@attrs.frozen
class SidecarWhiteouts:
    """Whiteouts, flags and records of a directory in one side-car JSON file.

    Works on every PyFilesystem2 FS; see the module docstring for the format.
    """

    #: Whiteouts are recorded in the parent's side-car, not at the name.
    whiteout_takes_name: typing.ClassVar[bool] = False
    #: Renamed merged directories keep their lower content by redirect.
    redirect_dir: typing.ClassVar[bool] = True
    #: Identity records are kept in the parent's side-car.
    keeps_records: typing.ClassVar[bool] = True

    def is_reserved(self, name: str) -> bool:
        """Every name starting with ``.unionfs-`` is the store's."""
        return name.startswith(RESERVED_PREFIX)

    # -- reading -------------------------------------------------------------

    def scan_dir(self, layer: FS, path: str, with_info: bool) -> typing.Iterator[ScanItem]:
        """Yield the directory's entries as they are read, then its side-car's markers."""
        has_sidecar = False
        for item in self._scan_entries(layer, path, with_info):
            has_sidecar = has_sidecar or item.name == SIDECAR_NAME
            yield item
        markers = self._load(layer, path) if has_sidecar else NO_MARKERS
        yield from _marker_items(markers)

    def read_dir(self, layer: FS, path: str, with_info: bool) -> DirListing:
        """Read one directory into a listing, reading its side-car once."""
        entries: dict[str, bool] = {}
        infos: dict[str, Info] | None = {} if with_info else None
        has_sidecar = False
        for item in self._scan_entries(layer, path, with_info):
            if item.kind == ScanKind.ENTRY:
                entries[item.name] = item.is_dir
                if infos is not None and item.info is not None:
                    infos[item.name] = item.info
            has_sidecar = has_sidecar or item.name == SIDECAR_NAME
        markers = self._load(layer, path) if has_sidecar else NO_MARKERS
        return DirListing(
            entries,
            infos,
            markers.whiteouts,
            markers.opaque,
            markers.redirect,
            dict(markers.records),
            dict(markers.vacated),
        )

    def read_records(self, layer: FS, path: str, names: list[str]) -> dict[str, bytes]:
        """Return the records of ``names`` found in the directory's side-car."""
        records = self._load(layer, path).records
        return {name: records[name] for name in names if name in records}

    def read_vacancies(self, layer: FS, path: str, names: list[str]) -> dict[str, int]:
        """Return the generations of ``names`` found in the directory's side-car."""
        vacated = self._load(layer, path).vacated
        return {name: vacated[name] for name in names if name in vacated}

    def dir_flags(self, layer: FS, path: str) -> tuple[bool, str | None]:
        """Read ``(opaque, redirect)`` from the directory's side-car alone."""
        markers = self._load(layer, path)
        return markers.opaque, markers.redirect

    def read_name(
        self, layer: FS, path: str, name: str, with_info: bool = False
    ) -> DirListing:
        """Read ``name`` of directory ``path`` alone: one ``getinfo`` and the side-car."""
        markers = self._load(layer, path)
        entries: dict[str, bool] = {}
        infos: dict[str, Info] | None = None
        if not self.is_reserved(name):
            try:
                info = layer.getinfo(_join(path, name), ["details"] if with_info else None)
            except fs.errors.ResourceNotFound:
                pass
            else:
                entries[name] = info.is_dir
                infos = {name: info} if with_info else None
        return DirListing(
            entries,
            infos,
            frozenset({name}) & markers.whiteouts,
            records={name: markers.records[name]} if name in markers.records else {},
            vacated={name: markers.vacated[name]} if name in markers.vacated else {},
        )

    def has_whiteout(self, upper: FS, path: str) -> bool:
        """Tell whether the parent's side-car lists ``path``'s name as a whiteout."""
        parent, name = _split(path)
        return name in self._load(upper, parent).whiteouts

    def _scan_entries(self, layer: FS, path: str, with_info: bool) -> typing.Iterator[ScanItem]:
        """Yield each name of the directory: an entry, or internal if reserved.

        If an entry's details cannot be read (a dangling symbolic link in an OS
        layer), the rest of the directory is read by name only, with a warning.
        """
        done = 0
        try:
            for item in self._classify(layer, path, with_info):
                yield item
                done += 1
        except fs.errors.ResourceNotFound:
            if not with_info or not layer.isdir(path):
                raise
            log.warning("%s: an entry has no readable details; listing names only", path)
            for index, item in enumerate(self._classify(layer, path, False)):
                if index >= done:
                    yield item

    def _classify(self, layer: FS, path: str, with_info: bool) -> typing.Iterator[ScanItem]:
        """Yield one scan item per name of the directory (see :meth:`_scan_entries`)."""
        namespaces = ["details"] if with_info else None
        for info in layer.scandir(path, namespaces=namespaces):
            if self.is_reserved(info.name):
                yield ScanItem(ScanKind.INTERNAL, info.name)
            else:
                yield ScanItem(ScanKind.ENTRY, info.name, info.is_dir, info if with_info else None)

    def _load(self, layer: FS, directory: str) -> DirMarkers:
        """Read the side-car of ``directory``; none, or an unreadable one, is no markers."""
        sidecar = _join(directory, SIDECAR_NAME)
        try:
            raw = layer.readbytes(sidecar)
        except (fs.errors.ResourceNotFound, fs.errors.FileExpected):
            return NO_MARKERS
        except fs.errors.FSError as error:
            log.warning("ignoring unreadable side-car %s: %s", sidecar, error)
            return NO_MARKERS
        try:
            return DirMarkers.load(raw)
        except ValueError as error:
            log.warning("ignoring malformed side-car %s: %s", sidecar, error)
            return NO_MARKERS

    # -- writing (the upper only) --------------------------------------------

    def add_whiteout(self, upper: FS, path: str) -> None:
        """List ``path``'s name as a whiteout in its parent's side-car."""
        parent, name = _split(path)
        self._update(upper, parent, lambda old: attrs.evolve(old, whiteouts=old.whiteouts | {name}))

    def remove_whiteout(self, upper: FS, path: str) -> None:
        """Drop ``path``'s name from its parent's whiteouts, if it is there."""
        parent, name = _split(path)
        self._update(upper, parent, lambda old: attrs.evolve(old, whiteouts=old.whiteouts - {name}))

    def set_opaque(self, upper: FS, path: str) -> None:
        """Set the opaque flag in directory ``path``'s own side-car."""
        self._update(upper, path, lambda old: attrs.evolve(old, opaque=True))

    def set_redirect(self, upper: FS, path: str, target: str) -> None:
        """Record ``target`` as the redirect in directory ``path``'s own side-car."""
        if not _is_canonical_redirect(target):
            raise fs.errors.OperationFailed(
                path, msg=f"a redirect must be an absolute, normalised path: {target!r}"
            )
        self._update(upper, path, lambda old: attrs.evolve(old, redirect=target))

    def set_record(self, upper: FS, path: str, record: bytes | None) -> None:
        """Store (or with ``None`` drop) ``path``'s record in its parent's side-car."""
        parent, name = _split(path)

        def change(old: DirMarkers) -> DirMarkers:
            records = dict(old.records)
            if record is None:
                records.pop(name, None)
            else:
                records[name] = record
            return attrs.evolve(old, records=records)

        self._update(upper, parent, change)

    def vacate(self, upper: FS, path: str) -> None:
        """Count one more vacancy of ``path``'s name in its parent's side-car."""
        parent, name = _split(path)

        def change(old: DirMarkers) -> DirMarkers:
            vacated = {**old.vacated, name: old.vacated.get(name, 0) + 1}
            return attrs.evolve(old, vacated=vacated)

        self._update(upper, parent, change)

    def clear_dir(self, upper: FS, path: str) -> None:
        """Remove the side-car and any leftover temporary files inside ``path``."""
        for name in upper.listdir(path):
            if not self.is_reserved(name):
                continue
            reserved = _join(path, name)
            if upper.isdir(reserved):
                upper.removetree(reserved)
            else:
                upper.remove(reserved)

    def rename_over(self, upper: FS, src: str, dst: str, leave_whiteout: bool) -> None:
        """Not needed: side-car whiteouts never take an entry's name."""
        raise fs.errors.Unsupported(msg="side-car whiteouts never stand at an entry's name")

    def work_dir(self) -> str | None:
        """Return the hidden ``/.unionfs-work`` directory of the upper."""
        return "/" + WORK_DIR_NAME

    def _update(
        self, upper: FS, directory: str, change: typing.Callable[[DirMarkers], DirMarkers]
    ) -> None:
        """Apply ``change`` to the side-car of ``directory``; write only if it changed.

        A directory that is not in the upper has nothing to drop; adding a
        marker there fails with the FS's own ``ResourceNotFound``.
        """
        old = self._load(upper, directory)
        new = change(old)
        if new == old:
            return
        sidecar = _join(directory, SIDECAR_NAME)
        if new.is_empty:
            try:
                upper.remove(sidecar)
            except fs.errors.ResourceNotFound:
                pass
            return
        temp = _join(directory, f"{SIDECAR_NAME}.{uuid.uuid4().hex}.tmp")
        upper.writebytes(temp, new.dump())
        try:
            upper.move(temp, sidecar, overwrite=True)
        except BaseException:
            try:
                upper.remove(temp)
            except fs.errors.FSError:
                pass
            raise


def _marker_items(markers: DirMarkers) -> typing.Iterator[ScanItem]:
    """Yield the scan items of a side-car's markers."""
    for name in sorted(markers.whiteouts):
        yield ScanItem(ScanKind.WHITEOUT, name)
    if markers.opaque:
        yield ScanItem(ScanKind.OPAQUE, SIDECAR_NAME)
    if markers.redirect is not None:
        yield ScanItem(ScanKind.REDIRECT, markers.redirect)
    for name in sorted(markers.records):
        yield ScanItem(ScanKind.RECORD, name)
    for name in sorted(markers.vacated):
        yield ScanItem(ScanKind.VACATED, name)


__all__ = ["SIDECAR_NAME", "WORK_DIR_NAME", "DirMarkers", "SidecarWhiteouts"]
