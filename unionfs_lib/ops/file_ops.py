"""Open files: handles that defer copy-up and follow it.

This is the overlay's ``file.c``. :class:`OverlayFile` wraps the handle of the
layer file that backs a path:

* A handle opened for writing on a lower file (``r+``, ``a``, ``w+`` without
  truncation) reads from the lower file until the first write or truncate;
  only then is the file copied up (a truncation to N bytes copies at most N
  bytes) and the handle switched to the upper copy at the same position. A
  handle closed without writing leaves the upper untouched.
* A read handle on a lower file hears when another handle or operation copies
  the file up, or replaces it through the overlay (``openbin(path, "w")``,
  ``writebytes``, ``upload``: overlayfs copies up on ``O_TRUNC``, so it is the
  same inode), and switches to the upper copy, keeping its position, so it
  sees data written afterwards (as Linux overlayfs does since 4.19).

Handles on upper files are returned unwrapped by :func:`open_file`: there is
nothing to defer or follow.
"""

from __future__ import annotations

import functools
import io
import threading
import typing

import fs.errors
from fs.mode import Mode

from ..host.confine import check_data_inside, check_entry_inside, read_inside
from ..host.layer_io import open_new_file
from ..host.memory_read import read_memory_file
from ..host.posix import copy_mode_owner_and_xattrs
from ..model.paths import split_path
from ..model.records import UPPER, Node
from . import dir_ops

if typing.TYPE_CHECKING:
    from .superblock import OverlaySuper

#: Opens the upper copy of a file, copying it up first (at most ``length`` bytes).
UpperOpener = typing.Callable[[typing.Optional[int]], typing.BinaryIO]

_Method = typing.TypeVar("_Method", bound=typing.Callable[..., typing.Any])


def _serialised(method: _Method) -> _Method:
    """Run ``method`` holding the file's own lock (see :class:`OverlayFile`)."""

    @functools.wraps(method)
    def locked(self: OverlayFile, *args: typing.Any, **kwargs: typing.Any) -> typing.Any:
        with self._io_lock:
            return method(self, *args, **kwargs)

    return typing.cast(_Method, locked)


class OverlayFile(io.RawIOBase):
    """A binary file of the overlay still backed by a lower layer's file.

    Thread safety: each handle has its own re-entrant lock held around every
    use of the backing handle (read, write, seek, tell, the switch to the
    upper copy). Another thread's copy-up switches this handle while holding
    the overlay lock, so the lock order is always overlay lock, then file
    lock; no method takes the overlay lock while holding the file lock. A
    read racing a switch therefore completes on one handle or the other,
    never half on each (which would repeat or skip bytes).
    """

    def __init__(
        self,
        sb: OverlaySuper,
        path: str,
        mode: Mode,
        lower_handle: typing.BinaryIO,
        open_upper: UpperOpener,
    ) -> None:
        """Wrap ``lower_handle``; ``open_upper`` copies up and opens the upper copy."""
        super().__init__()
        self._sb = sb
        self._path = path
        self._mode = mode
        self._handle: typing.BinaryIO = lower_handle
        self._open_upper = open_upper
        self._in_upper = False
        #: Position past the lower file's end (lower handles may stop at EOF).
        self._beyond: int | None = None
        self._io_lock = threading.RLock()
        sb.listen(path, self)

    # -- identity --------------------------------------------------------

    @property
    def name(self) -> str:
        """The overlay path of the file."""
        return self._path

    @property
    def mode(self) -> str:
        """The mode the file was opened with."""
        return self._mode.to_platform_bin()

    def __repr__(self) -> str:
        """Show path, mode and which layer serves the data."""
        where = "upper" if self._in_upper else "lower"
        return f"<OverlayFile {self._path!r} mode={self._mode!r} ({where})>"

    # -- capability queries ----------------------------------------------

    def readable(self) -> bool:
        """Whether the mode allows reading."""
        return self._mode.reading

    def writable(self) -> bool:
        """Whether the mode allows writing."""
        return self._mode.writing

    def seekable(self) -> bool:
        """Whether the underlying file can seek."""
        return self._handle.seekable()

    def isatty(self) -> bool:
        """Overlay files are never terminals."""
        return False

    def fileno(self) -> int:
        """Overlay files have no OS file descriptor of their own."""
        raise io.UnsupportedOperation("fileno")

    # -- copy-up ---------------------------------------------------------

    @_serialised
    def _switch(self, handle: typing.BinaryIO) -> None:
        """Replace the backing handle, keeping the position."""
        position = self.tell()
        self._handle.close()
        self._handle = handle
        self._in_upper = True
        self._beyond = None
        self._sb.unlisten(self._path, self)
        if not self._mode.appending:
            self._handle.seek(position)

    def _ensure_upper(self, length: int | None) -> None:
        """Copy up (at most ``length`` bytes) before the first change.

        This handle stops listening first: the copy-up it makes would
        otherwise tell it to open the upper copy a second time.
        """
        if not self._in_upper:
            with self._sb.lock:
                if not self._in_upper:
                    self._sb.unlisten(self._path, self)
                    try:
                        handle = self._open_upper(length)
                    except BaseException:
                        self._sb.listen(self._path, self)
                        raise
                    self._switch(handle)

    def on_copied_up(self) -> None:
        """Another party copied the file up: continue on the upper copy."""
        if self._in_upper or self.closed:
            return
        handle = self._open_upper(None)
        with self._io_lock:
            if self._in_upper or self.closed:  # closed or switched meanwhile
                handle.close()
                return
            self._switch(handle)

    # -- reading ---------------------------------------------------------

    def _check_readable(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if not self._mode.reading:
            raise io.UnsupportedOperation("File not open for reading")

    @_serialised
    def read(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes (all remaining by default)."""
        self._check_readable()
        return self._handle.read(-1 if size is None else size)

    def readall(self) -> bytes:
        """Read everything up to the end."""
        return self.read(-1)

    @_serialised
    def readinto(self, buffer: typing.Any) -> int:
        """Read into a writable buffer; return the number of bytes read."""
        self._check_readable()
        data = self._handle.read(len(buffer))
        count = len(data)
        memoryview(buffer).cast("B")[:count] = data
        return count

    @_serialised
    def readline(self, size: int | None = -1) -> bytes:
        """Read one line."""
        self._check_readable()
        return self._handle.readline(-1 if size is None else size)

    @_serialised
    def readlines(self, hint: int | None = -1) -> list[bytes]:
        """Read the remaining lines."""
        self._check_readable()
        return self._handle.readlines(-1 if hint is None else hint)

    # -- writing ---------------------------------------------------------

    def _check_writable(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if not self._mode.writing:
            raise io.UnsupportedOperation("File not open for writing")

    def write(self, data: typing.Any) -> int:
        """Write ``data``, copying the file up first if it is still in a lower layer."""
        self._check_writable()
        self._ensure_upper(None)
        with self._io_lock:
            return self._handle.write(data)

    def writelines(self, lines: typing.Iterable[typing.Any]) -> None:
        """Write each of ``lines``."""
        for line in lines:
            self.write(line)

    def truncate(self, size: int | None = None) -> int:
        """Resize the file; a lower file is copied up to at most ``size`` bytes."""
        self._check_writable()
        target = self.tell() if size is None else size
        self._ensure_upper(target)
        with self._io_lock:
            self._handle.truncate(target)
        return target

    @_serialised
    def flush(self) -> None:
        """Flush the backing handle."""
        if not self.closed:
            self._handle.flush()

    # -- positioning -----------------------------------------------------

    @_serialised
    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position, as the backing file does.

        While the lower file backs the handle, a position past its end is
        remembered here (some lower handles, such as a zip member's, stop at
        the end), so a write there after copy-up leaves the same hole.
        """
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if self._in_upper:
            return self._handle.seek(offset, whence)
        if whence == io.SEEK_CUR:
            offset, whence = self.tell() + offset, io.SEEK_SET
        elif whence == io.SEEK_END:
            offset, whence = self._handle.seek(0, io.SEEK_END) + offset, io.SEEK_SET
        if whence != io.SEEK_SET:
            raise ValueError(f"invalid whence ({whence})")
        if offset < 0:
            raise OSError(22, f"negative seek position {offset}")
        reached = self._handle.seek(offset)
        self._beyond = offset if reached != offset else None
        return offset

    @_serialised
    def tell(self) -> int:
        """Return the position."""
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if self._beyond is not None and not self._in_upper:
            return self._beyond
        return self._handle.tell()

    def close(self) -> None:
        """Close the backing handle; an untouched lower file leaves no trace."""
        if not self.closed:
            self._sb.unlisten(self._path, self)
            try:
                super().close()  # flushes the backing handle first
            finally:
                with self._io_lock:
                    self._handle.close()


def open_file(
    sb: OverlaySuper, path: str, mode: Mode, buffering: int, options: dict[str, typing.Any]
) -> typing.BinaryIO:
    """Open canonical ``path`` and remember the handle until it is closed (see :func:`open_at`)."""
    handle = open_at(sb, path, mode, buffering, options)
    sb.track_open(path, handle)
    return handle


def open_at(
    sb: OverlaySuper, path: str, mode: Mode, buffering: int, options: dict[str, typing.Any]
) -> typing.BinaryIO:
    """Open canonical ``path`` of the overlay (``OverlayFS.openbin``, under the lock).

    A new or truncated file is created in the upper; an upper file is opened
    as it is; a lower file (or a metadata-only copy-up) is opened behind an
    :class:`OverlayFile` that copies it up at the first write.
    """
    if path == "/":
        raise fs.errors.FileExpected(path)
    if mode.writing:
        sb.writable_upper(path)
    parent = dir_ops.parent_dir(sb, path)
    node = sb.resolver.child(parent, split_path(path)[1])
    if node is not None and node.is_dir:
        raise fs.errors.FileExpected(path)
    if node is not None and mode.exclusive:
        raise fs.errors.FileExists(path)
    if node is None and not mode.create:
        raise fs.errors.ResourceNotFound(path)
    if node is None or mode.truncate:
        return _create_file(sb, path, node, mode.to_platform_bin(), buffering, options)
    if node.in_upper and not node.is_metacopy:
        check_entry_inside(sb.layer(UPPER), path)
        handle = sb.layer(UPPER).openbin(path, mode.to_platform_bin(), buffering, **options)
        if mode.create and sb.resolver.is_known_link(path):
            sb.resolver.refresh(path)  # opened through a link: its target may be new
        return handle
    return _open_lower(sb, path, node, mode, buffering)


def _create_file(
    sb: OverlaySuper,
    path: str,
    node: Node | None,
    mode: str,
    buffering: int,
    options: dict[str, typing.Any],
) -> typing.BinaryIO:
    """Open a new (or truncated) upper file at ``path``.

    Truncating an existing lower file copies no data, but the new upper file
    keeps the lower file's identity record.
    """
    upper = sb.layer(UPPER)
    record = None
    if node is not None and (not node.in_upper or node.is_metacopy):
        record = sb.inodes.copy_up_record(node).dump()

    made_at: list[str] = []

    def make(at: str) -> typing.BinaryIO:
        if at == path:
            made = open_new_file(upper, path, mode, buffering, options)  # O_EXCL: no link
            if made is not None:
                made_at.append(made[1])
                return made[0]
            check_entry_inside(upper, path)
            return upper.openbin(path, mode, buffering, **options)
        return upper.openbin(at, mode.replace("x", "w"), buffering, **options)

    def undo(handle: typing.BinaryIO, at: str) -> None:
        handle.close()
        upper.remove(at)

    handle = dir_ops.create_entry(
        sb, path, make, record, replaces=node, undo=undo, regular_file=True
    )
    replacing_lower = node is not None and not node.in_upper
    if node is not None and replacing_lower:
        top = node.top  # the file copied up and truncated, as overlayfs keeps it
        copy_mode_owner_and_xattrs(sb.layer(top.layer), top.path, upper, path)
    if replacing_lower or (node is not None and node.is_metacopy):
        # Same inode as the lower file (overlayfs copies up on O_TRUNC): open
        # read handles on the lower file now read the new upper file.
        sb.notify_copied_up(path)
    if node is None:  # a new file, no number pinned on it (the getattr that follows asks)
        sb.fresh_file = (path, sb.resolver.generation, made_at[0] if made_at else None)
    return handle


def _open_lower(
    sb: OverlaySuper, path: str, node: Node, mode: Mode, buffering: int = -1
) -> typing.BinaryIO:
    """Open a lower file behind an :class:`OverlayFile` (deferred copy-up).

    ``buffering`` goes to the layer handles, the lower one and the upper copy
    alike: with ``0`` every write reaches the upper file at once, visible to
    other handles, as on the layer itself.
    """
    data = node.data_ref
    check_data_inside(sb.layer(data.layer), data.path, data == node.top)
    handle = sb.layer(data.layer).openbin(data.path, "r", buffering)
    if mode.appending:
        handle.seek(0, 2)
    upper_mode = ("a+b" if mode.appending else "r+b") if mode.writing else "rb"

    def open_upper(length: int | None) -> typing.BinaryIO:
        with sb.lock:
            current = sb.resolver.lookup(path)
            if current is None or current.is_dir:
                raise fs.errors.ResourceNotFound(path)
            if not current.in_upper or current.is_metacopy:
                sb.copier.copy_up(sb, current, length=length)
            return sb.layer(UPPER).openbin(path, upper_mode, buffering)

    return typing.cast(typing.BinaryIO, OverlayFile(sb, path, mode, handle, open_upper))


def read_bytes(sb: OverlaySuper, node: Node) -> bytes:
    """Read a whole file straight from the layer that holds its data.

    A plain ``MemoryFS`` layer's file is copied from its entry
    (:mod:`unionfs_lib.host.memory_read`); any other layer is read through
    :func:`~unionfs_lib.host.confine.read_inside`.
    """
    if node.is_dir:
        raise fs.errors.FileExpected(node.path)
    data = node.data_ref
    layer = sb.layer(data.layer)
    found = read_memory_file(layer, data.path)
    if found is not None:
        return found
    return read_inside(layer, data.path, data == node.top)
