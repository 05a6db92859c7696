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
    """Return the errno for ``error`` (``EIO`` when nothing more precise is known).

    An ``OSError`` the error wraps keeps its own errno, at any depth (as
    ``exc`` of an ``fs.errors`` exception, which wrappers around layers may
    wrap again): a full upper answers ``ENOSPC`` and an exhausted quota
    ``EDQUOT``, as on the upper itself. Otherwise the first wrapped
    exception whose class has an errno decides, and last the errno of an
    ``OSError`` the error was raised from.
    """
    chain = _wrapped(error)
    for found in chain:
        if isinstance(found, OSError) and isinstance(found.errno, int) and found.errno > 0:
            return found.errno
    for found in chain:
        for kind, number in _ERRNO_OF_CLASS:
            if isinstance(found, kind):
                return number
    cause = chain[-1].__cause__
    if isinstance(cause, OSError) and isinstance(cause.errno, int) and cause.errno > 0:
        return cause.errno
    return errno.EIO


#: How many wrapped exceptions :func:`errno_of` looks through.
_MAX_WRAPPED = 8


def _wrapped(error: BaseException) -> list[BaseException]:
    """Return ``error`` and the exceptions it wraps as ``exc``, outermost first."""
    chain = [error]
    wrapped = getattr(error, "exc", None)
    while isinstance(wrapped, BaseException) and len(chain) < _MAX_WRAPPED:
        chain.append(wrapped)
        wrapped = getattr(wrapped, "exc", None)
    return chain


def os_error(error: BaseException) -> OSError:
    """Return an ``OSError`` carrying :func:`errno_of` ``error`` (what FUSE bindings expect)."""
    number = errno_of(error)
    return OSError(number, f"{type(error).__name__}: {error}")
