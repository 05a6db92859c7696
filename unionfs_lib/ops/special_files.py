"""Special files of the overlay: FIFOs, Unix domain sockets and device nodes.

As in Linux overlayfs (``ovl_mknod``), a new special file is made in the
upper by the path every new entry takes (:func:`unionfs_lib.ops.link_ops.place_new_entry`:
name check, parent copied up, a lower name replaced by the whiteout rules),
with ``mknod(2)``. Copy-up recreates a lower special file as a new node of
the same type and device number, with its mode, owner and times (see
:mod:`unionfs_lib.ops.copy_up_engine`); its bytes are never read, so a FIFO never
blocks a copy-up, a diff or a commit.

A character device with device number 0/0 is what the kernel format calls a
whiteout: as the kernel overlay, :func:`mknod` refuses to make one
(``EPERM``), whatever the store. Layers without OS paths hold no special
files: :func:`mknod` raises ``fs.errors.Unsupported`` there.
"""

from __future__ import annotations

import errno
import os
import stat
import typing

import fs.errors
from fs.enums import ResourceType

from ..errors import literal
from ..host.posix import lstat_or_none, os_path
from .dir_ops import parent_dir
from .link_ops import place_new_entry

if typing.TYPE_CHECKING:
    from fs.base import FS

    from .superblock import OverlaySuper

#: The file types :func:`mknod` makes.
SPECIAL_TYPES = frozenset({stat.S_IFIFO, stat.S_IFSOCK, stat.S_IFCHR, stat.S_IFBLK})


def is_special_mode(mode: int) -> bool:
    """Tell whether ``st_mode`` ``mode`` is a FIFO, a socket or a device node."""
    return stat.S_IFMT(mode) in SPECIAL_TYPES


def special_stat(layer: FS, path: str) -> os.stat_result | None:
    """Return the ``lstat`` of ``path`` in ``layer`` if it is a special file, else ``None``."""
    found = lstat_or_none(layer, path)
    if found is None or not is_special_mode(found.st_mode):
        return None
    return found


def make_node(syspath: str, mode: int, device: int) -> None:
    """Make special file ``syspath`` (OS path) of ``mode`` and ``device``.

    A socket node is made by ``mknod(2)`` (which needs no privilege for
    ``S_IFSOCK`` on Linux); where that is refused, a socket bound there and
    closed leaves the same node.
    """
    try:
        os.mknod(syspath, mode, device)
    except PermissionError:
        if stat.S_IFMT(mode) != stat.S_IFSOCK:
            raise
        _bind_socket(syspath, stat.S_IMODE(mode))


def _bind_socket(syspath: str, permissions: int) -> None:
    """Leave a Unix domain socket node at ``syspath`` by binding a socket there."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound:
        bound.bind(syspath)
    os.chmod(syspath, permissions)


def mknod(sb: OverlaySuper, path: str, mode: int, device: int = 0) -> None:
    """Create special file ``path`` of ``mode`` (type and permissions) in the upper.

    ``mode`` holds the file type (``S_IFIFO``, ``S_IFSOCK``, ``S_IFCHR`` or
    ``S_IFBLK``) and the permission bits (the process umask applies, as for
    ``mknod(2)``); ``device`` is the device number of a device node
    (``os.makedev``). Raises ``DestinationExists`` if anything is visible at
    ``path``, ``ResourceNotFound`` without a parent directory, ``ValueError``
    for another file type, ``OperationFailed`` (``EPERM``) for a 0/0
    character device (a whiteout, which the kernel overlay refuses too), and
    ``Unsupported`` on an upper without OS paths.
    """
    kind = stat.S_IFMT(mode)
    if kind not in SPECIAL_TYPES:
        raise ValueError(f"mknod makes FIFOs, sockets and device nodes, not mode {mode:#o}")
    if kind == stat.S_IFCHR and device == os.makedev(0, 0):
        error = OSError(errno.EPERM, "a 0/0 character device is a whiteout")
        message = literal(f"cannot create a whiteout (0/0 character device): {path}")
        raise fs.errors.OperationFailed(path, exc=error, msg=message)
    upper = sb.writable_upper(path)
    if sb.resolver.lookup(path) is not None:
        raise fs.errors.DestinationExists(path)
    parent_dir(sb, path)
    os_path(upper, "/", "special files")
    place_new_entry(sb, path, lambda syspath: make_node(syspath, mode, device), None)


def copy_node(source: str, target: str) -> None:
    """Make ``target`` a special file of the type and device number of ``source`` (OS paths).

    Mode, owner and times are the copy-up's to give (as for any entry).
    """
    found = os.lstat(source)
    make_node(target, stat.S_IFMT(found.st_mode) | 0o600, found.st_rdev)


# -- commit (see :mod:`unionfs_lib.changesets.commit`) ----------------------------------------


def _special_record(layer: FS, path: str) -> tuple[int, int] | None:
    """Return ``(st_mode, st_rdev)`` of ``path`` in ``layer`` if it is a special file."""
    info = layer.getinfo(path, ["details", "stat"])
    if info.type not in _SPECIAL_RESOURCES:
        return None
    found = info.raw.get("stat", {})
    mode = typing.cast(int, found.get("st_mode", _SPECIAL_RESOURCES[info.type]))
    return mode, typing.cast(int, found.get("st_rdev", 0))


def special_digest(layer: FS, path: str) -> str | None:
    """Return a commit state for special file ``path`` (type and device, never its bytes).

    ``None`` for anything else, whose bytes the caller digests.
    """
    found = _special_record(layer, path)
    if found is None:
        return None
    return f"special:{stat.S_IFMT(found[0]):o}:{found[1]}"


def write_special(overlay: FS, path: str, target: FS, temp: str) -> bool:
    """Recreate the overlay's special file ``path`` at ``temp`` in ``target``; tell if it was one.

    ``target`` needs OS paths (``Unsupported`` elsewhere); mode and times
    are the caller's to copy, as for a file.
    """
    found = _special_record(overlay, path)
    if found is None:
        return False
    make_node(os_path(target, temp, "special files"), found[0], found[1])
    return True


#: The resource types of special files, with the file type each stands for.
_SPECIAL_RESOURCES = {
    ResourceType.fifo: stat.S_IFIFO,
    ResourceType.socket: stat.S_IFSOCK,
    ResourceType.character: stat.S_IFCHR,
    ResourceType.block_special_file: stat.S_IFBLK,
}


__all__ = [
    "SPECIAL_TYPES",
    "copy_node",
    "is_special_mode",
    "mknod",
    "special_digest",
    "special_stat",
    "write_special",
]
