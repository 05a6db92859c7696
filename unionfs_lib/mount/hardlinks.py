"""Hard links through the mount, made in the upper layer.

``link(existing, new)`` works as in Linux overlayfs: ``existing`` is copied
up with its data (a metadata-only copy would leave the new name without
bytes of its own), then linked to ``new`` in the upper, so both names are
one upper inode. A symbolic link is linked as a link, never followed. The
overlay's inode number of ``existing`` is pinned on the upper inode
(:func:`~unionfs_lib.mount.identity.pin_shared`): every name of a file with
more than one link shows that number, before and after a remount, and
renaming or removing one name leaves the others.

Only uppers with OS paths hold hard links; others raise
``fs.errors.Unsupported``.
"""

from __future__ import annotations

import os

import fs.errors
from fs.path import dirname

from ..overlay import OverlayFS
from . import attributes, identity, links


def make_hardlink(overlay: OverlayFS, existing: str, new: str) -> None:
    """Give the file ``existing`` the second name ``new``, in the upper.

    Raises:
        fs.errors.ResourceReadOnly: the overlay has no upper.
        fs.errors.ResourceNotFound: ``existing`` is missing.
        fs.errors.FileExpected: ``existing`` is a directory.
        fs.errors.DestinationExists: ``new`` exists.
        fs.errors.Unsupported: the upper has no OS paths.
    """
    upper = overlay.upper
    if upper is None:
        raise fs.errors.ResourceReadOnly(new)
    _existing, _new = overlay.validatepath(existing), overlay.validatepath(new)
    is_link = links.is_link(overlay, _existing)
    if not is_link and overlay.getinfo(_existing).is_dir:
        raise fs.errors.FileExpected(existing)
    if _named(overlay, _new):
        raise fs.errors.DestinationExists(new)
    ino = attributes.ino_of(overlay, _existing)
    source = _copied_up(overlay, _existing, is_link)
    target = _upper_name(overlay, _new)
    try:
        identity.pin_shared(source, ino)
        os.link(source, target, follow_symlinks=False)
    finally:
        overlay.invalidate()


def _named(overlay: OverlayFS, path: str) -> bool:
    """Tell whether anything, a dangling link included, is visible at ``path``."""
    try:
        overlay.which(path)
    except fs.errors.ResourceNotFound:
        return False
    return True


def _copied_up(overlay: OverlayFS, path: str, is_link: bool) -> str:
    """Copy ``path`` up with its data (a link as a link); return its upper OS path."""
    if overlay.which(path).index != 0:
        if is_link:
            return links.copy_up_link(overlay, path)
        overlay.copy_up_tree(path)
    elif not is_link:
        overlay.copy_up_tree(path)  # a metadata-only copy-up gets its data
    return _syspath(overlay, path)


def _upper_name(overlay: OverlayFS, path: str) -> str:
    """Make room for the new name ``path`` in the upper; return its OS path there.

    Its parent directory is copied up, and a whiteout at the name removed.
    """
    upper = overlay.upper
    assert upper is not None
    parent = dirname(path)
    if overlay.which(parent).index != 0:
        overlay.setinfo(parent, {})
    syspath = _syspath(overlay, path)
    overlay.whiteouts.remove_whiteout(upper, path)
    return syspath


def _syspath(overlay: OverlayFS, path: str) -> str:
    """Return the OS path of ``path`` in the upper (``Unsupported`` if it has none)."""
    upper = overlay.upper
    assert upper is not None
    try:
        syspath: str = upper.getsyspath(path)
    except fs.errors.NoSysPath:
        raise fs.errors.Unsupported(path, msg="hard links need an upper with OS paths") from None
    return syspath
