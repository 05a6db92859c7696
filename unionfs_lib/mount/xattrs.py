"""User extended attributes through the mount, on layers with OS paths.

Attributes are read from the layer file that backs an entry and written to
its upper copy (the entry is copied up first). The overlay's own attributes
(``trusted.overlay.*``, ``user.overlay.*``, and the mount's pinned inode
numbers, ``*.unionfs.*``) are never shown and cannot be set, as in Linux
overlayfs.
"""

from __future__ import annotations

import errno
import os

import fs.errors

from ..overlay import OverlayFS
from . import attributes
from .links import layer_syspath

PRIVATE_PREFIXES = ("trusted.overlay.", "user.overlay.", "trusted.unionfs.", "user.unionfs.")


def _check_name(name: str) -> None:
    """Refuse the overlay's private attributes."""
    if name.startswith(PRIVATE_PREFIXES):
        raise OSError(errno.ENOTSUP, f"{name!r} belongs to the overlay")


def _readable(overlay: OverlayFS, path: str) -> str:
    """Return the OS path attributes of ``path`` are read from."""
    syspath = layer_syspath(overlay, path)
    if syspath is None:
        raise fs.errors.Unsupported(path, msg="extended attributes need a layer with OS paths")
    return syspath


def getxattr(overlay: OverlayFS, path: str, name: str) -> bytes:
    """Return the value of attribute ``name`` (``ENODATA`` if it has none)."""
    if name.startswith(PRIVATE_PREFIXES):
        raise OSError(errno.ENODATA, name)
    return os.getxattr(_readable(overlay, path), name, follow_symlinks=False)


def listxattr(overlay: OverlayFS, path: str) -> list[str]:
    """Return the names of the attributes of ``path``, without the overlay's own."""
    names = os.listxattr(_readable(overlay, path), follow_symlinks=False)
    return [name for name in names if not name.startswith(PRIVATE_PREFIXES)]


def setxattr(overlay: OverlayFS, path: str, name: str, value: bytes, flags: int) -> None:
    """Set attribute ``name`` on the upper copy of ``path``."""
    _check_name(name)
    syspath = attributes.upper_syspath(overlay, path)
    if syspath is None:
        raise fs.errors.Unsupported(path, msg="extended attributes need an upper with OS paths")
    os.setxattr(syspath, name, value, flags, follow_symlinks=False)


def removexattr(overlay: OverlayFS, path: str, name: str) -> None:
    """Remove attribute ``name`` from the upper copy of ``path``."""
    _check_name(name)
    getxattr(overlay, path, name)  # ENODATA before any copy-up
    syspath = attributes.upper_syspath(overlay, path)
    if syspath is None:
        raise fs.errors.Unsupported(path, msg="extended attributes need an upper with OS paths")
    os.removexattr(syspath, name, follow_symlinks=False)
