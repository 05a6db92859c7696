"""Hard links through the mount: the ``link`` handler's one call into the overlay.

``link(existing, new)`` works as in Linux overlayfs: ``existing`` is copied
up with its data, then linked to ``new`` in the upper, so both names are one
upper inode showing one ``st_ino`` (``OverlayFS.hardlink`` does all of it,
under the overlay's lock, and pins the number on the upper inode, which
every name reads through the mount: :func:`~unionfs_lib.mount.identity.linked_ino`),
before and after a remount.

Only uppers with OS paths hold hard links; others raise
``fs.errors.Unsupported``.
"""

from __future__ import annotations

from ..overlay import OverlayFS


def make_hardlink(overlay: OverlayFS, existing: str, new: str) -> None:
    """Give the file ``existing`` the second name ``new``, in the upper.

    Raises:
        fs.errors.ResourceReadOnly: the overlay has no upper.
        fs.errors.ResourceNotFound: ``existing`` is missing.
        fs.errors.FileExpected: ``existing`` is a directory.
        fs.errors.DestinationExists: ``new`` exists.
        fs.errors.Unsupported: the upper has no OS paths.
    """
    overlay.hardlink(existing, new)
