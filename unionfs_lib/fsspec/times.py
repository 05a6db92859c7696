"""Times ``FSSpecFS.setinfo`` can set, per fsspec filesystem.

fsspec has no call that sets a file's times, so each filesystem is asked
what it can keep:

* fsspec's local filesystem keeps ``modified`` and ``accessed``
  (``os.utime`` on the file); its info reports ``modified`` back, not
  ``accessed``.
* Object stores (S3, GCS, Azure Blob), HTTP, GitHub, zip and fsspec's memory
  filesystem keep neither: the store sets ``LastModified``/``updated`` itself
  at each upload, and nothing writes it. ``setinfo`` ignores the times there,
  as PyFilesystem2 ignores namespaces a filesystem cannot set.
"""

from __future__ import annotations

import os
import typing

if typing.TYPE_CHECKING:
    from fsspec import AbstractFileSystem

#: The ``details`` fields a local filesystem sets and reports back.
_LOCAL_REPORTED = ("modified",)


def _is_local(filesystem: AbstractFileSystem) -> bool:
    """Tell whether ``filesystem`` is fsspec's local filesystem (or a subclass)."""
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(filesystem, LocalFileSystem)


def reported_times(filesystem: AbstractFileSystem) -> tuple[str, ...]:
    """Return the ``details`` times ``set_times`` sets and the info reports back.

    They are what an ``Info`` lists as writeable (``Info.is_writeable``).
    """
    return _LOCAL_REPORTED if _is_local(filesystem) else ()


def set_times(
    filesystem: AbstractFileSystem,
    path: str,
    accessed: float | None,
    modified: float | None,
) -> bool:
    """Set the times of ``path`` on ``filesystem`` where it can keep them.

    ``None`` leaves a time as it is. Returns whether anything was set (never
    raises for a filesystem that cannot keep times).
    """
    if (accessed is None and modified is None) or not _is_local(filesystem):
        return False
    os_path = typing.cast(str, filesystem._strip_protocol(path))
    if accessed is None or modified is None:
        status = os.stat(os_path)
        accessed = status.st_atime if accessed is None else accessed
        modified = status.st_mtime if modified is None else modified
    os.utime(os_path, (accessed, modified))
    return True
