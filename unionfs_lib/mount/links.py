"""Symbolic links through the mount, on layers with OS paths.

PyFilesystem2 has no symbolic links: the layers' ``getinfo`` follows them, so
the overlay would see a link as what it points to (and copy-up would copy
the bytes behind it). The mount asks the layer file itself instead: a link
in any layer is shown as a link (``lstat``), read with ``readlink`` and never
followed into another layer; the kernel resolves it inside the mount. New
links are made in the upper; a lower link that must change is copied up as a
link; removing or renaming one leaves a whiteout where a lower entry would
show through. Layers without OS paths hold no links (``Unsupported``).
"""

from __future__ import annotations

import os
import stat

import fs.errors
from fs.path import dirname

from ..overlay import OverlayFS


def layer_syspath(overlay: OverlayFS, path: str) -> str | None:
    """Return the OS path of the layer file backing ``path`` (``None`` if it has none)."""
    backing = overlay.which(path)
    try:
        syspath: str = backing.layer.getsyspath(backing.path)
    except fs.errors.NoSysPath:
        return None
    return syspath


def is_link(overlay: OverlayFS, path: str) -> bool:
    """Tell whether ``path`` is a symbolic link in the layer that holds it."""
    syspath = layer_syspath(overlay, path)
    return syspath is not None and stat.S_ISLNK(os.lstat(syspath).st_mode)


def readlink(overlay: OverlayFS, path: str) -> str:
    """Return the target of link ``path``, as stored (never resolved)."""
    syspath = layer_syspath(overlay, path)
    if syspath is None:
        raise fs.errors.Unsupported(path, msg="symbolic links need a layer with OS paths")
    try:
        return os.readlink(syspath)
    except OSError as error:
        raise fs.errors.OperationFailed(path, exc=error) from error


def _upper_entry(overlay: OverlayFS, path: str) -> str:
    """Prepare the upper for a new entry at ``path``; return its OS path there.

    The parent is copied up and a whiteout at the name is removed.
    """
    upper = overlay.upper
    if upper is None:
        raise fs.errors.ResourceReadOnly(path)
    _path = overlay.validatepath(path)
    parent = dirname(_path)
    if overlay.which(parent).index != 0:
        overlay.setinfo(parent, {})
    try:
        syspath = upper.getsyspath(_path)
    except fs.errors.NoSysPath:
        message = "symbolic links need an upper with OS paths"
        raise fs.errors.Unsupported(path, msg=message) from None
    overlay.whiteouts.remove_whiteout(upper, _path)
    return syspath


def symlink(overlay: OverlayFS, target: str, path: str) -> None:
    """Create the symbolic link ``path`` -> ``target`` in the upper."""
    if overlay.exists(path):
        raise fs.errors.DestinationExists(path)
    syspath = _upper_entry(overlay, path)
    try:
        os.symlink(target, syspath)
    finally:
        overlay.invalidate()


def copy_up_link(overlay: OverlayFS, path: str) -> str:
    """Copy lower link ``path`` up as a link (with its times); return its upper OS path."""
    source = layer_syspath(overlay, path)
    assert source is not None
    target = os.readlink(source)
    found = os.lstat(source)
    syspath = _upper_entry(overlay, path)
    try:
        os.symlink(target, syspath)
        os.utime(syspath, ns=(found.st_atime_ns, found.st_mtime_ns), follow_symlinks=False)
    finally:
        overlay.invalidate()
    return syspath


def remove_link(overlay: OverlayFS, path: str) -> None:
    """Remove link ``path``; a whiteout hides whatever a lower layer has there."""
    if overlay.which(path).index == 0:
        syspath = layer_syspath(overlay, path)
        assert syspath is not None
        os.unlink(syspath)
        overlay.invalidate()
        if not overlay.exists(path):
            return
    _upper_entry(overlay, path)
    upper = overlay.upper
    assert upper is not None
    try:
        overlay.whiteouts.add_whiteout(upper, overlay.validatepath(path))
    finally:
        overlay.invalidate()


def rename_link(overlay: OverlayFS, old: str, new: str) -> None:
    """Move link ``old`` to ``new`` (replacing a file or link there) as a link."""
    target = readlink(overlay, old)
    source = layer_syspath(overlay, old)
    assert source is not None
    found = os.lstat(source)
    if overlay.exists(new):
        if is_link(overlay, new):
            remove_link(overlay, new)
        elif overlay.isdir(new):
            raise fs.errors.FileExpected(new)
        else:
            overlay.remove(new)
    symlink(overlay, target, new)
    moved = layer_syspath(overlay, new)
    assert moved is not None
    os.utime(moved, ns=(found.st_atime_ns, found.st_mtime_ns), follow_symlinks=False)
    remove_link(overlay, old)
