"""Layer I/O helpers: a layer's OS paths, copying times, case folding.

The small host calls the overlay's modules share: the OS paths of a
layer's entries (:func:`syspaths`), copying times and attributes between
layers (:func:`copy_times`, :func:`drop_overlay_xattrs`), writing a small
file in one piece (:func:`write_whole`), and whether a layer folds case
(:func:`folds_case`). Pure path helpers are in
:mod:`unionfs_lib.model.paths`.
"""

from __future__ import annotations

import io
import os
import typing
import uuid
import weakref

from fs.base import FS

from .local_syspaths import local_syspath


def syspaths(layer: typing.Any, *paths: str) -> list[str] | None:
    """Return the OS paths of ``paths`` in ``layer``, or ``None`` if it has none.

    A layer whose class keeps ``FS.getsyspath`` (MemoryFS, archives) has none
    for any path: that is answered without raising and catching an error.
    A layer that sits on local files without OS paths of its own (a
    ``LazyFS`` over an ``OSFS``, a wrapper around one) answers with the paths
    of those files (see :func:`unionfs_lib.host.local_syspaths.local_syspath`).
    """
    import fs.errors

    if getattr(type(layer), "getsyspath", None) is FS.getsyspath:
        return None
    try:
        return [local_syspath(layer, path) for path in paths]
    except fs.errors.NoSysPath:
        return None


#: Extended attributes private to Linux overlayfs, never copied up (as the kernel).
OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")


def drop_overlay_xattrs(sys_path: str) -> None:
    """Remove overlayfs's private attributes that ``shutil.copystat`` copied along.

    A copied-up entry must not carry the redirect, opaque flag or origin of
    the lower entry it came from (the kernel skips them on copy-up too).
    """
    import os

    try:
        names = os.listxattr(sys_path, follow_symlinks=False)
    except OSError:
        return
    for name in names:
        if name.startswith(OVERLAY_XATTR_PREFIXES):
            try:
                os.removexattr(sys_path, name, follow_symlinks=False)
            except OSError:
                pass


def copy_times(src_layer: typing.Any, src: str, dst_layer: typing.Any, dst: str) -> None:
    """Copy modification and access times (and the mode, between OS files).

    Between OS files ``shutil.copystat`` also copies extended attributes,
    except overlayfs's private ones (:func:`drop_overlay_xattrs`).
    """
    import os
    import shutil

    import fs.errors

    src_sys = syspaths(src_layer, src)
    dst_sys = syspaths(dst_layer, dst)
    if src_sys is not None and dst_sys is not None and os.path.lexists(src_sys[0]):
        shutil.copystat(src_sys[0], dst_sys[0], follow_symlinks=False)
        drop_overlay_xattrs(dst_sys[0])
        return
    try:
        details = src_layer.getinfo(src, namespaces=["details"]).raw.get("details", {})
        times = {key: details[key] for key in ("modified", "accessed") if details.get(key)}
        if times:
            dst_layer.setinfo(dst, {"details": times})
    except (fs.errors.FSError, OSError):
        pass


def write_whole(layer: FS, path: str, data: bytes) -> None:
    """Write ``data`` as file ``path`` in one piece: readers see the old file or the new one.

    On a layer with OS paths the bytes go to a temporary file beside
    ``path``, synced, then renamed over it; on a layer that uploads a file
    whole (a ``write_once`` method, as
    :class:`~unionfs_lib.fsspec.pyfs.FSSpecFS` has) in one upload; on any
    other layer by ``writebytes``. The parent directory must exist.
    """
    parent, _, name = path.rpartition("/")
    temp = f"{parent}/.{name}.{uuid.uuid4().hex}.tmp"
    found = syspaths(layer, temp, path)
    if found is None:
        write_once = getattr(layer, "write_once", None)
        if write_once is not None:
            write_once(path, io.BytesIO(data))
        else:
            layer.writebytes(path, data)
        return
    with open(found[0], "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(found[0], found[1])


def open_new_file(
    layer: FS, path: str, mode: str, buffering: int, options: dict[str, typing.Any]
) -> tuple[typing.BinaryIO, str] | None:
    """Make and open a new file at ``path`` by its OS path, as ``OSFS.openbin`` would.

    For an exclusive binary ``mode`` (``"x"``: ``O_CREAT | O_EXCL``, which
    never follows a link at ``path`` nor opens an existing entry) on a
    layer that opens its files as ``OSFS`` does (its class keeps
    ``OSFS.openbin``): one ``open`` of the OS path, without the checks and
    conversions ``openbin`` repeats on a path the overlay has validated
    already. Returns the file and that OS path (:func:`syspaths`'s);
    ``None`` elsewhere (the caller takes ``openbin``). OS errors become
    ``fs.errors`` exceptions, as ``openbin`` raises them.
    """
    from fs.error_tools import convert_os_errors
    from fs.osfs import OSFS

    if "x" not in mode or "b" not in mode or type(layer).openbin is not OSFS.openbin:
        return None
    layer.check()
    found = syspaths(layer, path)
    if found is None:
        return None
    with convert_os_errors("openbin", path):
        handle = open(found[0], mode, buffering, **options)
    return typing.cast(typing.BinaryIO, handle), found[0]


_FOLDS: weakref.WeakKeyDictionary[FS, bool] = weakref.WeakKeyDictionary()


def folds_case(layer: FS | None) -> bool:
    """Tell whether ``layer`` is case-insensitive (its meta says so; cached)."""
    if layer is None:
        return False
    try:
        return _FOLDS[layer]
    except (KeyError, TypeError):
        pass
    found = bool(layer.getmeta().get("case_insensitive", False))
    try:
        _FOLDS[layer] = found
    except TypeError:
        pass
    return found


#: Where a directory's times were read from: its OS path, access and modification ns.
DirTimes = typing.Tuple[str, int, int]


def read_dir_times(sys_path: str) -> DirTimes | None:
    """Return the directory at OS path ``sys_path`` with its times (ns), from one ``lstat``.

    ``None`` if it cannot be read (the caller then keeps nothing, as
    ``dir_times`` does). Never follows a link.
    """
    try:
        info = os.lstat(sys_path)
    except OSError:
        return None
    return sys_path, info.st_atime_ns, info.st_mtime_ns


def put_dir_times(times: DirTimes) -> None:
    """Give the directory at ``times[0]`` back its times read by :func:`read_dir_times`.

    One ``utimensat``, nanoseconds kept, the entry itself (never a link's
    target); best effort: an error (the directory went) is ignored.
    """
    try:
        os.utime(times[0], ns=(times[1], times[2]), follow_symlinks=False)
    except OSError:
        pass


def replace_entry(layer: typing.Any, src: str, dst: str) -> bool:
    """Rename ``src`` over ``dst`` in ``layer`` with one ``rename(2)``; ``False`` without OS paths.

    ``rename`` follows neither name (a link at ``dst`` is replaced, never
    written through); unlike ``FS.move`` nothing is ``stat``-ed first. OS
    errors propagate as ``OSError`` for the caller to convert.
    """
    found = syspaths(layer, src, dst)
    if found is None:
        return False
    os.replace(found[0], found[1])
    return True


__all__ = [
    "DirTimes",
    "OVERLAY_XATTR_PREFIXES",
    "copy_times",
    "drop_overlay_xattrs",
    "folds_case",
    "open_new_file",
    "put_dir_times",
    "read_dir_times",
    "replace_entry",
    "syspaths",
    "write_whole",
]
