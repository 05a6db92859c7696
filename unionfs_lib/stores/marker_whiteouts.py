"""Whiteout stores: how a layer records deletions, opaque directories and redirects.

A whiteout store reads one layer directory into a :class:`DirListing` (real
entries, whiteouts, the opaque flag and a redirect) and writes those markers
into the upper layer. The overlay never looks at marker names itself, so a
store can be swapped (see ``unionfs_lib.stores.kernel_whiteouts`` for the store that
writes what Linux overlayfs writes).

The default, :class:`MarkerWhiteouts`, uses the OCI image-layer convention and
so works on every PyFilesystem2 FS: a file ``.wh.<name>`` hides ``<name>``, a
file ``.wh..wh..opq`` makes its directory opaque. Two extensions of ours share
the reserved ``.wh..wh.`` prefix, which OCI tools ignore: ``.wh..wh..redirect``
holds the absolute lower path a renamed directory came from, and
``.wh..wh..work`` at the root is the copy-up work area. A third,
``.wh..wh..rec.<name>``, holds the identity record of ``<name>`` (see
``unionfs_lib.resolve.inode_numbers``): its origin layer, inode number and, for a
metadata-only copy-up, where its data still lives. A fourth,
``.wh..wh..vac.<name>``, holds how many times ``<name>`` was vacated (its
generation, see ``unionfs_lib.resolve.inode_numbers``): it is no entry, and stays when the
name is filled, emptied or renamed over.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
import typing

import attrs
import fs.error_tools
import fs.errors
import fs.path
from fs.base import FS
from fs.info import Info
from fs.wrapfs import WrapFS

from ..host import safe_tree
from ..host.layer_io import syspaths
from ..host.memory_scan import memory_dir_details
from ..host.os_scan import DETAILS_KEYS, os_dir_entries, read_details
from ..host.posix import (
    entry_info,
    entry_kind,
    path_kind,
    read_marker,
    write_empty_marker,
    write_marker,
)
from ..model.listing_columns import ColumnsBuilder, columnar_listing
from ..model.packed_info import pack_info
from ..model.paths import join_path
from ..model.records import (
    EMPTY_LISTING,
    ENTRY,
    INTERNAL,
    OPAQUE,
    RECORD,
    REDIRECT,
    VACATED,
    WHITEOUT,
    DirListing,
    ScanItem,
)

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = ".wh."
META_PREFIX = ".wh..wh."
OPAQUE_MARKER = ".wh..wh..opq"
REDIRECT_MARKER = ".wh..wh..redirect"
WORK_DIR_NAME = ".wh..wh..work"
RECORD_PREFIX = ".wh..wh..rec."
VACANCY_PREFIX = ".wh..wh..vac."
#: Where a new generation is written before it is moved over the old one.
VACANCY_TEMP_PREFIX = ".wh..wh..tmp."

class OCILayer(WrapFS[FS]):
    """A lower layer in the OCI image-layer format: only OCI's own markers count.

    :class:`MarkerWhiteouts` reads a layer wrapped in this as OCI does: a
    regular file ``.wh.<name>`` hides ``<name>`` beneath, a regular file
    ``.wh..wh..opq`` makes its directory opaque, and nothing else named
    ``.wh.`` means anything (this library's redirects, identity records and
    generations, and markers that are no regular files, are ignored names).
    Everything else passes through unchanged; :func:`unionfs_lib.oci.open_layers`
    wraps each layer it is given. Closing it closes the wrapped layer.
    """

    def __repr__(self) -> str:
        """Show the wrapped layer."""
        return f"OCILayer({self._wrap_fs!r})"

    def close(self) -> None:
        """Close this layer and the wrapped one."""
        if not self.isclosed():
            self._wrap_fs.close()
        super().close()


def is_oci_layer(layer: FS) -> bool:
    """Tell whether ``layer`` is an :class:`OCILayer` (or a wrapper or sub-directory of one)."""
    while isinstance(layer, WrapFS):
        if isinstance(layer, OCILayer):
            return True
        layer = layer.delegate_fs()
    return False


def _is_marker_file(layer: FS, path: str) -> bool:
    """Tell whether ``path`` of ``layer`` is a regular file (never following a link)."""
    found = syspaths(layer, path)
    if found is None:
        return bool(layer.isfile(path))
    try:
        return stat.S_ISREG(os.lstat(found[0]).st_mode)
    except OSError:
        return False


@attrs.frozen
class MarkerWhiteouts:
    """OCI-style marker files: the whiteout store that works on every FS."""

    #: Whiteouts are marker files beside the names they hide.
    whiteout_takes_name: typing.ClassVar[bool] = False
    #: Renamed merged directories keep their lower content by redirect.
    redirect_dir: typing.ClassVar[bool] = True
    #: Identity records are kept as ``.wh..wh..rec.<name>`` files.
    keeps_records: typing.ClassVar[bool] = True

    def is_reserved(self, name: str) -> bool:
        """Every name starting with ``.wh.`` is the store's."""
        return name.startswith(WHITEOUT_PREFIX)

    def scan_dir(self, layer: FS, path: str, with_info: bool) -> typing.Iterator[ScanItem]:
        """Classify each name of one directory as it is read.

        If an entry's details cannot be read (a dangling symbolic link in an OS
        layer), the rest of the directory is read by name only, with a
        warning, instead of the whole directory becoming unreadable.
        """
        done = 0
        try:
            for item in self._scan(layer, path, with_info):
                yield item
                done += 1
        except fs.errors.OperationFailed:  # a link that loops: the layer's scandir fails
            found = syspaths(layer, path)
            if found is None:
                raise
            for index, item in enumerate(self._scan_os(layer, path, found[0], with_info)):
                if index >= done:
                    yield item
        except fs.errors.ResourceNotFound:
            if not with_info or not layer.isdir(path):
                raise
            log.warning("%s: an entry has no readable details; listing names only", path)
            for index, item in enumerate(self._scan(layer, path, False)):
                if index >= done:
                    yield item

    def _scan_os(
        self, layer: FS, path: str, sys_path: str, with_info: bool
    ) -> typing.Iterator[ScanItem]:
        """Classify each name of an OS directory, links that cannot be followed as files.

        What :meth:`_scan` gives, read with ``os.scandir`` where the layer's own
        ``scandir`` fails on an entry (a link that loops).
        """
        with os.scandir(sys_path) as scan:
            for entry in sorted(scan, key=lambda found: found.name):
                if entry.name.startswith(WHITEOUT_PREFIX):
                    yield from self._marker_items(layer, path, [entry.name])
                    continue
                is_dir, info = entry_info(entry)
                yield ScanItem(ENTRY, entry.name, is_dir, pack_info(info) if with_info else None)

    def _scan(self, layer: FS, path: str, with_info: bool) -> typing.Iterator[ScanItem]:
        """Classify each name of one directory (see :meth:`scan_dir`)."""
        namespaces = ["details"] if with_info else None
        for info in layer.scandir(path, namespaces=namespaces):
            name = info.name
            if not name.startswith(WHITEOUT_PREFIX):
                yield ScanItem(ENTRY, name, info.is_dir, info if with_info else None)
            else:
                yield from self._marker_items(layer, path, [name])

    def read_dir(self, layer: FS, path: str, with_info: bool) -> DirListing:
        """Read one directory; marker files become whiteouts, flags and records."""
        try:
            folded = self._fold(layer, path, with_info)
        except fs.errors.OperationFailed:  # a link that loops: the layer's scandir fails
            found = syspaths(layer, path)
            if found is None:
                raise
            folded = listing_from_scan(self._scan_os(layer, path, found[0], with_info), with_info)
        except fs.errors.ResourceNotFound:
            if not with_info or not layer.isdir(path):
                raise
            folded = listing_from_scan(self.scan_dir(layer, path, with_info), with_info)
        listing, redirect_item, record_names = folded
        if listing.vacated:
            listing = attrs.evolve(
                listing, vacated=self.read_vacancies(layer, path, list(listing.vacated))
            )
        if redirect_item is None and not record_names:
            return listing
        return attrs.evolve(
            listing,
            redirect=self._read_redirect(layer, path) if redirect_item is not None else None,
            records=self.read_records(layer, path, record_names),
        )

    def _fold(
        self, layer: FS, path: str, with_info: bool
    ) -> tuple[DirListing, str | None, list[str]]:
        """Read one directory straight into a listing (what :func:`listing_from_scan` makes).

        The hot path of every cold listing: no item object per entry. A
        listing with an unreadable entry raises ``ResourceNotFound`` here, and
        :meth:`read_dir` reads it through :meth:`scan_dir` instead.
        """
        if with_info:
            return self._fold_columns(layer, path)
        found = syspaths(layer, path)
        if found is not None:
            return self._fold_os(layer, found[0], path)
        entries: dict[str, bool] = {}
        marker_names: list[str] = []
        for info in layer.scandir(path):
            basic: typing.Mapping[str, typing.Any] = info.raw["basic"]
            name: str = basic["name"]
            if name.startswith(WHITEOUT_PREFIX):
                marker_names.append(name)
                continue
            entries[name] = bool(basic.get("is_dir", False))
        markers = self._marker_items(layer, path, marker_names)
        listing, redirect_item, record_names = listing_from_scan(markers, False)
        listing = attrs.evolve(listing, entries=entries)
        return listing, redirect_item, record_names

    def _fold_os(
        self, layer: FS, sys_path: str, path: str
    ) -> tuple[DirListing, str | None, list[str]]:
        """Read one directory of an OS layer, without details, noting its symbolic links.

        What :meth:`_fold` makes, read with ``os.scandir``: an entry's kind
        comes from the directory itself, and only a link costs a ``stat`` (of
        its target, for its type). The links are named in the listing's
        ``links``, so the resolver can check their type again later.
        """
        entries: dict[str, bool] = {}
        links: list[str] = []
        marker_names: list[str] = []
        with fs.error_tools.convert_os_errors("scandir", path, directory=True):
            with os.scandir(sys_path) as scan:
                for entry in scan:
                    name = entry.name
                    if name.startswith(WHITEOUT_PREFIX):
                        marker_names.append(name)
                        continue
                    is_dir, is_link = entry_kind(entry)
                    entries[name] = is_dir
                    if is_link:
                        links.append(name)
        markers = self._marker_items(layer, path, marker_names)
        listing, redirect_item, record_names = listing_from_scan(markers, False)
        listing = attrs.evolve(listing, entries=entries, links=frozenset(links))
        return listing, redirect_item, record_names

    def _fold_columns(self, layer: FS, path: str) -> tuple[DirListing, str | None, list[str]]:
        """Read one lower directory, with details, straight into columns (see :mod:`.columns`).

        An ``OSFS`` lower is read with ``os.scandir`` alone: an entry's kind
        comes from the directory, its details are read (one ``stat``) only
        when asked for (:class:`~unionfs_lib.model.packed_info.DetailsOnDemand`).
        """
        builder = ColumnsBuilder()
        raws = memory_dir_details(layer, path)
        os_entries = None if raws is not None else os_dir_entries(layer, path)
        if raws is not None:
            set_aside = builder.add_raw_infos(raws, WHITEOUT_PREFIX)
        elif os_entries is not None:  # details read when asked for (no stat per entry)
            directory, entries = os_entries
            reader = functools.partial(read_details, directory)
            set_aside = builder.add_details_values(entries, DETAILS_KEYS, WHITEOUT_PREFIX, reader)
        else:
            scan = layer.scandir(path, namespaces=["details"])
            set_aside = builder.add_infos(scan, WHITEOUT_PREFIX)
        markers = self._marker_items(layer, path, set_aside)
        listing, redirect_item, record_names = listing_from_scan(markers, False)
        listing = columnar_listing(builder.build(), listing)
        return listing, redirect_item, record_names

    def _marker_items(
        self, layer: FS, path: str, names: typing.Iterable[str]
    ) -> list[ScanItem]:
        """Return what the marker files ``names`` of directory ``path`` mean.

        In an :class:`OCILayer` only OCI's markers mean anything (see
        :meth:`_oci_marker`); the check costs nothing for a directory
        without markers.
        """
        found = list(names)
        if found and is_oci_layer(layer):
            return [self._oci_marker(layer, path, name) for name in found]
        return [item for name in found for item in self._classify_marker(name)]

    def _oci_marker(self, layer: FS, path: str, name: str) -> ScanItem:
        """Return what ``name`` means in an OCI layer: a whiteout or opaque file, else nothing."""
        if name != OPAQUE_MARKER and name.startswith(META_PREFIX):
            return ScanItem(INTERNAL, name)
        if not _is_marker_file(layer, join_path(path, name)):
            return ScanItem(INTERNAL, name)
        if name == OPAQUE_MARKER:
            return ScanItem(OPAQUE, name)
        return ScanItem(WHITEOUT, name[len(WHITEOUT_PREFIX) :])

    def _classify_marker(self, name: str) -> typing.Iterator[ScanItem]:
        """Yield what marker file ``name`` means (see :meth:`_scan`)."""
        if name == OPAQUE_MARKER:
            yield ScanItem(OPAQUE, name)
        elif name == REDIRECT_MARKER:
            yield ScanItem(REDIRECT, name)
        elif name.startswith(RECORD_PREFIX):
            yield ScanItem(RECORD, name[len(RECORD_PREFIX) :])
        elif name.startswith(VACANCY_PREFIX):
            yield ScanItem(VACATED, name[len(VACANCY_PREFIX) :])
        elif name.startswith(META_PREFIX):
            yield ScanItem(INTERNAL, name)
        else:
            yield ScanItem(WHITEOUT, name[len(WHITEOUT_PREFIX) :])

    def read_name(
        self, layer: FS, path: str, name: str, with_info: bool = False
    ) -> DirListing:
        """Read what directory ``path`` holds about ``name`` alone, without listing it.

        The result is a :class:`DirListing` that mentions no other name: the
        entry (if any, with its ``Info`` when ``with_info``), its whiteout
        marker, its identity record and, read without info (as the upper is),
        its generation. It costs three calls on a lower layer and four on the
        upper, whatever the size of the directory. A reserved name is no entry.
        """
        if self.is_reserved(name):
            return EMPTY_LISTING
        target = join_path(path, name)
        marker, record = _marker_path(target), _marker_path(target, RECORD_PREFIX)
        vacancy = _marker_path(target, VACANCY_PREFIX)
        found = syspaths(layer, target, marker, record, vacancy)
        links: frozenset[str] = frozenset()
        if found is not None:  # an OS layer: stat calls, without the FS layer
            os_kind = path_kind(found[0])
            kind = None if os_kind is None else os_kind[0]
            if os_kind is not None and os_kind[1]:
                links = frozenset((name,))
            hidden, has_record = os.path.lexists(found[1]), os.path.lexists(found[2])
            vacated = not with_info and os.path.lexists(found[3])
        else:
            kind = _fs_kind(layer, target)
            hidden, has_record = layer.exists(marker), layer.exists(record)
            vacated = not with_info and layer.exists(vacancy)
        if (hidden or has_record or vacated) and is_oci_layer(layer):
            hidden, has_record, vacated = _is_marker_file(layer, marker), False, False
        entries = {} if kind is None else {name: kind}
        records = self.read_records(layer, path, [name]) if has_record else {}
        whiteouts = frozenset((name,)) if hidden else frozenset()
        infos = name_infos(layer, target, name) if with_info and entries else None
        generations = self.read_vacancies(layer, path, [name]) if vacated else {}
        return DirListing(
            entries, infos, whiteouts, records=records, vacated=generations, links=links
        )

    def read_records(self, layer: FS, path: str, names: list[str]) -> dict[str, bytes]:
        """Read the identity records named in a directory."""
        records: dict[str, bytes] = {}
        for name in names:
            try:
                records[name] = read_marker(layer, join_path(path, RECORD_PREFIX + name))
            except fs.errors.FSError as error:
                log.warning("ignoring unreadable record for %s/%s: %s", path, name, error)
        return records

    def read_vacancies(self, layer: FS, path: str, names: list[str]) -> dict[str, int]:
        """Read the generations of the vacated ``names`` of a directory.

        A malformed count stands for a generation beyond any count (see
        :func:`parse_generation`); an unreadable one is left out, with a warning.
        """
        generations: dict[str, int] = {}
        for name in names:
            marker = join_path(path, VACANCY_PREFIX + name)
            try:
                generations[name] = parse_generation(read_marker(layer, marker))
            except fs.errors.FSError as error:
                log.warning("ignoring unreadable generation of %s/%s: %s", path, name, error)
        return generations

    def vacate(self, upper: FS, path: str) -> None:
        """Count one more vacancy of ``path`` in ``.wh..wh..vac.<name>`` beside it.

        The new count is written beside the marker and moved over it, so a
        crash leaves the old count or the new one.
        """
        parent, name = fs.path.split(path)
        marker = _marker_path(path, VACANCY_PREFIX)
        now = self.read_vacancies(upper, parent, [name]) if upper.exists(marker) else {}
        temp = join_path(parent, VACANCY_TEMP_PREFIX + name)
        write_marker(upper, temp, str(now.get(name, 0) + 1).encode("ascii"))
        upper.move(temp, marker, overwrite=True)

    def dir_flags(self, layer: FS, path: str) -> tuple[bool, str | None]:
        """Check the opaque and redirect markers of ``path`` without listing it."""
        opaque = layer.exists(join_path(path, OPAQUE_MARKER))
        has_redirect = layer.exists(join_path(path, REDIRECT_MARKER))
        if (opaque or has_redirect) and is_oci_layer(layer):  # OCI's opaque file only
            return opaque and _is_marker_file(layer, join_path(path, OPAQUE_MARKER)), None
        return opaque, self._read_redirect(layer, path) if has_redirect else None

    def _read_redirect(self, layer: FS, path: str) -> str | None:
        """Read a redirect marker; a malformed one is ignored with a warning."""
        marker = join_path(path, REDIRECT_MARKER)
        try:
            target = read_marker(layer, marker).decode("utf-8")
        except (fs.errors.FSError, UnicodeDecodeError) as error:
            log.warning("ignoring unreadable redirect %s: %s", marker, error)
            return None
        if not is_canonical_redirect(target):
            log.warning("ignoring malformed redirect %s: %r", marker, target[:200])
            return None
        return target

    def add_whiteout(self, upper: FS, path: str) -> None:
        """Create the empty marker file ``.wh.<name>`` beside ``path``.

        On an upper with OS paths it is a new name of the last empty marker
        written (see :func:`~unionfs_lib.host.posix.write_empty_marker`).
        """
        write_empty_marker(upper, _marker_path(path))

    def has_whiteout(self, upper: FS, path: str) -> bool:
        """Tell whether the marker ``.wh.<name>`` exists beside ``path``."""
        return bool(upper.exists(_marker_path(path)))

    def rename_over(self, upper: FS, src: str, dst: str, leave_whiteout: bool) -> None:
        """Not needed: marker whiteouts never take an entry's name."""
        raise fs.errors.Unsupported(msg="marker whiteouts never stand at an entry's name")

    def remove_whiteout(self, upper: FS, path: str) -> None:
        """Delete the marker ``.wh.<name>`` if it exists (even a directory or link by that name)."""
        _remove_marker(upper, _marker_path(path))

    def set_opaque(self, upper: FS, path: str) -> None:
        """Create ``.wh..wh..opq`` inside directory ``path`` (as :meth:`add_whiteout` does)."""
        write_empty_marker(upper, join_path(path, OPAQUE_MARKER))

    def set_redirect(self, upper: FS, path: str, target: str) -> None:
        """Write the redirect target into ``.wh..wh..redirect`` inside ``path``."""
        write_marker(upper, join_path(path, REDIRECT_MARKER), target.encode("utf-8"))

    def set_record(self, upper: FS, path: str, record: bytes | None) -> None:
        """Write ``.wh..wh..rec.<name>`` beside ``path`` (or remove it)."""
        marker = _marker_path(path, RECORD_PREFIX)
        if record is not None:
            write_marker(upper, marker, record)
            return
        try:
            upper.remove(marker)
        except fs.errors.ResourceNotFound:
            pass

    def move_record(self, upper: FS, src: str, dst: str) -> None:
        """Rename the record file of ``src`` to sit beside ``dst``."""
        try:
            upper.move(_marker_path(src, RECORD_PREFIX), _marker_path(dst, RECORD_PREFIX), True)
        except fs.errors.ResourceNotFound:
            pass

    def clear_dir(self, upper: FS, path: str) -> None:
        """Remove the marker files inside ``path`` (before removing it)."""
        for name in upper.listdir(path):
            if name.startswith(WHITEOUT_PREFIX):
                _remove_marker(upper, join_path(path, name))

    def work_dir(self) -> str | None:
        """Return the hidden ``/.wh..wh..work`` directory of the upper."""
        return "/" + WORK_DIR_NAME


#: Longest redirect target accepted (Linux's PATH_MAX).
MAX_REDIRECT = 4096


def is_canonical_redirect(target: str) -> bool:
    """Tell whether ``target`` is an absolute, normalised path a redirect may hold.

    Anything else (relative, ``..``, ``.``, ``//``, a NUL, overlong) is a
    corrupted record: it is ignored (with a warning), never followed.
    """
    if not target.startswith("/") or "\0" in target or len(target) > MAX_REDIRECT:
        return False
    try:
        return fs.path.normpath(target) == target and (target == "/" or not target.endswith("/"))
    except fs.errors.IllegalBackReference:
        return False


def _fs_kind(layer: FS, path: str) -> bool | None:
    """Return whether ``path`` of ``layer`` is a directory (``None``: nothing there)."""
    try:
        return bool(layer.getinfo(path).is_dir)
    except fs.errors.ResourceNotFound:
        return None


def name_infos(layer: FS, path: str, name: str) -> dict[str, Info]:
    """Return ``{name: Info}`` (basic and details) of ``path``, or ``{}`` if unreadable.

    An entry whose details cannot be read (a dangling symbolic link) has none.
    """
    try:
        return {name: pack_info(layer.getinfo(path, namespaces=["details"]))}
    except (fs.errors.ResourceNotFound, fs.errors.OperationFailed):
        return {}


#: The generation a malformed count stands for: beyond any count reached by counting.
UNREADABLE_GENERATION = 1 << 62


def parse_generation(raw: bytes) -> int:
    """Parse a stored generation (a decimal count); a malformed one, with a warning, is large."""
    try:
        count = int(raw.decode("ascii"))
        if count < 0:
            raise ValueError("negative")
        return count
    except (ValueError, UnicodeDecodeError) as error:
        log.warning("malformed generation %r: %s", raw[:40], error)
        return UNREADABLE_GENERATION


def _remove_marker(upper: FS, marker: str) -> None:
    """Delete a marker, ignoring absence; a directory or link by its name is never followed."""
    try:
        if safe_tree.entry_kind(upper, marker) == safe_tree.DIR:
            safe_tree.remove_tree(upper, marker)
        else:
            upper.remove(marker)  # a link goes as a link (``unlink``)
    except fs.errors.ResourceNotFound:
        pass


def _marker_path(path: str, prefix: str = WHITEOUT_PREFIX) -> str:
    """Return the path of the marker ``<prefix><name>`` beside ``path``."""
    parent, _, name = path.rpartition("/")
    return join_path(parent or "/", prefix + name)


def listing_from_scan(
    items: typing.Iterable[ScanItem], with_info: bool
) -> tuple[DirListing, str | None, list[str]]:
    """Fold the items of one directory scan into a :class:`DirListing`.

    Returns the listing (without redirect or records), the name of the
    redirect item if one was seen (a store decides what it means) and the
    names that have identity records.
    """
    entries: dict[str, bool] = {}
    builder = ColumnsBuilder() if with_info else None
    whiteouts: set[str] = set()
    record_names: list[str] = []
    vacated: dict[str, int] = {}
    opaque = False
    redirect_item: str | None = None
    for item in items:
        if item.kind == ENTRY:
            entries[item.name] = item.is_dir
            if builder is not None:
                builder.add(item.name, item.is_dir, item.info)
        elif item.kind == WHITEOUT:
            whiteouts.add(item.name)
        elif item.kind == OPAQUE:
            opaque = True
        elif item.kind == REDIRECT:
            redirect_item = item.name
        elif item.kind == RECORD:
            record_names.append(item.name)
        elif item.kind == VACATED:
            vacated[item.name] = 0  # the store reads the generation itself
    listing = DirListing(entries, None, frozenset(whiteouts), opaque, vacated=vacated)
    if builder is not None:
        listing = columnar_listing(builder.build(), listing)
    return listing, redirect_item, record_names


__all__ = [
    "META_PREFIX",
    "OPAQUE_MARKER",
    "RECORD_PREFIX",
    "REDIRECT_MARKER",
    "VACANCY_PREFIX",
    "WHITEOUT_PREFIX",
    "WORK_DIR_NAME",
    "MarkerWhiteouts",
    "OCILayer",
    "is_canonical_redirect",
    "is_oci_layer",
    "listing_from_scan",
    "name_infos",
    "parse_generation",
]
