"""The command line of ``unionfs-lib-mount``, in fuse-overlayfs's convention.

::

    unionfs-lib-mount [SOURCE] MOUNTPOINT -o lowerdir=A:B,upperdir=U,workdir=W[,OPTION...]
                      [-f] [-d] [-s] [-h] [-V]

Without ``SOURCE`` it is fuse-overlayfs's own form, the one podman and buildah
run as their ``mount_program`` (``-o lowerdir=...,upperdir=...,workdir=...
MERGED``); with it, the form ``mount -t fuse.unionfs-lib-mount SOURCE
MOUNTPOINT -o ...`` and an ``/etc/fstab`` line run through ``mount.fuse3``.
``lowerdir`` is top-most first, as for ``mount -t overlay``.

Every option of mount.fuse3(8) is accepted (:data:`OPTION_TABLE` says what
happens to each): the generic mount flags and libfuse's options go to FUSE
(``fsname=`` and ``subtype=`` replace the mount's own); options that only
``mount``, ``mount.fuse3`` or libfuse's own setup use are accepted and
ignored, and so are fuse-overlayfs's tuning options that change nothing a
caller sees (``volatile``, ``fsync=0``, ...); fuse-overlayfs options that
would change what the mount shows (``uidmapping=``, ``squash_to_root``, ...)
are refused. ``timeout=SECONDS`` sets the kernel's entry and attribute cache
time, ``readahead=KIB`` the mount's read-ahead window (0: the kernel's
default). Anything else is a usage error (:class:`UsageError`), reported
before anything is mounted.
"""

from __future__ import annotations

import math
import os
import textwrap
import typing

import attrs
import fs.errors

from ..frontend_api import number, split_lowerdirs, whole_number
from .readahead import DEFAULT_READAHEAD_KB

#: Flags handed to FUSE as they are: mount(8)'s generic flags, then libfuse's.
PASSED_TO_FUSE = frozenset({
    "ro", "rw", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "atime", "noatime",
    "sync", "async", "dirsync",
    "allow_other", "allow_root", "default_permissions", "auto_unmount", "kernel_cache",
    "auto_cache", "noauto_cache", "noforget",
})
#: Options with a value handed to FUSE as they are (mount.fuse3(8)).
VALUED_FOR_FUSE = frozenset({
    "fsname", "subtype", "uid", "gid", "umask", "entry_timeout", "attr_timeout",
    "negative_timeout", "ac_attr_timeout", "remember",
})
#: Accepted and ignored: options for ``mount``/``/etc/fstab`` and ``mount.fuse3``, options
#: libfuse sets itself, that need a block device or that the file system must negotiate
#: itself (``max_read=``), SELinux labels (the mount keeps FUSE's), thread settings (the
#: mount serves from one thread), and fuse-overlayfs's tuning (``volatile``, ``fsync=``:
#: the mount's writes are as durable as without them). libfuse 3 knows only ``atime``
#: and ``noatime`` of the access time flags: the others are ignored too.
IGNORED = frozenset({
    "defaults", "auto", "noauto", "nofail", "_netdev", "user", "users", "nouser", "owner",
    "group", "comment", "setuid", "drop_privileges",
    "blkdev", "blksize", "max_read", "rootmode", "fd", "user_id", "group_id",
    "context", "fscontext", "defcontext", "rootcontext",
    "relatime", "norelatime", "strictatime", "nostrictatime", "diratime", "nodiratime",
    "lazytime", "nolazytime",
    "clone_fd", "max_idle_threads", "max_threads",
    "volatile", "fsync", "noacl", "threaded", "fast_ino", "writeback", "static_nlink",
})
#: Prefix of the userspace options of ``/etc/fstab`` (``x-systemd.automount``): ignored.
IGNORED_PREFIX = "x-"
#: fuse-overlayfs options that would change what the mount shows: refused, never ignored.
UNSUPPORTED = frozenset({
    "uidmapping", "gidmapping", "squash_to_root", "squash_to_uid", "squash_to_gid", "plugins",
    "xattr_permissions", "noxattrs", "modules",
})
#: Options that turn a default of the mount off (``noallow_other``: see :func:`access_options`).
NEGATED = frozenset({"noallow_other"})
#: Options that take a value.
_VALUED = frozenset({"lowerdir", "upperdir", "workdir", "timeout", "readahead"})
#: Valued options that do not name layers (also for ``unionfs-lib mount``).
_TUNING = frozenset({"timeout", "readahead"})
#: Default kernel cache time for entries and attributes, in seconds.
DEFAULT_TIMEOUT = 3600.0
#: The longest cache time accepted, in seconds (about 136 years).
MAX_TIMEOUT = float(1 << 32)
#: The widest read-ahead window accepted, in KiB (1 GiB).
MAX_READAHEAD_KB = 1 << 20
#: ``SOURCE`` when the command line names none (fuse-overlayfs's form).
DEFAULT_SOURCE = "overlay"

#: What happens to each kind of option, for ``--help`` and the documentation.
OPTION_TABLE = (
    ("lowerdir=A:B", "the lower directories, top-most first (required; \\: escapes a colon)"),
    ("upperdir=U,workdir=W", "the upper and work directories (both or neither: read-only)"),
    ("ro, rw", "read-only (writes fail with EROFS, an upper is shown, never written) or not"),
    ("timeout=SECONDS", f"the kernel's cache time of names and attributes "
                        f"(default {DEFAULT_TIMEOUT:g})"),
    ("readahead=KIB", f"the read-ahead window (default {DEFAULT_READAHEAD_KB}; 0: the kernel's)"),
    ("noallow_other", "a mount started by root serves root alone (by default it adds "
                      "allow_other and serves every user, the kernel checking permissions)"),
    ("passed to FUSE", ", ".join(sorted(PASSED_TO_FUSE - {"ro", "rw"}))
     + ", " + ", ".join(f"{key}=" for key in sorted(VALUED_FOR_FUSE))),
    ("accepted and ignored", ", ".join(sorted(IGNORED)) + f", {IGNORED_PREFIX}*"),
    ("refused", ", ".join(sorted(UNSUPPORTED))),
)


class UsageError(ValueError):
    """The command line cannot be understood; the message says why, on one line."""


@attrs.frozen
class MountRequest:
    """What the command line asks for.

    Attributes:
        source: the ``SOURCE`` argument (``overlay`` if none is given; shown as
            the file system name in ``/proc/mounts`` unless ``fsname=`` says
            otherwise).
        mountpoint: the directory to mount on (absolute).
        lowerdirs: the lower directories, top-most first (absolute).
        upperdir: the upper directory, or ``None`` for a read-only overlay.
        workdir: the work directory beside ``upperdir``.
        read_only: mount read-only (``ro``): writes fail with ``EROFS``.
        fuse_options: options passed to FUSE, as given (``allow_other``,
            ``fsname=NAME``, ...).
        foreground: stay in the foreground (``-f``).
        debug: print every FUSE request (``-d``, implies ``-f``).
        timeout: the kernel's entry and attribute cache time, in seconds
            (finite, 0 to :data:`MAX_TIMEOUT`).
        readahead_kb: the mount's read-ahead window in KiB (0: the kernel's;
            at most :data:`MAX_READAHEAD_KB`).
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
    timeout: float = attrs.field(default=DEFAULT_TIMEOUT, validator=number(0, MAX_TIMEOUT))
    readahead_kb: int = attrs.field(
        default=DEFAULT_READAHEAD_KB, validator=whole_number(0, MAX_READAHEAD_KB)
    )


def parse_args(argv: typing.Sequence[str]) -> MountRequest:
    """Parse ``[SOURCE] MOUNTPOINT [-o OPTIONS]... [-f] [-d] [-s]``; raise :class:`UsageError`."""
    positional: list[str] = []
    option_text: list[str] = []
    flags: set[str] = set()
    for kind, argument in _arguments(argv):
        if kind == "-o":
            option_text.append(argument)
        elif kind == "flag":
            flags.add(argument)
        else:
            positional.append(argument)
    if len(positional) not in (1, 2):
        raise UsageError(f"usage: {USAGE}")
    source = positional[0] if len(positional) == 2 else DEFAULT_SOURCE
    request = parse_options(",".join(option_text), source, positional[-1])
    debug = "-d" in flags or request.debug
    return attrs.evolve(request, foreground="-f" in flags or debug, debug=debug)


#: The first line of ``--help`` and of a usage error.
USAGE = "unionfs-lib-mount [SOURCE] MOUNTPOINT -o lowerdir=A[:B],upperdir=U,workdir=W[,...]"
#: Flags of the command line: ``-f`` foreground, ``-d`` debug, ``-s`` single-threaded
#: (always so), ``-h``/``--help``, ``-V``/``--version``.
_FLAGS = frozenset({"-f", "-d", "-s", "-h", "--help", "-V", "--version"})


def _arguments(argv: typing.Sequence[str]) -> typing.Iterator[tuple[str, str]]:
    """Yield ``("-o", options)``, ``("flag", flag)`` or ``("positional", word)`` for ``argv``."""
    arguments = iter(argv)
    for argument in arguments:
        if argument == "-o":
            value = next(arguments, "")
            if not value:
                raise UsageError("-o needs a value")
            yield "-o", value
        elif argument.startswith("-o"):
            yield "-o", argument[2:]
        elif argument in _FLAGS:
            yield "flag", argument
        elif argument.startswith("-"):
            raise UsageError(f"unknown flag {argument!r}")
        else:
            yield "positional", argument


def info_flag(argv: typing.Sequence[str]) -> str | None:
    """Return ``"help"`` or ``"version"`` if ``argv`` asks for it (the first such flag wins)."""
    try:
        for kind, argument in _arguments(argv):
            if kind == "flag" and argument in ("-h", "--help"):
                return "help"
            if kind == "flag" and argument in ("-V", "--version"):
                return "version"
    except UsageError:
        return None
    return None


def help_text() -> str:
    """Return what ``unionfs-lib-mount --help`` prints."""
    lines = [
        f"usage: {USAGE}",
        "",
        "Mount an overlay of directories with FUSE (fuse-overlayfs's command line).",
        "Without SOURCE it is the form podman and buildah run as mount_program;",
        "mount -t fuse.unionfs-lib-mount SOURCE MOUNTPOINT -o ... runs it with one.",
        "",
        "  -o OPTIONS     comma-separated mount options (repeatable), below",
        "  -f             stay in the foreground",
        "  -d             print every FUSE request (implies -f; also -o debug)",
        "  -s             single-threaded (always so; accepted)",
        "  -h, --help     print this help",
        "  -V, --version  print the version",
        "",
        "options:",
    ]
    for name, meaning in OPTION_TABLE:
        lines.append(f"  {name}")
        lines.extend(textwrap.wrap(meaning, 78, initial_indent=" " * 6, subsequent_indent=" " * 6))
    return "\n".join(lines)


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
    debug = False
    negated: set[str] = set()
    for item in split_options(text):
        key, has_value, value = item.partition("=")
        if key in _VALUED and (layers or key in _TUNING):
            if not has_value or not value:
                raise UsageError(f"option {key!r} needs a value")
            values[key] = value
        elif key == "debug" and not has_value:
            debug = True
        elif key in NEGATED and not has_value:
            negated.add(key)
        elif _for_fuse(key, bool(has_value), value):
            passed.append(item)
        elif key in UNSUPPORTED:
            raise UsageError(f"mount option {key!r} is not supported by unionfs-lib-mount")
        elif key not in IGNORED and not key.startswith(IGNORED_PREFIX):
            raise UsageError(f"unknown mount option {item!r}")
    if layers and "lowerdir" not in values:
        raise UsageError("missing lowerdir=")
    if ("upperdir" in values) != ("workdir" in values):
        raise UsageError("upperdir= and workdir= go together")
    if "allow_other" in passed and "allow_root" in passed:
        raise UsageError("allow_other and allow_root exclude each other")
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
        debug=debug,
    )


def _for_fuse(key: str, has_value: bool, value: str) -> bool:
    """Tell whether an option goes to FUSE as it is (a valued one needs its value)."""
    if key in PASSED_TO_FUSE:
        return not has_value
    if key in VALUED_FOR_FUSE:
        if not has_value or not value:
            raise UsageError(f"option {key!r} needs a value")
        if "," in value:
            raise UsageError(f"the value of option {key!r} cannot hold a comma")
        return True
    return False


def split_options(text: str) -> list[str]:
    """Split a ``-o`` list at its commas, except those inside double quotes.

    SELinux labels are written ``context="user:role:type:s0:c1,c2"``, as
    mount(8) and podman write them.
    """
    items: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item for item in items if item]


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
    return _bounded("timeout", text, float, DEFAULT_TIMEOUT, MAX_TIMEOUT, "a number of seconds")


def _readahead(text: str | None) -> int:
    """Parse ``readahead=KIB``."""
    return _bounded(
        "readahead", text, int, DEFAULT_READAHEAD_KB, MAX_READAHEAD_KB, "a whole number of KiB"
    )


def _bounded(
    key: str,
    text: str | None,
    kind: typing.Callable[[str], _Number],
    default: _Number,
    high: _Number,
    what: str,
) -> _Number:
    """Parse the value of option ``key`` with ``kind``: ``default`` if absent, 0 to ``high``.

    ``nan`` and infinities are refused (a cache time of ``inf`` is no number
    FUSE can hold).
    """
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise UsageError(f"{key}={text!r} is not {what}") from None
    if value < 0:
        raise UsageError(f"{key}= cannot be negative")
    if not math.isfinite(value) or value > high:
        raise UsageError(f"{key}={text!r} is not {what} from 0 to {high}")
    return value
