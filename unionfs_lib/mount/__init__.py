"""Mount an overlay with FUSE so that any process can use it.

Needs the ``mount`` extra (``pip install unionfs-lib[mount]``: mfusepy) and
libfuse 3 (Debian: ``apt-get install fuse3``). See ``docs/mount.rst``.

* :func:`~unionfs_lib.mount.daemon.serve` mounts an ``OverlayFS`` and serves
  it until unmounted; :func:`~unionfs_lib.mount.daemon.mount_in_thread` does
  it from a thread of the calling process.
* :class:`~unionfs_lib.mount.operations.OverlayOperations` answers the FUSE
  requests; :mod:`~unionfs_lib.mount.options` parses fuse-overlayfs's command
  line; the console script is ``unionfs-lib-mount``.
"""

from __future__ import annotations

from .daemon import MountError, ThreadMount, mount_in_thread, serve, unmount
from .options import MountRequest, UsageError, parse_args

__all__ = [
    "MountError",
    "MountRequest",
    "ThreadMount",
    "UsageError",
    "mount_in_thread",
    "parse_args",
    "serve",
    "unmount",
]
