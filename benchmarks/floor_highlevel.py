"""The floor of the high-level FUSE API: a minimal pass-through on mfusepy.

Usage (foreground; :mod:`benchmarks.fuse_floor` starts and unmounts it)::

    python -m benchmarks.floor_highlevel SOURCE MOUNTPOINT [--threads] [--counter FILE]

This mirrors the directory ``SOURCE`` at ``MOUNTPOINT`` through mfusepy's
high-level (path-based) API on libfuse 3, the API ``unionfs-lib-mount`` is
built on, and does nothing else: each request is one system call on
``SOURCE`` (``lstat``, ``os.open``, ``pread``, ``pwrite``, ``scandir``...).
It is a measuring instrument, not a file system to use: whatever a workload
costs here is what the API costs before a layer does any work of its own.

It asks the kernel's caches for what ``unionfs-lib-mount`` asks (see
:func:`unionfs_lib.mount.daemon.fuse_options`), so the two differ only in the
layer: ``use_ino``, ``default_permissions``, ``kernel_cache`` (file pages
kept across opens), ``entry_timeout``, ``attr_timeout`` and
``negative_timeout`` of :data:`TIMEOUT` seconds, ``readdirplus`` answered
with each entry's full ``stat`` (``FUSE_FILL_DIR_PLUS``) and its own offset
(so no ``lookup`` or ``getattr`` follows a listing: with offset 0 for every
entry, mfusepy's way, libfuse 3.14 answers from a buffered listing and each
entry costs a ``getattr`` afterwards), ``readdirplus`` for every chunk of a
listing (``FUSE_CAP_READDIRPLUS_AUTO`` turned off, as pyfuse3 does; with
libfuse's default, kept by ours and by ``FLOOR_READDIRPLUS_AUTO=1`` here,
the chunks after the first come as plain ``readdir`` and each of their
entries costs a ``getattr``), and ``keep_cache`` and
``cache_readdir`` on ``opendir`` (libfuse's high-level API passes these two
on only from 3.16). A directory's listing is read once, at ``opendir``. Requests are
served by one thread (libfuse's ``-s``, as ours) unless ``--threads`` is
given (libfuse's worker threads). ``flush``, ``access``, ``fsync`` and the
extended attributes are not implemented, so libfuse answers ``ENOSYS`` and
the kernel stops asking.

``--counter FILE`` counts every call libfuse makes into Python (one per
request that reaches the file system) in the first 8 bytes of ``FILE``
(native unsigned 64 bits), which the benchmark reads while the daemon runs.
With ``--threads`` two racing calls may store their numbers out of order, so
the count may read a few low.
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import mmap
import os
import sys
import typing

import mfusepy

#: Seconds the kernel may keep names, attributes and missing names (ours: an hour).
TIMEOUT = 3600.0

#: libfuse 3's ``fuse_readdir_flags`` and ``fuse_fill_dir_flags`` bits.
FUSE_READDIR_PLUS = 1
FUSE_FILL_DIR_PLUS = 2
#: ``FUSE_CAP_READDIRPLUS_AUTO``: with it, only a listing's first chunk comes as ``readdirplus``.
FUSE_CAP_READDIRPLUS_AUTO = 1 << 14
#: Set ``FLOOR_READDIRPLUS_AUTO=1`` to keep libfuse's default (``readdirplus_auto``), as ours.
KEEP_READDIRPLUS_AUTO = os.environ.get("FLOOR_READDIRPLUS_AUTO") == "1"

Stat = typing.Dict[str, int]


class RequestCounter:
    """A request count kept in a file's first 8 bytes (or in memory when no file is given)."""

    def __init__(self, path: str | None) -> None:
        self.numbers = itertools.count(1)
        self.cells: list[int] | memoryview = [0]
        if path is not None:
            descriptor = os.open(path, os.O_RDWR)
            try:
                self.map = mmap.mmap(descriptor, 8)
            finally:
                os.close(descriptor)
            self.cells = memoryview(self.map).cast("Q")

    def tick(self) -> None:
        """Count one request."""
        self.cells[0] = next(self.numbers)


def stat_dict(found: os.stat_result) -> Stat:
    """Return ``found`` as mfusepy's ``getattr`` record (times in nanoseconds)."""
    return {
        "st_mode": found.st_mode, "st_ino": found.st_ino, "st_nlink": found.st_nlink,
        "st_uid": found.st_uid, "st_gid": found.st_gid, "st_size": found.st_size,
        "st_blocks": found.st_blocks, "st_atime": found.st_atime_ns,
        "st_mtime": found.st_mtime_ns, "st_ctime": found.st_ctime_ns,
    }


class Passthrough(mfusepy.Operations):  # type: ignore[misc]
    """Answer each path-based request with the same system call on ``source``."""

    use_ns = True

    def __init__(self, source: str) -> None:
        self.source = os.path.realpath(source)
        self.listings: dict[int, list[tuple[str, os.stat_result]]] = {}
        self.handles = itertools.count(1)

    def init_with_config(self, conn: typing.Any, config: typing.Any) -> None:
        """Ask for ``readdirplus`` on every chunk of a listing (pyfuse3 does the same)."""
        if conn is not None and not KEEP_READDIRPLUS_AUTO:
            conn.want &= ~FUSE_CAP_READDIRPLUS_AUTO

    def real(self, path: str) -> str:
        """Return the path in ``source`` of the mount's ``path``."""
        return self.source + path

    def getattr(self, path: str, fh: int | None = None) -> Stat:
        """``lstat`` the file (``fstat`` its descriptor when libfuse gives one)."""
        return stat_dict(os.fstat(fh) if fh is not None else os.lstat(self.real(path)))

    def open(self, path: str, flags: int) -> int:
        """Open the file; its descriptor is the handle."""
        return os.open(self.real(path), flags)

    def create(self, path: str, mode: int, flags: int = os.O_WRONLY) -> int:
        """Create and open the file."""
        return os.open(self.real(path), flags | os.O_CREAT, mode)

    def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
        """``pread`` from the handle."""
        return os.pread(fh, size, offset)

    def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
        """``pwrite`` to the handle."""
        return os.pwrite(fh, data, offset)

    def release(self, path: str | None, fh: int) -> int:
        """Close the handle."""
        os.close(fh)
        return 0

    def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
        """Truncate the file (through its handle when libfuse gives one)."""
        os.truncate(fh if fh is not None else self.real(typing.cast(str, path)), length)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        """``chmod`` the file."""
        os.chmod(self.real(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        """``lchown`` the file."""
        os.lchown(self.real(path), uid, gid)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        """Set the times (nanoseconds), not following a symbolic link."""
        if times is None:
            os.utime(self.real(path), follow_symlinks=False)
        else:
            os.utime(self.real(path), ns=times, follow_symlinks=False)
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        """Make the directory."""
        os.mkdir(self.real(path), mode)
        return 0

    def unlink(self, path: str) -> int:
        """Remove the file."""
        os.unlink(self.real(path))
        return 0

    def rmdir(self, path: str) -> int:
        """Remove the directory."""
        os.rmdir(self.real(path))
        return 0

    def rename(self, old: str, new: str) -> int:
        """Rename ``old`` to ``new``."""
        os.rename(self.real(old), self.real(new))
        return 0

    def opendir(self, path: str) -> int:
        """Read the directory's listing with each entry's ``lstat``; return its handle."""
        with os.scandir(self.real(path)) as entries:
            listing = [(entry.name, entry.stat(follow_symlinks=False)) for entry in entries]
        handle = next(self.handles)
        self.listings[handle] = listing
        return handle

    def releasedir(self, path: str | None, fh: int) -> int:
        """Forget the listing."""
        self.listings.pop(fh, None)
        return 0

    def readdir(self, path: str, fh: int) -> list[str]:
        """Only for mfusepy's checks: :meth:`Floor.readdir_fuse_3` answers ``readdir``."""
        return [name for name, _ in self.listings[fh]]


def floor_fuse(counter: RequestCounter) -> type:
    """Return mfusepy's ``FUSE`` counting each request in ``counter``, with ``readdirplus``."""

    class Floor(mfusepy.FUSE):  # type: ignore[misc]
        """mfusepy's ``FUSE`` with full ``readdirplus`` records and cached directories."""

        def _wrapper(self, func: typing.Any, *args: typing.Any, **kwargs: typing.Any) -> typing.Any:
            """Count the request, then answer it as mfusepy does."""
            counter.tick()
            return super()._wrapper(func, *args, **kwargs)

        def opendir(self, path: bytes, fip: typing.Any) -> int:
            """Open a directory asking the kernel to keep its listing (libfuse >= 3.16)."""
            result: int = super().opendir(path, fip)
            fip.contents.keep_cache = 1
            if hasattr(fip.contents, "cache_readdir"):
                fip.contents.cache_readdir = 1
            return result

        def readdir_fuse_3(self, path: bytes, buf: typing.Any, filler: typing.Any, offset: int,
                           fip: typing.Any, flags: int) -> int:
            """List from ``offset`` on (read at ``opendir``); full records for ``readdirplus``.

            Each entry carries its own offset: given offset 0 (mfusepy's own
            ``readdir``), libfuse 3.14 buffers the listing and the kernel then
            asks ``getattr`` for every entry as if the records were plain.
            """
            plus = bool(flags & FUSE_READDIR_PLUS)
            record = mfusepy.c_stat()
            size = ctypes.sizeof(record)
            listing = self.operations.listings[fip.contents.fh]
            for index in range(offset, len(listing)):
                name, found = listing[index]
                ctypes.memset(ctypes.byref(record), 0, size)
                if plus:
                    mfusepy.set_st_attrs(record, stat_dict(found), use_ns=True)
                else:
                    record.st_mode, record.st_ino = found.st_mode, found.st_ino
                if filler(buf, name.encode(), record, index + 1,
                          FUSE_FILL_DIR_PLUS if plus else 0):
                    break
            return 0

    return Floor


def options(threads: bool) -> dict[str, typing.Any]:
    """Return the libfuse options (those of ``unionfs-lib-mount``, see the module docstring)."""
    return {
        "foreground": True, "fsname": "floor-highlevel", "use_ino": True,
        "default_permissions": True, "kernel_cache": True, "entry_timeout": TIMEOUT,
        "attr_timeout": TIMEOUT, "negative_timeout": TIMEOUT, "nothreads": not threads,
    }


def floor_parser(doc: str | None, threads: bool = True) -> argparse.ArgumentParser:
    """Return the command line every floor takes: ``SOURCE MOUNTPOINT [--counter FILE]``.

    ``doc`` is the floor module's docstring (its first line describes the
    command); ``threads`` adds ``--threads`` (libfuse's worker threads).
    """
    parser = argparse.ArgumentParser(description=doc.split("\n")[0] if doc else None)
    parser.add_argument("source")
    parser.add_argument("mountpoint")
    if threads:
        parser.add_argument("--threads", action="store_true", help="libfuse's worker threads")
    parser.add_argument("--counter", help="count requests in this file's first 8 bytes")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Mount ``SOURCE`` at ``MOUNTPOINT`` and serve until unmounted."""
    args = floor_parser(__doc__).parse_args(argv)
    floor = floor_fuse(RequestCounter(args.counter))
    floor(Passthrough(args.source), args.mountpoint, **options(args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
