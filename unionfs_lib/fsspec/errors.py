"""Exceptions both ways between PyFilesystem2 and fsspec.

fsspec callers expect the built-in ``OSError`` family (``FileNotFoundError``,
``FileExistsError``, ``IsADirectoryError``, ``NotADirectoryError``,
``PermissionError``); PyFilesystem2 callers expect :mod:`fs.errors`. The two
context managers here translate one into the other at the boundary:
:func:`as_fsspec_errors` around the overlay calls of
:class:`~unionfs_lib.fsspec.filesystem.OverlayFileSystem`, and
:func:`as_fs_errors` around the fsspec calls of
:class:`~unionfs_lib.fsspec.pyfs.FSSpecFS`.
"""

from __future__ import annotations

import contextlib
import errno
import typing

import fs.errors

#: PyFilesystem2 errors and the built-in exception and errno they become,
#: most specific first (``ResourceReadOnly`` before its ``ResourceError`` base).
_TO_BUILTIN: tuple[tuple[type[Exception], type[OSError], int], ...] = (
    (fs.errors.ResourceNotFound, FileNotFoundError, errno.ENOENT),
    (fs.errors.ResourceReadOnly, PermissionError, errno.EROFS),
    (fs.errors.RemoveRootError, PermissionError, errno.EPERM),
    (fs.errors.PermissionDenied, PermissionError, errno.EACCES),
    (fs.errors.DirectoryExists, FileExistsError, errno.EEXIST),
    (fs.errors.FileExists, FileExistsError, errno.EEXIST),
    (fs.errors.DestinationExists, FileExistsError, errno.EEXIST),
    (fs.errors.FileExpected, IsADirectoryError, errno.EISDIR),
    (fs.errors.DirectoryExpected, NotADirectoryError, errno.ENOTDIR),
    (fs.errors.DirectoryNotEmpty, OSError, errno.ENOTEMPTY),
)


def to_builtin(error: fs.errors.FSError, path: str) -> Exception:
    """Return the built-in exception an fsspec caller expects for ``error``.

    ``fs.errors.Unsupported`` becomes ``NotImplementedError`` (what fsspec
    raises for an operation a filesystem lacks); any other error an
    ``OSError`` with the original message.
    """
    for fs_error, builtin, code in _TO_BUILTIN:
        if isinstance(error, fs_error):
            return builtin(code, str(error), path)
    if isinstance(error, fs.errors.Unsupported):
        return NotImplementedError(str(error))
    wrapped = getattr(error, "exc", None)
    if isinstance(wrapped, OSError) and isinstance(wrapped.errno, int) and wrapped.errno > 0:
        return OSError(wrapped.errno, str(error), path)  # EDQUOT, EFBIG ... as the layer said
    if isinstance(error, fs.errors.InsufficientStorage):
        return OSError(errno.ENOSPC, str(error), path)
    return OSError(errno.EIO, str(error), path)


def to_fs_error(error: OSError, path: str) -> fs.errors.FSError:
    """Return the :mod:`fs.errors` exception for an ``OSError`` an fsspec call raised."""
    message = str(error)
    if isinstance(error, FileNotFoundError):
        return fs.errors.ResourceNotFound(path, exc=error)
    if isinstance(error, FileExistsError):
        return fs.errors.ResourceError(path, exc=error, msg=f"resource exists: {message}")
    if isinstance(error, IsADirectoryError):
        return fs.errors.FileExpected(path, exc=error)
    if isinstance(error, NotADirectoryError):
        return fs.errors.DirectoryExpected(path, exc=error)
    if isinstance(error, PermissionError):
        return fs.errors.PermissionDenied(path=path, exc=error)
    if error.errno == errno.ENOTEMPTY:
        return fs.errors.DirectoryNotEmpty(path, exc=error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):  # a full layer: what OSFS raises too
        shown = message.replace("{", "{{").replace("}", "}}")
        return fs.errors.InsufficientStorage(path=path, exc=error, msg=f"no room: {shown}")
    return fs.errors.OperationFailed(path=path, exc=error, msg=f"fsspec call failed: {message}")


@contextlib.contextmanager
def as_fsspec_errors(path: str) -> typing.Iterator[None]:
    """Re-raise :mod:`fs.errors` raised inside the block as built-in exceptions."""
    try:
        yield
    except fs.errors.FSError as error:
        raise to_builtin(error, path) from error


@contextlib.contextmanager
def as_fs_errors(path: str) -> typing.Iterator[None]:
    """Re-raise ``OSError`` raised inside the block as :mod:`fs.errors` exceptions."""
    try:
        yield
    except OSError as error:
        raise to_fs_error(error, path) from error
