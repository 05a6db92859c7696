"""POSIX metadata of overlay entries: modes, owners, times, ``stat`` records.

Modes and owners are the overlay's own operations (``OverlayFS.setinfo``
with the ``access`` namespace, :mod:`unionfs_lib.host.access`): the entry is
copied up first (metadata only where the whiteout store allows, a link as a
link), then the upper's own file is changed, under the overlay's lock. An
upper without OS paths (``MemoryFS``) cannot hold a mode or an owner: those
raise ``fs.errors.Unsupported``. Times are set in nanoseconds on the upper
copy's OS path (``OSFS.setinfo`` takes float seconds); through ``setinfo``
on other uppers.

For an entry the mount has described and knows the upper holds alone (its
data there, one link: :func:`kept_upper_entry`), the same changes go
straight to that upper file (:func:`chmod_kept`, :func:`chown_kept`,
:func:`set_times_kept`): there is nothing to copy up and no cache of upper
metadata to refresh, and ``tar -x`` sets the times, owner and mode of every
file it makes. A link is never followed; any OS error takes the overlay's
way, which answers it as before.

:func:`stat_of` turns the overlay's ``Info`` into the ``st_*`` record a
``stat(2)`` caller expects, with the overlay's stable inode number.
"""

from __future__ import annotations

import os
import stat
import time
import typing

import fs.errors
from fs.info import Info

from ..overlay import OverlayFS
from . import identity

#: Namespaces :func:`stat_of` needs (not ``access``: its user and group names
#: cost two lookups in the password database per call, and ``stat`` has the ids).
STAT_NAMESPACES = ("details", "stat", "overlay")

#: ``tv_nsec`` values of ``utimensat(2)`` that mean "now" and "leave as it is".
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2

_NS = 1_000_000_000


def upper_syspath(overlay: OverlayFS, path: str) -> str | None:
    """Copy ``path`` up (metadata first, a link as a link) and return its upper OS path, if any."""
    if overlay.upper is None:
        raise fs.errors.ResourceReadOnly(path)
    overlay.setinfo(path, {})  # the copy-up keeps the inode number
    return overlay.upper_syspath(path)


def chmod(overlay: OverlayFS, path: str, mode: int) -> None:
    """Set the permission bits of ``path`` (``chmod(2)``) through ``setinfo``'s ``access``."""
    if upper_syspath(overlay, path) is None:
        raise fs.errors.Unsupported(path, msg="the upper layer has no OS paths to hold modes")
    overlay.setinfo(path, {"access": {"permissions": stat.S_IMODE(mode)}})


def chown(overlay: OverlayFS, path: str, uid: int, gid: int) -> None:
    """Set the owner and group of ``path`` (``-1`` leaves one as it is)."""
    overlay.setinfo(path, {"access": {"uid": uid, "gid": gid}})


def set_times(overlay: OverlayFS, path: str, atime_ns: int | None, mtime_ns: int | None) -> None:
    """Set access and modification times in nanoseconds (``utimensat(2)`` values).

    ``None`` means now; :data:`UTIME_NOW` and :data:`UTIME_OMIT` have their
    ``utimensat`` meaning.
    """
    syspath = upper_syspath(overlay, path)
    now = time.time_ns()
    if syspath is None:
        details = _raw(overlay.getinfo(path, ["details"]))["details"]
        old = (int((details.get("accessed") or 0) * _NS), int((details.get("modified") or 0) * _NS))
    else:
        found = os.lstat(syspath)
        old = (found.st_atime_ns, found.st_mtime_ns)
    wanted = (_time(atime_ns, old[0], now), _time(mtime_ns, old[1], now))
    if syspath is None:
        overlay.upper.setinfo(  # type: ignore[union-attr]
            overlay.validatepath(path),
            {"details": {"accessed": wanted[0] / _NS, "modified": wanted[1] / _NS}},
        )
    else:
        os.utime(syspath, ns=wanted, follow_symlinks=False)


def kept_upper_entry(overlay: OverlayFS, reusable: Reusable | None) -> str | None:
    """Return the upper OS path in ``reusable`` where a change of metadata may go straight there.

    ``reusable`` is :func:`fast_stat_reusable`'s second item, kept by the
    mount for a name it described: an entry the upper holds with its data
    and one link (or a directory). The overlay's ``setinfo`` would find the
    same file (no copy-up to make, no other name to tell, no cache of upper
    metadata to refresh), so ``chmod``, ``chown`` and ``utimens`` act on it
    directly (:func:`chmod_kept`, :func:`chown_kept`, :func:`set_times`).
    ``None`` (take the overlay's way) without a kept answer or on a
    read-only overlay (where the first layer is a lower).
    """
    if reusable is None or overlay.upper is None:
        return None
    return reusable[0]


def chmod_kept(syspath: str, mode: int) -> bool:
    """Set the permission bits of the kept upper entry ``syspath`` (:func:`kept_upper_entry`).

    Returns ``False`` (nothing done: take the overlay's way, which answers
    the same errors as ever) for a link, whose mode the overlay leaves
    alone (``chmod`` would follow it), and on any OS error.
    """
    try:
        if stat.S_ISLNK(os.lstat(syspath).st_mode):
            return False
        os.chmod(syspath, stat.S_IMODE(mode))
    except OSError:
        return False
    return True


def chown_kept(syspath: str, uid: int, gid: int) -> bool:
    """Set the owner and group of the kept upper entry ``syspath`` (``-1`` leaves one alone).

    Never follows a link. Returns ``False`` (take the overlay's way) on
    any OS error.
    """
    try:
        os.chown(syspath, uid, gid, follow_symlinks=False)
    except OSError:
        return False
    return True


def set_times_kept(syspath: str, atime_ns: int | None, mtime_ns: int | None) -> bool:
    """Set the times of the kept upper entry ``syspath`` as :func:`set_times` does.

    Returns ``False`` (take the overlay's way) on any OS error.
    """
    try:
        _set_upper_times(syspath, atime_ns, mtime_ns)
    except OSError:
        return False
    return True


def _set_upper_times(syspath: str, atime_ns: int | None, mtime_ns: int | None) -> None:
    """Set the times of an upper entry by its OS path, never following a link."""
    now = time.time_ns()
    found = os.lstat(syspath)
    wanted = (_time(atime_ns, found.st_atime_ns, now), _time(mtime_ns, found.st_mtime_ns, now))
    os.utime(syspath, ns=wanted, follow_symlinks=False)


def _raw(info: Info) -> dict[str, dict[str, typing.Any]]:
    """Return the raw namespaces of ``info``, typed for reading."""
    return typing.cast(typing.Dict[str, typing.Dict[str, typing.Any]], info.raw)


def _time(value: int | None, old: int, now: int) -> int:
    """Resolve one ``utimensat`` time against the old value and now."""
    if value is None or value == UTIME_NOW:
        return now
    if value == UTIME_OMIT:
        return old
    return value


def fast_stat(
    overlay: OverlayFS, path: str, owner: tuple[int, int], ino: int | None = None
) -> dict[str, typing.Any]:
    """Return the ``stat(2)`` record of ``path`` by one ``lstat`` of its layer file.

    The same record as :func:`stat_of` without building an ``Info``: this
    answers every ``getattr`` of the mount, and describes each entry of a
    ``readdirplus`` listing, which already knows the inode number ``ino``.
    Entries of layers without local files take the :func:`stat_of` way; a
    layer on local files without OS paths of its own (a ``LazyFS`` or an
    fsspec ``file://`` layer) is ``lstat``-ed too, so a symbolic link there
    is shown as a link, never as the file it leads to.
    """
    return fast_stat_reusable(overlay, path, owner, ino)[0]


#: Where an entry's record can be made again from one ``lstat``: its upper
#: OS path and its inode number (see :func:`fast_stat_reusable`).
Reusable = typing.Tuple[str, int]


def fast_stat_reusable(
    overlay: OverlayFS, path: str, owner: tuple[int, int], ino: int | None = None
) -> tuple[dict[str, typing.Any], Reusable | None]:
    """Return :func:`fast_stat`'s record and, where it can be made again alone, how.

    The second item is ``(upper OS path, inode number)`` for an entry the
    upper holds with its data and a single link (or a directory), looked
    up here (``ino`` not given): :func:`record_again` then gives the same
    record from one ``lstat``, as long as the name still leads there.
    ``None`` otherwise.
    """
    computed = ino is None
    if ino is None:  # the overlay's number: the copy-up and renames kept it
        backing, ino = overlay.which_with_ino(path)
    else:
        backing = overlay.which(path)
    syspath = backing.syspath
    if syspath is None:
        return stat_of(overlay.getinfo(path, STAT_NAMESPACES), owner), None
    found = os.lstat(syspath)
    if backing.index == 0:
        ino = identity.linked_ino(syspath, found, ino)
    size = found.st_size
    whole = (backing.data_index, backing.data_path) == (backing.index, backing.path)
    if not whole:
        size = overlay.getinfo(path, ["details"]).size
    reusable = computed and whole and backing.index == 0 and _single(found)
    return _record(found, ino, size), ((syspath, ino) if reusable else None)


def record_again(reusable: Reusable) -> dict[str, typing.Any] | None:
    """Return the record of an entry from :func:`fast_stat_reusable`'s second item.

    ``None`` where the upper entry is gone or now has several links (look
    it up again then).
    """
    syspath, ino = reusable
    try:
        found = os.lstat(syspath)
    except OSError:
        return None
    if not _single(found):
        return None
    return _record(found, ino, found.st_size)


def _single(found: os.stat_result) -> bool:
    """Tell whether an ``lstat`` result is a directory or has one link."""
    return found.st_nlink < 2 or stat.S_ISDIR(found.st_mode)


def _record(found: os.stat_result, ino: int, size: int) -> dict[str, typing.Any]:
    """Return the ``stat`` record of a layer entry's ``lstat`` under the overlay's ``ino``."""
    return {
        "st_ino": ino,
        "st_mode": found.st_mode,
        "st_nlink": found.st_nlink,
        "st_uid": found.st_uid,
        "st_gid": found.st_gid,
        "st_size": size,
        "st_atime": found.st_atime_ns,
        "st_mtime": found.st_mtime_ns,
        "st_ctime": found.st_ctime_ns,
        "st_blocks": (size + 511) // 512,
        "st_rdev": found.st_rdev,
    }


def stat_from_lstat(found: typing.Mapping[str, typing.Any], ino: int) -> dict[str, typing.Any]:
    """Return the ``stat(2)`` record of an entry from its layer's ``lstat`` namespace.

    What :func:`fast_stat` gives, for an entry whose bytes lie in the layer
    that holds it (not a metadata-only copy-up), listed with the ``lstat``
    namespace of an OS layer: ``readdirplus`` describes a whole directory
    this way without one more lookup per name.
    """
    size: int = found["st_size"]
    return {
        "st_ino": ino,
        "st_mode": found["st_mode"],
        "st_nlink": found["st_nlink"],
        "st_uid": found["st_uid"],
        "st_gid": found["st_gid"],
        "st_size": size,
        "st_atime": found["st_atime_ns"],
        "st_mtime": found["st_mtime_ns"],
        "st_rdev": found.get("st_rdev", 0),
        "st_ctime": found["st_ctime_ns"],
        "st_blocks": (size + 511) // 512,
    }


def overlay_ino(overlay: OverlayFS, path: str) -> int:
    """Return the overlay's own ``ino`` of ``path``.

    See :mod:`unionfs_lib.resolve.inode_numbers`. From one lookup, without
    building an ``Info``: a dangling or looping link (which a layer's
    ``getinfo`` follows) has its number too.
    """
    return overlay.which_with_ino(path)[1]


def stat_of(info: Info, owner: tuple[int, int]) -> dict[str, typing.Any]:
    """Return the ``stat(2)`` record of an overlay entry (times in nanoseconds).

    Layers with OS paths give their real mode, link count, owner and times;
    others get ``0o755``/``0o644`` (or the ``access`` permissions they keep),
    the mounting user as ``owner``, and their ``details`` times. ``st_ino`` is
    always the overlay's ``ino``, which copy-up and rename do not change.
    """
    raw = _raw(info)
    ino = raw["overlay"]["ino"]
    size = info.size if "details" in raw else 0
    found = raw.get("stat")
    if found and "st_mode" in found:
        return {
            "st_ino": ino,
            "st_mode": found["st_mode"],
            "st_nlink": found.get("st_nlink", 1),
            "st_uid": found.get("st_uid", owner[0]),
            "st_gid": found.get("st_gid", owner[1]),
            "st_size": size if stat.S_ISREG(found["st_mode"]) else found.get("st_size", 0),
            "st_atime": found.get("st_atime_ns", int(found.get("st_atime", 0) * _NS)),
            "st_mtime": found.get("st_mtime_ns", int(found.get("st_mtime", 0) * _NS)),
            "st_ctime": found.get("st_ctime_ns", int(found.get("st_ctime", 0) * _NS)),
            "st_blocks": (size + 511) // 512,
            "st_rdev": found.get("st_rdev", 0),
        }
    return _synthetic_stat(info, ino, size, owner)


def _synthetic_stat(
    info: Info, ino: int, size: int, owner: tuple[int, int]
) -> dict[str, typing.Any]:
    """Build a ``stat`` record for an entry of a layer without OS paths."""
    kind = stat.S_IFDIR if info.is_dir else stat.S_IFREG
    permissions = info.permissions if info.has_namespace("access") else None
    bits = permissions.mode if permissions is not None else (0o755 if info.is_dir else 0o644)
    details = _raw(info).get("details", {})
    modified = int((details.get("modified") or 0) * _NS)
    return {
        "st_ino": ino,
        "st_mode": kind | bits,
        "st_nlink": 2 if info.is_dir else 1,
        "st_uid": owner[0],
        "st_gid": owner[1],
        "st_size": size,
        "st_atime": int((details.get("accessed") or 0) * _NS) or modified,
        "st_mtime": modified,
        "st_ctime": int((details.get("metadata_changed") or 0) * _NS) or modified,
        "st_blocks": (size + 511) // 512,
    }
