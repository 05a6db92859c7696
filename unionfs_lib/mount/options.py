"""The command line of ``unionfs-lib-mount``, in fuse-overlayfs's convention.

::

    unionfs-lib-mount SOURCE MOUNTPOINT -o lowerdir=A:B,upperdir=U,workdir=W[,ro][,allow_other]
                      [-f] [-d]

which is also what ``mount -t fuse.unionfs-lib-mount SOURCE MOUNTPOINT -o ...``
and an ``/etc/fstab`` line run through ``mount.fuse3``. ``lowerdir`` is
top-most first, as for ``mount -t overlay``. Generic mount options (``ro``,
``rw``, ``allow_other``, ``nosuid``, ...) go to FUSE; ``timeout=SECONDS``
sets the kernel's entry and attribute cache time, ``readahead=KIB`` the
mount's read-ahead window (0: the kernel's default). Anything else is a
usage error (:class:`UsageError`), reported before anything is mounted.
"""

from __future__ import annotations

import os
import typing

import attrs
import fs.errors

from ..kernel_mount import split_lowerdirs
from .readahead import DEFAULT_READAHEAD_KB

#: Options handed to FUSE as they are.
PASSED_TO_FUSE = frozenset({
    "ro", "rw", "allow_other", "allow_root", "default_permissions", "dev", "nodev", "suid",
    "nosuid", "exec", "noexec", "atime", "noatime", "relatime", "nodiratime", "sync", "async",
    "dirsync",
})
#: Options that turn a default of the mount off (``noallow_other``: see :func:`access_options`).
NEGATED = frozenset({"noallow_other"})
#: Options meant for ``mount`` itself (``/etc/fstab``), accepted and ignored.
IGNORED = frozenset({"defaults", "auto", "noauto", "nofail", "_netdev", "user", "users"})
#: Options that take a value.
_VALUED = frozenset({"lowerdir", "upperdir", "workdir", "timeout", "readahead"})
#: Valued options that do not name layers (also for ``unionfs-lib mount``).
_TUNING = frozenset({"timeout", "readahead"})
#: Default kernel cache time for entries and attributes, in seconds.
DEFAULT_TIMEOUT = 3600.0


class UsageError(ValueError):
    """The command line cannot be understood; the message says why, on one line."""


@attrs.frozen
class MountRequest:
    """What the command line asks for.

    Attributes:
        source: the first argument (``overlay`` by convention; shown as the
            file system name in ``/proc/mounts``).
        mountpoint: the directory to mount on (absolute).
        lowerdirs: the lower directories, top-most first (absolute).
        upperdir: the upper directory, or ``None`` for a read-only overlay.
        workdir: the work directory beside ``upperdir``.
        read_only: mount read-only (``ro``): writes fail with ``EROFS``.
        fuse_options: generic mount options passed to FUSE.
        foreground: stay in the foreground (``-f``).
        debug: print every FUSE request (``-d``, implies ``-f``).
        timeout: the kernel's entry and attribute cache time, in seconds.
        readahead_kb: the mount's read-ahead window in KiB (0: the kernel's).
    """

    source: str
    mountpoint: str
    lowerdirs: tuple[str, ...] = ()
    upperdir: str | None = None
    workdir: str | None = None
    read_only: bool = False
    fuse_options: tuple[str, ...] = ()
    foreground: bool = False
    debug: bool = False
    timeout: float = DEFAULT_TIMEOUT
    readahead_kb: int = DEFAULT_READAHEAD_KB


def parse_args(argv: typing.Sequence[str]) -> MountRequest:
    """Parse ``SOURCE MOUNTPOINT [-o OPTIONS]... [-f] [-d]``; raise :class:`UsageError`."""
    positional: list[str] = []
    option_text: list[str] = []
    flags: set[str] = set()
    arguments = iter(argv)
    for argument in arguments:
        if argument == "-o":
            option_text.append(next(arguments, ""))
            if not option_text[-1]:
                raise UsageError("-o needs a value")
        elif argument.startswith("-o"):
            option_text.append(argument[2:])
        elif argument in ("-f", "-d"):
            flags.add(argument)
        elif argument.startswith("-"):
            raise UsageError(f"unknown flag {argument!r}")
        else:
            positional.append(argument)
    if len(positional) != 2:
        raise UsageError("usage: unionfs-lib-mount SOURCE MOUNTPOINT -o lowerdir=A[:B],...")
    request = parse_options(",".join(option_text), positional[0], positional[1])
    return attrs.evolve(request, foreground="-f" in flags or "-d" in flags, debug="-d" in flags)


def parse_options(
    text: str, source: str, mountpoint: str, *, layers: bool = True
) -> MountRequest:
    """Parse the ``-o`` list of a mount.

    With ``layers`` (``unionfs-lib-mount``) ``lowerdir=`` is required; without
    (``unionfs-lib mount OVERLAY_URL``, whose URL names the layers) the layer
    options are refused.
    """
    values: dict[str, str] = {}
    passed: list[str] = []
    negated: set[str] = set()
    for item in filter(None, text.split(",")):
        key, has_value, value = item.partition("=")
        if key in _VALUED and (layers or key in _TUNING):
            if not has_value or not value:
                raise UsageError(f"option {key!r} needs a value")
            values[key] = value
        elif key in PASSED_TO_FUSE and not has_value:
            passed.append(key)
        elif key in NEGATED and not has_value:
            negated.add(key)
        elif key not in IGNORED:
            raise UsageError(f"unknown mount option {item!r}")
    if layers and "lowerdir" not in values:
        raise UsageError("missing lowerdir=")
    if ("upperdir" in values) != ("workdir" in values):
        raise UsageError("upperdir= and workdir= go together")
    modes = [option for option in passed if option in ("ro", "rw")]
    passed = access_options(passed, negated)
    return MountRequest(
        source=source,
        mountpoint=os.path.abspath(mountpoint),
        lowerdirs=_lowerdirs(values["lowerdir"]) if layers else (),
        upperdir=_absolute(values.get("upperdir")),
        workdir=_absolute(values.get("workdir")),
        read_only=modes[-1:] == ["ro"],
        fuse_options=tuple(option for option in passed if option not in ("ro", "rw")),
        timeout=_timeout(values.get("timeout")),
        readahead_kb=_readahead(values.get("readahead")),
    )


def access_options(passed: list[str], negated: typing.Collection[str]) -> list[str]:
    """Add ``allow_other`` to the FUSE options of a mount started by root, as a default.

    A kernel overlay (``mount -t overlay``) serves every user, the kernel
    checking each one's permissions; a FUSE mount serves only the user who
    mounted it unless ``allow_other`` is given. Run by root, the daemon
    therefore adds ``allow_other`` (the kernel still checks modes and owners
    for everyone: the daemon always mounts with ``default_permissions``), so
    a root mount behaves as the kernel's. ``noallow_other`` keeps the mount
    to root alone (and wins over an ``allow_other`` in the same list), and
    ``allow_root`` (its own choice) is left as it is.
    Other users' mounts are unchanged: FUSE lets them give ``allow_other``
    only where ``/etc/fuse.conf`` says ``user_allow_other``.
    """
    if "noallow_other" in negated:
        return [option for option in passed if option != "allow_other"]
    if os.geteuid() != 0 or "allow_other" in passed or "allow_root" in passed:
        return passed
    return [*passed, "allow_other"]


def _lowerdirs(text: str) -> tuple[str, ...]:
    r"""Split ``lowerdir=`` as the kernel does (``\:`` escapes a colon), made absolute."""
    try:
        parts = split_lowerdirs(text)
    except fs.errors.FSError as error:
        raise UsageError(str(error)) from None
    return tuple(os.path.abspath(path) for path in parts)


def _absolute(path: str | None) -> str | None:
    """Return ``path`` absolute (the daemon changes directory to ``/``)."""
    return None if path is None else os.path.abspath(path)


_Number = typing.TypeVar("_Number", int, float)


def _timeout(text: str | None) -> float:
    """Parse ``timeout=SECONDS``."""
    return _non_negative("timeout", text, float, DEFAULT_TIMEOUT, "a number of seconds")


def _readahead(text: str | None) -> int:
    """Parse ``readahead=KIB``."""
    return _non_negative("readahead", text, int, DEFAULT_READAHEAD_KB, "a whole number of KiB")


def _non_negative(
    key: str, text: str | None, kind: typing.Callable[[str], _Number], default: _Number, what: str
) -> _Number:
    """Parse the value of option ``key`` with ``kind``: ``default`` if absent, never negative."""
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise UsageError(f"{key}={text!r} is not {what}") from None
    if value < 0:
        raise UsageError(f"{key}= cannot be negative")
    return value
