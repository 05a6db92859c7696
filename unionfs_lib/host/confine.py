"""Confinement: no read or write through a layer may leave that layer's root.

A layer with OS paths (``OSFS``, ``TempFS``, an OS ``SubFS``) follows
symbolic links, so a link inside a layer (``etc -> /etc``, ``key ->
~/.ssh/id_rsa``, a dangling ``new -> /tmp/x``) would let the overlay read,
copy up, list, change or create things outside the layers. Before it opens a
file's data, lists a directory, changes metadata or creates a file in such a
layer, the overlay resolves the real path and refuses, with
:class:`~unionfs_lib.errors.EscapesLayer` (a ``PermissionDenied``), anything
whose real path is not under the layer root's real path.

Confinement is a property of the layer, not of its ``getsyspath``: every
layer that can resolve to local files is checked, whatever wraps it (a
``SubFS`` or ``WrapFS`` around an ``OSFS``, a
:class:`~unionfs_lib.layers.lazy_fs.LazyFS` over one, checked against its source
before a file is fetched, an ``FSSpecFS`` over fsspec's local filesystem; see
:mod:`unionfs_lib.host.local_syspaths`).

Links that stay inside their layer work as before. A link that escapes still
shows in its parent's listing (its name and the metadata the layer reports
for it) and can be removed, renamed or replaced through the overlay; only its
target is out of reach. Layers without local files (MemoryFS, ZipFS, TarFS,
S3) have no links to follow and are not checked (one type check).

Cost: a directory is checked once, when its listing is read (and cached); an
entry reached through a checked listing costs one ``lstat`` (only a link pays
for resolving its whole path). The check guards the layers as they are when
the overlay reads them; a link swapped in by another process between the check
and the open (a race with the layer's owner) is outside its reach, as for any
program that opens paths in a directory others can write.
"""

from __future__ import annotations

import os
import stat
import threading

import fs.errors
from fs.base import FS
from fs.osfs import OSFS

from ..errors import EscapesLayer
from .local_syspaths import has_local_files, local_syspath
from .long_paths import real_path

_ROOTS: dict[str, str] = {}
_ROOTS_LOCK = threading.Lock()


def _real_root(root: str) -> str:
    """Return the real path of a layer root (cached: roots do not move)."""
    with _ROOTS_LOCK:
        found = _ROOTS.get(root)
    if found is None:
        found = os.path.realpath(root)
        with _ROOTS_LOCK:
            if len(_ROOTS) > 4096:
                _ROOTS.clear()
            _ROOTS[root] = found
    return found


#: Opens the last component without following a link, and a FIFO without blocking.
#: The smallest read after the first (a file that grew since its ``fstat``).
_MIN_READ = 1 << 16
_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_CAN_REFUSE_LINKS = hasattr(os, "O_NOFOLLOW")


def has_no_syspaths(layer: FS) -> bool:
    """Tell that ``layer`` cannot resolve to local files (no call for ``MemoryFS``).

    See :func:`~unionfs_lib.host.local_syspaths.has_local_files`: a wrapper or a
    ``LazyFS`` around an ``OSFS`` has local files though it may have no
    ``getsyspath`` of its own.
    """
    if type(layer).getsyspath is FS.getsyspath:
        return True
    return not has_local_files(layer)


def check_inside(layer: FS, path: str) -> None:
    """Raise ``EscapesLayer`` if ``path`` of ``layer`` resolves outside the layer root.

    Does nothing for a layer without local files. A path that does not exist
    is checked as far as it resolves (a dangling link to the outside is
    refused).
    """
    if type(layer).getsyspath is FS.getsyspath:
        return
    try:
        root = local_syspath(layer, "/")
        target = local_syspath(layer, path)
    except fs.errors.NoSysPath:
        return
    real_root = _real_root(root)
    real = real_path(target)  # also past PATH_MAX (long_paths)
    if real == real_root:
        return
    prefix = real_root if real_root.endswith(os.sep) else real_root + os.sep
    if not real.startswith(prefix):
        raise EscapesLayer(path)


def check_entry_inside(layer: FS, path: str) -> None:
    """Like :func:`check_inside` for an entry whose parent directory was checked.

    The overlay reaches every entry through its parent's listing, and reading a
    listing checks the directory (:meth:`~unionfs_lib.resolve.resolver.Resolver.listing`),
    so only the entry itself can still be a link: one ``lstat`` decides, and
    only a link pays for resolving the whole path.
    """
    if type(layer).getsyspath is FS.getsyspath:
        return
    try:
        target = local_syspath(layer, path)
    except fs.errors.NoSysPath:
        return
    try:
        is_link = stat.S_ISLNK(os.lstat(target).st_mode)
    except OSError:
        return  # nothing there yet: it will be created in a checked directory
    if is_link:
        check_inside(layer, path)


def check_data_inside(layer: FS, path: str, listed: bool) -> None:
    """Check the entry holding a file's bytes.

    ``listed`` tells whether the entry was reached through its parent's
    listing (:func:`check_entry_inside` suffices); a data location read from
    a record (a metadata-only copy-up) gets the full :func:`check_inside`.
    """
    if listed:
        check_entry_inside(layer, path)
    else:
        check_inside(layer, path)


def read_inside(layer: FS, path: str, listed: bool) -> bytes:
    """Read the whole file ``path`` of ``layer``, checked as :func:`check_data_inside` does.

    A listed regular file of an ``OSFS`` is read with one ``open`` that
    refuses a link (``O_NOFOLLOW``), which is both the check and the read, at
    a fraction of the cost of ``lstat`` followed by the layer's ``readbytes``.
    Anything else (a link, an error, another FS) takes the checked way
    through the layer, which reports errors in its own words: a ``LazyFS``
    over local files is checked against its source before it fetches the
    file, a wrapper before it reads through its delegate.
    """
    if listed and _CAN_REFUSE_LINKS and isinstance(layer, OSFS):
        found = _read_regular_file(layer.getsyspath(path))
        if found is not None:
            return found
    check_data_inside(layer, path, listed)
    return layer.readbytes(path)


def _read_regular_file(sys_path: str) -> bytes | None:
    """Return the bytes of regular file ``sys_path`` (not through a link), or ``None``."""
    try:
        descriptor = os.open(sys_path, _READ_FLAGS)
    except OSError:
        return None
    try:
        found = os.fstat(descriptor)
        if not stat.S_ISREG(found.st_mode):
            return None
        return _read_to_end(descriptor, found.st_size)
    finally:
        os.close(descriptor)


def _read_to_end(descriptor: int, size: int) -> bytes:
    """Read open file ``descriptor`` to its end; ``size`` (from its ``fstat``) sizes the reads.

    What ``FileIO.readall`` does, without its own ``fstat`` and ``lseek``
    (the caller's ``fstat`` gave the size): a file of ``size`` bytes takes
    two reads, the second seeing its end.
    """
    first = os.read(descriptor, size + 1)
    if not first:
        return b""
    chunks = [first]
    while True:
        chunk = os.read(descriptor, max(size + 1, _MIN_READ))
        if not chunk:
            return b"".join(chunks) if len(chunks) > 1 else first
        chunks.append(chunk)


__all__ = [
    "check_data_inside",
    "check_entry_inside",
    "check_inside",
    "has_no_syspaths",
    "read_inside",
]
