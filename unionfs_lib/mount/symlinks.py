"""Symbolic links through the mount: thin callers of the overlay's own link operations.

The rules live in :mod:`unionfs_lib.ops.link_ops` (``OverlayFS.symlink``,
``readlink``, ``islink``): a link in any layer is shown as a link, read as
stored and never followed into another layer (the kernel resolves it inside
the mount); new links are made in the upper; a lower link that must change is
copied up as a link; removing or renaming one leaves a whiteout where a lower
entry would show through. They run under the overlay's lock and keep its
caches right. Layers without OS paths hold no links (``Unsupported``).
"""

from __future__ import annotations

import fs.errors

from ..frontend_api import os_path
from ..overlay import OverlayFS


def layer_syspath(overlay: OverlayFS, path: str) -> str | None:
    """Return the OS path of the layer file backing ``path`` (``None`` if it has none)."""
    return overlay.which(path).syspath


def is_link(overlay: OverlayFS, path: str) -> bool:
    """Tell whether ``path`` is a symbolic link in the layer that holds it."""
    return overlay.islink(path)


def readlink(overlay: OverlayFS, path: str) -> str:
    """Return the target of link ``path``, as stored (never resolved)."""
    return overlay.readlink(path)


def symlink(overlay: OverlayFS, target: str, path: str) -> None:
    """Create the symbolic link ``path`` -> ``target`` in the upper."""
    overlay.symlink(target, path)


def copy_up_link(overlay: OverlayFS, path: str) -> str:
    """Copy lower link ``path`` up as a link (with its times); return its upper OS path."""
    overlay.setinfo(path, {})
    upper = overlay.upper
    assert upper is not None
    return os_path(upper, overlay.validatepath(path), "symbolic links")


def remove_link(overlay: OverlayFS, path: str) -> None:
    """Remove link ``path``; a whiteout hides whatever a lower layer has there."""
    overlay.remove(path)


def rename_link(overlay: OverlayFS, old: str, new: str) -> None:
    """Move link ``old`` to ``new`` (replacing a file or link there) as a link."""
    if overlay.exists(new) and overlay.isdir(new) and not overlay.islink(new):
        raise fs.errors.FileExpected(new)
    overlay.move(old, new, overwrite=True)
