"""Extended attributes of overlay entries, on layers with OS paths.

As in Linux overlayfs: attributes are read from the layer that holds the
entry, and written to its upper copy (a lower entry is copied up first, a
file metadata-only, a link as a link; copy-up keeps the lower entry's user
attributes). The overlay's own attributes, ``trusted.overlay.*`` and
``user.overlay.*`` (the kernel format's whiteouts, opaque flags and
redirects) and ``trusted.unionfs.*``/``user.unionfs.*`` (inode numbers the
mount pins), are never listed, read or changed through the overlay:
:class:`~unionfs_lib.errors.PrivateAttribute`. A missing attribute is
:class:`~unionfs_lib.errors.NoSuchAttribute` (a ``ResourceNotFound``
carrying ``ENODATA``). Attributes are never read or set through a link: a
link's own attributes are the link's (Linux refuses ``user.*`` on links).
"""

from __future__ import annotations

import contextlib
import errno
import os
import typing

import fs.errors

from ..errors import NoSuchAttribute, PrivateAttribute, literal
from ..host.posix import is_private_xattr, os_path
from ..model.records import Node
from .info_ops import copy_up_for_change

if typing.TYPE_CHECKING:
    from .superblock import OverlaySuper

_WHAT = "extended attributes"


def get_xattr(sb: OverlaySuper, node: Node, name: str) -> bytes:
    """Return the value of attribute ``name`` of ``node``."""
    if is_private_xattr(name):
        raise NoSuchAttribute(node.path, exc=OSError(errno.ENODATA, name))
    syspath = _readable(sb, node)
    with _converted(node.path):
        return os.getxattr(syspath, name, follow_symlinks=False)


def list_xattrs(sb: OverlaySuper, node: Node) -> list[str]:
    """Return the names of the attributes of ``node``, without the overlay's own."""
    syspath = _readable(sb, node)
    with _converted(node.path):
        names = os.listxattr(syspath, follow_symlinks=False)
    return [name for name in names if not is_private_xattr(name)]


def set_xattr(sb: OverlaySuper, node: Node, name: str, value: bytes, flags: int = 0) -> None:
    """Set attribute ``name`` of ``node`` to ``value`` on its upper copy.

    ``flags`` is ``0``, ``os.XATTR_CREATE`` (``DestinationExists`` if it
    is set) or ``os.XATTR_REPLACE`` (``NoSuchAttribute`` if it is not).
    """
    _check_settable(node.path, name)
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError("extended attribute values are bytes")
    syspath = _writable(sb, node)
    with _converted(node.path):
        os.setxattr(syspath, name, value, flags, follow_symlinks=False)


def remove_xattr(sb: OverlaySuper, node: Node, name: str) -> None:
    """Remove attribute ``name`` from the upper copy of ``node``.

    A missing attribute is ``NoSuchAttribute``, found before any copy-up.
    """
    _check_settable(node.path, name)
    get_xattr(sb, node, name)
    syspath = _writable(sb, node)
    with _converted(node.path):
        os.removexattr(syspath, name, follow_symlinks=False)


def _check_settable(path: str, name: str) -> None:
    """Refuse the overlay's private attributes and empty names."""
    if not name:
        raise fs.errors.OperationFailed(path, msg="an extended attribute needs a name")
    if is_private_xattr(name):
        raise PrivateAttribute(path, msg=literal(f"{name} belongs to the overlay"))


def _readable(sb: OverlaySuper, node: Node) -> str:
    """Return the OS path the attributes of ``node`` are read from."""
    top = node.top
    return os_path(sb.layer(top.layer), top.path, _WHAT)


def _writable(sb: OverlaySuper, node: Node) -> str:
    """Copy ``node`` up if needed and return its OS path in the upper."""
    upper = sb.writable_upper(node.path)
    os_path(upper, "/", _WHAT)
    copy_up_for_change(sb, node)
    return os_path(upper, node.path, _WHAT)


@contextlib.contextmanager
def _converted(path: str) -> typing.Iterator[None]:
    """Turn an ``OSError`` of an attribute call on ``path`` into its ``fs.errors`` exception."""
    try:
        yield
    except OSError as error:
        raise _fs_error(path, error) from error


def _fs_error(path: str, error: OSError) -> fs.errors.FSError:
    """Return the ``fs.errors`` exception for ``error`` (the ``OSError`` is kept as ``exc``)."""
    number = error.errno
    if number == errno.ENODATA:
        return NoSuchAttribute(path, exc=error)
    if number == errno.EEXIST:
        return fs.errors.DestinationExists(path, exc=error)
    if number in (errno.ENOTSUP, errno.EOPNOTSUPP):
        message = literal(f"{_WHAT} refused by the layer: {path}")
        return fs.errors.Unsupported(path, exc=error, msg=message)
    if number in (errno.EPERM, errno.EACCES):
        return fs.errors.PermissionDenied(path, exc=error)
    if number == errno.ENOENT:
        return fs.errors.ResourceNotFound(path, exc=error)
    if number == errno.ENOSPC:
        return fs.errors.InsufficientStorage(path, exc=error)
    return fs.errors.OperationFailed(path, exc=error)


__all__ = ["get_xattr", "list_xattrs", "remove_xattr", "set_xattr"]
