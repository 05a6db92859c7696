"""Inode numbers that stay put through the mount when the upper keeps no records.

The overlay derives an entry's ``ino`` from the layer and path that hold it
and, with the default whiteout store, writes down the number when copy-up or
a rename would change that derivation (see :mod:`unionfs_lib.inode`). The
kernel's on-disk format (``OverlayFS.from_dirs``) has no place for those
records, so there a copy-up or a rename would give the entry a new number
under a running program's feet. The mount pins the old number instead: after
an operation that may change it, the number is written in an extended
attribute of the upper entry (``trusted.unionfs.ino``, or
``user.unionfs.ino`` where trusted attributes are refused), which moves with
the entry on rename and is read back by ``getattr``, and by the overlay's
own ``getinfo`` (:func:`unionfs_lib.info.pinned_ino`; ``OverlayFS.hardlink``
pins one too). Both names are private: :mod:`unionfs_lib.xattrs` hides them.
"""

from __future__ import annotations

import os
import stat

from ..overlay import OverlayFS
from ..posix import read_pin


def needs_pins(overlay: OverlayFS) -> bool:
    """Tell whether ``overlay`` loses inode numbers on copy-up (its store keeps no records)."""
    return overlay.upper is not None and not getattr(overlay.whiteouts, "keeps_records", True)


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
