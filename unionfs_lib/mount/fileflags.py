"""Inode flags through the mount: ``FS_IOC_GETFLAGS``/``SETFLAGS`` (``lsattr``, ``chattr``).

The kernel overlay answers these ioctls with the flags of the layer inode
that holds the entry (``ovl_real_fileattr_get``): a lower file shows its
lower inode's flags, and is copied up, with its data, before its flags
change. The mount does the same on the layer's OS path. The kernel opens
the entry itself before it asks (``fuse_fileattr_get``), so the file handle
of the request is not needed; a directory's request carries the directory
flag, which the daemon asks libfuse to pass on (``FUSE_CAP_IOCTL_DIR``).
The kernel also asks for ``FS_IOC_FSGETXATTR`` (the ``struct fsxattr``
form), answered the same way.

An entry on a layer without OS paths answers ``ENOTTY`` (no such ioctl),
as a file system without inode flags does.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import stat
import struct

from ..overlay import OverlayFS
from . import attributes

#: The ``unsigned int`` of ``FS_IOC_GETFLAGS``/``FS_IOC_SETFLAGS``.
_FLAGS = struct.Struct("=I")

#: ``_IOR('f', 1, long)`` and ``_IOW('f', 2, long)`` on 64-bit Linux; the
#: flags themselves are an ``unsigned int`` (the kernel sends and takes 4 bytes).
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
#: ``_IOR('X', 31, struct fsxattr)`` and ``_IOW('X', 32, struct fsxattr)``:
#: the kernel asks for these when it needs the extended attributes of an
#: inode (``chattr``'s ``FS_IOC_SETFLAGS`` reads the old ones so first).
FS_IOC_FSGETXATTR = 0x801C581F
FS_IOC_FSSETXATTR = 0x401C5820

#: ``command -> (argument size in bytes, whether it changes the inode)``.
COMMANDS = {
    FS_IOC_GETFLAGS: (4, False),
    FS_IOC_SETFLAGS: (4, True),
    FS_IOC_FSGETXATTR: (28, False),
    FS_IOC_FSSETXATTR: (28, True),
}

#: ``FUSE_CAP_IOCTL_DIR`` of libfuse 3: ioctls on directories reach the daemon.
FUSE_CAP_IOCTL_DIR = 1 << 11

#: ``FUSE_CAP_READDIRPLUS_AUTO`` of libfuse 3: the kernel chooses between
#: ``readdir`` and ``readdirplus`` per request. The mount turns it off: with
#: it, only the first chunk of a listing carries the entries' attributes and
#: every later entry costs a ``getattr`` of its own.
FUSE_CAP_READDIRPLUS_AUTO = 1 << 14


def get_attributes(overlay: OverlayFS, path: str, command: int, argument: bytes) -> bytes:
    """Ask the layer entry holding ``path`` (``FS_IOC_GETFLAGS`` or ``FS_IOC_FSGETXATTR``)."""
    backing = overlay.which(path)
    found = backing.syspath
    if found is None:
        raise OSError(errno.ENOTTY, "the layer has no OS paths to hold inode flags", path)
    return _ioctl(found, command, argument)


def set_attributes(overlay: OverlayFS, path: str, command: int, argument: bytes) -> bytes:
    """Copy ``path`` up (a file with its data) and change it (``FS_IOC_SETFLAGS``...)."""
    if overlay.which(path).index != 0 and not overlay.isdir(path):
        overlay.copy_up_tree(path)  # the copy-up keeps the entry's number
    syspath = attributes.upper_syspath(overlay, path)
    if syspath is None:
        raise OSError(errno.ENOTTY, "the upper layer has no OS paths to hold inode flags", path)
    return _ioctl(syspath, command, argument)


def get_flags(overlay: OverlayFS, path: str) -> int:
    """Return the inode flags of the layer entry holding ``path`` (``lsattr``)."""
    flags: int = _FLAGS.unpack(get_attributes(overlay, path, FS_IOC_GETFLAGS, bytes(4)))[0]
    return flags


def set_flags(overlay: OverlayFS, path: str, flags: int) -> None:
    """Copy ``path`` up (a file with its data) and set its inode flags (``chattr``)."""
    set_attributes(overlay, path, FS_IOC_SETFLAGS, _FLAGS.pack(flags))


def answer(overlay: OverlayFS, path: str, command: int, data: int | None) -> bool:
    """Answer the ioctl ``command`` on ``path``, its argument at address ``data``.

    Returns whether the entry changed.

    Raises:
        OSError: ``ENOTTY`` for another command or a layer without inode
            flags; what the layer's file system answers otherwise.
    """
    if command not in COMMANDS:
        raise OSError(errno.ENOTTY, "unsupported ioctl", path)
    if data is None:
        raise OSError(errno.EFAULT, "no argument buffer", path)
    size, changes = COMMANDS[command]
    argument = ctypes.string_at(data, size)
    reply = (set_attributes if changes else get_attributes)(overlay, path, command, argument)
    ctypes.memmove(data, reply, size)
    return changes


def _ioctl(syspath: str, command: int, argument: bytes) -> bytes:
    """Run an inode-attribute ioctl on the layer file ``syspath`` (never through a link)."""
    if stat.S_ISLNK(os.lstat(syspath).st_mode):
        raise OSError(errno.ENOTTY, "a symbolic link has no inode flags", syspath)
    number = os.open(syspath, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        return fcntl.ioctl(number, command, argument)
    finally:
        os.close(number)
