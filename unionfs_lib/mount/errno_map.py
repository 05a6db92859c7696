"""The errno the kernel would give for each ``fs.errors`` exception.

A FUSE operation answers with a negative errno; the overlay raises
PyFilesystem2 exceptions. :func:`errno_of` translates one into the other the
way Linux overlayfs answers the same situation (``DirectoryNotEmpty`` is
``ENOTEMPTY``, a write to a read-only overlay is ``EROFS``, ...). An
``OSError`` wrapped by the layer keeps its own errno.
"""

from __future__ import annotations

import errno

import fs.errors

from ..errors import IllegalDestination

#: Most specific class first: the first match wins.
_ERRNO_OF_CLASS: tuple[tuple[type[Exception], int], ...] = (
    (IllegalDestination, errno.EINVAL),
    (fs.errors.ResourceNotFound, errno.ENOENT),
    (fs.errors.DirectoryNotEmpty, errno.ENOTEMPTY),
    (fs.errors.DirectoryExists, errno.EEXIST),
    (fs.errors.FileExists, errno.EEXIST),
    (fs.errors.DestinationExists, errno.EEXIST),
    (fs.errors.FileExpected, errno.EISDIR),
    (fs.errors.DirectoryExpected, errno.ENOTDIR),
    (fs.errors.ResourceReadOnly, errno.EROFS),
    (fs.errors.RemoveRootError, errno.EBUSY),
    (fs.errors.ResourceLocked, errno.EBUSY),
    (fs.errors.PermissionDenied, errno.EACCES),
    (fs.errors.InsufficientStorage, errno.ENOSPC),
    (fs.errors.InvalidCharsInPath, errno.EINVAL),
    (fs.errors.InvalidPath, errno.EINVAL),
    (fs.errors.Unsupported, errno.ENOTSUP),
    (fs.errors.FilesystemClosed, errno.EIO),
)


def errno_of(error: BaseException) -> int:
    """Return the errno for ``error`` (``EIO`` when nothing more precise is known)."""
    if isinstance(error, OSError) and isinstance(error.errno, int) and error.errno > 0:
        return error.errno
    wrapped = getattr(error, "exc", None)
    if isinstance(wrapped, OSError) and isinstance(wrapped.errno, int) and wrapped.errno > 0:
        return wrapped.errno
    for kind, number in _ERRNO_OF_CLASS:
        if isinstance(error, kind):
            return number
    return errno.EIO


def os_error(error: BaseException) -> OSError:
    """Return an ``OSError`` carrying :func:`errno_of` ``error`` (what FUSE bindings expect)."""
    number = errno_of(error)
    return OSError(number, f"{type(error).__name__}: {error}")
