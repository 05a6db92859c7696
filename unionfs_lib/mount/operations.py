"""The FUSE operations: each kernel request answered by an ``OverlayFS`` call.

:class:`OverlayOperations` is an ``mfusepy.Operations``: libfuse calls it
with paths, it calls the overlay's public API (``getinfo``, ``openbin``,
``iterdir``, ``move``, ``movedir``, ...) and answers PyFilesystem2 errors with
the errno Linux overlayfs gives (:mod:`unionfs_lib.mount.errno_map`).

* ``st_ino`` is the overlay's ``ino`` (mounted with ``use_ino``), the same
  before and after copy-up (kept by the overlay itself; :mod:`.identity`
  gives every name of a hard-linked file one number); the kernel gives every
  entry the mount's ``st_dev``.
* Modes, owners and times: :mod:`.attributes`; symbolic links:
  :mod:`.links`; extended attributes: :mod:`.xattrs`.
* ``readdir`` offsets come from the overlay's stable ``iterdir`` cookies:
  each open directory maps small integers to the cookies it handed out, so
  ``telldir``/``seekdir`` resume after the same name even when entries were
  added or removed meanwhile.
* ``rename`` is ``OverlayFS.rename``: a directory moves by redirect, never
  ``EXDEV``; ``RENAME_NOREPLACE`` is honoured, ``RENAME_EXCHANGE`` swaps
  any two entries, directories too.
* ``readdir`` answers ``readdirplus`` requests with each entry's full
  ``stat`` record, so listing a directory spares the kernel one ``lookup``
  per name.
* Hard links (``link``) are made in the upper (:mod:`.hardlinks`). Each
  name is its own kernel node, so a change through one name invalidates the
  kernel's cache of the others (:mod:`.linked_names`, :mod:`.invalidation`);
  they use the page cache as every file does, so they can be mapped shared
  (``mmap(MAP_SHARED)``).
* Open files are real descriptors where the file's bytes lie in a layer with
  OS paths (:mod:`.direct`: ``os.pread``/``os.pwrite``); otherwise overlay
  handles. A write through a handle on a lower file copies it up then, not
  at ``open``. With libfuse 3.17 or later the kernel reads and writes such
  descriptors itself, without the daemon (FUSE passthrough:
  :mod:`.passthrough`, hooked in ``open``/``create``/``release``).
"""

from __future__ import annotations

import bisect
import collections
import ctypes
import errno
import functools
import hashlib
import io
import itertools
import os
import stat
import threading
import time
import typing

import attrs
import fs.errors
import fs.path
import mfusepy
from fs.path import join

from .. import cookie_name, make_cookie
from ..overlay import OverlayFS
from . import attributes, bufcopy, direct, fileflags, hardlinks, readahead, xattrs
from . import symlinks as links
from .errno_map import os_error
from .hardlink_names import LinkedNames
from .invalidation import PathInvalidator
from .passthrough import Passthrough

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
#: ``fallocate(2)`` modes the mount passes on to the upper file system.
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)

#: One ``readdir`` entry: name, the ``stat`` fields the kernel uses, offset.
DirEntry = typing.Tuple[str, typing.Dict[str, typing.Any], int]

#: Offsets 1 and 2 stand for "." and ".."; entries count from here.
_FIRST_ENTRY_OFFSET = 3

#: Names ``getattr`` keeps a quick answer for, at most (see ``names_changed``).
_REUSABLE_LIMIT = 100_000

#: Directories remembered as described to the kernel (see ``_plus_wanted``).
_DESCRIBED_LIMIT = 65_536

#: The longest name, in bytes, where no layer has OS paths to ask (Linux's ``NAME_MAX``).
DEFAULT_NAME_MAX = 255

_Call = typing.TypeVar("_Call", bound=typing.Callable[..., typing.Any])


def _errno_answers(method: _Call) -> _Call:
    """Turn the overlay's ``fs.errors`` into ``OSError`` with the kernel's errno."""

    @functools.wraps(method)
    def answered(*args: typing.Any, **kwargs: typing.Any) -> typing.Any:
        try:
            return method(*args, **kwargs)
        except fs.errors.FSError as error:
            raise os_error(error) from error

    return typing.cast(_Call, answered)


@attrs.define
class OpenFile:
    """One open file of the mount.

    Attributes:
        handle: the overlay's file object, or a file object over ``fd``
            (unbuffered).
        append: opened with ``O_APPEND``: every write goes to the end.
        lock: serialises the seek-then-read/write pairs of this handle.
        pending_copy_up: the path of a lower file opened for writing: the
            descriptors reading its lower copy follow it to the upper once
            the first write has copied it up (the copy-up keeps its number).
        fd: the layer file's descriptor when reads and writes go straight
            to it (:mod:`.direct`), else ``None``.
        lower_reader: the overlay path of a descriptor reading a lower file
            (moved to the upper copy if another handle copies it up).
    """

    handle: typing.BinaryIO
    append: bool = False
    lock: threading.Lock = attrs.field(factory=threading.Lock)
    pending_copy_up: str | None = None
    fd: int | None = None
    lower_reader: str | None = None


@attrs.define
class DirCursor:
    """The readdir offsets of one open directory.

    Offset ``n`` means "continue after the entry handed out with ``n``"; the
    table keeps the cookie of each such entry, at most one offset per name,
    so repeated ``seekdir`` calls do not grow it.
    """

    path: str
    cookies: dict[int, str] = attrs.field(factory=dict)
    offsets: dict[str, int] = attrs.field(factory=dict)
    held: tuple[int, DirEntry, typing.Iterator[DirEntry]] | None = None
    #: The kernel already holds this listing's entries: answer ``readdirplus``
    #: without attributes (see :meth:`OverlayOperations.readdir_entries`).
    plain: bool = False

    def hold(self, offset: int, entry: DirEntry, rest: typing.Iterator[DirEntry]) -> None:
        """Remember the stream in case the kernel stops before ``entry`` (its buffer full).

        libfuse asks again from ``offset``, the offset before ``entry``: the
        same stream then goes on with ``entry``, instead of a new listing.
        """
        self.held = (offset, entry, rest)

    def resume(self, offset: int) -> typing.Iterator[DirEntry] | None:
        """Return the held stream if the kernel continues where it stopped."""
        held, self.held = self.held, None
        if held is None or held[0] != offset:
            return None
        return itertools.chain([held[1]], held[2])

    def offset_of(self, cookie: str) -> int:
        """Return the offset standing for ``cookie`` (a new one the first time)."""
        found = self.offsets.get(cookie)
        if found is None:
            found = self.offsets[cookie] = len(self.cookies) + _FIRST_ENTRY_OFFSET
            self.cookies[found] = cookie
        return found

    def cookie_at(self, offset: int) -> str | None:
        """Return the cookie to resume after for ``offset`` (``None``: from the start)."""
        if offset < _FIRST_ENTRY_OFFSET:
            return None
        cookie = self.cookies.get(offset)
        if cookie is None:
            raise OSError(errno.EINVAL, f"unknown directory offset {offset}")
        return cookie


class OverlayOperations(mfusepy.Operations):  # type: ignore[misc]
    """Answer FUSE requests from an :class:`~unionfs_lib.overlay.OverlayFS`.

    Arguments:
        overlay: the overlay to serve; it is closed when the file system is
            unmounted (``destroy``) if ``close_on_unmount`` is true.
        close_on_unmount: close the overlay on unmount.
        mountpoint: where it is mounted, to widen the mount's read-ahead
            window once it is up; ``None`` leaves the window alone.
        readahead_kb: that window, in KiB (see :mod:`.readahead`).
    """

    use_ns = True

    def __init__(
        self,
        overlay: OverlayFS,
        *,
        close_on_unmount: bool = True,
        mountpoint: str | None = None,
        readahead_kb: int = readahead.DEFAULT_READAHEAD_KB,
    ) -> None:
        """Serve ``overlay``; see the class docstring."""
        self.overlay = overlay
        self.close_on_unmount = close_on_unmount
        self.mountpoint = mountpoint
        self.readahead_kb = readahead_kb
        self._readahead_pending = False
        self.owner = (os.getuid(), os.getgid())
        self._files: dict[int, OpenFile] = {}
        self._readers = direct.ReadersByPath()
        self._dirs: dict[int, DirCursor] = {}
        self._numbers = itertools.count(1)
        self._table_lock = threading.Lock()
        self._linked = LinkedNames()
        self._invalidator = PathInvalidator()
        self._name_max: int | None = None
        #: Set once libfuse called ``init``: the mount was up.
        self.started = threading.Event()
        #: Let the kernel cache directory listings (set by ``serve``).
        self.cache_dirs = False
        #: Requests answered so far, by handler name (``getattr_fuse_3``, ``opendir``...).
        self.requests: collections.Counter[str] = collections.Counter()
        #: Seconds a ``readdirplus`` listing's records stay in the kernel's
        #: caches (the entry timeout; set by ``serve``): within them a
        #: directory is listed again without records.
        self.described_for = 0.0
        self._described: dict[str, float] = {}
        self._reusable: dict[str, attributes.Reusable] = {}
        #: Which open files the kernel reads and writes itself (:mod:`.passthrough`).
        self.passthrough = Passthrough()

    # -- life cycle --------------------------------------------------------

    def init_with_config(self, conn: typing.Any, config: typing.Any) -> None:
        """Ask for spliced read replies and note that the mount is up.

        ``conn`` is libfuse's ``fuse_conn_info`` (see :mod:`.readahead`).
        ``readdirplus`` is asked for on every listing request, not by the
        kernel's guess (``FUSE_CAP_READDIRPLUS_AUTO`` off): with the guess a
        cold listing carried records for its first chunk only and each later
        entry cost a ``getattr``; a warm listing is answered without records
        (:meth:`readdir_entries`).
        The read-ahead window is widened at the first ``getattr``: the
        kernel sets it from the reply to ``INIT``, which is sent after this.
        """
        if conn is not None:
            conn.want |= readahead.wanted_capabilities(conn.capable)
            conn.want |= conn.capable & fileflags.FUSE_CAP_IOCTL_DIR
            conn.want &= ~fileflags.FUSE_CAP_READDIRPLUS_AUTO
            self.passthrough.negotiate(conn)
        self._readahead_pending = self.mountpoint is not None
        self._invalidator.start()
        self.started.set()

    def destroy(self, path: str) -> None:
        """Close open handles and the overlay when the mount goes away."""
        with self._table_lock:
            files = list(self._files.values())
            self._files.clear()
        self._invalidator.stop()
        self.passthrough.close_all()
        for opened in files:
            opened.handle.close()
        if self.close_on_unmount and not self.overlay.isclosed():
            self.overlay.close()

    def forget(self, paths: typing.Iterable[str]) -> None:
        """Make the kernel forget its cached attributes, pages and listings of ``paths``.

        For a change made to the overlay other than through the mount (a
        call on the served ``OverlayFS`` from this process): pass the
        changed entries and the directories whose listing changed. A name
        the kernel has cached as missing (a negative entry) stays missing
        until ``negative_timeout`` passes; libfuse's high-level API offers
        no way to drop it.
        """
        self.names_changed()
        self._invalidator.invalidate(paths)

    # -- attributes --------------------------------------------------------

    @_errno_answers
    def getattr(self, path: str, fh: int | None = None) -> dict[str, typing.Any]:
        """Return the ``stat`` record of ``path`` (``ENAMETOOLONG`` for an over-long name)."""
        if self._readahead_pending:
            self._widen_readahead()
        known = self._reusable.get(path)  # a name described before: checked then
        if known is not None:
            again = attributes.record_again(known)
            if again is not None:
                return again
            del self._reusable[path]
        self._check_name(path)
        found, reusable = attributes.fast_stat_reusable(self.overlay, path, self.owner)
        if reusable is not None:
            if len(self._reusable) >= _REUSABLE_LIMIT:
                self._reusable.clear()
            self._reusable[path] = reusable
        return self._seen(path, found)

    def names_changed(self, path: str | None = None) -> None:
        """Forget what ``getattr`` keeps for ``path`` (for every name if ``None``).

        ``getattr`` keeps, per name of an upper entry with one link, the
        upper OS path and inode number that answer it with one ``lstat``
        (:func:`.attributes.fast_stat_reusable`). Called before and after
        every request that adds or removes a name (``path``) or may move
        others (``rename``, ``rmdir``, ``link``, extended attributes:
        ``None``), by the FUSE layer (:mod:`.daemon`), and by :meth:`forget`;
        before ``create`` only, which adds its own name and nothing else
        (:data:`.daemon.ADDS_ITS_NAME`).
        """
        if path is None:
            self._reusable.clear()
        else:
            self._reusable.pop(path, None)

    def _check_name(self, path: str) -> None:
        """Refuse a last name longer than the layers take with ``ENAMETOOLONG``.

        The kernel looks every name up before it uses it, so this answer to
        the lookup (``getattr``) is what ``stat``, ``open``, ``mkdir``,
        ``rename`` and the rest report for such a name, as on the kernel
        overlay, whose lookup answers so (not ``ENOENT``). The limit is the
        largest ``NAME_MAX`` of the layers, as the kernel overlay takes it.
        """
        name = path.rpartition("/")[2]
        limit = self.name_max()
        if len(name) * 4 <= limit:  # four bytes per character at most
            return
        if len(os.fsencode(name)) > limit:
            raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), path)

    def name_max(self) -> int:
        """Return the longest name the layers take, in bytes (asked of them once)."""
        found = self._name_max
        if found is None:
            found = self._name_max = _layers_name_max(self.overlay)
        return found

    def _widen_readahead(self) -> None:
        """Set the mount's read-ahead window, once (see :meth:`init_with_config`)."""
        self._readahead_pending = False
        if self.mountpoint is not None:
            readahead.set_readahead(self.mountpoint, self.readahead_kb)

    def _seen(self, path: str, record: dict[str, typing.Any]) -> dict[str, typing.Any]:
        """Note ``path`` as a name of a hard-linked file if ``record`` says it is one."""
        if record.get("st_nlink", 1) > 1 and not stat.S_ISDIR(record["st_mode"]):
            self._linked.note(record["st_ino"], path)
        return record

    def _changed(self, path: str, key: int | None = None) -> None:
        """Invalidate the kernel's cache of the other names of the file at ``path``.

        ``key`` is the file's shared number when known (``path`` may be gone).
        """
        if key is None:
            key = self._linked.key_of(path)
            if key is None:
                return
        self._invalidator.invalidate(name for name in self._linked.names_of(key) if name != path)

    def _linked_key(self, path: str) -> int | None:
        """Return the shared number of ``path`` if it names a file with several links.

        Every name the kernel knows was described to it by :meth:`getattr`
        or ``readdirplus``, which note linked files; this looks ``path`` up
        as well, for a file that has only just been linked.
        """
        key = self._linked.key_of(path)
        if key is not None:
            return key
        try:
            found = attributes.fast_stat(self.overlay, path, self.owner)
        except (fs.errors.FSError, OSError):
            return None
        self._seen(path, found)
        return self._linked.key_of(path)

    def _kept_upper(self, path: str) -> str | None:
        """Return the upper OS path of ``path`` if ``getattr`` keeps it (the upper holds it alone).

        A change of metadata then goes straight to that file (see
        :func:`.attributes.kept_upper_entry`): libfuse looks every name up
        before it changes it, so a ``chmod``/``chown``/``utimens`` of a file
        just created or described finds it here.
        """
        return attributes.kept_upper_entry(self.overlay, self._reusable.get(path))

    @_errno_answers
    def chmod(self, path: str, mode: int) -> int:
        """Change permission bits (copies the entry up)."""
        kept = self._kept_upper(path)
        if kept is None or not attributes.chmod_kept(kept, mode):
            attributes.chmod(self.overlay, path, mode)
        self._changed(path)
        return 0

    @_errno_answers
    def chown(self, path: str, uid: int, gid: int) -> int:
        """Change owner and group (copies the entry up)."""
        kept = self._kept_upper(path)
        if kept is None or not attributes.chown_kept(kept, uid, gid):
            attributes.chown(self.overlay, path, uid, gid)
        self._changed(path)
        return 0

    @_errno_answers
    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        """Set access and modification times (nanoseconds; ``None`` is now)."""
        atime, mtime = times if times is not None else (None, None)
        kept = self._kept_upper(path)
        if kept is None or not attributes.set_times_kept(kept, atime, mtime):
            attributes.set_times(self.overlay, path, atime, mtime)
        self._changed(path)
        return 0

    @_errno_answers
    def ioctl(
        self, path: str, cmd: int, arg: typing.Any, fh: int, flags: int, data: int | None
    ) -> int:
        """Answer the inode-flag ioctls as the kernel overlay does (:mod:`.fileflags`).

        Other commands answer ``ENOTTY``.
        """
        if fileflags.answer(self.overlay, path, cmd, data):
            self._readers.follow_copy_up(self.overlay, path)
            self._changed(path)
        return 0

    @_errno_answers
    def statfs(self, path: str) -> dict[str, int]:
        """Report the upper's free space (the lowers' when read-only)."""
        layer = self.overlay.upper or self.overlay.lowers[0]
        try:
            found = os.statvfs(layer.getsyspath("/"))
        except (fs.errors.NoSysPath, OSError):
            return {"f_bsize": 4096, "f_frsize": 4096, "f_namemax": 255}
        keys = ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files",
                "f_ffree", "f_favail", "f_namemax")
        return {key: getattr(found, key) for key in keys}

    # -- directories -------------------------------------------------------

    @_errno_answers
    def opendir(self, path: str) -> int:
        """Open a directory for reading."""
        if not self.overlay.getinfo(path).is_dir:
            raise fs.errors.DirectoryExpected(path)
        number = next(self._numbers)
        with self._table_lock:
            self._dirs[number] = DirCursor(path)
        return number

    def releasedir(self, path: str, fh: int) -> int:
        """Forget an open directory's offsets."""
        with self._table_lock:
            self._dirs.pop(fh, None)
        return 0

    @_errno_answers
    def readdir_with_offset(
        self, path: str, offset: int, fh: int
    ) -> typing.Iterator[tuple[str, dict[str, typing.Any], int]]:
        """Yield ``(name, attrs, offset)`` from ``offset`` on, "." and ".." first."""
        return self.readdir_entries(offset, fh, plus=False)

    def readdir_entries(self, offset: int, fh: int, *, plus: bool) -> typing.Iterator[DirEntry]:
        """Yield ``(name, attrs, offset)`` from ``offset`` on, "." and ".." first.

        With ``plus`` (a ``readdirplus`` request) each entry but "." and ".."
        carries its full ``stat`` record (an ``st_nlink`` key among others),
        which the kernel caches as if it had looked the name up.
        """
        cursor = self._dirs[fh]
        if plus:
            plus = self._plus_wanted(cursor, offset)
        stream = cursor.resume(offset)
        if stream is None:
            stream = self._fresh_entries(cursor, offset, plus)
        previous = offset
        for entry in stream:
            cursor.hold(previous, entry, stream)
            yield entry
            previous = entry[2]
        cursor.held = None

    def _plus_wanted(self, cursor: DirCursor, offset: int) -> bool:
        """Tell whether a ``readdirplus`` request should carry each entry's record.

        Not if the same directory was answered with records within
        :attr:`described_for` seconds: the kernel then caches every entry
        and its attributes already (entry and attribute timeouts), and
        ignores records it did not ask for, so they would be the daemon's
        work for nothing (a warm ``find -ls`` or ``ls -l`` with a libfuse
        that cannot cache listings, see :mod:`.capabilities`). Leaving them
        out is always correct: a name the kernel has forgotten is looked up.
        The decision is made at offset 0 and kept for the whole listing.
        """
        if offset == 0:
            now = time.monotonic()
            answered = self._described.get(cursor.path)
            cursor.plain = answered is not None and now - answered < self.described_for
            if not cursor.plain:
                if len(self._described) >= _DESCRIBED_LIMIT:
                    self._described.clear()
                self._described[cursor.path] = now
        return not cursor.plain

    def _fresh_entries(
        self, cursor: DirCursor, offset: int, plus: bool
    ) -> typing.Iterator[DirEntry]:
        """Yield the entries from ``offset`` on, listing the directory anew."""
        if offset < 2:
            # d_ino 0 would make the C library skip the entry.
            parent = cursor.path.rstrip("/").rpartition("/")[0] or "/"
            for name, where, number in ((".", cursor.path, 1), ("..", parent, 2)):
                if offset < number:
                    ino = self._ino(where)
                    yield name, {"st_mode": stat.S_IFDIR, "st_ino": ino}, number
        yield from self._entries(cursor, cursor.cookie_at(offset), plus)

    def _entries(
        self, cursor: DirCursor, after: str | None, plus: bool
    ) -> typing.Iterator[tuple[str, dict[str, typing.Any], int]]:
        """Yield the entries after cookie ``after``, streamed by ``iterdir``.

        A directory holding an entry the overlay cannot describe (a dangling
        symbolic link, which the layer's ``getinfo`` follows) is listed by
        name from the same point on, each entry described by ``lstat``.

        A ``readdirplus`` listing of a directory the overlay's lookup cache
        can hold is made by name straight away: ``listdir`` fills that cache,
        each name's record is then one cached lookup and one ``lstat``, and
        the ``open`` or ``stat`` that usually follows a listing finds the
        directory cached instead of merging its layers a second time.
        """
        if plus:
            names = self.overlay.listdir(cursor.path)
            if len(names) * (len(self.overlay.lowers) + 1) <= _lookup_cache_limit(self.overlay):
                yield from self._entries_by_name(cursor, names, after, plus)
                return
        last = after
        try:
            if not plus:
                for cookie, name, is_dir, ino in self.overlay.iterdir_numbers(cursor.path, after):
                    # Without the entry's record only a directory's type is
                    # known: anything else is DT_UNKNOWN (the caller lstat()s),
                    # never DT_REG for a link or a fifo.
                    last = cookie
                    kind = stat.S_IFDIR if is_dir else 0
                    yield name, {"st_mode": kind, "st_ino": ino}, cursor.offset_of(cookie)
                return
            for cookie, info in self.overlay.iterdir(cursor.path, after, ["overlay", "lstat"]):
                kind = stat.S_IFDIR if info.is_dir else 0
                found = {"st_mode": kind, "st_ino": info.raw["overlay"]["ino"]}
                found = self._full_stat(cursor.path, info, found)
                last = cookie
                yield info.name, found, cursor.offset_of(cookie)
            return
        except (fs.errors.ResourceNotFound, fs.errors.OperationFailed):
            pass  # see the docstring
        yield from self._entries_by_name(cursor, self.overlay.listdir(cursor.path), last, plus)

    def _entries_by_name(
        self, cursor: DirCursor, names: list[str], after: str | None, plus: bool
    ) -> typing.Iterator[DirEntry]:
        """Yield the entries of the sorted ``names`` after cookie ``after``, each looked up."""
        start = 0 if after is None else bisect.bisect_right(names, cookie_name(after))
        prefix = cursor.path.rstrip("/") + "/"
        for name in names[start:]:
            found = self._dirent(prefix + name, plus)
            yield name, found, cursor.offset_of(make_cookie(name))

    def _full_stat(
        self, directory: str, info: typing.Any, short: dict[str, typing.Any]
    ) -> dict[str, typing.Any]:
        """Return the full ``stat`` record of a listed entry, or ``short`` if it has none.

        The layer's ``lstat`` namespace serves where the entry's bytes are
        in its own layer; otherwise the entry is looked up.
        """
        found = info.raw.get("lstat")
        single = found and (found.get("st_nlink") == 1 or stat.S_ISDIR(short["st_mode"]))
        if single and not info.raw["overlay"].get("metacopy"):
            return attributes.stat_from_lstat(found, short["st_ino"])
        path = join(directory, info.name)
        try:
            return self._seen(
                path, attributes.fast_stat(self.overlay, path, self.owner, short["st_ino"])
            )
        except (fs.errors.FSError, OSError):
            return short

    def _dirent(self, path: str, plus: bool) -> dict[str, typing.Any]:
        """Describe one directory entry by its layer file (type and inode number)."""
        try:
            found = attributes.fast_stat(self.overlay, path, self.owner)
        except (fs.errors.FSError, OSError):
            return {"st_mode": 0, "st_ino": _undescribed_ino(path)}
        if plus:
            return self._seen(path, found)
        return {"st_mode": stat.S_IFMT(found["st_mode"]), "st_ino": found["st_ino"]}

    def _ino(self, path: str) -> int:
        """Return the overlay inode number of ``path``."""
        info = self.overlay.getinfo(path, ["overlay"])
        ino: int = info.raw["overlay"]["ino"]  # type: ignore[assignment]
        return ino

    @_errno_answers
    def mkdir(self, path: str, mode: int) -> int:
        """Create a directory with ``mode``, owned by the caller."""
        self._check_name(path)
        self.overlay.makedir(path)
        self._set_new_metadata(path, mode, is_dir=True)
        return 0

    @_errno_answers
    def rmdir(self, path: str) -> int:
        """Remove an empty directory (``ENOTEMPTY`` otherwise)."""
        if not self.overlay.getinfo(path).is_dir:
            raise fs.errors.DirectoryExpected(path)
        self.overlay.removedir(path)
        return 0

    # -- names ---------------------------------------------------------------

    @_errno_answers
    def unlink(self, path: str) -> int:
        """Remove a file or a link (a whiteout hides a lower one)."""
        key = self._linked.key_of(path)
        if links.is_link(self.overlay, path):
            links.remove_link(self.overlay, path)
        else:
            self.overlay.remove(path)
        self._linked.forget(path)
        self._changed(path, key)
        return 0

    @_errno_answers
    def link(self, target: str, source: str) -> int:
        """Give the file ``source`` the second name ``target`` (copies it up first).

        Descriptors still reading a lower ``source`` move to its upper copy,
        which both names now share.
        """
        self._check_name(target)
        hardlinks.make_hardlink(self.overlay, source, target)
        self._readers.follow_copy_up(self.overlay, source)
        key = self._linked_key(source)
        if key is not None:
            self._linked.note(key, target)
        self._changed(target, key)
        return 0

    @_errno_answers
    def readlink(self, path: str) -> str:
        """Return a link's target as stored in its layer."""
        return links.readlink(self.overlay, path)

    @_errno_answers
    def symlink(self, path: str, target: str) -> int:
        """Create link ``path`` -> ``target`` in the upper, owned by the caller."""
        self._check_name(path)
        links.symlink(self.overlay, target, path)
        uid, gid = self._new_owner(path)
        if os.geteuid() == 0 and (uid, gid) != self.owner:
            attributes.chown(self.overlay, path, uid, gid)
        return 0

    @_errno_answers
    def mknod(self, path: str, mode: int, dev: int) -> int:
        """Create a FIFO, a socket or a device node (``mknod(2)``), owned by the caller."""
        self._check_name(path)
        if stat.S_IFMT(mode) in (0, stat.S_IFREG):
            self.overlay.openbin(path, "x").close()
        else:
            self.overlay.mknod(path, mode, dev)
        self._set_new_metadata(path, stat.S_IMODE(mode))
        self._changed(path)
        return 0

    # -- extended attributes ---------------------------------------------------

    @_errno_answers
    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        """Return the value of a user extended attribute."""
        kept = self._reusable.get(path)
        if kept is not None:
            found = xattrs.getxattr_kept(kept[0], name)
            if found is not None:
                return found
        return xattrs.getxattr(self.overlay, path, name)

    @_errno_answers
    def listxattr(self, path: str) -> list[str]:
        """List the extended attributes, without the overlay's own."""
        return xattrs.listxattr(self.overlay, path)

    @_errno_answers
    def setxattr(self, path: str, name: str, value: bytes, options: int, position: int = 0) -> int:
        """Set an extended attribute on the upper copy."""
        xattrs.setxattr(self.overlay, path, name, value, options)
        self._changed(path)
        return 0

    @_errno_answers
    def removexattr(self, path: str, name: str) -> int:
        """Remove an extended attribute from the upper copy."""
        xattrs.removexattr(self.overlay, path, name)
        self._changed(path)
        return 0

    @_errno_answers
    def rename(self, old: str, new: str, flags: int = 0) -> int:
        """Rename a file or a directory, replacing ``new`` as ``rename(2)`` does.

        ``RENAME_NOREPLACE`` refuses to replace; ``RENAME_EXCHANGE`` swaps two
        entries, directories too. One call of ``OverlayFS.rename``, which
        resolves each path once and keeps inode numbers.
        """
        if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) or flags == (
            RENAME_NOREPLACE | RENAME_EXCHANGE
        ):
            raise OSError(errno.EINVAL, "unknown or contradictory rename flags")
        exchange = bool(flags & RENAME_EXCHANGE)
        if not exchange:
            self._check_name(new)
        keys = self._linked.key_of(old), self._linked.key_of(new)
        if not exchange and keys[1] is not None and keys[1] == keys[0]:
            return 0  # two names of one file: rename(2) does nothing
        self.overlay.rename(
            old, new, noreplace=bool(flags & RENAME_NOREPLACE), exchange=exchange
        )
        if exchange:
            self._exchanged(old, new)
        else:
            self._linked.move(old, new)
            self._changed(new, keys[1])
        return 0

    def _exchanged(self, old: str, new: str) -> None:
        """Follow an exchange of ``old`` and ``new`` in the names of linked files."""
        keys = self._linked.forget(old), self._linked.forget(new)
        for key, path in zip(keys, (new, old)):
            if key is not None:
                self._linked.note(key, path)
        self._changed(old, keys[1])
        self._changed(new, keys[0])

    # -- files ---------------------------------------------------------------

    @_errno_answers
    def create(self, path: str, mode: int, flags: int = os.O_WRONLY) -> int:
        """Create and open a file (``O_EXCL`` fails on an existing one)."""
        self._check_name(path)
        exclusive = bool(flags & os.O_EXCL)
        try:
            handle = self.overlay.openbin(path, "x+", buffering=0)
        except fs.errors.FileExists:
            if exclusive:
                raise
            return self.open(path, flags)
        fd = _fileno(handle)
        try:
            if fd is None or not self._set_new_file_metadata(fd, path, mode):
                self._set_new_metadata(path, mode)
        except BaseException:
            handle.close()
            raise
        return self._register(OpenFile(handle, bool(flags & os.O_APPEND), fd=fd))

    def _set_new_file_metadata(self, fd: int, path: str, mode: int) -> bool:
        """Give a file just created in the upper its mode and owner through its descriptor.

        Does what :meth:`_set_new_metadata` does (owner first, then mode)
        with ``fchown``/``fchmod`` on the new file's own descriptor, without
        looking the path up again: the file was made by this request, in the
        upper, and the overlay caches no upper metadata. Returns ``False``
        (nothing done) where the overlay has no upper.
        """
        if self.overlay.upper is None:
            return False
        try:
            if os.geteuid() == 0:
                uid, gid = self._new_owner(path)
                if (uid, gid) != self.owner:
                    os.fchown(fd, uid, gid)
            os.fchmod(fd, stat.S_IMODE(mode))
        except OSError as error:
            raise fs.errors.OperationFailed(path, exc=error) from error
        return True

    @_errno_answers
    def open(self, path: str, flags: int) -> int:
        """Open an existing file; a write copies a lower file up at the first write.

        ``O_TRUNC`` truncates, also with ``O_RDONLY`` (as Linux does; the
        kernel has checked write permission).
        """
        writing = flags & os.O_ACCMODE != os.O_RDONLY
        if flags & os.O_TRUNC and not writing:
            self._truncate_path(path, 0)
        fast = self._open_direct(path, flags, writing)
        if fast is not None:
            return self._register(fast)
        handle = self.overlay.openbin(path, "r+" if writing else "r", buffering=0)
        opened = OpenFile(handle, bool(flags & os.O_APPEND))
        if writing and self.overlay.which(path).index != 0:
            opened.pending_copy_up = path
        if flags & os.O_TRUNC and writing:
            try:
                handle.truncate(0)
                self._after_copy_up(opened)
            except BaseException:
                handle.close()
                raise
        return self._register(opened)

    def _open_direct(self, path: str, flags: int, writing: bool) -> OpenFile | None:
        """Open the layer file itself where :mod:`.direct` can; ``None`` otherwise."""
        append = bool(flags & os.O_APPEND)
        if not writing:
            found = direct.open_for_reading(self.overlay, path)
            if found is None:
                return None
            index, number = found
            opened = OpenFile(open(number, "rb", buffering=0), append, fd=number)
            if index != 0:
                opened.lower_reader = path
                self._readers.add(path, number)
            return opened
        number_or_none = direct.open_upper_for_writing(self.overlay, path)
        if number_or_none is None:
            return None
        if flags & os.O_TRUNC:
            os.ftruncate(number_or_none, 0)
        return OpenFile(open(number_or_none, "r+b", buffering=0), append, fd=number_or_none)

    def _after_copy_up(self, opened: OpenFile) -> None:
        """Move descriptors still reading the lower copy of a file a handle copied up.

        The copy-up itself kept the file's inode number.
        """
        if opened.pending_copy_up is None:
            return
        path = opened.pending_copy_up
        opened.pending_copy_up = None
        try:
            self._readers.follow_copy_up(self.overlay, path)
        except fs.errors.ResourceNotFound:
            pass  # renamed or removed meanwhile

    def _register(self, opened: OpenFile) -> int:
        """Store an open file and return its handle number."""
        number = next(self._numbers)
        with self._table_lock:
            self._files[number] = opened
        return number

    def _set_new_metadata(self, path: str, mode: int, is_dir: bool = False) -> None:
        """Give a new entry the requested mode and the calling process's owner.

        In a setgid directory the entry takes the directory's group, and a
        new directory its setgid bit, as the kernel gives them
        (``inode_init_owner``). The owner is set before the mode: a change of
        owner clears a file's setgid bit.
        """
        if self.overlay.upper is None:
            return
        try:
            uid, gid = self._new_owner(path)
            if is_dir and self._parent_setgid_group(path) is not None:
                mode |= stat.S_ISGID
            if os.geteuid() == 0 and (uid, gid) != self.owner:
                attributes.chown(self.overlay, path, uid, gid)
            attributes.chmod(self.overlay, path, mode)
        except fs.errors.Unsupported:
            pass  # an upper without OS paths keeps no modes or owners

    def _new_owner(self, path: str) -> tuple[int, int]:
        """Return the owner of a new entry: the caller, with a setgid directory's group."""
        uid, gid = self._caller()
        inherited = self._parent_setgid_group(path)
        return uid, gid if inherited is None else inherited

    def _parent_setgid_group(self, path: str) -> int | None:
        """Return the group of ``path``'s parent if it is a setgid directory (in the upper).

        The parent kept by ``getattr`` (the kernel asks for it before every
        create) is one ``lstat`` of its upper OS path; otherwise
        :func:`_setgid_group` finds it.
        """
        kept = self._kept_upper(path.rpartition("/")[0] or "/")
        if kept is not None:
            try:
                found = os.lstat(kept)
            except OSError:
                found = None
            if found is not None and stat.S_ISDIR(found.st_mode):
                return found.st_gid if found.st_mode & stat.S_ISGID else None
        return _setgid_group(self.overlay, path)

    def _caller(self) -> tuple[int, int]:
        """Return the user and group of the request being served.

        Outside a FUSE request (the operations called directly, as the tests
        and tools do) libfuse has no context: the daemon's own owner answers.
        """
        try:
            uid, gid, _ = mfusepy.fuse_get_context()
        except ValueError:  # libfuse's NULL context pointer
            return self.owner
        return uid, gid

    @_errno_answers
    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        """Read ``size`` bytes at ``offset``."""
        opened = self._files[fh]
        if opened.fd is not None:
            return os.pread(opened.fd, size, offset)
        with opened.lock:
            opened.handle.seek(offset)
            return opened.handle.read(size) or b""

    @_errno_answers
    def read_buf(self, path: str, target: typing.Any, size: int, offset: int, fh: int) -> int:
        """Answer a read with a buffer vector (see :mod:`.bufcopy`).

        A descriptor of the layer file is handed to libfuse, which reads the
        reply from it without the data entering Python; other open files
        hand over the bytes :meth:`read` gives.
        """
        opened = self._files[fh]
        if opened.fd is not None:
            bufcopy.hand_out_descriptor(target, opened.fd, size, offset)
        else:
            bufcopy.hand_out_bytes(target, self.read(path, size, offset, fh))
        return 0

    @_errno_answers
    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        """Write ``data`` at ``offset`` (at the end for ``O_APPEND``)."""
        opened = self._files[fh]
        if opened.fd is not None and not opened.append:
            direct.write_all(opened.fd, data, offset)
            self._changed(path)
            return len(data)
        with opened.lock:
            if opened.append:
                opened.handle.seek(0, os.SEEK_END)
            else:
                opened.handle.seek(offset)
            view = memoryview(data)
            while view:
                written = opened.handle.write(view)
                if not written:
                    raise OSError(errno.EIO, f"short write to {path!r}")
                view = view[written:]
            opened.handle.flush()  # a copied-up handle may buffer; other opens read the file
            self._after_copy_up(opened)
        self._changed(path)
        return len(data)

    @_errno_answers
    def write_buf(self, path: str, buf: typing.Any, offset: int, fh: int) -> int:
        """Write a request's buffer vector at ``offset`` (see :mod:`.bufcopy`).

        A descriptor of the layer file receives the data from libfuse's
        buffer directly; other open files take the :meth:`write` way.
        """
        opened = self._files[fh]
        if opened.fd is None or opened.append:
            return int(self.write(path, bufcopy.gather(buf), offset, fh))
        written = bufcopy.copy_to_descriptor(buf, opened.fd, offset)
        self._changed(path)
        return written

    @_errno_answers
    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        """Cut or extend a file to ``length`` bytes."""
        opened = self._files.get(fh) if fh is not None else None
        if opened is not None:
            with opened.lock:
                opened.handle.truncate(length)
                opened.handle.flush()
                self._after_copy_up(opened)
            self._changed(path)
            return 0
        self._truncate_path(path, length)
        return 0

    def _truncate_path(self, path: str, length: int) -> None:
        """Cut or extend the file at ``path`` (copied up first) to ``length`` bytes."""
        with self.overlay.openbin(path, "r+", buffering=0) as handle:
            handle.truncate(length)
        self._readers.follow_copy_up(self.overlay, path)
        self._changed(path)

    @_errno_answers
    def fallocate(self, path: str, mode: int, offset: int, size: int, fh: int) -> int:
        """Allocate (or, with ``FALLOC_FL_PUNCH_HOLE``, free) a byte range of an open file.

        A lower file is copied up first (through its handle, as a write
        would); the upper file system does the rest, so what it refuses
        (a hole in a file system without holes) is refused with its errno.
        """
        if mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE):
            raise OSError(errno.EOPNOTSUPP, "fallocate modes other than KEEP_SIZE/PUNCH_HOLE")
        opened = self._files[fh]
        with opened.lock:
            if opened.fd is not None:
                fallocate(opened.fd, mode, offset, size)
            else:
                end = opened.handle.seek(0, os.SEEK_END)
                opened.handle.truncate(end)  # copies a lower file up, as a write would
                opened.handle.flush()
                self._after_copy_up(opened)
                syspath = attributes.upper_syspath(self.overlay, path)
                if syspath is None:
                    raise OSError(errno.EOPNOTSUPP, "fallocate needs an upper with OS paths")
                number = os.open(syspath, os.O_WRONLY)
                try:
                    fallocate(number, mode, offset, size)
                finally:
                    os.close(number)
        self._changed(path)
        return 0

    @_errno_answers
    def fsync(self, path: str, datasync: int, fh: int) -> int:
        """Push a file's data to stable storage where the layer has a file descriptor."""
        opened = self._files.get(fh)
        if opened is None:
            return 0
        with opened.lock:
            opened.handle.flush()
            try:
                number = opened.handle.fileno()
            except (OSError, AttributeError, ValueError):
                return 0
            (os.fdatasync if datasync else os.fsync)(number)
        return 0

    def hand_to_kernel(self, path: str, fip: typing.Any) -> bool:
        """Let the kernel read and write the file just opened where it can (:mod:`.passthrough`).

        ``fip`` is libfuse's ``fuse_file_info`` of the open (``create`` or
        ``open``), its ``fh`` set; tell if the open passes through. An
        open the daemon serves keeps the kernel's pages across opens
        (``keep_cache``) where :attr:`.Passthrough.keeps_cache` says so.
        Where the mount refused passthrough nothing more is asked.
        """
        if self.passthrough.refusal is not None:
            if self.passthrough.keeps_cache:
                fip.contents.keep_cache = 1
            return False
        opened = self._files.get(fip.contents.fh)
        writing = fip.contents.flags & os.O_ACCMODE != os.O_RDONLY
        passed = opened is not None and self.passthrough.attach(
            ctypes.addressof(fip.contents), fip.contents.fh, path, opened.fd,
            lower=opened.lower_reader is not None, writing=writing,
        )
        if not passed and self.passthrough.keeps_cache:
            fip.contents.keep_cache = 1
        return passed

    @_errno_answers
    def release(self, path: str, fh: int) -> int:
        """Close a file handle."""
        if self.passthrough.release(fh):
            self._changed(path)  # written by the kernel: other names may hold old pages
        with self._table_lock:
            opened = self._files.pop(fh, None)
        if opened is not None:
            with opened.lock:
                if opened.lower_reader is not None and opened.fd is not None:
                    self._readers.discard(opened.lower_reader, opened.fd)
                opened.handle.close()
        return 0


def _setgid_group(overlay: OverlayFS, path: str) -> int | None:
    """Return the group of ``path``'s parent if it is a setgid directory (in the upper).

    A new entry's parent is in the upper already; an upper without OS paths
    keeps no groups (``None``).
    """
    upper = overlay.upper
    if upper is None:
        return None
    try:
        found = os.lstat(upper.getsyspath(overlay.validatepath(fs.path.dirname(path))))
    except (fs.errors.NoSysPath, OSError):
        return None
    return found.st_gid if stat.S_ISDIR(found.st_mode) and found.st_mode & stat.S_ISGID else None


def _undescribed_ino(path: str) -> int:
    """Return a stand-in inode number for an entry the overlay cannot describe (a listing's)."""
    digest = hashlib.blake2b(f"-1:{path}".encode("utf-8", "surrogatepass"), digest_size=8)
    return (int.from_bytes(digest.digest(), "big") & ((1 << 63) - 1)) or 1


def fallocate(descriptor: int, mode: int, offset: int, size: int) -> None:
    """Call ``fallocate(2)`` on ``descriptor``; raise ``OSError`` with its errno."""
    if _libc.fallocate(descriptor, mode, offset, size) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))


def _fileno(handle: typing.BinaryIO) -> int | None:
    """Return the descriptor of a layer's own file object, ``None`` for other handles."""
    if not isinstance(handle, io.FileIO):
        return None
    return handle.fileno()


def _layers_name_max(overlay: OverlayFS) -> int:
    """Return the largest ``NAME_MAX`` of the layers with OS paths (or :data:`DEFAULT_NAME_MAX`)."""
    found = 0
    for layer in (overlay.upper, *overlay.lowers):
        if layer is None:
            continue
        try:
            found = max(found, os.statvfs(layer.getsyspath("/")).f_namemax)
        except (fs.errors.NoSysPath, OSError):
            continue
    return found or DEFAULT_NAME_MAX


def _lookup_cache_limit(overlay: OverlayFS) -> int:
    """Return how many layer entries a directory may have for the lookup cache to keep it.

    Beyond it every lookup of a name would merge the directory's layers
    again.
    """
    return overlay.cached_directory_limit
