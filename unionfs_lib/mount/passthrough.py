"""FUSE passthrough: the kernel reads and writes an open file's host file itself.

With libfuse 3.17 or later, Linux 6.9 or later and a daemon with
``CAP_SYS_ADMIN`` (see :func:`.capabilities.passthrough_refusal`), the mount
asks for ``FUSE_CAP_PASSTHROUGH`` at ``init``. Then, where the daemon holds
a real host descriptor for an opened file (:mod:`.direct`), ``open`` and
``create`` register that file with the kernel (``FUSE_DEV_IOC_BACKING_OPEN``
on the session's ``/dev/fuse`` descriptor) and leave the backing id in the
reply's ``fuse_file_info``: ``read``, ``write`` and ``mmap`` of that open
file go from the kernel to the host file without reaching the daemon, and
the kernel keeps the file's size and times up to date itself.

The kernel ties one backing file to a kernel inode while any passthrough
open of it lasts, and refuses (``EIO`` to the caller) an open in the other
mode meanwhile: every open of a file is either handed to the kernel with
the same backing id or served by the daemon, as the first open that is
still open decided. :class:`Passthrough` keeps that book, by host file
(device and inode number) and, for opens without a host descriptor, by
path. Which files pass through:

* files whose bytes and entry lie in the upper, opened for reading or
  writing (the backing is opened read-write, so that a later writer can
  share it; read-only on a read-only mount), with one link only (the names
  of a hard-linked file are separate kernel inodes, kept coherent by the
  daemon: :mod:`.hardlink_names`);
* lower files opened read-only, only where nothing can copy them up while
  they are open (a read-only mount, or no upper: :attr:`Passthrough.lowers`):
  a kernel backing cannot follow a copy-up as the daemon's descriptors do
  (:class:`.direct.ReadersByPath`), and a write open of the same file while
  it is read through passthrough would be refused by the kernel;
* nothing else: files of zip, tar, memory or remote layers, lower files
  opened for writing (copied up at the first write) keep being served by
  the daemon.

A lower file opened for writing is copied up before any backing is chosen.
A backing id is closed (``FUSE_DEV_IOC_BACKING_CLOSE``) when the last open
sharing it is released. Where the library, the kernel or the options refuse
(``writeback_cache`` excludes passthrough), :attr:`Passthrough.refusal` says
why and every file is served by the daemon as before.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import fcntl
import os
import stat
import struct
import sys
import threading
import typing

import attrs

from . import capabilities

#: ``fuse_conn_info`` capability bits (``include/fuse_common.h``).
FUSE_CAP_WRITEBACK_CACHE = 1 << 16
FUSE_CAP_PASSTHROUGH = 1 << 29
#: ``_IOW(229, 1, struct fuse_backing_map)`` and ``_IOW(229, 2, uint32_t)`` (``fuse_kernel.h``).
FUSE_DEV_IOC_BACKING_OPEN = 0x4010E501
FUSE_DEV_IOC_BACKING_CLOSE = 0x4004E502
#: The offset of ``int32_t backing_id`` in libfuse 3.17's ``struct fuse_file_info``
#: (``flags``, three 32-bit words of bits, ``fh``, ``lock_owner``, ``poll_events``).
BACKING_ID_OFFSET = 36

_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOSE_ON_EXEC = getattr(os, "O_CLOEXEC", 0)

#: What the book keys an open by: ``(st_dev, st_ino)`` of its host file, or its path.
Key = typing.Union[typing.Tuple[int, int], str]


@attrs.define
class SharedBacking:
    """One backing id the kernel holds, shared by the passthrough opens of one file.

    Attributes:
        backing_id: the id ``FUSE_DEV_IOC_BACKING_OPEN`` returned.
        writable: the backing file was opened read-write.
        opens: the opens that use it and have not been released.
    """

    backing_id: int
    writable: bool
    opens: int = 0


@attrs.define
class Passthrough:
    """Decide, per open, whether the kernel serves its reads and writes; keep the book.

    Attributes:
        refusal: why passthrough is off for this mount, or ``None`` once
            ``init`` asked for it and the kernel offered it.
        lowers: let read-only opens of lower files pass through (set by
            :func:`.daemon.serve` where nothing can copy a file up: a
            read-only mount or an overlay without upper).
        writable: the mount may write (upper backings are opened read-write).
        passed: opens handed to the kernel so far (for tests and reports).
        excluded: why the mount's options exclude passthrough, or ``None``
            (set by :meth:`arrange`; until then passthrough is not asked for).
        keeps_cache: libfuse's ``kernel_cache`` is off for this mount and
            the daemon marks the opens it serves ``keep_cache`` itself
            (:func:`.daemon.serve`): libfuse's high-level API would mark
            every open so after ``open`` returns, and the kernel refuses a
            passthrough open with ``FOPEN_KEEP_CACHE`` (``EIO``).
    """

    refusal: str | None = "unavailable: the mount has not started"
    lowers: bool = False
    writable: bool = True
    passed: int = 0
    excluded: str | None = "off: libfuse's options were not arranged for passthrough"
    keeps_cache: bool = False
    announce: bool = False
    _session_fd: int = -1
    _shared: dict[Key, SharedBacking] = attrs.field(factory=dict)
    _served: collections.Counter[Key] = attrs.field(factory=collections.Counter)
    _handles: dict[int, tuple[tuple[Key, ...], bool]] = attrs.field(factory=dict)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    # -- setting up ----------------------------------------------------------

    def arrange(self, options: dict[str, typing.Any]) -> None:
        """Fit the libfuse ``-o`` options of a mount for passthrough, where it may be used.

        ``kernel_cache`` is taken out of ``options`` (the daemon then marks
        the opens it serves ``keep_cache`` itself: :attr:`keeps_cache`) when
        this machine allows passthrough; :attr:`excluded` says which option
        still excludes it, if any (:func:`excluded_by`).
        """
        if options.get("kernel_cache") and capabilities.passthrough_refusal() is None:
            if excluded_by({**options, "kernel_cache": False}) is None:
                options["kernel_cache"] = False
                self.keeps_cache = True
        self.excluded = excluded_by(options)

    # -- init ----------------------------------------------------------------

    def negotiate(self, conn: typing.Any) -> None:
        """Ask for ``FUSE_CAP_PASSTHROUGH`` in ``init`` where everything allows it.

        ``conn`` is mfusepy's ``fuse_conn_info`` of the loaded libfuse. The
        capability bit lies in the 32-bit ``want`` word, which libfuse 3.17
        folds into ``want_ext``; ``max_backing_stack_depth`` stays 0 (backing
        files on a file system that is not itself stacked).
        """
        refusal = capabilities.passthrough_refusal()
        if refusal is None:
            refusal = self.excluded
        if refusal is None:
            refusal = _conn_refusal(conn)
        if refusal is None:
            found = session_descriptor()
            if found is None:
                refusal = "unavailable: libfuse gives no session descriptor"
            else:
                self._session_fd = found
        self.refusal = refusal
        if refusal is None:
            conn.want |= FUSE_CAP_PASSTHROUGH
        if self.announce:
            print(f"unionfs-lib-mount: passthrough: {refusal or 'on'}", file=sys.stderr)

    # -- open and release ------------------------------------------------------

    def attach(
        self,
        fi_address: int,
        handle: int,
        path: str,
        descriptor: int | None,
        *,
        lower: bool,
        writing: bool,
    ) -> bool:
        """Decide how open ``handle`` of ``path`` is served; tell if it passes through.

        ``fi_address`` is the address of libfuse's ``fuse_file_info`` of the
        open (its ``backing_id`` is set there); ``descriptor`` the daemon's
        host descriptor of the file (``None``: the daemon serves it);
        ``lower`` whether that descriptor reads a lower file. Where the
        mount refused passthrough (decided once, in ``init``) the daemon
        serves every open and keeps no book of it: no ``fstat``, no lock.
        """
        if self.refusal is not None:
            return False
        keys: tuple[Key, ...] = (path,)
        identity: Key | None = None
        if descriptor is not None:
            found = _identity(descriptor)
            if found is not None:
                identity = found[0]
                keys = (path, identity)
        with self._lock:
            shared = self._choose(keys, identity, descriptor, lower=lower, writing=writing)
            if shared is None:
                for key in keys:
                    self._served[key] += 1
                self._handles[handle] = (keys, False)
                return False
            assert identity is not None
            shared.opens += 1
            self._handles[handle] = ((identity,), True)
            self.passed += 1
        ctypes.c_int32.from_address(fi_address + BACKING_ID_OFFSET).value = shared.backing_id
        return True

    def release(self, handle: int) -> bool:
        """Forget open ``handle``; tell if it was a passthrough open (its data may have changed).

        The backing id is closed once no open shares it.
        """
        with self._lock:
            found = self._handles.pop(handle, None)
            if found is None:
                return False
            keys, passed = found
            if not passed:
                for key in keys:
                    self._served[key] -= 1
                    if self._served[key] <= 0:
                        del self._served[key]
                return False
            shared = self._shared.get(keys[0])
            if shared is None:
                return True
            shared.opens -= 1
            if shared.opens > 0:
                return True
            del self._shared[keys[0]]
        self._close_backing(shared.backing_id)
        return True

    def close_all(self) -> None:
        """Close every backing id still held (the mount goes away)."""
        with self._lock:
            held = list(self._shared.values())
            self._shared.clear()
            self._handles.clear()
            self._served.clear()
        for shared in held:
            self._close_backing(shared.backing_id)

    # -- decisions -------------------------------------------------------------

    def _choose(
        self,
        keys: tuple[Key, ...],
        identity: Key | None,
        descriptor: int | None,
        *,
        lower: bool,
        writing: bool,
    ) -> SharedBacking | None:
        """Return the backing the open shares (made if needed); ``None``: the daemon serves it."""
        if self.refusal is not None or identity is None or descriptor is None:
            return None
        if any(key in self._served for key in keys):
            return None  # the kernel has this file open in caching mode
        shared = self._shared.get(identity)
        if shared is not None:
            return shared if shared.writable or not writing else None
        if lower and not self.lowers:
            return None
        if not _single_regular_file(descriptor):
            return None
        made = self._open_backing(descriptor, lower=lower)
        if made is not None:
            self._shared[identity] = made
        return made

    def _open_backing(self, descriptor: int, *, lower: bool) -> SharedBacking | None:
        """Register the file of ``descriptor`` with the kernel; ``None`` if refused.

        An upper file is opened again read-write (on a writable mount) so that
        every later open, reading or writing, can share the backing.
        """
        writable = self.writable and not lower
        source = descriptor
        if writable:
            try:
                source = os.open(f"/proc/self/fd/{descriptor}", os.O_RDWR | _CLOSE_ON_EXEC)
            except OSError:
                return None
        try:
            backing_id = self._register(source)
        finally:
            if source != descriptor:
                os.close(source)
        return None if backing_id is None else SharedBacking(backing_id, writable)

    def _register(self, descriptor: int) -> int | None:
        """``FUSE_DEV_IOC_BACKING_OPEN``: return the backing id, or ``None`` (see :attr:`refusal`).

        ``EPERM`` means the kernel did not take passthrough at ``init``
        (``writeback_cache``, a kernel built without it): it is then off for
        the rest of the mount. Other errors (a backing file on a stacked
        file system) refuse this file only.
        """
        request = bytearray(struct.pack("=iIQ", descriptor, 0, 0))
        try:
            found = fcntl.ioctl(self._session_fd, FUSE_DEV_IOC_BACKING_OPEN, request)
        except OSError as error:
            if error.errno in (errno.EPERM, errno.ENOTTY, errno.EBADF):
                reason = os.strerror(error.errno)
                self.refusal = f"off: the kernel refused a backing file ({reason})"
            return None
        return found if found > 0 else None

    def _close_backing(self, backing_id: int) -> None:
        """``FUSE_DEV_IOC_BACKING_CLOSE``; an error (the session already gone) is ignored."""
        try:
            fcntl.ioctl(self._session_fd, FUSE_DEV_IOC_BACKING_CLOSE,
                        bytearray(struct.pack("=I", backing_id)))
        except OSError:
            pass


def excluded_by(options: typing.Mapping[str, typing.Any]) -> str | None:
    """Return why libfuse ``-o`` options exclude passthrough, or ``None``.

    ``writeback_cache`` (the kernel refuses passthrough with it),
    ``kernel_cache`` and ``auto_cache`` (libfuse then marks opens
    ``keep_cache`` after the daemon's ``open``, which the kernel refuses for
    a passthrough open: :meth:`Passthrough.arrange` takes ``kernel_cache``
    out) and ``direct_io`` (reads and writes would go to the daemon still).
    """
    for name in ("writeback_cache", "kernel_cache", "auto_cache", "direct_io"):
        if options.get(name) and options.get(name) != "0":
            return f"off: the {name} option excludes passthrough"
    return None


def _conn_refusal(conn: typing.Any) -> str | None:
    """Return why ``init``'s ``conn`` excludes passthrough, or ``None``."""
    if conn is None:
        return "unavailable: no connection information at init"
    capable = int(getattr(conn, "capable_ext", 0) or conn.capable)
    if not capable & FUSE_CAP_PASSTHROUGH:
        return "unavailable: the kernel does not offer FUSE passthrough (CONFIG_FUSE_PASSTHROUGH)"
    if int(conn.want) & FUSE_CAP_WRITEBACK_CACHE:
        return "off: writeback_cache excludes passthrough"
    return None


def session_descriptor() -> int | None:
    """Return the ``/dev/fuse`` descriptor of the session serving the current request.

    Calls libfuse's ``fuse_get_context``, ``fuse_get_session`` and
    ``fuse_session_fd`` on the library mfusepy loaded; ``None`` outside a
    FUSE request or ``init``.
    """
    import mfusepy

    library = mfusepy._libfuse
    try:
        library.fuse_get_session.restype = ctypes.c_void_p
        library.fuse_get_session.argtypes = (ctypes.c_void_p,)
        library.fuse_session_fd.restype = ctypes.c_int
        library.fuse_session_fd.argtypes = (ctypes.c_void_p,)
        context = library.fuse_get_context()
        if not context or not context.contents.fuse:
            return None
        session = library.fuse_get_session(context.contents.fuse)
        found = int(library.fuse_session_fd(session)) if session else -1
    except (AttributeError, ValueError):
        return None
    return found if found >= 0 else None


def _identity(descriptor: int) -> tuple[tuple[int, int], os.stat_result] | None:
    """Return ``((st_dev, st_ino), stat)`` of an open descriptor, or ``None``."""
    try:
        found = os.fstat(descriptor)
    except OSError:
        return None
    return (found.st_dev, found.st_ino), found


def _single_regular_file(descriptor: int) -> bool:
    """Tell if ``descriptor`` is a regular file with one link (see the module docstring)."""
    found = _identity(descriptor)
    return found is not None and stat.S_ISREG(found[1].st_mode) and found[1].st_nlink == 1


__all__ = [
    "BACKING_ID_OFFSET",
    "FUSE_CAP_PASSTHROUGH",
    "FUSE_DEV_IOC_BACKING_CLOSE",
    "FUSE_DEV_IOC_BACKING_OPEN",
    "Passthrough",
    "SharedBacking",
    "excluded_by",
    "session_descriptor",
]
