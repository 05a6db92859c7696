"""User extended attributes through the mount: thin callers of the overlay's own.

The rules live in :mod:`unionfs_lib.ops.xattr_ops` (``OverlayFS.getxattr``,
``setxattr``, ``listxattr``, ``removexattr``): attributes are read from the
layer that backs an entry and written to its upper copy (the entry is copied
up first), under the overlay's lock. The overlay's own attributes
(``trusted.overlay.*``, ``user.overlay.*``, and the mount's pinned inode
numbers, ``*.unionfs.*``) are never shown and cannot be set, as in Linux
overlayfs. Here, only the inode number is pinned across the copy-up.

:func:`getxattr_kept` reads an attribute of an entry the mount knows the
upper holds alone (see :func:`.attributes.kept_upper_entry`) straight from
its upper file: the kernel asks ``security.capability`` before every write
and every ``chown``, nearly always of a file just created. It is read
every time, never assumed absent: an attribute set through the overlay
object in the same process, or by the upper's owner, must be seen (the
kernel strips file capabilities on a write only if it is told of them).
"""

from __future__ import annotations

import errno
import os

from ..frontend_api import PRIVATE_XATTR_PREFIXES
from ..overlay import OverlayFS

PRIVATE_PREFIXES = PRIVATE_XATTR_PREFIXES


def getxattr(overlay: OverlayFS, path: str, name: str) -> bytes:
    """Return the value of attribute ``name`` (``ENODATA`` if it has none)."""
    return overlay.getxattr(path, name)


def getxattr_kept(syspath: str, name: str) -> bytes | None:
    """Return attribute ``name`` of the upper entry at ``syspath``, never following a link.

    Raises ``OSError`` with ``ENODATA`` where it has none, as
    :func:`getxattr` answers. ``None``: take :func:`getxattr`'s way (the
    overlay's own attributes, which it hides, and any other OS error, which
    it converts).
    """
    if name.startswith(PRIVATE_PREFIXES):
        return None
    try:
        return os.getxattr(syspath, name, follow_symlinks=False)
    except OSError as error:
        if error.errno == errno.ENODATA:
            raise OSError(errno.ENODATA, os.strerror(errno.ENODATA)) from None
        return None


def listxattr(overlay: OverlayFS, path: str) -> list[str]:
    """Return the names of the attributes of ``path``, without the overlay's own."""
    return overlay.listxattr(path)


def setxattr(overlay: OverlayFS, path: str, name: str, value: bytes, flags: int) -> None:
    """Set attribute ``name`` on the upper copy of ``path``."""
    overlay.setxattr(path, name, value, flags)


def removexattr(overlay: OverlayFS, path: str, name: str) -> None:
    """Remove attribute ``name`` from the upper copy of ``path``."""
    overlay.removexattr(path, name)
