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

import fs.errors

from ..overlay import OverlayFS
from ..posix import PIN_NAMES as PIN_NAMES  # re-exported: their home was here
from ..posix import read_pin, write_pin


def needs_pins(overlay: OverlayFS) -> bool:
    """Tell whether ``overlay`` loses inode numbers on copy-up (its store keeps no records)."""
    return overlay.upper is not None and not getattr(overlay.whiteouts, "keeps_records", True)


def pinned(syspath: str) -> int | None:
    """Return the number pinned on the upper entry at ``syspath``, if any."""
    return read_pin(syspath)


def pin(overlay: OverlayFS, path: str, ino: int, now: int) -> None:
    """Pin ``ino`` on the upper entry at ``path`` if its number became ``now`` instead."""
    if ino == now or not needs_pins(overlay) or overlay.which(path).index != 0:
        return
    upper = overlay.upper
    assert upper is not None
    try:
        syspath = upper.getsyspath(overlay.validatepath(path))
    except fs.errors.NoSysPath:
        return
    write_pin(syspath, ino)
