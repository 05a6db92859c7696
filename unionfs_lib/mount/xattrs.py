"""User extended attributes through the mount: thin callers of the overlay's own.

The rules live in :mod:`unionfs_lib.ops.xattr_ops` (``OverlayFS.getxattr``,
``setxattr``, ``listxattr``, ``removexattr``): attributes are read from the
layer that backs an entry and written to its upper copy (the entry is copied
up first), under the overlay's lock. The overlay's own attributes
(``trusted.overlay.*``, ``user.overlay.*``, and the mount's pinned inode
numbers, ``*.unionfs.*``) are never shown and cannot be set, as in Linux
overlayfs. Here, only the inode number is pinned across the copy-up.
"""

from __future__ import annotations

from ..frontend_api import PRIVATE_XATTR_PREFIXES
from ..overlay import OverlayFS

PRIVATE_PREFIXES = PRIVATE_XATTR_PREFIXES


def getxattr(overlay: OverlayFS, path: str, name: str) -> bytes:
    """Return the value of attribute ``name`` (``ENODATA`` if it has none)."""
    return overlay.getxattr(path, name)


def listxattr(overlay: OverlayFS, path: str) -> list[str]:
    """Return the names of the attributes of ``path``, without the overlay's own."""
    return overlay.listxattr(path)


def setxattr(overlay: OverlayFS, path: str, name: str, value: bytes, flags: int) -> None:
    """Set attribute ``name`` on the upper copy of ``path``."""
    overlay.setxattr(path, name, value, flags)


def removexattr(overlay: OverlayFS, path: str, name: str) -> None:
    """Remove attribute ``name`` from the upper copy of ``path``."""
    overlay.removexattr(path, name)
