"""Which kernel caching and data paths the libfuse and kernel of this machine allow.

The mount asks the kernel to cache directory listings (``cache_readdir`` and
``keep_cache`` set by ``opendir``): libfuse's high-level API passes those
flags on to the kernel only from libfuse 3.16 on (libfuse issue 821; 3.14,
Debian 12's, drops them, and the kernel then lists a directory anew at each
``opendir``). :func:`directory_cache_refusal` tells which case applies.

FUSE passthrough (reads and writes of an open file handed by the kernel
straight to a backing file, without the daemon) needs libfuse 3.17
(``backing_id`` in ``fuse_file_info``, ``FUSE_CAP_PASSTHROUGH``), Linux 6.9
and ``CAP_SYS_ADMIN`` for the daemon. :func:`passthrough_refusal` checks
these in that order and says which is missing; where it returns ``None`` the
mount opens files with a host descriptor in passthrough mode
(:mod:`.passthrough`, which also reports what ``init`` and the kernel said).

Each answer is a one-line reason such as ``"unavailable: libfuse 3.14 <
3.17"``, or ``None`` when the feature can be used.
"""

from __future__ import annotations

import os
import platform
import re
import typing

#: The first libfuse whose high-level API hands opendir's cache flags to the kernel.
DIRECTORY_CACHE_LIBFUSE = (3, 16)
#: The first libfuse and Linux with FUSE passthrough.
PASSTHROUGH_LIBFUSE = (3, 17)
PASSTHROUGH_KERNEL = (6, 9)

Version = typing.Tuple[int, int]


def libfuse_version() -> Version | None:
    """Return the ``(major, minor)`` of the libfuse mfusepy loaded, or ``None`` without one."""
    try:
        import mfusepy
    except (ImportError, OSError):
        return None
    return int(mfusepy.fuse_version_major), int(mfusepy.fuse_version_minor)


def kernel_version(release: str | None = None) -> Version | None:
    """Return the ``(major, minor)`` of the running Linux kernel (or of ``release``)."""
    if release is None:
        if not platform.system() == "Linux":
            return None
        release = platform.release()
    found = re.match(r"(\d+)\.(\d+)", release)
    return (int(found.group(1)), int(found.group(2))) if found else None


def _shown(version: Version) -> str:
    """Format a version as ``3.14``."""
    return f"{version[0]}.{version[1]}"


def directory_cache_refusal(libfuse: Version | None = None) -> str | None:
    """Return why the kernel cannot cache the mount's directory listings, or ``None``.

    ``libfuse`` defaults to the loaded library's version.
    """
    found = libfuse if libfuse is not None else libfuse_version()
    if found is None:
        return "unavailable: no libfuse"
    if found < DIRECTORY_CACHE_LIBFUSE:
        return (f"unavailable: libfuse {_shown(found)} < {_shown(DIRECTORY_CACHE_LIBFUSE)} "
                "(its high-level API drops opendir's cache flags)")
    return None


def passthrough_refusal(
    libfuse: Version | None = None,
    kernel: Version | None = None,
    privileged: bool | None = None,
) -> str | None:
    """Return why FUSE passthrough cannot be used here, or ``None`` if it can.

    The arguments default to this machine's libfuse, kernel and whether
    this process is root (passthrough needs ``CAP_SYS_ADMIN``).
    """
    found = libfuse if libfuse is not None else libfuse_version()
    if found is None:
        return "unavailable: no libfuse"
    if found < PASSTHROUGH_LIBFUSE:
        return f"unavailable: libfuse {_shown(found)} < {_shown(PASSTHROUGH_LIBFUSE)}"
    running = kernel if kernel is not None else kernel_version()
    if running is None or running < PASSTHROUGH_KERNEL:
        shown = _shown(running) if running is not None else "unknown"
        return f"unavailable: kernel {shown} < {_shown(PASSTHROUGH_KERNEL)}"
    if not (privileged if privileged is not None else os.geteuid() == 0):
        return "unavailable: the daemon lacks CAP_SYS_ADMIN (not root)"
    return None


__all__ = [
    "DIRECTORY_CACHE_LIBFUSE",
    "PASSTHROUGH_KERNEL",
    "PASSTHROUGH_LIBFUSE",
    "directory_cache_refusal",
    "kernel_version",
    "libfuse_version",
    "passthrough_refusal",
]
