"""``FSSpecFS``: a PyFilesystem2 FS over any fsspec filesystem and root path.

With it, s3fs, gcsfs, adlfs, HTTP, GitHub, fsspec's zip and memory
filesystems (any ``fsspec.AbstractFileSystem``) can be a lower or the upper of
an :class:`~unionfs_lib.overlay.OverlayFS`. fsspec's exceptions become
:mod:`fs.errors`; :meth:`FSSpecFS.describe` and the ``fs_url`` attribute name
the layer by an ``fsspec://`` URL (see :mod:`unionfs_lib.fsspec.urls`) that
``fs.open_fs`` reopens, without credentials.

Object stores have no empty directories: a directory made on one exists, for
the life of this ``FSSpecFS``, in memory only, until a file is written in it.

Writing modes buffer the file in a spooled temporary file and upload it when
it is closed (one ``open(..., "wb")`` on the fsspec side), so every PyFilesystem2
mode works on every fsspec filesystem, including seeking and ``r+``.
"""

from __future__ import annotations

import datetime
import email.utils
import io
import os
import shutil
import stat
import tempfile
import threading
import typing

import fs.errors
from fs.base import FS
from fs.info import Info
from fs.iotools import RawWrapper
from fs.mode import Mode
from fs.path import abspath, basename, dirname, normpath, relpath
from fs.permissions import Permissions
from fs.subfs import SubFS

from ..frontend_api import check_inside
from .errors import as_fs_errors, to_fs_error
from .times import reported_times, set_times
from .urls import layer_url

if typing.TYPE_CHECKING:
    from fsspec import AbstractFileSystem

#: Keys fsspec implementations use for a modification time, in preference order.
_MODIFIED_KEYS = (
    "mtime", "modified", "LastModified", "last_modified", "updated", "Last-Modified", "timeCreated",
)  # fmt: skip
#: Keys fsspec implementations use for a creation time.
_CREATED_KEYS = ("created", "ctime", "creation_time", "timeCreated")
_SPOOL_IN_MEMORY = 8 << 20


def timestamp(value: typing.Any) -> float | None:
    """Return a POSIX timestamp for an fsspec time value, or ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return float(value.timestamp())
    if isinstance(value, str):
        return _parsed_timestamp(value)
    return None


def _parsed_timestamp(text: str) -> float | None:
    """Return the timestamp of an ISO 8601 or an HTTP (RFC 1123) date, or ``None``."""
    try:
        return timestamp(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        pass
    try:
        return timestamp(email.utils.parsedate_to_datetime(text))
    except (TypeError, ValueError):
        return None


def is_directory(details: typing.Mapping[str, typing.Any]) -> bool:
    """Tell whether an fsspec info dict names a directory.

    HTTP has no directories: fsspec's HTTP filesystem reports every URL as a
    ``file``, but a server that redirects ``/dir`` to its index page
    ``/dir/`` shows the final ``url`` with a slash the name lacks.
    """
    if details.get("type") == "directory":
        return True
    final_url = details.get("url")
    return (
        isinstance(final_url, str)
        and final_url.endswith("/")
        and not str(details.get("name", "")).endswith("/")
    )


def first_time(details: typing.Mapping[str, typing.Any], keys: tuple[str, ...]) -> float | None:
    """Return the first time among ``keys`` of an fsspec info dict, or ``None``."""
    for key in keys:
        found = timestamp(details.get(key))
        if found is not None:
            return found
    return None


def raw_info(
    name: str, details: typing.Mapping[str, typing.Any], writeable: tuple[str, ...] = ()
) -> dict[str, typing.Any]:
    """Turn an fsspec info dict into the raw PyFilesystem2 info of entry ``name``.

    ``writeable`` names the ``details`` times ``setinfo`` can set there.
    """
    is_dir = is_directory(details)
    created = first_time(details, _CREATED_KEYS)
    modified = first_time(details, _MODIFIED_KEYS)
    if modified is None:
        modified = created  # a store that never rewrites in place keeps one time
    raw_details: dict[str, typing.Any] = {
        "type": 1 if is_dir else 2,
        "size": 0 if is_dir else int(details.get("size") or 0),
        "modified": modified,
        "created": created,
        "accessed": None,
        "metadata_changed": None,
    }
    if writeable:
        raw_details["_write"] = list(writeable)
    return {"basic": {"name": name, "is_dir": is_dir}, "details": raw_details}


def read_line(f: typing.IO[bytes], limit: int) -> bytes:
    """Read one line of at most ``limit`` bytes (a whole line if ``limit < 0``) from ``f``.

    fsspec's buffered files (s3fs, gcsfs, adlfs, HTTP) take no size in
    ``readline``: a line with a limit is read here, in chunks with a seek
    back past its end where ``f`` can seek, else byte by byte.
    """
    if limit < 0:
        return bytes(f.readline())
    if not f.seekable():
        line = bytearray()
        while len(line) < limit and not line.endswith(b"\n"):
            byte = f.read(1)
            if not byte:
                break
            line += byte
        return bytes(line)
    start = f.tell()
    chunk = f.read(limit)
    end = chunk.find(b"\n")
    if end == -1:
        return bytes(chunk)
    f.seek(start + end + 1)
    return bytes(chunk[: end + 1])


class ModeCheckedFile(RawWrapper):
    """A file whose reads and writes are refused as its mode says.

    fsspec file objects (``MemoryFile`` is a ``BytesIO``) and local buffers
    accept both; a PyFilesystem2 caller expects ``io.UnsupportedOperation``.
    """

    def __init__(self, f: typing.IO[bytes], mode: str, name: str) -> None:
        super().__init__(f, mode=mode, name=name)
        self._mode = Mode(mode)

    def readable(self) -> bool:
        """Tell whether the mode reads."""
        return self._mode.reading

    def writable(self) -> bool:
        """Tell whether the mode writes."""
        return self._mode.writing

    def _allow(self, allowed: str, name: str) -> None:
        """Raise ``io.UnsupportedOperation`` unless the mode allows ``allowed`` (``reading``...)."""
        if not getattr(self._mode, allowed):
            raise io.UnsupportedOperation(f"{name}: file not open for {allowed}")

    def read(self, n: int = -1) -> bytes:
        """Read at most ``n`` bytes (all with ``-1``); refused unless open for reading."""
        self._allow("reading", "read")
        return typing.cast(bytes, super().read(n))

    def read1(self, n: int = -1) -> bytes:
        """Read at most ``n`` bytes in one call; refused unless open for reading."""
        self._allow("reading", "read1")
        return super().read1(n)

    def readall(self) -> bytes:
        """Read to the end; refused unless open for reading."""
        self._allow("reading", "readall")
        return typing.cast(bytes, super().readall())

    def readinto(self, b: typing.Any) -> int:
        """Read into the buffer ``b``; refused unless open for reading."""
        self._allow("reading", "readinto")
        return typing.cast(int, super().readinto(b))

    def readinto1(self, b: typing.Any) -> int:
        """Read into the buffer ``b`` in one call; refused unless open for reading."""
        self._allow("reading", "readinto1")
        return typing.cast(int, super().readinto1(b))

    def readline(self, limit: int | None = None) -> bytes:
        """Read one line (at most ``limit`` bytes), whatever ``readline`` the fsspec file has."""
        self._allow("reading", "readline")
        return read_line(self._f, -1 if limit is None else limit)

    def readlines(self, hint: int | None = None) -> list[bytes]:
        """Read lines until their total size reaches ``hint`` (every line if it is not positive)."""
        self._allow("reading", "readlines")
        lines: list[bytes] = []
        total = 0
        while hint is None or hint <= 0 or total < hint:
            line = read_line(self._f, -1)
            if not line:
                break
            lines.append(line)
            total += len(line)
        return lines

    def write(self, data: typing.Any) -> int:
        """Write ``data``; refused unless open for writing."""
        self._allow("writing", "write")
        return super().write(data)

    def writelines(self, lines: typing.Iterable[typing.Any]) -> None:
        """Write every item of ``lines``; refused unless open for writing."""
        self._allow("writing", "writelines")
        super().writelines(lines)

    def truncate(self, size: int | None = None) -> int:
        """Cut or extend the file to ``size`` bytes; refused unless open for writing."""
        self._allow("writing", "truncate")
        return super().truncate(size)


class _UploadOnClose(ModeCheckedFile):
    """A spooled local buffer that is uploaded to the fsspec path when closed."""

    def __init__(
        self,
        spool: typing.IO[bytes],
        mode: str,
        name: str,
        upload: typing.Callable[[typing.IO[bytes]], None],
    ) -> None:
        super().__init__(spool, mode, name)
        self._upload = upload

    def write(self, data: typing.Any) -> int:
        """Write at the end in an appending mode, else at the position."""
        if self._mode.appending:
            self._f.seek(0, 2)
        return int(ModeCheckedFile.write(self, data))

    def truncate(self, size: int | None = None) -> int:
        """Cut or extend (with zero bytes) the file to ``size``, default the position."""
        if not self._mode.writing:
            raise io.UnsupportedOperation("truncate: file not open for writing")
        position = self._f.tell()
        size = position if size is None else size
        end = self._f.seek(0, 2)
        if size > end:
            self._f.write(b"\0" * (size - end))
        else:
            self._f.truncate(size)
        self._f.seek(position)
        return size

    def close(self) -> None:
        """Upload the buffered content, then release the buffer."""
        if not self.closed:
            try:
                self._f.flush()
                self._f.seek(0)
                self._upload(self._f)
            finally:
                super().close()


class FSSpecFS(FS):
    """A PyFilesystem2 FS over an fsspec filesystem, rooted at ``root``.

    Arguments:
        filesystem: any ``fsspec.AbstractFileSystem`` instance.
        root: the directory of ``filesystem`` that is ``/`` here (``""``
            for its root; ``"bucket/prefix"`` on S3).
        read_only: refuse every write with ``fs.errors.ResourceReadOnly``.
        fs_url: the URL :meth:`describe` and ``OverlayFS.describe`` give this
            layer (default: an ``fsspec://`` URL built from the filesystem's
            protocol, root and credential-free storage options).

    Example:
        >>> import fsspec
        >>> from unionfs_lib.fsspec import FSSpecFS
        >>> memory = fsspec.filesystem("memory")
        >>> memory.pipe("/doc/layer/hello.txt", b"hello")
        >>> layer = FSSpecFS(memory, "/doc/layer")
        >>> layer.listdir("/"), layer.readtext("/hello.txt")
        (['hello.txt'], 'hello')

    """

    def __init__(
        self,
        filesystem: AbstractFileSystem,
        root: str = "",
        *,
        read_only: bool = False,
        fs_url: str | None = None,
    ) -> None:
        """Wrap ``filesystem`` at ``root``; see the class docstring."""
        super().__init__()
        self.filesystem = filesystem
        stripped = filesystem._strip_protocol(root) if root else ""
        self.root = typing.cast(str, stripped).rstrip("/")
        self.read_only = read_only
        self._fs_url = fs_url
        self._pseudo_dirs: set[str] = set()
        self._pseudo_lock = threading.Lock()
        self._writeable_times = () if read_only else reported_times(filesystem)
        self._local = local_path_function(filesystem)
        self._max_sys_path_length = (
            None if self._local is None else _path_max(self._local(self._joined("")))
        )

    def __repr__(self) -> str:
        """Show the filesystem class and root."""
        return f"FSSpecFS({type(self.filesystem).__name__}, {self.root!r})"

    # -- naming ------------------------------------------------------------

    @property
    def fs_url(self) -> str:
        """The URL that ``fs.open_fs`` reopens as this layer (no credentials)."""
        if self._fs_url is not None:
            return self._fs_url
        return layer_url(self.filesystem, self.root or self.filesystem.root_marker)

    def describe(self) -> str:
        """Return :attr:`fs_url`."""
        return self.fs_url

    def validatepath(self, path: str) -> str:
        """Check ``path`` and return it absolute and normalised (fast for normal paths)."""
        if (
            isinstance(path, str)
            and path[:1] == "/"
            and "\0" not in path
            and (path == "/" or (path[-1] != "/" and "//" not in path and "/." not in path))
        ):
            if self._closed:
                raise fs.errors.FilesystemClosed()
            return path
        return super().validatepath(path)

    def _full(self, path: str) -> str:
        """Return the fsspec path of the PyFilesystem2 ``path``."""
        return self._joined(relpath(self.validatepath(path)))

    def _joined(self, relative: str) -> str:
        """Return the fsspec path of the root-relative ``relative``."""
        if not relative:
            return self.root or self.filesystem.root_marker
        if self.root:
            return f"{self.root}/{relative}"
        return f"{self.filesystem.root_marker}{relative}"

    def _check_writable(self, path: str) -> None:
        if self.read_only:
            raise fs.errors.ResourceReadOnly(path)

    def getsyspath(self, path: str) -> str:
        """Return the OS path of ``path`` on fsspec's local filesystem.

        A layer over local files (``file://``, a ``dir::`` or cache wrapper
        around one) is a local directory to the overlay, as an ``OSFS`` is:
        its links are shown as links and kept inside the layer
        (:mod:`unionfs_lib.host.confine`).

        Raises:
            fs.errors.NoSysPath: the fsspec filesystem is not a local one.

        """
        if self._local is None:
            raise fs.errors.NoSysPath(path=path)
        # Not through validatepath, which asks getsyspath (max_sys_path_length).
        return self._local(self._joined(relpath(abspath(normpath(path)))))

    # -- essential methods -------------------------------------------------

    def getmeta(self, namespace: str = "standard") -> typing.Mapping[str, object]:
        """Return the meta features (read-only when ``read_only``)."""
        if namespace != "standard":
            return {}
        return {
            "case_insensitive": False,
            "invalid_path_chars": "\0",
            "max_path_length": None,
            "max_sys_path_length": self._max_sys_path_length,
            "network": not self._is_local(),
            "read_only": self.read_only,
            "supports_rename": False,
            "thread_safe": True,
            "unicode_paths": True,
            "virtual": False,
        }

    def _is_local(self) -> bool:
        """Tell whether the fsspec filesystem is fsspec's local or memory one."""
        protocol = self.filesystem.protocol
        protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
        return bool({"file", "local", "memory"} & set(protocols))

    def _details(self, path: str) -> dict[str, typing.Any]:
        """Return the fsspec info dict of ``path`` (a pseudo directory too)."""
        full = self._full(path)
        if self.validatepath(path) == "/":
            return {"name": full, "type": "directory", "size": 0}
        try:
            with as_fs_errors(path):
                return dict(self.filesystem.info(full))
        except fs.errors.DirectoryExpected as error:  # a parent is a file (ENOTDIR)
            raise fs.errors.ResourceNotFound(path) from error
        except fs.errors.ResourceNotFound:
            if full in self._pseudo_dirs:
                return {"name": full, "type": "directory", "size": 0}
            raise

    def getinfo(self, path: str, namespaces: typing.Collection[str] | None = None) -> Info:
        """Return the info of ``path`` (``basic`` and ``details``)."""
        details = self._details(path)
        return Info(raw_info(basename(self.validatepath(path)), details, self._writeable_times))

    def _listing(self, path: str) -> list[dict[str, typing.Any]]:
        """Return the fsspec info dicts of the entries of directory ``path``."""
        full = self._full(path)
        try:
            with as_fs_errors(path):
                entries = self.filesystem.ls(full, detail=True)
        except fs.errors.ResourceNotFound:
            if full in self._pseudo_dirs or self.validatepath(path) == "/":
                entries = []  # the root always exists, even as an empty prefix
            else:
                raise
        children = [_followed(self.filesystem, entry) for entry in entries
                    if entry["name"].rstrip("/") != full]
        if not children and entries:
            raise fs.errors.DirectoryExpected(path)
        if not entries and not is_directory(self._details(path)):
            raise fs.errors.DirectoryExpected(path)
        found = {entry["name"].rstrip("/").rpartition("/")[2]: entry for entry in children}
        with self._pseudo_lock:
            for pseudo in self._pseudo_dirs:
                if dirname(pseudo) == full and basename(pseudo) not in found:
                    found[basename(pseudo)] = {"name": pseudo, "type": "directory", "size": 0}
        return [dict(entry, name=name) for name, entry in found.items() if name]

    def listdir(self, path: str) -> list[str]:
        """Return the names in directory ``path``."""
        return [entry["name"] for entry in self._listing(path)]

    def scandir(
        self,
        path: str,
        namespaces: typing.Collection[str] | None = None,
        page: tuple[int, int] | None = None,
    ) -> typing.Iterator[Info]:
        """Return the info of every entry of ``path`` from one fsspec ``ls``.

        A listing without sizes (HTTP index pages) is completed with one
        fsspec ``info`` per file when the ``details`` namespace is asked for.
        """
        entries = self._listing(path)
        if namespaces and "details" in namespaces:
            entries = [self._with_size(path, entry) for entry in entries]
        infos = [Info(raw_info(entry["name"], entry, self._writeable_times)) for entry in entries]
        if page is not None:
            infos = infos[page[0] : page[1]]
        return iter(infos)

    def _with_size(self, path: str, entry: dict[str, typing.Any]) -> dict[str, typing.Any]:
        """Return a listed ``entry`` of directory ``path``, with its size and times if missing.

        An entry the store cannot describe (a dead link on an index page) is
        kept as listed, with size 0.
        """
        if entry.get("size") is not None or is_directory(entry):
            return entry
        child = f"{path.rstrip('/')}/{entry['name']}"
        try:
            return dict(self._details(child), name=entry["name"])
        except fs.errors.ResourceNotFound:
            return entry

    def makedir(
        self, path: str, permissions: Permissions | None = None, recreate: bool = False
    ) -> SubFS[FS]:
        """Make directory ``path``; its parent must exist."""
        self._check_writable(path)
        path = self.validatepath(path)
        if path == "/":
            if recreate:
                return self.opendir(path)
            raise fs.errors.DirectoryExists(path)
        if not self.getinfo(dirname(path)).is_dir:
            raise fs.errors.ResourceNotFound(path)
        if self.exists(path):
            if recreate and self.getinfo(path).is_dir:
                return self.opendir(path)
            raise fs.errors.DirectoryExists(path)
        full = self._full(path)
        with as_fs_errors(path):
            self.filesystem.makedirs(full, exist_ok=True)
            if not self.filesystem.isdir(full):
                with self._pseudo_lock:
                    self._pseudo_dirs.add(full)
        return self.opendir(path)

    def openbin(
        self, path: str, mode: str = "r", buffering: int = -1, **options: typing.Any
    ) -> typing.BinaryIO:
        """Open ``path``: reading streams from fsspec, writing uploads at close."""
        parsed = Mode(mode)
        parsed.validate_bin()
        path = self.validatepath(path)
        if parsed.writing:
            self._check_writable(path)
        info = self._info_or_none(path)
        if info is not None and info.is_dir:
            raise fs.errors.FileExpected(path)
        if info is None and not parsed.create:
            raise fs.errors.ResourceNotFound(path)
        if info is not None and parsed.exclusive:
            raise fs.errors.FileExists(path)
        if not parsed.writing:
            with as_fs_errors(path):
                handle = self.filesystem.open(self._full(path), "rb")
            return typing.cast(typing.BinaryIO, ModeCheckedFile(handle, "rb", path))
        if info is None and not self.getinfo(dirname(path)).is_dir:
            raise fs.errors.ResourceNotFound(path)
        return self._open_for_writing(path, parsed, keep=info is not None and not parsed.truncate)

    def _info_or_none(self, path: str) -> Info | None:
        try:
            return self.getinfo(path)
        except fs.errors.ResourceNotFound:
            return None

    def _open_for_writing(self, path: str, mode: Mode, keep: bool) -> typing.BinaryIO:
        """Return a spooled buffer of ``path`` that is uploaded when closed."""
        full = self._full(path)
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
        if keep:
            with as_fs_errors(path), self.filesystem.open(full, "rb") as source:
                shutil.copyfileobj(source, spool)
            if not mode.appending:
                spool.seek(0)
        else:
            self._upload(path, full, None)  # the file exists from the open on

        def upload(buffer: typing.IO[bytes]) -> None:
            self._upload(path, full, buffer)

        wrapper = _UploadOnClose(
            typing.cast(typing.IO[bytes], spool), mode.to_platform_bin(), path, upload
        )
        return typing.cast(typing.BinaryIO, wrapper)

    def _upload(self, path: str, full: str, buffer: typing.IO[bytes] | None) -> None:
        """Write ``buffer`` (or nothing) to ``full``; the file stops being a pseudo dir.

        What the spool kept in memory goes in one ``pipe_file`` call (one
        ``PUT``; fsspec's memory store then swaps in the whole new file, where
        a file opened for writing is visible, and read, while it is written);
        a larger spool is streamed.
        """
        with as_fs_errors(path):
            if buffer is None:
                self.filesystem.pipe_file(full, b"")
            elif _remaining(buffer) <= _SPOOL_IN_MEMORY:
                self.filesystem.pipe_file(full, buffer.read())
            else:
                with self.filesystem.open(full, "wb") as target:
                    shutil.copyfileobj(buffer, target)
        self._forget_pseudo_parents(full)

    def _forget_pseudo_parents(self, full: str) -> None:
        """Drop the pseudo directories a written file now makes real.

        The listing the store cached of each one's parent lacks it (adlfs
        keeps such a listing after the write), so that listing is dropped too.
        """
        with self._pseudo_lock:
            made_real = {pseudo for pseudo in self._pseudo_dirs if full.startswith(pseudo + "/")}
            self._pseudo_dirs -= made_real
        for pseudo in made_real:
            self.filesystem.invalidate_cache(pseudo.rpartition("/")[0])

    def remove(self, path: str) -> None:
        """Remove file ``path``."""
        self._check_writable(path)
        if self.getinfo(path).is_dir:
            raise fs.errors.FileExpected(path)
        full = self._full(path)
        with as_fs_errors(path):
            self.filesystem.rm_file(full)
            self._keep_parent(path)

    def _keep_parent(self, path: str) -> None:
        """Keep the parent of a removed entry as a pseudo directory if the store dropped it."""
        parent = dirname(self.validatepath(path))
        parent_full = self._full(parent)
        if parent != "/" and not self.filesystem.exists(parent_full):
            with self._pseudo_lock:
                self._pseudo_dirs.add(parent_full)

    def removetree(self, dir_path: str) -> None:
        """Remove directory ``dir_path`` and everything in it (the root: its content).

        On local files a symbolic link is removed, never followed: a link to
        a directory named ``dir_path`` is unlinked, and links inside the tree
        are removed as links (the walk is ``shutil.rmtree``'s, which opens
        every directory without following links).
        """
        self._check_writable(dir_path)
        path = self.validatepath(dir_path)
        if self._local is not None:
            self._remove_local_tree(dir_path, path)
            return
        if not self.getinfo(path).is_dir:
            raise fs.errors.DirectoryExpected(dir_path)
        if path == "/":
            for name in self.listdir(path):
                child = "/" + name
                if self.getinfo(child).is_dir:
                    self.removetree(child)
                else:
                    self.remove(child)
            return
        full = self._full(path)
        with self._pseudo_lock:
            self._pseudo_dirs = {
                pseudo
                for pseudo in self._pseudo_dirs
                if pseudo != full and not pseudo.startswith(full + "/")
            }
        with as_fs_errors(path):
            if self.filesystem.exists(full):
                self.filesystem.rm(full, recursive=True)
            self._keep_parent(path)

    def _remove_local_tree(self, dir_path: str, path: str) -> None:
        """Remove a tree of local files without following any symbolic link.

        The tree's parent must lie inside the layer (a link on the way that
        leads out is refused with ``EscapesLayer``); the layer's root itself
        is the caller's choice and may be a link.
        """
        sys_path = self.getsyspath(path)
        if path != "/":
            check_inside(self, dirname(path))
        try:
            found = os.stat(sys_path) if path == "/" else os.lstat(sys_path)
        except OSError as error:
            raise to_fs_error(error, dir_path) from error
        if stat.S_ISLNK(found.st_mode) and path != "/":
            with as_fs_errors(dir_path):
                os.unlink(sys_path)  # the link itself, not what it points to
            return
        if not stat.S_ISDIR(found.st_mode):
            raise fs.errors.DirectoryExpected(dir_path)
        with as_fs_errors(dir_path):
            if path != "/":
                shutil.rmtree(sys_path)
                return
            for entry in list(os.scandir(sys_path)):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)

    def removedir(self, path: str) -> None:
        """Remove empty directory ``path``."""
        self._check_writable(path)
        path = self.validatepath(path)
        if path == "/":
            raise fs.errors.RemoveRootError(path)
        if not self.getinfo(path).is_dir:
            raise fs.errors.DirectoryExpected(path)
        if self.listdir(path):
            raise fs.errors.DirectoryNotEmpty(path)
        full = self._full(path)
        with self._pseudo_lock:
            was_pseudo = full in self._pseudo_dirs
            self._pseudo_dirs.discard(full)
        if not was_pseudo:
            with as_fs_errors(path):
                self.filesystem.rmdir(full)

    def setinfo(self, path: str, info: typing.Mapping[str, typing.Any]) -> None:
        """Set the ``details`` times where the fsspec filesystem keeps them.

        Only fsspec's local filesystem keeps times (``modified`` and
        ``accessed``); elsewhere, and for every other namespace, the change is
        ignored (see :mod:`unionfs_lib.fsspec.times`). ``path`` must exist.
        """
        self._check_writable(path)
        self.getinfo(path)
        details = info.get("details") or {}
        accessed, modified = details.get("accessed"), details.get("modified")
        if accessed is None and modified is None:
            return
        with as_fs_errors(path):
            set_times(
                self.filesystem,
                self._full(path),
                None if accessed is None else float(accessed),
                None if modified is None else float(modified),
            )

    # -- faster paths --------------------------------------------------------

    def readbytes(self, path: str) -> bytes:
        """Return the content of file ``path`` in one fsspec ``cat_file``."""
        try:
            return bytes(self.filesystem.cat_file(self._full(path)))
        except OSError as error:
            if self.getinfo(path).is_dir:  # fsspec reports a directory in many ways
                raise fs.errors.FileExpected(path) from None
            raise to_fs_error(error, path) from error

    def write_once(self, path: str, source: typing.BinaryIO) -> None:
        """Write the bytes of ``source`` to file ``path`` in one upload, at its final name.

        Unlike :meth:`openbin`, which makes an empty file when it opens a new
        one, nothing is written before the whole content is: on an object
        store readers see the old object (or none) until the upload
        completes, then the new one. A directory at ``path`` is refused.
        """
        self._check_writable(path)
        path = self.validatepath(path)
        info = self._info_or_none(path)
        if info is not None and info.is_dir:
            raise fs.errors.FileExpected(path)
        full = self._full(path)
        with as_fs_errors(path), self.filesystem.open(full, "wb") as target:
            shutil.copyfileobj(source, target)
        self._forget_pseudo_parents(full)

    def move(
        self, src_path: str, dst_path: str, overwrite: bool = False, preserve_time: bool = False
    ) -> None:
        """Move a file with one fsspec ``mv`` (a rename, or a server-side copy on S3)."""
        self._check_writable(dst_path)
        src, dst = self.validatepath(src_path), self.validatepath(dst_path)
        target = self._info_or_none(dst)
        if target is not None and (not overwrite or target.is_dir):
            raise fs.errors.DestinationExists(dst_path)
        if self.getinfo(src).is_dir:
            raise fs.errors.FileExpected(src_path)
        if not self.getinfo(dirname(dst)).is_dir:
            raise fs.errors.ResourceNotFound(dst_path)
        if src == dst:
            return
        with as_fs_errors(src_path):
            self.filesystem.mv(self._full(src), self._full(dst))
            self._keep_parent(src)
        self._forget_pseudo_parents(self._full(dst))

    def exists(self, path: str) -> bool:
        """Tell whether ``path`` exists."""
        return self._info_or_none(path) is not None


def _followed(
    filesystem: AbstractFileSystem, entry: dict[str, typing.Any]
) -> dict[str, typing.Any]:
    """Return a listed ``entry``, described as its target if it is a symbolic link.

    fsspec's local ``ls`` describes a link by ``lstat`` (type ``other``)
    where its ``info`` follows it, as ``OSFS`` does: a link to a directory
    lists as a directory. A dangling link stays as listed.
    """
    if not entry.get("islink") or entry.get("type") != "other":
        return entry
    try:
        return dict(filesystem.info(entry["name"]), name=entry["name"])
    except OSError:
        return entry


def local_path_function(filesystem: AbstractFileSystem) -> typing.Callable[[str], str] | None:
    """Return what turns a path of ``filesystem`` into a local OS path, or ``None``.

    fsspec's local filesystem (``file://``) gives its paths as they are; a
    ``dir::`` filesystem or a cache (``simplecache::``, ``filecache::``,
    ``blockcache::``) over one gives the paths of the local files it reads
    and writes. Any other filesystem has no local files.
    """
    from fsspec.implementations.cached import CachingFileSystem
    from fsspec.implementations.dirfs import DirFileSystem
    from fsspec.implementations.local import LocalFileSystem

    if isinstance(filesystem, LocalFileSystem):
        return _same_path
    if isinstance(filesystem, DirFileSystem):
        inner = local_path_function(filesystem.fs)
        if inner is None:
            return None
        join = filesystem._join
        return lambda path: inner(join(path))
    if isinstance(filesystem, CachingFileSystem):
        return local_path_function(filesystem.fs)
    return None


def _path_max(sys_path: str) -> int:
    """Return the longest OS path the local filesystem holding ``sys_path`` takes."""
    try:
        return os.pathconf(sys_path, "PC_PATH_MAX")
    except (OSError, ValueError):
        return 4096


def _same_path(path: str) -> str:
    """Return ``path``: fsspec's local paths are OS paths."""
    return path


def _remaining(buffer: typing.IO[bytes]) -> int:
    """Return how many bytes ``buffer`` holds from its position on (the position is kept)."""
    start = buffer.tell()
    end = buffer.seek(0, os.SEEK_END)
    buffer.seek(start)
    return end - start
