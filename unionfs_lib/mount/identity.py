"""The inode number every name of a hard-linked upper file shows through the mount.

The overlay keeps each entry's ``ino`` through copy-up and rename itself
(see :mod:`unionfs_lib.resolve.inode_numbers`): with identity records where the store keeps
them, else (the kernel format) pinned in an extended attribute of the upper
entry (``trusted.unionfs.ino``, or ``user.unionfs.ino`` where trusted
attributes are refused), which moves with the entry. ``OverlayFS.hardlink``
pins the number on the upper inode in every store, so each name of a file
with several links, which is one upper inode, shows that one number here
(:func:`linked_ino`). The attribute names are private:
:mod:`unionfs_lib.ops.xattr_ops` hides them.
"""

from __future__ import annotations

import os
import stat

from ..frontend_api import read_pin


def pinned(syspath: str) -> int | None:
    """Return the number pinned on the upper entry at ``syspath``, if any."""
    return read_pin(syspath)


def linked_ino(syspath: str, found: os.stat_result, ino: int) -> int:
    """Return the number a name of the upper file ``found`` (its ``lstat``) shows.

    An upper file or symbolic link with more than one link shows the number
    pinned on its inode, shared by all its names; any other entry shows
    ``ino``.
    """
    if found.st_nlink < 2 or stat.S_ISDIR(found.st_mode):
        return ino
    pinned_number = pinned(syspath)
    return ino if pinned_number is None else pinned_number
