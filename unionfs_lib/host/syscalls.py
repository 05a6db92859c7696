"""Linux system calls the standard library lacks, through ctypes.

``renameat2(2)`` renames with flags: ``RENAME_EXCHANGE`` swaps two entries
and ``RENAME_WHITEOUT`` leaves a whiteout at the source, each in one atomic
step; the kernel-format whiteout store uses them as overlayfs does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import typing

#: ``renameat2`` flags (linux/fs.h).
RENAME_EXCHANGE = 1 << 1
RENAME_WHITEOUT = 1 << 2
_AT_FDCWD = -100
_NO_RENAMEAT2 = {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP}


@functools.lru_cache(maxsize=1)
def _libc_renameat2() -> typing.Any:
    """Return libc's ``renameat2`` function, or ``None`` where libc lacks it."""
    name = ctypes.util.find_library("c")
    try:
        function = ctypes.CDLL(name, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    path, fd = ctypes.c_char_p, ctypes.c_int
    function.argtypes = [fd, path, fd, path, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def renameat2(src: str, dst: str, flags: int) -> None:
    """Call Linux ``renameat2(2)``; raise ``OSError`` (``ENOSYS`` where unavailable)."""
    function = _libc_renameat2()
    if function is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available", src)
    if function(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), src, None, dst)


def renameat2_done(src: str, dst: str, flags: int) -> bool:
    """Try :func:`renameat2`; ``False`` if the system or filesystem lacks ``flags``."""
    try:
        renameat2(src, dst, flags)
    except OSError as error:
        if error.errno in _NO_RENAMEAT2:
            return False
        raise
    return True


__all__ = ["RENAME_EXCHANGE", "RENAME_WHITEOUT", "renameat2", "renameat2_done"]
