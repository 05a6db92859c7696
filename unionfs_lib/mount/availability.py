"""Whether this machine can mount with FUSE, and if not, why.

:func:`fuse_refusal` answers once per process by checking the pieces (the
mfusepy binding and libfuse 3, ``/dev/fuse``, ``fusermount3``) and then
mounting an empty overlay for real, since containers often refuse the mount
itself.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile


@functools.lru_cache(maxsize=1)
def fuse_refusal() -> str | None:
    """Return why a FUSE mount cannot be made here, or ``None`` if it can."""
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as error:
        hint = "pip install unionfs-lib[mount]; apt-get install fuse3"
        return f"FUSE binding unavailable ({hint}): {error}"
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing (no FUSE in this kernel or container)"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is missing (Debian: apt-get install fuse3)"
    return _probe_mount()


def _probe_mount() -> str | None:
    """Mount and unmount an empty overlay; return the failure, if any."""
    from fs.tempfs import TempFS

    from ..overlay import OverlayFS
    from .daemon import MountError, mount_in_thread

    with tempfile.TemporaryDirectory(prefix="unionfs-fuse-probe-") as mountpoint:
        try:
            mounted = mount_in_thread(OverlayFS(TempFS(), [TempFS()]), mountpoint, ready_within=10)
        except MountError as error:
            return f"FUSE mount refused on this machine: {error}"
        mounted.unmount()
    return None
