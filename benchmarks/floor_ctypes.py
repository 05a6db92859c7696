"""The floor of libfuse's low-level API through ctypes: a minimal pass-through on ``fuse_lowlevel``.

Usage (foreground; :mod:`benchmarks.fuse_floor` starts and unmounts it)::

    python -m benchmarks.floor_ctypes SOURCE MOUNTPOINT [--threads] [--counter FILE]

This mirrors the directory ``SOURCE`` at ``MOUNTPOINT`` through libfuse 3's
low-level (inode-based) API, called through :mod:`ctypes` with no binding
library in between (the system's ``libfuse3.so.3``, as
``ctypes.util.find_library('fuse3')`` finds it), and does nothing else: each
request is one system call on ``SOURCE``. The structures
(``fuse_lowlevel_ops``, ``fuse_file_info`` with its bit fields,
``fuse_entry_param``, ``fuse_conn_info``, ``fuse_args`` and ``struct stat``)
are laid out from libfuse 3.14's public headers for x86_64 Linux; elsewhere
it refuses to start. It is a measuring instrument for
:mod:`benchmarks.fuse_floor`, not a file system to use.

Inodes are the source's own inode numbers (the source's root is inode 1), a
table maps each to its path in the source (a ``rename`` of a directory
rewrites its descendants' paths), and each inode's lookup count is kept (one
per entry reply, ``create`` reply and ``readdirplus`` record) and the path
forgotten when the kernel forgets the inode (``forget`` and
``forget_multi``), as a low-level file system must. Handles are the source's
file descriptors; a directory's listing (each entry with its ``lstat``) is
read once, at the first ``readdirplus`` of an open directory, and served
from memory (not at ``opendir``, as the other floors do: a listing the
kernel keeps is not read again when the directory is opened again).

How it uses the kernel's caches: every entry and attribute reply carries an
``entry_timeout`` and ``attr_timeout`` of :data:`TIMEOUT` seconds; a name
that does not exist is answered with inode 0 and the same timeout (a cached
negative entry); ``open`` and ``create`` set ``keep_cache`` (file pages kept
across opens); ``opendir`` sets ``keep_cache`` and ``cache_readdir``
(``FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR``: the kernel keeps the listing in the
directory's page cache across opens and answers a second listing itself,
until the directory changes through the mount or its attributes change;
libfuse 3.14's high-level API drops both flags, pyfuse3 cannot set them);
listings are answered with ``readdirplus`` only (``FUSE_CAP_READDIRPLUS``
on, ``FUSE_CAP_READDIRPLUS_AUTO`` off in ``init``, no ``readdir``
operation), with each entry's full attributes, so no ``lookup`` follows a
listing. The mount option is ``default_permissions``; the write-back cache
is off (libfuse's default, as in ours). It does not ask for anything else:
no ``FUSE_CAP_CACHE_SYMLINKS``, no splice, no passthrough (libfuse 3.14 has
none), no ``auto_inval_data`` change, no notification of changes made
beside the mount. ``flush``, ``fsync``, ``access``, ``mknod``, ``symlink``,
``link`` and the extended attributes are left out, so libfuse answers
``ENOSYS`` and the kernel stops asking; ``statfs`` gets libfuse's default
answer.

Requests are served by ``fuse_session_loop`` on one thread unless
``--threads`` is given (``fuse_session_loop_mt``, libfuse's worker threads,
each call into Python taking the GIL from a foreign thread). ``SIGTERM``,
``SIGINT`` and ``SIGHUP`` end the loop (libfuse's own handlers) and the
file system is unmounted before the process exits; an unmount from outside
(``fusermount3 -u``, ``umount``) ends the loop too.

``--counter FILE`` counts every request handled in Python in the first 8
bytes of ``FILE``, as in :mod:`benchmarks.floor_highlevel`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import itertools
import os
import platform
import signal
import sys
import threading
import time
import traceback
import typing

from .floor_highlevel import TIMEOUT, RequestCounter, floor_parser

c_ino = ctypes.c_uint64
c_req = ctypes.c_void_p
#: ``struct fuse_file_info *`` is taken as an address (see :class:`FileInfo`).
c_fi = ctypes.c_void_p

#: libfuse 3's ``FUSE_CAP_*`` bits this floor sets in ``init``.
FUSE_CAP_READDIRPLUS = 1 << 13
FUSE_CAP_READDIRPLUS_AUTO = 1 << 14
#: The ``to_set`` bits of ``setattr`` (``FUSE_SET_ATTR_*``).
SET_MODE, SET_UID, SET_GID, SET_SIZE = 1 << 0, 1 << 1, 1 << 2, 1 << 3
SET_ATIME, SET_MTIME, SET_ATIME_NOW, SET_MTIME_NOW = 1 << 4, 1 << 5, 1 << 7, 1 << 8


class Timespec(ctypes.Structure):
    """``struct timespec`` (x86_64)."""

    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_int64)]


class Stat(ctypes.Structure):
    """``struct stat`` of glibc on x86_64 (144 bytes)."""

    _fields_ = [
        ("st_dev", ctypes.c_uint64), ("st_ino", ctypes.c_uint64), ("st_nlink", ctypes.c_uint64),
        ("st_mode", ctypes.c_uint32), ("st_uid", ctypes.c_uint32), ("st_gid", ctypes.c_uint32),
        ("pad0", ctypes.c_int32), ("st_rdev", ctypes.c_uint64), ("st_size", ctypes.c_int64),
        ("st_blksize", ctypes.c_int64), ("st_blocks", ctypes.c_int64),
        ("st_atim", Timespec), ("st_mtim", Timespec), ("st_ctim", Timespec),
        ("reserved", ctypes.c_int64 * 3),
    ]


class FileInfo(ctypes.Structure):
    """``struct fuse_file_info`` of libfuse 3.14 (40 bytes; the flags are bit fields)."""

    _fields_ = [
        ("flags", ctypes.c_int),
        ("writepage", ctypes.c_uint, 1), ("direct_io", ctypes.c_uint, 1),
        ("keep_cache", ctypes.c_uint, 1), ("flush", ctypes.c_uint, 1),
        ("nonseekable", ctypes.c_uint, 1), ("flock_release", ctypes.c_uint, 1),
        ("cache_readdir", ctypes.c_uint, 1), ("noflush", ctypes.c_uint, 1),
        ("padding", ctypes.c_uint, 24), ("padding2", ctypes.c_uint, 32),
        ("fh", ctypes.c_uint64), ("lock_owner", ctypes.c_uint64),
        ("poll_events", ctypes.c_uint32),
    ]


class EntryParam(ctypes.Structure):
    """``struct fuse_entry_param`` (176 bytes)."""

    _fields_ = [("ino", c_ino), ("generation", ctypes.c_uint64), ("attr", Stat),
                ("attr_timeout", ctypes.c_double), ("entry_timeout", ctypes.c_double)]


class ConnInfo(ctypes.Structure):
    """``struct fuse_conn_info`` (128 bytes)."""

    _fields_ = [(name, ctypes.c_uint) for name in (
        "proto_major", "proto_minor", "max_write", "max_read", "max_readahead", "capable",
        "want", "max_background", "congestion_threshold", "time_gran")] + [
        ("reserved", ctypes.c_uint * 22)]


class Args(ctypes.Structure):
    """``struct fuse_args``."""

    _fields_ = [("argc", ctypes.c_int), ("argv", ctypes.POINTER(ctypes.c_char_p)),
                ("allocated", ctypes.c_int)]


class ForgetData(ctypes.Structure):
    """``struct fuse_forget_data``."""

    _fields_ = [("ino", c_ino), ("nlookup", ctypes.c_uint64)]


def signature(*arguments: typing.Any) -> typing.Any:
    """Return the ctypes type of a ``void`` low-level operation taking ``arguments``."""
    return ctypes.CFUNCTYPE(None, *arguments)


#: Every member of ``struct fuse_lowlevel_ops`` in the header's order (``None``: not used here).
OPERATIONS: list[tuple[str, typing.Any]] = [
    ("init", signature(ctypes.c_void_p, ctypes.POINTER(ConnInfo))),
    ("destroy", None),
    ("lookup", signature(c_req, c_ino, ctypes.c_char_p)),
    ("forget", signature(c_req, c_ino, ctypes.c_uint64)),
    ("getattr", signature(c_req, c_ino, c_fi)),
    ("setattr", signature(c_req, c_ino, ctypes.POINTER(Stat), ctypes.c_int, c_fi)),
    ("readlink", signature(c_req, c_ino)),
    ("mknod", None),
    ("mkdir", signature(c_req, c_ino, ctypes.c_char_p, ctypes.c_uint32)),
    ("unlink", signature(c_req, c_ino, ctypes.c_char_p)),
    ("rmdir", signature(c_req, c_ino, ctypes.c_char_p)),
    ("symlink", None),
    ("rename", signature(c_req, c_ino, ctypes.c_char_p, c_ino, ctypes.c_char_p, ctypes.c_uint)),
    ("link", None),
    ("open", signature(c_req, c_ino, c_fi)),
    ("read", signature(c_req, c_ino, ctypes.c_size_t, ctypes.c_int64, c_fi)),
    ("write", signature(c_req, c_ino, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int64, c_fi)),
    ("flush", None), ("release", signature(c_req, c_ino, c_fi)), ("fsync", None),
    ("opendir", signature(c_req, c_ino, c_fi)),
    ("readdir", None),
    ("releasedir", signature(c_req, c_ino, c_fi)),
    ("fsyncdir", None), ("statfs", None), ("setxattr", None), ("getxattr", None),
    ("listxattr", None), ("removexattr", None), ("access", None),
    ("create", signature(c_req, c_ino, ctypes.c_char_p, ctypes.c_uint32, c_fi)),
    ("getlk", None), ("setlk", None), ("bmap", None), ("ioctl", None), ("poll", None),
    ("write_buf", None), ("retrieve_reply", None),
    ("forget_multi", signature(c_req, ctypes.c_size_t, ctypes.POINTER(ForgetData))),
    ("flock", None), ("fallocate", None),
    ("readdirplus", signature(c_req, c_ino, ctypes.c_size_t, ctypes.c_int64, c_fi)),
    ("copy_file_range", None), ("lseek", None),
]


class LowLevelOps(ctypes.Structure):
    """``struct fuse_lowlevel_ops`` of libfuse 3.14 (44 function pointers, 352 bytes)."""

    _fields_ = [(name, kind if kind is not None else ctypes.c_void_p)
                for name, kind in OPERATIONS]


def refusal() -> str | None:
    """Return why this floor cannot run here, or ``None`` if it can."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return f"the structures are laid out for x86_64 Linux, not {platform.machine()}"
    if ctypes.util.find_library("fuse3") is None:
        return "libfuse3 is not installed (ctypes.util.find_library('fuse3') is None)"
    return None


def load() -> ctypes.CDLL:
    """Load libfuse 3 and declare the functions this floor calls."""
    name = ctypes.util.find_library("fuse3")
    if name is None:
        raise OSError(errno.ENOENT, "libfuse3 not found")
    lib = ctypes.CDLL(name)
    declare = [
        ("fuse_session_new", ctypes.c_void_p,
         [ctypes.POINTER(Args), ctypes.POINTER(LowLevelOps), ctypes.c_size_t, ctypes.c_void_p]),
        ("fuse_session_mount", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p]),
        ("fuse_set_signal_handlers", ctypes.c_int, [ctypes.c_void_p]),
        ("fuse_remove_signal_handlers", None, [ctypes.c_void_p]),
        ("fuse_session_loop", ctypes.c_int, [ctypes.c_void_p]),
        ("fuse_session_unmount", None, [ctypes.c_void_p]),
        ("fuse_session_destroy", None, [ctypes.c_void_p]),
        ("fuse_reply_err", ctypes.c_int, [c_req, ctypes.c_int]),
        ("fuse_reply_none", None, [c_req]),
        ("fuse_reply_entry", ctypes.c_int, [c_req, ctypes.POINTER(EntryParam)]),
        ("fuse_reply_create", ctypes.c_int, [c_req, ctypes.POINTER(EntryParam), c_fi]),
        ("fuse_reply_attr", ctypes.c_int, [c_req, ctypes.POINTER(Stat), ctypes.c_double]),
        ("fuse_reply_readlink", ctypes.c_int, [c_req, ctypes.c_char_p]),
        ("fuse_reply_open", ctypes.c_int, [c_req, c_fi]),
        ("fuse_reply_write", ctypes.c_int, [c_req, ctypes.c_size_t]),
        ("fuse_reply_buf", ctypes.c_int, [c_req, ctypes.c_void_p, ctypes.c_size_t]),
        ("fuse_add_direntry_plus", ctypes.c_size_t,
         [c_req, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.POINTER(EntryParam),
          ctypes.c_int64]),
    ]
    for function, result, arguments in declare:
        found = getattr(lib, function)
        found.restype, found.argtypes = result, arguments
    return lib


def fill(record: Stat, found: os.stat_result, inode: int) -> None:
    """Copy ``found`` into ``record`` as the attributes of inode ``inode``."""
    record.st_ino = inode
    record.st_mode = found.st_mode
    record.st_nlink = found.st_nlink
    record.st_uid = found.st_uid
    record.st_gid = found.st_gid
    record.st_rdev = found.st_rdev
    record.st_size = found.st_size
    record.st_blksize = found.st_blksize
    record.st_blocks = found.st_blocks
    record.st_atim.tv_sec, record.st_atim.tv_nsec = divmod(found.st_atime_ns, 1_000_000_000)
    record.st_mtim.tv_sec, record.st_mtim.tv_nsec = divmod(found.st_mtime_ns, 1_000_000_000)
    record.st_ctim.tv_sec, record.st_ctim.tv_nsec = divmod(found.st_ctime_ns, 1_000_000_000)


def entry(found: os.stat_result, inode: int) -> EntryParam:
    """Return ``found`` as the entry of inode ``inode``, cached for :data:`TIMEOUT` seconds."""
    param = EntryParam()
    param.ino = inode
    param.attr_timeout = TIMEOUT
    param.entry_timeout = TIMEOUT
    fill(param.attr, found, inode)
    return param


def missing() -> EntryParam:
    """Return the entry of a name that does not exist, cached for :data:`TIMEOUT` seconds."""
    param = EntryParam()
    param.entry_timeout = TIMEOUT
    return param


class Passthrough:
    """Answer each inode-based request with the same system call on ``source``.

    Each method takes the request first and replies to it itself; an
    ``OSError`` it raises is replied as its ``errno`` by :meth:`operations`.
    """

    def __init__(self, lib: ctypes.CDLL, source: str, counter: RequestCounter) -> None:
        self.lib = lib
        self.source = os.fsencode(os.path.realpath(source))
        self.root_ino = os.lstat(self.source).st_ino
        self.counter = counter
        self.paths: dict[int, bytes] = {1: self.source}
        self.lookups: dict[int, int] = {}
        self.listings: dict[int, list[tuple[bytes, os.stat_result]]] = {}
        self.listing_paths: dict[int, bytes] = {}
        self.handles = itertools.count(1)
        self.table = threading.Lock()

    # -- inodes --------------------------------------------------------------

    def inode_of(self, found: os.stat_result) -> int:
        """Return the inode number the mount shows for ``found`` (the root is 1)."""
        return 1 if found.st_ino == self.root_ino else found.st_ino

    def known(self, path: bytes, found: os.stat_result) -> EntryParam:
        """Record ``path`` as its inode's path, count a lookup, return its entry."""
        inode = self.inode_of(found)
        with self.table:
            self.paths[inode] = path
            self.lookups[inode] = self.lookups.get(inode, 0) + 1
        return entry(found, inode)

    def child(self, parent: int, name: bytes) -> bytes:
        """Return the source path of ``name`` in directory ``parent``."""
        return self.paths[parent] + b"/" + name

    def drop(self, inode: int, count: int) -> None:
        """Drop ``count`` lookups of ``inode``; forget its path at zero."""
        with self.table:
            left = self.lookups.get(inode, 0) - count
            if left > 0:
                self.lookups[inode] = left
            elif inode != 1:
                self.lookups.pop(inode, None)
                self.paths.pop(inode, None)

    def lookup(self, req: int, parent: int, name: bytes) -> None:
        """Look ``name`` up in ``parent`` (a missing name is a cached negative entry)."""
        path = self.child(parent, name)
        try:
            param = self.known(path, os.lstat(path))
        except FileNotFoundError:
            param = missing()
        self.lib.fuse_reply_entry(req, ctypes.byref(param))

    def forget(self, req: int, inode: int, count: int) -> None:
        """Drop the lookups the kernel forgets (no reply is sent)."""
        self.drop(inode, count)
        self.lib.fuse_reply_none(req)

    def forget_multi(self, req: int, count: int, forgets: typing.Any) -> None:
        """Drop the lookups of each inode of a batch the kernel forgets."""
        for index in range(count):
            self.drop(forgets[index].ino, forgets[index].nlookup)
        self.lib.fuse_reply_none(req)

    def reply_attributes(self, req: int, inode: int) -> None:
        """Reply with the attributes of ``inode``, cached for :data:`TIMEOUT` seconds."""
        record = Stat()
        fill(record, os.lstat(self.paths[inode]), inode)
        self.lib.fuse_reply_attr(req, ctypes.byref(record), TIMEOUT)

    def getattr(self, req: int, inode: int, info: int | None) -> None:
        """``lstat`` the inode's path."""
        self.reply_attributes(req, inode)

    def setattr(self, req: int, inode: int, attr: typing.Any, to_set: int,
                info: int | None) -> None:
        """Change the mode, owner, size or times the request names."""
        path, wanted = self.paths[inode], attr.contents
        if to_set & SET_SIZE:
            os.truncate(FileInfo.from_address(info).fh if info else path, wanted.st_size)
        if to_set & SET_MODE:
            os.chmod(path, wanted.st_mode & 0o7777)
        if to_set & (SET_UID | SET_GID):
            os.lchown(path, wanted.st_uid if to_set & SET_UID else -1,
                      wanted.st_gid if to_set & SET_GID else -1)
        if to_set & (SET_ATIME | SET_MTIME | SET_ATIME_NOW | SET_MTIME_NOW):
            os.utime(path, follow_symlinks=False, ns=(
                self.time_set(to_set, SET_ATIME, SET_ATIME_NOW, wanted.st_atim, path, 0),
                self.time_set(to_set, SET_MTIME, SET_MTIME_NOW, wanted.st_mtim, path, 1)))
        self.reply_attributes(req, inode)

    @staticmethod
    def time_set(to_set: int, given: int, now: int, value: Timespec, path: bytes,
                 which: int) -> int:
        """Return the nanoseconds a ``setattr`` sets one time to (kept if it sets none)."""
        if to_set & now:
            return time.time_ns()
        if to_set & given:
            return int(value.tv_sec) * 1_000_000_000 + int(value.tv_nsec)
        kept = os.lstat(path)
        return kept.st_atime_ns if which == 0 else kept.st_mtime_ns

    def readlink(self, req: int, inode: int) -> None:
        """Read the symbolic link."""
        self.lib.fuse_reply_readlink(req, os.readlink(self.paths[inode]))

    # -- directories ---------------------------------------------------------

    def opendir(self, req: int, inode: int, info: int) -> None:
        """Open the directory (its listing is read at the first ``readdirplus``); keep it."""
        handle = next(self.handles)
        self.listing_paths[handle] = self.paths[inode]
        opened = FileInfo.from_address(info)
        opened.fh = handle
        opened.keep_cache = 1
        opened.cache_readdir = 1
        self.lib.fuse_reply_open(req, info)

    def readdirplus(self, req: int, inode: int, size: int, offset: int, info: int) -> None:
        """Reply with the listing from ``offset`` on, each entry with its full attributes."""
        handle = FileInfo.from_address(info).fh
        parent = self.listing_paths[handle]
        listing = self.listings.get(handle)
        if listing is None:
            listing = self.listings[handle] = self.listing(parent)
        buffer = ctypes.create_string_buffer(size)
        start, used = ctypes.addressof(buffer), 0
        for index in range(offset, len(listing)):
            name, found = listing[index]
            inode_found = self.inode_of(found)
            param = entry(found, inode_found)
            needed = self.lib.fuse_add_direntry_plus(req, start + used, size - used, name,
                                                     ctypes.byref(param), index + 1)
            if needed > size - used:
                break
            used += needed
            with self.table:
                self.paths[inode_found] = parent + b"/" + name
                self.lookups[inode_found] = self.lookups.get(inode_found, 0) + 1
        self.lib.fuse_reply_buf(req, start, used)

    @staticmethod
    def listing(path: bytes) -> list[tuple[bytes, os.stat_result]]:
        """Return the names in directory ``path``, each with its ``lstat``."""
        with os.scandir(path) as entries:
            return [(item.name, item.stat(follow_symlinks=False)) for item in entries]

    def releasedir(self, req: int, inode: int, info: int) -> None:
        """Forget the listing."""
        handle = FileInfo.from_address(info).fh
        self.listings.pop(handle, None)
        self.listing_paths.pop(handle, None)
        self.lib.fuse_reply_err(req, 0)

    def mkdir(self, req: int, parent: int, name: bytes, mode: int) -> None:
        """Make the directory."""
        path = self.child(parent, name)
        os.mkdir(path, mode)
        self.lib.fuse_reply_entry(req, ctypes.byref(self.known(path, os.lstat(path))))

    def rmdir(self, req: int, parent: int, name: bytes) -> None:
        """Remove the directory."""
        os.rmdir(self.child(parent, name))
        self.lib.fuse_reply_err(req, 0)

    def unlink(self, req: int, parent: int, name: bytes) -> None:
        """Remove the file."""
        os.unlink(self.child(parent, name))
        self.lib.fuse_reply_err(req, 0)

    def rename(self, req: int, parent: int, name: bytes, new_parent: int, new_name: bytes,
               flags: int) -> None:
        """Rename; the moved inode's path (and a directory's descendants') follow."""
        if flags:
            raise OSError(errno.EINVAL, "rename flags are not supported")
        old, new = self.child(parent, name), self.child(new_parent, new_name)
        os.rename(old, new)
        prefix = old + b"/"
        with self.table:
            for inode, path in list(self.paths.items()):
                if path == old:
                    self.paths[inode] = new
                elif path.startswith(prefix):
                    self.paths[inode] = new + path[len(old):]
        self.lib.fuse_reply_err(req, 0)

    # -- files ---------------------------------------------------------------

    def open(self, req: int, inode: int, info: int) -> None:
        """Open the file; its descriptor is the handle; keep its pages cached."""
        opened = FileInfo.from_address(info)
        opened.fh = os.open(self.paths[inode], opened.flags)
        opened.keep_cache = 1
        self.lib.fuse_reply_open(req, info)

    def create(self, req: int, parent: int, name: bytes, mode: int, info: int) -> None:
        """Create and open the file."""
        path = self.child(parent, name)
        opened = FileInfo.from_address(info)
        descriptor = os.open(path, opened.flags | os.O_CREAT, mode)
        opened.fh = descriptor
        opened.keep_cache = 1
        param = self.known(path, os.fstat(descriptor))
        self.lib.fuse_reply_create(req, ctypes.byref(param), info)

    def read(self, req: int, inode: int, size: int, offset: int, info: int) -> None:
        """``pread`` from the handle."""
        data = os.pread(FileInfo.from_address(info).fh, size, offset)
        self.lib.fuse_reply_buf(req, data, len(data))

    def write(self, req: int, inode: int, data: int, size: int, offset: int, info: int) -> None:
        """``pwrite`` to the handle."""
        written = os.pwrite(FileInfo.from_address(info).fh, ctypes.string_at(data, size), offset)
        self.lib.fuse_reply_write(req, written)

    def release(self, req: int, inode: int, info: int) -> None:
        """Close the handle."""
        os.close(FileInfo.from_address(info).fh)
        self.lib.fuse_reply_err(req, 0)

    # -- the operations table ------------------------------------------------

    def init(self, userdata: int | None, conn: typing.Any) -> None:
        """Ask for ``readdirplus`` on every chunk of a listing (as the other floors)."""
        self.counter.tick()
        info = conn.contents
        info.want = (info.want | FUSE_CAP_READDIRPLUS) & ~FUSE_CAP_READDIRPLUS_AUTO

    def answering(self, method: typing.Callable[..., None]) -> typing.Callable[..., None]:
        """Wrap ``method``: count the request, reply an error it raises as its ``errno``."""
        counter, lib = self.counter, self.lib

        def call(req: int, *arguments: typing.Any) -> None:
            counter.tick()
            try:
                method(req, *arguments)
            except OSError as error:
                lib.fuse_reply_err(req, error.errno or errno.EIO)
            except Exception:  # a reply must be sent whatever fails
                traceback.print_exc()
                lib.fuse_reply_err(req, errno.EIO)

        return call

    def operations(self) -> LowLevelOps:
        """Return ``struct fuse_lowlevel_ops`` with this floor's operations filled in."""
        table = LowLevelOps()
        for name, kind in OPERATIONS:
            if kind is None:
                continue
            method = getattr(self, name)
            setattr(table, name, kind(method if name == "init" else self.answering(method)))
        return table


def arguments(*words: str) -> tuple[Args, typing.Any]:
    """Return ``struct fuse_args`` for ``words`` and the array it points into (keep both)."""
    argv = (ctypes.c_char_p * (len(words) + 1))(*(word.encode() for word in words), None)
    return Args(len(words), argv, 0), argv


def serve(lib: ctypes.CDLL, session: int, threads: bool) -> int:
    """Run the session's loop (one thread, or libfuse's worker threads) until it ends."""
    if not threads:
        result: int = lib.fuse_session_loop(session)
        return result
    if hasattr(lib, "fuse_session_loop_mt_312"):  # libfuse >= 3.12: an opaque config
        lib.fuse_loop_cfg_create.restype = ctypes.c_void_p
        lib.fuse_loop_cfg_destroy.argtypes = [ctypes.c_void_p]
        loop = lib.fuse_session_loop_mt_312
        loop.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        config = lib.fuse_loop_cfg_create()
        try:
            result = loop(session, config)
        finally:
            lib.fuse_loop_cfg_destroy(config)
        return result
    loop = lib.fuse_session_loop_mt_32  # 3.2 to 3.11: struct fuse_loop_config {clone_fd, idle}
    loop.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int * 2)]
    result = loop(session, ctypes.byref((ctypes.c_int * 2)(0, 10)))
    return result


def main(argv: list[str] | None = None) -> int:
    """Mount ``SOURCE`` at ``MOUNTPOINT`` and serve until unmounted or signalled."""
    parser = floor_parser(__doc__)
    args = parser.parse_args(argv)
    refused = refusal()
    if refused is not None:
        parser.error(refused)
    lib = load()
    floor = Passthrough(lib, args.source, RequestCounter(args.counter))
    table = floor.operations()
    fuse_args, kept = arguments("floor-ctypes", "-o", "fsname=floor-ctypes,default_permissions")
    session = lib.fuse_session_new(ctypes.byref(fuse_args), ctypes.byref(table),
                                   ctypes.sizeof(table), None)
    if not session:
        print("floor-ctypes: fuse_session_new failed", file=sys.stderr)
        return 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # libfuse installs over default handlers only
        if lib.fuse_set_signal_handlers(session) != 0:
            return 1
        try:
            if lib.fuse_session_mount(session, os.fsencode(args.mountpoint)) != 0:
                return 1
            try:
                result = serve(lib, session, args.threads)
            finally:
                lib.fuse_session_unmount(session)
        finally:
            lib.fuse_remove_signal_handlers(session)
    finally:
        lib.fuse_session_destroy(session)
        del kept, table
    return 0 if result >= 0 else 1


if __name__ == "__main__":
    sys.exit(main())
