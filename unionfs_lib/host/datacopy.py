"""Copying file data between layers: in the kernel where it can, streamed elsewhere.

A copy-up moves a file's bytes from a lower layer into the work area of the
upper. Between two layers with OS paths the kernel does it: a reflink
(``FICLONE``, shared extents on btrfs, XFS and others: no data moves at all),
else ``copy_file_range(2)`` (an in-kernel copy, server-side on NFS, no bytes
through Python). Any other pair of layers, or a kernel that refuses both (an
older kernel across filesystems answers ``EXDEV``), gets the streaming copy:
chunks of ``chunk_size`` bytes through Python. Memory stays flat either way,
and the copy lands in a temporary file that the caller renames into place,
so the choice changes nothing about atomicity or crash safety.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import typing

from fs.base import FS

from ..model.records import CHUNK_SIZE
from .layer_io import syspaths

#: ``ioctl`` request that makes a file share another's extents (linux/fs.h).
FICLONE = 0x40049409
#: Bytes asked of one ``copy_file_range`` call (the kernel copies, Python holds none).
KERNEL_CHUNK = 1 << 30
#: errno values that mean "this kernel or filesystem cannot do it", not a failure.
_CANNOT = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOTTY,
           errno.EBADF, errno.EPERM}


class _NoKernelCopy(Exception):
    """The kernel cannot copy between these files; stream instead."""


def copy_data(
    source: FS,
    source_path: str,
    target: FS,
    target_path: str,
    length: int | None,
    chunk_size: int,
    kernel: bool = True,
) -> str:
    """Copy ``source_path`` (at most ``length`` bytes) to a new ``target_path``.

    Returns how: ``"clone"``, ``"copy_file_range"`` or ``"stream"``. OS errors
    (``ENOSPC``) propagate as ``OSError`` for the caller to convert.
    """
    if kernel and hasattr(os, "copy_file_range"):
        found = syspaths(source, source_path), syspaths(target, target_path)
        if found[0] is not None and found[1] is not None:
            try:
                return _kernel_copy(found[0][0], found[1][0], length)
            except _NoKernelCopy:
                pass
    stream_copy(source, source_path, target, target_path, length, chunk_size)
    return "stream"


#: ``(source device, target directory)`` pairs whose reflink the kernel refused.
#: A refusal (no ``FICLONE`` on that filesystem, or across two) holds for every
#: later copy-up between them: they go straight to ``copy_file_range``. Only a
#: hint: a pair wrongly remembered copies the same bytes another way.
_NO_CLONE: set[tuple[int, str]] = set()
#: How many refusals are remembered at most (a process copying up between
#: many filesystems tries the reflink again once it holds this many).
_NO_CLONE_LIMIT = 256
#: Flags of the new copy: created (never an existing entry, never through a link).
_TARGET_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _kernel_copy(source: str, target: str, length: int | None) -> str:
    """Copy by reflink or ``copy_file_range``; raise ``_NoKernelCopy`` if neither works.

    Plain descriptors, no Python file objects: ``open()`` would ``fstat``
    each file once more to refuse a directory (the source's own ``fstat``
    below, which the size needs, says that; the target is created here).
    """
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        found = os.fstat(src)
        if stat.S_ISDIR(found.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), source)
        dst = os.open(target, _TARGET_FLAGS, 0o666)
        try:
            return _copy_descriptors(src, dst, found, os.path.dirname(target), length)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _copy_descriptors(
    src: int, dst: int, found: os.stat_result, target_dir: str, length: int | None
) -> str:
    """Copy open ``src`` (``fstat`` result ``found``) into empty ``dst`` in the kernel."""
    pair = (found.st_dev, target_dir)
    if length is None and pair not in _NO_CLONE:
        if _cloned(src, dst):
            return "clone"
        if len(_NO_CLONE) >= _NO_CLONE_LIMIT:
            _NO_CLONE.clear()
        _NO_CLONE.add(pair)
    remaining = found.st_size if length is None else length
    first = True
    while remaining > 0:
        try:
            done = os.copy_file_range(src, dst, min(remaining, KERNEL_CHUNK))
        except OSError as error:
            if first and error.errno in _CANNOT:
                raise _NoKernelCopy() from error
            raise
        if done == 0:
            break
        first = False
        remaining -= done
    return "copy_file_range"


def _cloned(source_fd: int, target_fd: int) -> bool:
    """Try a reflink of the whole file; ``False`` where the filesystem has none."""
    try:
        fcntl.ioctl(target_fd, FICLONE, source_fd)
    except OSError as error:
        if error.errno in _CANNOT:
            return False
        raise
    return True


def stream_copy(
    source: FS,
    source_path: str,
    target: FS,
    target_path: str,
    length: int | None = None,
    chunk: int = CHUNK_SIZE,
) -> int:
    """Copy through Python in chunks of ``chunk`` bytes; return the bytes copied."""
    remaining, copied = length, 0
    with source.openbin(source_path, "r") as src, target.openbin(target_path, "w") as dst:
        while remaining is None or remaining > 0:
            data: typing.Any = src.read(chunk if remaining is None else min(chunk, remaining))
            if not data:
                break
            dst.write(data)
            copied += len(data)
            if remaining is not None:
                remaining -= len(data)
    return copied


__all__ = ["FICLONE", "copy_data", "stream_copy"]
