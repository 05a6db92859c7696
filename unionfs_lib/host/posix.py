"""POSIX metadata of one layer entry, through its OS path: links, owners, attributes.

PyFilesystem2 has no symbolic or hard links, no owners and no extended
attributes, and ``OSFS.getinfo`` follows links. Layers with OS paths (OSFS,
TempFS, the kernel format's upper) have all of these; this module reaches
them through the layer's ``getsyspath``, one entry at a time and never
following a link (``lstat``, ``follow_symlinks=False``). It knows nothing of
the overlay: :mod:`unionfs_lib.ops.link_ops`, :mod:`unionfs_lib.host.access`,
:mod:`unionfs_lib.ops.xattr_ops` and the copy-up engine build the overlay's rules on
it. A layer without OS paths (MemoryFS, archives, S3) raises
``fs.errors.Unsupported`` saying what it cannot hold.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import typing
import weakref

import fs.error_tools
import fs.errors
from fs.base import FS
from fs.info import Info
from fs.osfs import OSFS

from ..errors import literal
from ..model.records import MAX_INO
from .layer_io import OVERLAY_XATTR_PREFIXES, syspaths

log = logging.getLogger(__name__)

#: Attributes that belong to the overlay, never shown nor settable through it:
#: Linux overlayfs's own, and the inode numbers pinned by the mount.
PRIVATE_XATTR_PREFIXES = (*OVERLAY_XATTR_PREFIXES, "trusted.unionfs.", "user.unionfs.")


#: Where an upper entry keeps an inode number pinned on it, for stores without
#: identity records (the kernel format): trusted, else user, attributes.
PIN_NAMES = ("trusted.unionfs.ino", "user.unionfs.ino")
#: errno values meaning "no pin here" (or no attributes at all).
_NO_PIN = (errno.ENODATA, errno.ENOTSUP, errno.EPERM, errno.EACCES)
_MAX_INO_DIGITS = len(str(MAX_INO))


def read_pin(syspath: str) -> int | None:
    """Return the inode number pinned on the entry at ``syspath``, if any.

    A pin is a decimal number from 1 to :data:`~unionfs_lib.model.records.MAX_INO`
    (what the overlay derives and FUSE's ``st_ino`` holds); anything else,
    laid in the upper by hand, is no pin.
    """
    for name in PIN_NAMES:
        try:
            raw = os.getxattr(syspath, name, follow_symlinks=False)
        except OSError as error:
            if error.errno in _NO_PIN or error.errno == errno.ENOENT:
                continue
            raise
        number = _pinned_number(raw)
        if number is None:
            log.warning("ignoring malformed inode number pinned on %r: %r", syspath, raw[:40])
        return number
    return None


def _pinned_number(raw: bytes) -> int | None:
    """Parse a pinned inode number: plain ASCII digits, from 1 to ``MAX_INO``."""
    if not 0 < len(raw) <= _MAX_INO_DIGITS or not raw.isdigit():
        return None
    number = int(raw)
    return number if 0 < number <= MAX_INO else None


def write_pin(syspath: str, ino: int) -> bool:
    """Pin ``ino`` on the entry at ``syspath`` (shared by its hard links); ``False`` if refused."""
    value = str(ino).encode()
    for name in PIN_NAMES:
        try:
            os.setxattr(syspath, name, value, follow_symlinks=False)
            return True
        except OSError as error:
            if error.errno not in _NO_PIN:
                raise
    return False


#: The largest marker, record or generation file a store reads (records are small).
MAX_MARKER_BYTES = 1 << 16
_READ_MARKER = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_WRITE_MARKER = (
    os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
    | os.O_CLOEXEC
)


def read_marker(layer: FS, path: str, limit: int = MAX_MARKER_BYTES) -> bytes:
    """Read a small file a whiteout store keeps (a record, a generation, a redirect).

    Such files are read from the upper, where anyone may have laid anything:
    on a layer with OS paths the file is read only if it is a regular file,
    never through a symbolic link, never opening a FIFO or a device (which
    could block or have effects); any file larger than ``limit`` bytes is
    refused. Raises an ``fs.errors`` exception (``FileExpected``,
    ``ResourceNotFound``, ``OperationFailed`` ...) for what cannot be read.
    """
    found = syspaths(layer, path)
    if found is None:
        with layer.openbin(path) as handle:
            raw = handle.read(limit + 1)
    else:
        raw = _read_regular(found[0], path, limit)
    if len(raw) > limit:
        raise fs.errors.OperationFailed(path, msg=literal(f"{path!r}: larger than {limit} bytes"))
    return bytes(raw)


def _read_regular(sys_path: str, path: str, limit: int) -> bytes:
    """Read at most ``limit + 1`` bytes of regular file ``sys_path``, following no link."""
    with fs.error_tools.convert_os_errors("readbytes", path):
        if not stat.S_ISREG(os.lstat(sys_path).st_mode):
            raise fs.errors.FileExpected(path)
        fd = os.open(sys_path, _READ_MARKER)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the lstat
                raise fs.errors.FileExpected(path)
            chunks: list[bytes] = []
            size = 0
            while size <= limit:
                chunk = os.read(fd, limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)


def write_marker(layer: FS, path: str, data: bytes) -> None:
    """Write a small file a whiteout store keeps, never through a link planted there.

    On a layer with OS paths, whatever stands at ``path`` that is not a
    regular file or a directory (a symbolic link, a FIFO, a device) is
    removed first, as an entry of its own, and the file is opened with
    ``O_NOFOLLOW``: the write never lands outside the layer. A directory
    there raises ``fs.errors.FileExpected``.
    """
    found = syspaths(layer, path)
    if found is None:
        layer.writebytes(path, data)
        return
    sys_path = found[0]
    with fs.error_tools.convert_os_errors("writebytes", path):
        with contextlib.suppress(FileNotFoundError):
            mode = os.lstat(sys_path).st_mode
            if stat.S_ISDIR(mode):
                raise fs.errors.FileExpected(path)
            if not stat.S_ISREG(mode):
                os.unlink(sys_path)
        fd = os.open(sys_path, _WRITE_MARKER, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)


#: Links an empty marker file gets at most before a new one is written (far below
#: any filesystem's own limit, such as ext4's 65,000).
MAX_MARKER_LINKS = 1000
#: Per layer, the OS path of the last empty marker written: the next one links it.
#: Per upper, the OS path and the ``(st_dev, st_ino)`` of the empty marker written last.
_EMPTY_MARKERS: weakref.WeakKeyDictionary[FS, tuple[str, tuple[int, int]]] = (
    weakref.WeakKeyDictionary()
)


def write_empty_marker(layer: FS, path: str) -> None:
    """Write an empty marker file (a whiteout, an opaque flag), as :func:`write_marker` does.

    On a layer with OS paths the marker is, where it can be, one more name
    (a hard link, made in one ``link`` call) of the empty marker this
    process wrote last in ``layer``: a new file costs the filesystem an
    inode, a link does not, and a marker is read only for its name and its
    kind (a regular file). Linux overlayfs shares one whiteout the same
    way. The earlier marker is linked only while its name still leads to the
    very inode written (a directory on its path swapped for a link, or the
    marker for another file, leads elsewhere: never linked), a regular empty
    file with fewer than :data:`MAX_MARKER_LINKS` links; when it is not, or when
    ``path`` is taken or the link fails (another filesystem, links not
    supported), the marker is written as a file of its own, which the next
    markers link. A link is as atomic as the file's creation: a crash
    leaves the marker or nothing.
    """
    found = syspaths(layer, path)
    if found is None:
        write_marker(layer, path, b"")
        return
    try:
        earlier = _EMPTY_MARKERS.get(layer)
    except TypeError:  # an unhashable layer: nothing remembered
        write_marker(layer, path, b"")
        return
    if earlier is not None and _link_empty(*earlier, found[0]):
        return
    write_marker(layer, path, b"")
    try:
        written = os.lstat(found[0])
    except OSError:  # gone already: nothing to link next
        return
    _EMPTY_MARKERS[layer] = (found[0], (written.st_dev, written.st_ino))


def _link_empty(earlier: str, identity: tuple[int, int], target: str) -> bool:
    """Make ``target`` a new name of the marker ``identity`` at ``earlier``; tell if done."""
    try:
        known = os.lstat(earlier)
        if (known.st_dev, known.st_ino) != identity or not stat.S_ISREG(known.st_mode):
            return False
        if known.st_size or known.st_nlink >= MAX_MARKER_LINKS:
            return False
        os.link(earlier, target, follow_symlinks=False)
    except OSError:  # taken, gone, another filesystem, no links: written as a file
        return False
    return True


def os_path(layer: FS, path: str, what: str) -> str:
    """Return the OS path of ``path`` in ``layer``, or raise ``Unsupported``.

    ``what`` names the feature for the message ("symbolic links", ...).
    """
    found = syspaths(layer, path)
    if found is None:
        message = f"{what} need a layer with OS paths (OSFS, TempFS, from_dirs), not {layer!r}"
        raise fs.errors.Unsupported(path, msg=literal(message))
    return found[0]


def lstat_or_none(layer: FS, path: str) -> os.stat_result | None:
    """Return the ``lstat`` of ``path`` in an OS layer (``None``: no OS path, or nothing there)."""
    found = syspaths(layer, path)
    if found is None:
        return None
    try:
        return os.lstat(found[0])
    except OSError:
        return None


def same_file(layer: FS, first: str, second: str) -> bool:
    """Tell whether two paths of an OS layer are names of one file (hard links)."""
    one, other = lstat_or_none(layer, first), lstat_or_none(layer, second)
    if one is None or other is None:
        return False
    return (one.st_dev, one.st_ino) == (other.st_dev, other.st_ino)


def is_symlink(layer: FS, path: str) -> bool:
    """Tell whether ``path`` of ``layer`` is a symbolic link (never for layers without OS paths)."""
    found = lstat_or_none(layer, path)
    return found is not None and stat.S_ISLNK(found.st_mode)


def link_target(layer: FS, path: str) -> str | None:
    """Return the stored target of link ``path`` of ``layer``, ``None`` if it is no link."""
    found = syspaths(layer, path)
    if found is None:
        return None
    try:
        return os.readlink(found[0])
    except OSError as error:
        if error.errno in (errno.EINVAL, errno.ENOENT, errno.ENOTDIR):
            return None
        raise fs.errors.OperationFailed(path, exc=error) from error


def layer_info(layer: FS, path: str, namespaces: typing.Collection[str]) -> Info:
    """Return the info of ``path`` in ``layer``, links seen as links.

    The layer's own ``getinfo``, with two changes for a symbolic link of an
    OS layer: the ``link`` namespace (when asked) holds the stored target
    (``None`` for anything else, and in layers without OS paths), and a link
    that the layer cannot follow (dangling) is described by its ``lstat``
    instead of raising ``ResourceNotFound``.
    """
    try:
        found = layer.getinfo(path, namespaces)
    except (fs.errors.ResourceNotFound, fs.errors.OperationFailed) as error:  # dangling, looping
        raw = _lstat_info(layer, path, namespaces, error)
    else:
        if "link" not in namespaces:
            return found
        raw = dict(found.raw)
    if "link" in namespaces:
        raw["link"] = {"target": link_target(layer, path)}
    return Info(raw)


def entry_info(entry: os.DirEntry[str]) -> tuple[bool, Info]:
    """Return ``(is_dir, Info)`` of an ``os.scandir`` entry, as OSFS's ``scandir`` would.

    A link that cannot be followed (dangling, or looping) is a file described
    by its own ``lstat``, where OSFS's ``scandir`` fails on it.
    """
    try:
        is_dir = entry.is_dir()
        found = entry.stat()
    except OSError:
        is_dir, found = False, entry.stat(follow_symlinks=False)
    details = OSFS._make_details_from_stat(found)
    return is_dir, Info({"basic": {"name": entry.name, "is_dir": is_dir}, "details": details})


def entry_kind(entry: os.DirEntry[str]) -> tuple[bool, bool]:
    """Return ``(is_dir, is_link)`` of an ``os.scandir`` entry; ``is_dir`` follows a link.

    The kind comes from the directory itself: only a link costs a ``stat``
    (of its target, now). A link that cannot be followed (dangling or
    looping) is no directory.
    """
    if entry.is_symlink():
        return leads_to_dir(entry.path), True
    return entry.is_dir(follow_symlinks=False), False


def path_kind(sys_path: str) -> tuple[bool, bool] | None:
    """Return ``(is_dir, is_link)`` of OS path ``sys_path`` as :func:`entry_kind` does.

    ``None`` when nothing is there. One ``lstat``; a link adds a ``stat``.
    """
    try:
        found = os.lstat(sys_path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISLNK(found.st_mode):
        return leads_to_dir(sys_path), True
    return stat.S_ISDIR(found.st_mode), False


def leads_to_dir(sys_path: str) -> bool:
    """Tell whether OS path ``sys_path`` is a directory now, following links.

    A link that leads nowhere, or loops, is no directory.
    """
    return os.path.isdir(sys_path)


def _lstat_info(
    layer: FS, path: str, namespaces: typing.Collection[str], error: fs.errors.FSError
) -> dict[str, typing.Any]:
    """Describe a link the layer cannot follow from its ``lstat``; raise ``error`` for the rest."""
    found = lstat_or_none(layer, path)
    if found is None or not stat.S_ISLNK(found.st_mode):
        raise error
    raw: dict[str, typing.Any] = {"basic": {"name": path.rpartition("/")[2], "is_dir": False}}
    if "details" in namespaces:
        raw["details"] = OSFS._make_details_from_stat(found)
    if "access" in namespaces:
        raw["access"] = OSFS._make_access_from_stat(found)
    for namespace in ("stat", "lstat"):
        if namespace in namespaces:
            raw[namespace] = {key: getattr(found, key) for key in dir(found) if key[:3] == "st_"}
    return raw


def set_link_times(layer: FS, path: str, details: typing.Mapping[str, typing.Any]) -> None:
    """Set the ``modified``/``accessed`` times of link ``path`` itself (not its target)."""
    if details.get("modified") is None and details.get("accessed") is None:
        return
    syspath = os_path(layer, path, "symbolic links")
    found = os.lstat(syspath)
    modified = details.get("modified")
    accessed = details.get("accessed", modified)
    times = (
        found.st_atime_ns if accessed is None else int(float(accessed) * 1e9),
        found.st_mtime_ns if modified is None else int(float(modified) * 1e9),
    )
    try:
        os.utime(syspath, ns=times, follow_symlinks=False)
    except OSError as error:
        raise fs.errors.OperationFailed(path, exc=error) from error


def move_file(layer: FS, src: str, dst: str) -> None:
    """Rename file ``src`` over ``dst`` in ``layer``; a link is renamed as a link.

    The FS's own ``move`` asks ``getinfo``, which follows a link (and fails
    on a dangling one); a link is renamed by its OS paths instead.
    """
    if is_symlink(layer, src):
        os.replace(os_path(layer, src, "symbolic links"), os_path(layer, dst, "symbolic links"))
    else:
        layer.move(src, dst, overwrite=True)


def copy_link(source: str, target: str) -> None:
    """Make ``target`` a link with the target and times of link ``source`` (OS paths)."""
    os.symlink(os.readlink(source), target)
    found = os.lstat(source)
    os.utime(target, ns=(found.st_atime_ns, found.st_mtime_ns), follow_symlinks=False)


def copy_owner(source: str, target: str) -> None:
    """Give ``target`` the owner and group of ``source`` where this process may.

    As overlayfs's copy-up: root can give any owner; anyone else keeps what
    the OS allows (its own uid, a group it belongs to) and nothing else. Do it
    before copying the mode: a ``chown`` clears set-user-ID bits.
    """
    _give_owner(os.lstat(source), target)


def _give_owner(found: os.stat_result, target: str) -> None:
    """Give ``target`` the owner and group of ``found`` where this process may (see above)."""
    mine = os.lstat(target)
    if (found.st_uid, found.st_gid) == (mine.st_uid, mine.st_gid):
        return
    try:
        os.chown(target, found.st_uid, found.st_gid, follow_symlinks=False)
    except PermissionError:
        try:
            os.chown(target, -1, found.st_gid, follow_symlinks=False)
        except PermissionError:
            pass


def copy_file_metadata(source: str, target: str, known: os.stat_result) -> None:
    """Give the copy ``target`` of regular file ``source`` its owner, times, mode and attributes.

    What :func:`copy_owner` and then :func:`~unionfs_lib.host.layer_io.copy_times`
    do between OS paths (``shutil.copystat``, overlayfs's private attributes
    left out), from ``known``, the ``lstat`` of ``source`` the caller read:
    ``source`` is not ``stat``-ed again. The owner goes first (a ``chown``
    clears set-user-ID bits), then times, attributes and mode, in
    ``copystat``'s order.
    """
    _give_owner(known, target)
    os.utime(target, ns=(known.st_atime_ns, known.st_mtime_ns))
    _copy_xattrs(source, target)
    os.chmod(target, stat.S_IMODE(known.st_mode))


#: Errors ``shutil.copystat`` ignores when it lists or copies extended attributes.
_NO_XATTR_LIST = (errno.ENOTSUP, errno.ENODATA, errno.EINVAL)
_NO_XATTR_COPY = (errno.EPERM, errno.ENOTSUP, errno.ENODATA, errno.EINVAL)


def _copy_xattrs(source: str, target: str) -> None:
    """Copy the extended attributes of ``source`` to ``target`` as ``shutil.copystat`` does.

    Overlayfs's private attributes are not copied (what
    :func:`~unionfs_lib.host.layer_io.drop_overlay_xattrs` removes afterwards).
    """
    try:
        names = os.listxattr(source)
    except OSError as error:
        if error.errno not in _NO_XATTR_LIST:
            raise
        return
    for name in names:
        if name.startswith(OVERLAY_XATTR_PREFIXES):
            continue
        try:
            os.setxattr(target, name, os.getxattr(source, name))
        except OSError as error:
            if error.errno not in _NO_XATTR_COPY:
                raise


def copy_mode_owner_and_xattrs(
    source_layer: FS, source: str, target_layer: FS, target: str
) -> None:
    """Give ``target`` the owner, mode and user attributes of ``source``, not its times.

    What a truncating open of a lower file keeps (overlayfs copies the file
    up, then truncates it, which sets new times). Nothing where either entry
    has no OS path, nor from a link (the new file replaces it, and is never
    given what the link points to).
    """
    found = syspaths(source_layer, source), syspaths(target_layer, target)
    if found[0] is None or found[1] is None:
        return
    try:
        if not stat.S_ISREG(os.lstat(found[0][0]).st_mode):
            return
    except OSError:
        return
    copy_owner(found[0][0], found[1][0])
    os.chmod(found[1][0], stat.S_IMODE(os.stat(found[0][0]).st_mode))
    for name in os.listxattr(found[0][0]):
        if is_private_xattr(name):
            continue
        try:
            os.setxattr(found[1][0], name, os.getxattr(found[0][0], name))
        except OSError:
            pass  # an attribute the upper cannot hold (as shutil.copystat)


def copy_owner_between(source_layer: FS, source: str, target_layer: FS, target: str) -> None:
    """:func:`copy_owner` between two layer entries; nothing where either has no OS path."""
    found = syspaths(source_layer, source), syspaths(target_layer, target)
    if found[0] is not None and found[1] is not None and os.path.lexists(found[0][0]):
        copy_owner(found[0][0], found[1][0])


def is_private_xattr(name: str) -> bool:
    """Tell whether attribute ``name`` belongs to the overlay (never shown nor settable)."""
    return name.startswith(PRIVATE_XATTR_PREFIXES)


__all__ = [
    "PIN_NAMES",
    "PRIVATE_XATTR_PREFIXES",
    "copy_file_metadata",
    "copy_link",
    "copy_mode_owner_and_xattrs",
    "copy_owner",
    "copy_owner_between",
    "entry_info",
    "entry_kind",
    "is_private_xattr",
    "is_symlink",
    "layer_info",
    "leads_to_dir",
    "link_target",
    "lstat_or_none",
    "move_file",
    "os_path",
    "path_kind",
    "read_pin",
    "same_file",
    "set_link_times",
    "write_empty_marker",
    "write_pin",
]
