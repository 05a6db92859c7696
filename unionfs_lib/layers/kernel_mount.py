"""Opening directories as ``mount -t overlay`` would: options, checks, mountinfo.

This is the kernel layout's ``params.c``: the ``lowerdir=`` option's syntax
(:func:`split_lowerdirs`), the checks ``mount`` makes before it mounts
(:func:`check_dirs`: directories exist and do not overlap), the refusal of an
upperdir or workdir that a mounted kernel overlay is using (read from
``/proc/self/mountinfo``, :func:`mounted_overlay_using`), and
:func:`from_dirs`, which ``OverlayFS.from_dirs`` calls.
"""

from __future__ import annotations

import os
import re
import typing

import fs.errors

from ..host.long_paths import LongPathOSFS
from ..host.workdir import UpperDirFS
from ..stores.kernel_whiteouts import KernelWhiteouts

T = typing.TypeVar("T")
#: A directory given as a string or a path object.
StrPath = typing.Union[str, "os.PathLike[str]"]


def _escape(text: str) -> str:
    """Protect braces from ``fs.errors`` message formatting."""
    return text.replace("{", "{{").replace("}", "}}")


def split_lowerdirs(lowerdirs: StrPath | typing.Sequence[StrPath]) -> list[str]:
    r"""Return the lower directories, top-most first.

    A string is split on ``:`` like the ``lowerdir=`` mount option (``\:``
    escapes a colon in a name); a sequence is taken as it is. The kernel's
    data-only lower layers (``::``) are refused with ``CreateFailed``.
    """
    if isinstance(lowerdirs, (str, os.PathLike)):
        text = os.fspath(lowerdirs)
        parts: list[str] = []
        current = ""
        index = 0
        while index < len(text):
            char = text[index]
            if char == "\\" and index + 1 < len(text):
                current += text[index + 1]
                index += 2
                continue
            if char == ":":
                parts.append(current)
                current = ""
            else:
                current += char
            index += 1
        parts.append(current)
        if "" in parts[1:-1]:
            raise fs.errors.CreateFailed(
                _escape(f"data-only lower layers ('::' in {text!r}) are not supported")
            )
        return [part for part in parts if part]
    return [os.fspath(part) for part in lowerdirs]


def _directory(path: StrPath, role: str) -> str:
    """Return the absolute real path of directory ``path`` or raise ``CreateFailed``."""
    real = os.path.realpath(path)
    if not os.path.isdir(real):
        raise fs.errors.CreateFailed(_escape(f"{role} {os.fspath(path)!r} is not a directory"))
    return real


def _overlaps(first: str, second: str) -> bool:
    """Tell whether one directory is the other or lies inside it."""
    return first == second or first.startswith(second + os.sep) or second.startswith(
        first + os.sep
    )


def check_dirs(lowers: list[str], upperdir: str | None, workdir: str | None) -> None:
    """Refuse what the kernel refuses at mount time, with its reasons.

    At least one lower; upperdir needs workdir; upperdir and workdir are
    separate subtrees on the same filesystem; no layer overlaps another
    writable one.
    """
    if not lowers:
        raise fs.errors.CreateFailed("missing 'lowerdir': an overlay needs at least one lower")
    if upperdir is None:
        return
    if workdir is None:
        raise fs.errors.CreateFailed("missing 'workdir': an upperdir needs a workdir beside it")
    if _overlaps(upperdir, workdir):
        raise fs.errors.CreateFailed(
            _escape(f"workdir {workdir!r} and upperdir {upperdir!r} must be separate subtrees")
        )
    if os.stat(upperdir).st_dev != os.stat(workdir).st_dev:
        raise fs.errors.CreateFailed(
            _escape(f"workdir {workdir!r} and upperdir {upperdir!r} must be on the same filesystem")
        )
    for lower in lowers:
        for writable, role in ((upperdir, "upperdir"), (workdir, "workdir")):
            if _overlaps(lower, writable):
                raise fs.errors.CreateFailed(
                    _escape(f"lowerdir {lower!r} overlaps {role} {writable!r}")
                )


def mounted_overlay_using(path: str, mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """Return the mount point of a kernel overlay whose upperdir or workdir is ``path``.

    The kernel refuses to mount an upperdir or workdir that another overlay
    uses ("in-use"), and an upper must not change under a mounted overlay;
    :func:`from_dirs` refuses the same way. ``None`` if there is none (or no
    ``/proc``).
    """
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as table:
            lines = table.read().splitlines()
    except OSError:
        return None
    wanted = {f"upperdir={path}", f"workdir={path}"}
    for line in lines:
        fields = line.split(" - ", 1)
        if len(fields) != 2:
            continue
        tail = fields[1].split(" ")
        if len(tail) < 3 or tail[0] != "overlay":
            continue
        options = {_unescape_mount(option) for option in tail[2].split(",")}
        if options & wanted:
            return _unescape_mount(fields[0].split(" ")[4])
    return None


def _unescape_mount(text: str) -> str:
    r"""Undo the octal escapes of ``/proc/self/mountinfo`` (``\040`` for a space)."""
    if "\\" not in text:
        return text
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), text)


class LongPathUpperDirFS(LongPathOSFS, UpperDirFS):
    """An :class:`~unionfs_lib.host.workdir.UpperDirFS` reaching entries past ``PATH_MAX``.

    See :mod:`unionfs_lib.host.long_paths`; :func:`from_dirs` opens the upper with it.
    """


def from_dirs(
    cls: typing.Callable[..., T],
    lowerdirs: StrPath | typing.Sequence[StrPath],
    upperdir: StrPath | None = None,
    workdir: StrPath | None = None,
    **options: typing.Any,
) -> T:
    """Open an overlay of directories as ``mount -t overlay`` would (see ``OverlayFS.from_dirs``).

    Directories are strings or path objects (``os.PathLike``), their names
    taken literally (no ``$VAR`` or ``~`` expansion). ``options`` go to
    ``OverlayFS`` (``whiteouts``, ``copy_up``, ``readdir``, ``auto_close``),
    plus ``userxattr`` for the default store. Without an upperdir the overlay
    is read-only and workdir is ignored, as the kernel ignores it.
    """
    userxattr = bool(options.pop("userxattr", False))
    store = options.pop("whiteouts", None)
    if store is None:
        store = KernelWhiteouts(userxattr=userxattr)
    elif userxattr:
        raise TypeError("pass userxattr to KernelWhiteouts, not beside a whiteouts store")
    lowers = [_directory(path, "lowerdir") for path in split_lowerdirs(lowerdirs)]
    upper_path = _directory(upperdir, "upperdir") if upperdir is not None else None
    work_path = (
        _directory(workdir, "workdir") if workdir is not None and upper_path is not None else None
    )
    check_dirs(lowers, upper_path, work_path)
    for path, role in ((upper_path, "upperdir"), (work_path, "workdir")):
        mount_point = mounted_overlay_using(path) if path is not None else None
        if mount_point is not None:
            raise fs.errors.CreateFailed(
                _escape(f"{role} {path!r} is in use by the overlay mounted at {mount_point!r}")
            )
    upper: UpperDirFS | None = None  # the layers reach entries past PATH_MAX (long_paths)
    if upper_path is not None and work_path is not None:
        upper = LongPathUpperDirFS(upper_path, work_path)
        if isinstance(store, KernelWhiteouts):
            store.probe(upper.getsyspath(upper.work_path))
    lower_layers = [LongPathOSFS(path, expand_vars=False) for path in lowers]  # taken literally
    return cls(upper, lower_layers, whiteouts=store, **options)


__all__ = [
    "LongPathUpperDirFS",
    "check_dirs",
    "from_dirs",
    "mounted_overlay_using",
    "split_lowerdirs",
]
