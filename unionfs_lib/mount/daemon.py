"""Mounting: run the FUSE loop for an overlay, as a daemon, a foreground process or a thread.

:func:`serve` blocks in libfuse's main loop (daemonising first unless asked
to stay in the foreground; libfuse returns to the caller's shell only once the
mount is ready). SIGTERM, SIGINT, SIGHUP, ``umount`` and ``fusermount3 -u``
all end the loop the same way: the kernel detaches the mount, libfuse calls
``destroy`` and the overlay is closed. :func:`mount_in_thread` serves an
overlay from a thread of the calling process (the pytest fixture uses it);
:func:`main` is the ``unionfs-lib-mount`` console script (its command line:
:mod:`.options`).

Cache settings, chosen because every change to the overlay passes through the
mount (lowers are read-only, and nothing else writes the upper while it is
mounted): ``entry_timeout``/``attr_timeout``/``negative_timeout`` default to
an hour (``-o timeout=SECONDS``), the read-ahead window is 256 KiB
(``-o readahead=KIB``, :mod:`.readahead`), ``kernel_cache`` keeps file pages
across opens (where FUSE passthrough may be used the daemon marks the opens it serves
itself: :meth:`.Passthrough.arrange`), ``use_ino`` reports the overlay's
stable inode numbers and ``default_permissions`` lets the kernel check modes
and owners. With a timeout above 0, ``opendir`` asks the kernel to cache each
directory's listing (``cache_readdir`` and ``keep_cache``; libfuse 3.16 or
later passes them on, see :mod:`.capabilities`), and a directory listed again
within half the timeout is answered without per-entry records, which the
kernel holds already. A change made to the served overlay other than through
the mount is made visible with :meth:`.OverlayOperations.forget`. Requests are
served by one thread (libfuse's ``-s``): Python runs one thread at a time
anyway, and handing each request to another worker thread only adds thread
switches (measured in the performance section of the mount documentation).

A daemon started by :func:`main` also runs CPython's cyclic garbage collector
less often (:func:`tune_collector`): with the default threshold it ran every
700 allocations and walked the overlay's caches each time, about a tenth of
the time of a ``readdirplus`` listing; the mount creates few reference cycles.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
import typing

import attrs
import fs.errors

from ..overlay import OverlayFS
from .options import (
    DEFAULT_TIMEOUT,
    MountRequest,
    UsageError,
    help_text,
    info_flag,
    parse_args,
)
from .readahead import DEFAULT_READAHEAD_KB

if typing.TYPE_CHECKING:
    from .operations import OverlayOperations

SUBTYPE = "unionfs-lib-mount"

#: libfuse 3's ``fuse_readdir_flags`` and ``fuse_fill_dir_flags`` bits.
FUSE_READDIR_PLUS = 1
FUSE_FILL_DIR_PLUS = 2


#: mfusepy handlers of requests that change names: ``True`` where only the
#: request's first path changes (it is added or removed), ``False`` where
#: other names may change too.
NAME_CHANGES = {
    "create": True,
    "mkdir": True,
    "mknod": True,
    "symlink": False,  # mfusepy passes (target, source): see _changed_name
    "unlink": True,
    "rmdir": False,
    "link": False,
    "rename": False,
    "rename_fuse_3": False,
    "setxattr": False,
    "removexattr": False,
}

#: Allocations between two collections of the youngest generation in a mount
#: daemon (CPython's default is 700).
DAEMON_COLLECTOR_THRESHOLD = 50_000


class MountError(Exception):
    """The overlay cannot be mounted; the message says why, on one line."""


def _fuse_class() -> typing.Any:
    """Return mfusepy's ``FUSE`` with ``rename`` flags passed through."""
    try:
        import mfusepy
    except (ImportError, OSError) as error:
        raise MountError(f"FUSE is not available: {error}") from None

    class Requests(mfusepy.FUSE):  # type: ignore[misc]
        """mfusepy's ``FUSE`` without the work it repeats on every request."""

        def fgetattr(self, path: bytes | None, buf: typing.Any, fip: typing.Any) -> int:
            """Answer ``getattr``: ``operations.getattr(path, fh)`` into libfuse's ``stat``."""
            found = self.operations.getattr(
                None if path is None else path.decode(self.encoding, self.errors),
                (fip.contents if self.raw_fi else fip.contents.fh) if fip else None,
            )
            put_stat(buf, found)
            return 0

        def getattr_fuse_3(self, path: bytes | None, buf: typing.Any, fip: typing.Any) -> int:
            """Answer ``getattr`` as :meth:`fgetattr` does, one call less (the hottest request)."""
            found = self.operations.getattr(
                None if path is None else path.decode(self.encoding, self.errors),
                (fip.contents if self.raw_fi else fip.contents.fh) if fip else None,
            )
            put_stat(buf, found)
            return 0

        def create(self, path: bytes, mode: int, fip: typing.Any) -> int:
            """Create and open a file: ``operations.create(path, mode, flags)``.

            mfusepy asks ``inspect.signature`` on every ``create`` which of
            two signatures the handler has (about a tenth of a small file's
            ``create``); ours takes the flags.
            """
            opened = fip.contents
            opened.fh = self.operations.create(
                path.decode(self.encoding, self.errors), mode, opened.flags
            )
            return 0

    class FUSE(Requests):
        """mfusepy's ``FUSE``, passing ``rename``'s flags (``RENAME_NOREPLACE``) on."""

        def rename_fuse_3(self, old: bytes, new: bytes, flags: int) -> int:
            """Call ``operations.rename(old, new, flags)``."""
            decode = self.encoding, self.errors
            result: int = self.operations.rename(old.decode(*decode), new.decode(*decode), flags)
            return result

        def opendir(self, path: bytes, fip: typing.Any) -> int:
            """Open a directory; let the kernel cache its listing when the mount caches.

            ``cache_readdir`` makes the kernel keep the entries of a full
            listing in the directory's page cache and ``keep_cache`` keeps
            them across opens, so a second ``ls``/``find`` sends no
            ``readdir``. The kernel drops them itself when a change it sends
            through the mount touches the directory (``create``, ``unlink``,
            ``rename``, ``link``...) and on :meth:`OverlayOperations.forget`.
            """
            result: int = super().opendir(path, fip)
            if self.operations.cache_dirs:
                fip.contents.keep_cache = 1
                if hasattr(fip.contents, "cache_readdir"):  # libfuse >= 3.5
                    fip.contents.cache_readdir = 1
            return result

        def open(self, path: bytes, fip: typing.Any) -> int:
            """Open a file; hand its reads and writes to the kernel where it can (passthrough).

            The path is decoded once for both (mfusepy's ``open`` decodes its own).
            """
            if self.raw_fi:
                result: int = super().open(path, fip)
                self.operations.hand_to_kernel(path.decode(self.encoding, self.errors), fip)
                return result
            decoded = path.decode(self.encoding, self.errors)
            opened = fip.contents
            opened.fh = self.operations.open(decoded, opened.flags)
            self.operations.hand_to_kernel(decoded, fip)
            return 0

        def create(self, path: bytes, mode: int, fip: typing.Any) -> int:
            """Create and open a file; hand it to the kernel where it can (passthrough)."""
            result: int = super().create(path, mode, fip)
            self.operations.hand_to_kernel(path.decode(self.encoding, self.errors), fip)
            return result

        def _wrapper(self, func: typing.Any, *args: typing.Any, **kwargs: typing.Any) -> typing.Any:
            """Count the request by handler name, then answer it as mfusepy does.

            A result is returned as it is (``0`` for ``None``) and an
            ``OSError`` with an errno as that errno, negated, which is what
            mfusepy answers; everything else (other exceptions, ``init``,
            mfusepy's debug log switched on) goes to mfusepy's own
            ``_wrapper`` (:meth:`_failed`), which logs, answers ``EINVAL`` or
            stops the loop. Requests that change names: :meth:`_changing`.
            """
            name = func.__name__
            self.operations.requests[name] += 1
            if name in NAME_CHANGES:
                return self._changing(name, func, args, kwargs)
            try:
                return func(*args, **kwargs) or 0
            except OSError as error:
                number = error.errno
                if type(number) is int and number > 0 and name != "init" and not _LOG_DEBUG():
                    return -number
                return self._failed(name, error, args, kwargs)
            except BaseException as error:
                return self._failed(name, error, args, kwargs)

        def _changing(
            self,
            name: str,
            func: typing.Any,
            args: tuple[typing.Any, ...],
            kwargs: dict[str, typing.Any],
        ) -> typing.Any:
            """Answer a request that adds or removes a name, or may move others.

            ``getattr``'s kept answers are dropped (``names_changed``) before
            it, and after it too unless the request only added its own name
            (``create``, which describes the new file itself).
            """
            operations = self.operations
            path = self._changed_name(name, args)
            operations.names_changed(path)
            try:
                try:
                    return func(*args, **kwargs) or 0
                except OSError as error:
                    number = error.errno
                    if type(number) is int and number > 0 and not _LOG_DEBUG():
                        return -number
                    return self._failed(name, error, args, kwargs)
                except BaseException as error:
                    return self._failed(name, error, args, kwargs)
            finally:
                if name not in ADDS_ITS_NAME:
                    operations.names_changed(path)

        def _failed(
            self,
            name: str,
            error: BaseException,
            args: tuple[typing.Any, ...],
            kwargs: dict[str, typing.Any],
        ) -> typing.Any:
            """Answer ``error`` of handler ``name`` as mfusepy's own ``_wrapper`` does."""
            return super()._wrapper(_Raising(name, error), *args, **kwargs)

        def _changed_name(self, name: str, args: tuple[typing.Any, ...]) -> str | None:
            """Return the one name a request adds or removes, or ``None`` for "any"."""
            if NAME_CHANGES[name] and args and isinstance(args[0], bytes):
                decoded: str = args[0].decode(self.encoding, self.errors)
                return decoded
            return None

        def readdir_fuse_3(
            self, path: bytes | None, buf: typing.Any, filler: typing.Any, offset: int,
            fip: typing.Any, flags: int,
        ) -> int:
            """Fill a ``readdir`` or ``readdirplus`` reply from ``operations.readdir_entries``.

            mfusepy hands libfuse only each entry's type and inode number;
            for ``readdirplus`` this passes the full ``stat`` record with
            ``FUSE_FILL_DIR_PLUS``, so the kernel needs no ``lookup`` per name.
            """
            plus = bool(flags & FUSE_READDIR_PLUS)
            entries = self.operations.readdir_entries(offset, fip.contents.fh, plus=plus)
            record = mfusepy.c_stat()
            where = ctypes.addressof(record)
            encoding, errors = self.encoding, self.errors
            for name, found, next_offset in entries:
                if plus and "st_nlink" in found:
                    put_stat(where, found)
                    fill = FUSE_FILL_DIR_PLUS
                else:
                    # Without FUSE_FILL_DIR_PLUS libfuse reads these two fields only.
                    record.st_mode = found["st_mode"]
                    record.st_ino = found["st_ino"]
                    fill = 0
                if filler(buf, name.encode(encoding, errors), record, next_offset, fill):
                    break
            return 0

    return FUSE


#: ``stat`` record keys in nanoseconds, and the ``timespec`` field of each.
_TIMESPECS = {"st_atime": "st_atimespec", "st_mtime": "st_mtimespec", "st_ctime": "st_ctimespec"}
_NS = 1_000_000_000

#: Handlers of :data:`NAME_CHANGES` that add their own name only and
#: describe it to the kernel themselves: what ``getattr`` keeps for the
#: name is dropped before them, not after (see :meth:`.OverlayOperations.create`).
ADDS_ITS_NAME = frozenset({"create"})

_LOG_DEBUG = functools.partial(logging.getLogger("fuse").isEnabledFor, logging.DEBUG)


class _Raising:
    """A stand-in handler named ``name`` that raises ``error`` (for mfusepy's ``_wrapper``)."""

    def __init__(self, name: str, error: BaseException) -> None:
        """Raise ``error`` when called, as handler ``name``."""
        self.__name__ = name
        self.error = error

    def __call__(self, *args: typing.Any, **kwargs: typing.Any) -> typing.NoReturn:
        """Raise the error."""
        raise self.error


def fill_stat(target: typing.Any, record: typing.Mapping[str, typing.Any]) -> None:
    """Copy a ``stat`` record (times in nanoseconds) into libfuse's zeroed ``struct stat``.

    What ``mfusepy.set_st_attrs(target, record, use_ns=True)`` does for the
    records the mount makes (:mod:`.attributes`), in half its time: it runs
    for every ``getattr`` and every entry of a ``readdirplus`` listing.
    """
    for key, value in record.items():
        spec = _TIMESPECS.get(key)
        if spec is None:
            setattr(target, key, value)
        else:
            times = getattr(target, spec)
            times.tv_sec, times.tv_nsec = divmod(int(value), _NS)


#: ``struct stat`` of Linux on x86_64 (mfusepy's ``c_stat`` there): device,
#: inode, links, mode, owner, group, padding, rdev, size, block size,
#: blocks, three ``timespec`` (seconds, nanoseconds), reserved.
_X86_64_STAT = struct.Struct("=QQQIII4xQqqqqqqqqq24x")


def _pack_stat(record: typing.Mapping[str, typing.Any]) -> bytes:
    """Return a ``stat`` record (times in nanoseconds) as the bytes of ``struct stat``."""
    get = record.get
    atime, mtime, ctime = int(get("st_atime", 0)), int(get("st_mtime", 0)), int(get("st_ctime", 0))
    return _X86_64_STAT.pack(
        get("st_dev", 0), get("st_ino", 0), get("st_nlink", 0), get("st_mode", 0),
        get("st_uid", 0), get("st_gid", 0), get("st_rdev", 0), get("st_size", 0),
        get("st_blksize", 0), get("st_blocks", 0), atime // _NS, atime % _NS,
        mtime // _NS, mtime % _NS, ctime // _NS, ctime % _NS,
    )


def _packs_as_mfusepy() -> bool:
    """Tell whether :func:`_pack_stat` writes what :func:`fill_stat` writes here (once)."""
    try:
        import mfusepy
    except (ImportError, OSError):
        return False
    if ctypes.sizeof(mfusepy.c_stat) != _X86_64_STAT.size:
        return False
    sample = {
        "st_dev": 1, "st_ino": 2**62 + 3, "st_nlink": 4, "st_mode": 0o100644, "st_uid": 5,
        "st_gid": 6, "st_rdev": 7, "st_size": 2**40 + 8, "st_blksize": 9, "st_blocks": 10,
        "st_atime": 11 * _NS + 12, "st_mtime": -13 * _NS + 14, "st_ctime": 15 * _NS + 16,
    }
    filled = mfusepy.c_stat()
    fill_stat(filled, sample)
    return bytes(filled) == _pack_stat(sample)


_PACKS = _packs_as_mfusepy()

#: ``memmove``, looked up once (a ``getattr`` reply or a listed entry per call).
_copy = ctypes.memmove


def put_stat(target: typing.Any, record: typing.Mapping[str, typing.Any]) -> None:
    """Write a ``stat`` record (times in nanoseconds) over libfuse's ``struct stat`` at ``target``.

    ``target`` is a pointer to the structure, or its address. What
    ``memset`` and :func:`fill_stat` write, in one ``struct`` packing and
    one copy where the layout is known (:data:`_X86_64_STAT`, checked
    against mfusepy's at import): it runs for every ``getattr`` and every
    entry of a ``readdirplus`` listing. A value the layout cannot hold
    takes :func:`fill_stat`'s way, which truncates as ``ctypes`` does.
    """
    if _PACKS:
        try:
            _copy(target, _pack_stat(record), _X86_64_STAT.size)
            return
        except (struct.error, TypeError, ValueError, OverflowError):
            pass
    import mfusepy

    if isinstance(target, int):
        target = ctypes.cast(target, ctypes.POINTER(mfusepy.c_stat))
    ctypes.memset(target, 0, ctypes.sizeof(mfusepy.c_stat))
    fill_stat(target.contents, record)


def fuse_options(
    source: str, *, read_only: bool, timeout: float, extra: typing.Sequence[str] = ()
) -> dict[str, typing.Any]:
    """Return the libfuse ``-o`` options of a mount (see the module docstring).

    ``extra`` are options from the command line, flags (``allow_other``) or
    ``key=value`` (``fsname=NAME``, ``uid=N``): they replace the defaults of
    the same name; ``auto_cache`` replaces ``kernel_cache``.
    """
    options: dict[str, typing.Any] = {
        "fsname": source.replace(",", "_"),
        "subtype": SUBTYPE,
        "use_ino": True,
        "default_permissions": True,
        "kernel_cache": True,
        "entry_timeout": timeout,
        "attr_timeout": timeout,
        "negative_timeout": timeout,
        "ro": read_only,
        "nothreads": True,
    }
    for item in extra:
        key, has_value, value = item.partition("=")
        options[key] = value if has_value else True
    if options.get("auto_cache") is True and not options.get("noauto_cache"):
        options["kernel_cache"] = False
    return options


def check_mountpoint(path: str) -> None:
    """Raise :class:`MountError` unless ``path`` is a directory nothing is mounted on."""
    if not os.path.isdir(path):
        raise MountError(f"mount point {path!r} is not a directory")
    if os.path.ismount(path):
        raise MountError(f"mount point {path!r} is busy: something is mounted there")


def serve(
    overlay: OverlayFS,
    mountpoint: str,
    *,
    source: str = "overlay",
    foreground: bool = True,
    debug: bool = False,
    read_only: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    extra_options: typing.Sequence[str] = (),
    readahead_kb: int = DEFAULT_READAHEAD_KB,
    operations: OverlayOperations | None = None,
) -> None:
    """Mount ``overlay`` on ``mountpoint`` and serve it until unmounted.

    Without ``foreground`` the process daemonises once the mount is ready
    (the parent exits with status 0). The overlay is closed on unmount.
    ``operations`` answers the requests (made for ``overlay`` if not given).
    Directory listings are cached by the kernel when ``timeout`` is not 0.
    """
    from .operations import OverlayOperations

    check_mountpoint(mountpoint)
    options = fuse_options(source, read_only=read_only, timeout=timeout, extra=extra_options)
    if operations is None:
        operations = OverlayOperations(
            overlay, mountpoint=os.path.abspath(mountpoint), readahead_kb=readahead_kb
        )
    operations.cache_dirs = timeout > 0
    operations.passthrough.writable = not read_only
    operations.passthrough.lowers = read_only or overlay.upper is None
    operations.passthrough.arrange(options)
    operations.passthrough.announce = debug
    operations.described_for = timeout / 2
    try:
        _fuse_class()(
            operations, mountpoint, foreground=foreground or debug, debug=debug, **options
        )
    except RuntimeError as error:
        # libfuse also reports an end by signal (SIGTERM, SIGINT) as a failure.
        if not operations.started.is_set():
            raise MountError(f"libfuse could not mount {mountpoint!r} (status {error})") from None


def unmount(mountpoint: str | os.PathLike[str], *, lazy: bool = False) -> bool:
    """Unmount a FUSE mount (``fusermount3 -u``, ``umount`` as a fallback); tell if it went."""
    path = os.fspath(mountpoint)
    commands = [["fusermount3", "-u", *(["-z"] if lazy else []), path]]
    commands.append(["umount", *(["-l"] if lazy else []), path])
    for command in commands:
        if shutil.which(command[0]) is None:
            continue
        if subprocess.run(command, capture_output=True).returncode == 0:
            return True
    return not os.path.ismount(path)


@attrs.define
class ThreadMount:
    """An overlay mounted and served by a thread of this process.

    Attributes:
        mountpoint: where the overlay is mounted.
        thread: the thread running the FUSE loop.
        failure: the exception that ended the loop, if any.
        operations: the object answering the mount's requests (its
            ``requests`` counter, :meth:`~.operations.OverlayOperations.forget`).
    """

    mountpoint: str
    thread: threading.Thread | None = None
    failure: BaseException | None = None
    operations: OverlayOperations | None = None

    def unmount(self, join_timeout: float = 30.0) -> None:
        """Unmount (lazily if busy) and wait for the loop to end."""
        if os.path.ismount(self.mountpoint) and not unmount(self.mountpoint):
            unmount(self.mountpoint, lazy=True)
        if self.thread is not None:
            self.thread.join(join_timeout)


def mount_in_thread(
    overlay: OverlayFS,
    mountpoint: str | os.PathLike[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    ready_within: float = 30.0,
    read_only: bool = False,
) -> ThreadMount:
    """Mount ``overlay`` on ``mountpoint``, served by a new thread; return once it is ready.

    Call :meth:`ThreadMount.unmount` to end it (this closes the overlay).
    The process keeps its working directory: libfuse changes that of the
    thread serving the mount to ``/``, which is given a working directory of
    its own first (:func:`own_working_directory`); where that is refused the
    caller's is put back once the mount answers.
    """
    from .operations import OverlayOperations

    path = os.path.abspath(mountpoint)
    check_mountpoint(path)
    operations = OverlayOperations(overlay, mountpoint=path)
    mounted = ThreadMount(path, operations=operations)
    caller_cwd = _working_directory()

    def run() -> None:
        own_working_directory()
        try:
            serve(overlay, path, foreground=True, timeout=timeout, read_only=read_only,
                  operations=operations)
        except BaseException as error:  # reported by the waiting caller
            mounted.failure = error

    mounted.thread = threading.Thread(target=run, name=f"fuse {path}", daemon=True)
    mounted.thread.start()
    deadline = time.monotonic() + ready_within
    try:
        # ismount() stats the mount's root: the kernel holds that request
        # until libfuse's loop runs, after libfuse changed directory.
        while not os.path.ismount(path):
            if not mounted.thread.is_alive() or time.monotonic() > deadline:
                mounted.unmount(join_timeout=5)
                raise MountError(f"could not mount on {path!r}: {mounted.failure or 'timed out'}")
            time.sleep(0.01)
    finally:
        _restore_working_directory(caller_cwd)
    return mounted


#: ``unshare(2)`` flag: stop sharing the working directory, root and umask.
CLONE_FS = 0x200


def own_working_directory() -> bool:
    """Give the calling thread a working directory of its own; tell whether it worked.

    Linux only (``unshare(CLONE_FS)``): a later ``chdir`` in this thread (as
    libfuse's ``fuse_main`` makes) then leaves the other threads where they
    are. The thread keeps a copy of the process's root and umask.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.unshare(CLONE_FS) == 0)
    except (OSError, AttributeError):
        return False


def _working_directory() -> str | None:
    """Return the process's working directory, or ``None`` if it is gone."""
    try:
        return os.getcwd()
    except OSError:
        return None


def _restore_working_directory(saved: str | None) -> None:
    """Change back to ``saved`` if something changed the process's working directory."""
    if saved is not None and _working_directory() != saved:
        os.chdir(saved)


def open_request(request: MountRequest) -> OverlayFS:
    """Open the overlay a command line asks for, in the kernel's on-disk format.

    A read-only mount with an upper shows the upper as the top lower layer
    (whiteouts and opaque directories included) and writes nothing.
    """
    if request.upperdir is not None and request.read_only:
        return OverlayFS.from_dirs([request.upperdir, *request.lowerdirs])
    return OverlayFS.from_dirs(request.lowerdirs, request.upperdir, request.workdir)


def tune_collector() -> None:
    """Make this process's cyclic garbage collector run rarely (see the module docstring).

    What exists when the mount starts is moved out of the collector's reach
    (``gc.freeze``) and the youngest generation is collected every
    :data:`DAEMON_COLLECTOR_THRESHOLD` allocations. Only for a process that
    is a mount daemon: a mount served by a thread leaves its process alone.
    """
    gc.freeze()
    gc.set_threshold(DAEMON_COLLECTOR_THRESHOLD, *gc.get_threshold()[1:])


def run_request(request: MountRequest, overlay: OverlayFS) -> None:
    """Serve an opened overlay as ``request`` says (daemonised unless ``-f``/``-d``)."""
    tune_collector()
    serve(
        overlay,
        request.mountpoint,
        source=request.source,
        foreground=request.foreground,
        debug=request.debug,
        read_only=request.read_only,
        timeout=request.timeout,
        extra_options=request.fuse_options,
        readahead_kb=request.readahead_kb,
    )


def main(argv: typing.Sequence[str] | None = None) -> int:
    """Run ``unionfs-lib-mount``; print one line on standard error and return 1 on failure."""
    arguments = sys.argv[1:] if argv is None else argv
    asked = info_flag(arguments)
    if asked is not None:
        print(help_text() if asked == "help" else f"unionfs-lib-mount {_version()}")
        return 0
    try:
        request = parse_args(arguments)
        check_mountpoint(request.mountpoint)
        _fuse_class()
        overlay = open_request(request)
    except (UsageError, MountError, fs.errors.FSError, ValueError) as error:
        print(f"unionfs-lib-mount: {_one_line(error)}", file=sys.stderr)
        return 1
    try:
        run_request(request, overlay)
    except MountError as error:
        overlay.close()
        print(f"unionfs-lib-mount: {_one_line(error)}", file=sys.stderr)
        return 1
    return 0


def _version() -> str:
    """Return the package's version."""
    from .. import __version__

    return __version__


def _one_line(error: BaseException) -> str:
    """Return an error message on a single line."""
    return " ".join(str(error).split())


if __name__ == "__main__":
    sys.exit(main())
