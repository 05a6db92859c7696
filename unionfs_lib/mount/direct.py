"""Open files of the mount as real file descriptors, where the layer has OS paths.

A read through the overlay's handle costs a lock, a ``seek`` and a ``read``
through PyFilesystem2's file wrappers. Where the file's bytes lie in a layer
with OS paths (an ``OSFS``, a ``TempFS``, ``from_dirs``) the mount opens that
file itself and answers ``read`` and ``write`` with ``os.pread`` and
``os.pwrite`` on the descriptor, which need neither a lock nor a seek:

* a file opened read-only is opened ``O_RDONLY`` in the layer that holds its
  bytes, upper or lower (lowers are only ever read);
* a file opened for writing is opened ``O_RDWR`` only when it already lives
  in the upper; a lower file opened for writing keeps the overlay's handle,
  which copies it up at the first write.

A descriptor on a lower file would keep reading the lower copy after another
handle copied the file up and wrote to it; :class:`ReadersByPath` remembers
those descriptors so the mount can move them onto the upper copy (``dup2``
replaces the descriptor in place), as Linux overlayfs has done for read
handles since 4.19.
"""

from __future__ import annotations

import errno
import os
import threading

import attrs

from ..overlay import OverlayFS

_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOSE_ON_EXEC = getattr(os, "O_CLOEXEC", 0)


def data_syspath(overlay: OverlayFS, path: str) -> tuple[int, str] | None:
    """Return ``(layer index, OS path)`` of the file holding the bytes of ``path``.

    ``None`` when that layer has no local files or the entry is not a
    regular file of its layer (a symbolic link is left to the overlay). Bytes
    found through a record (a metadata-only copy-up), not through their
    directory's checked listing, must lie inside their layer (see
    :meth:`~unionfs_lib.layers.lifecycle.Backing.data_syspath`).
    """
    backing = overlay.which(path)
    found = backing.data_syspath()
    return None if found is None else (backing.data_index, found)


def open_for_reading(overlay: OverlayFS, path: str) -> tuple[int, int] | None:
    """Open the bytes of ``path`` read-only; return ``(layer index, descriptor)`` or ``None``."""
    found = data_syspath(overlay, path)
    if found is None:
        return None
    index, syspath = found
    try:
        return index, os.open(syspath, os.O_RDONLY | _NO_FOLLOW | _CLOSE_ON_EXEC)
    except OSError:
        return None  # a link, a special file: the overlay's own way decides


def open_upper_for_writing(overlay: OverlayFS, path: str) -> int | None:
    """Open ``path`` read-write when its bytes already live in the upper, else ``None``."""
    found = data_syspath(overlay, path)
    if found is None or found[0] != 0 or overlay.which(path).index != 0:
        return None
    try:
        return os.open(found[1], os.O_RDWR | _NO_FOLLOW | _CLOSE_ON_EXEC)
    except OSError:
        return None


def write_all(descriptor: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset``."""
    view = memoryview(data)
    while view:
        written = os.pwrite(descriptor, view, offset)
        offset += written
        if not written:
            raise OSError(errno.EIO, "short write")
        view = view[written:]


@attrs.define
class ReadersByPath:
    """Read-only descriptors on lower files, by overlay path, to follow a copy-up."""

    _readers: dict[str, set[int]] = attrs.field(factory=dict)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def add(self, path: str, descriptor: int) -> None:
        """Remember a descriptor reading the lower copy of ``path``."""
        with self._lock:
            self._readers.setdefault(path, set()).add(descriptor)

    def discard(self, path: str, descriptor: int) -> None:
        """Forget a descriptor (before it is closed)."""
        with self._lock:
            found = self._readers.get(path)
            if found is not None:
                found.discard(descriptor)
                if not found:
                    del self._readers[path]

    def follow_copy_up(self, overlay: OverlayFS, path: str) -> None:
        """Move every reader of ``path`` onto its upper copy (keeping the descriptor numbers)."""
        with self._lock:
            descriptors = self._readers.pop(path, set())
            if not descriptors:
                return
            found = data_syspath(overlay, path)
            if found is None or found[0] != 0:
                self._readers[path] = descriptors
                return
            upper = os.open(found[1], os.O_RDONLY | _CLOSE_ON_EXEC)
            try:
                for descriptor in descriptors:
                    os.dup2(upper, descriptor, inheritable=False)
            finally:
                os.close(upper)
