"""The kernel's read-ahead window and the splice capabilities of a FUSE mount.

A FUSE mount reads ahead 128 KiB by default (the backing device's
``read_ahead_kb``), so a sequential read of a large file arrives as one
``READ`` request per 128 KiB, and each request costs the daemon a call into
Python. :func:`set_readahead` widens the window of one mount (root only:
``/sys/class/bdi/MAJOR:MINOR/read_ahead_kb``); the kernel then asks for up to
that much per request (libfuse 3 lets a request carry 1 MiB). The mount is
found through ``/proc/self/mountinfo``, never by ``stat`` of the mount point,
which would ask the very daemon that calls this; and the window is set once
the kernel has read the reply to ``INIT``, which would narrow it again.

:data:`SPLICE_CAPABILITIES` are the libfuse capabilities fuse-overlayfs also
asks for: replies to reads are spliced from the layer file's descriptor into
the FUSE device, so libfuse needs no buffer per request and makes no copy.
Read replies larger than the splice pipe (1 MiB by default) fall back to a
buffer, and so does every reply where splicing is unavailable; the default
window (:data:`DEFAULT_READAHEAD_KB`) stays well below that.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

#: The read-ahead window this mount asks the kernel for, in KiB (0: the kernel's own).
DEFAULT_READAHEAD_KB = 256

#: libfuse 3's ``FUSE_CAP_SPLICE_WRITE`` and ``FUSE_CAP_SPLICE_MOVE``.
SPLICE_CAPABILITIES = (1 << 7) | (1 << 8)


def _unescaped(field: str) -> str:
    r"""Undo ``/proc/self/mountinfo``'s octal escapes (``\040`` for a space)."""
    return os.fsdecode(os.fsencode(field).decode("unicode_escape").encode("latin-1"))


def mount_device(mountpoint: str) -> str | None:
    """Return the ``MAJOR:MINOR`` of the last FUSE mount on ``mountpoint`` (absolute).

    The path is not resolved: that would ``lstat`` the mount itself.
    """
    wanted = os.path.normpath(mountpoint)
    found = None
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as table:
            for line in table:
                fields = line.split()
                kind = fields[fields.index("-") + 1] if "-" in fields else ""
                if kind.startswith("fuse") and _unescaped(fields[4]) == wanted:
                    found = fields[2]
    except (OSError, ValueError, IndexError):
        return None
    return found


def set_readahead(mountpoint: str, kib: int) -> bool:
    """Set the read-ahead window of the FUSE mount on ``mountpoint`` to ``kib`` KiB.

    Returns whether it was set; a process that may not (not root, no
    ``/sys``) leaves the kernel's default, which only costs speed.
    """
    device = mount_device(mountpoint) if kib > 0 else None
    if device is None:
        return False
    try:
        with open(f"/sys/class/bdi/{device}/read_ahead_kb", "w") as control:
            control.write(f"{kib}\n")
    except OSError as error:
        log.debug("read-ahead of %s left as it is: %s", mountpoint, error)
        return False
    return True


def wanted_capabilities(capable: int) -> int:
    """Return the capabilities to add to libfuse's ``want``, of those the kernel offers."""
    return capable & SPLICE_CAPABILITIES


__all__ = [
    "DEFAULT_READAHEAD_KB",
    "SPLICE_CAPABILITIES",
    "mount_device",
    "set_readahead",
    "wanted_capabilities",
]
