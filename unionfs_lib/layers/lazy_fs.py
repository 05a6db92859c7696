"""``LazyFS``: a read-only lower that fetches from a slow or remote FS on demand.

A lazy-loading layer, as container runtimes use: a container starts over a remote image layer
(S3 first) without downloading it, each file is fetched into a local cache FS
the first time it is opened and served from there afterwards, and directory
listings are fetched once and cached in memory. Once the overlay above it
has copied up everything (``OverlayFS.copy_up_tree``) the lazy layer can be
detached (``OverlayFS.detach_lower``) and the remote source closed.

Cost model: one source listing per directory visited, one source download
per file opened (streamed in chunks, into a temporary name of the cache and
renamed into place, so a failed download leaves no partial file), no source
request for anything served from the caches. ``getinfo`` of a name is answered
from its parent's cached listing for the ``basic`` and ``details`` namespaces.

The source is assumed not to change while the layer is open, as lower layers
of an overlay are. A persistent cache FS passed in may be reused across
sessions: a cached file whose size equals the source's is trusted.
"""

from __future__ import annotations

import threading
import typing
import uuid

import fs.errors
from fs.base import FS
from fs.enums import ResourceType
from fs.info import Info
from fs.mode import Mode
from fs.path import dirname
from fs.tempfs import TempFS

from ..model.paths import canonical, join_path, split_path
from ..model.progress import ProgressCallback, ProgressEvent
from ..model.read_only_fs import ReadOnlyFS
from ..model.records import CHUNK_SIZE

_CACHED_NAMESPACES = frozenset({"basic", "details"})
_CACHE_WORK = "/.lazyfs-partial"


class LazyFS(ReadOnlyFS):
    """A read-only view of ``source`` that caches file data and listings locally.

    Arguments:
        source: the slow or remote FS (for example ``fs_s3fs.S3FS``).
        cache: a writable FS for the fetched files (a new ``TempFS`` by
            default, removed on close).
        auto_close: close ``source`` (and a cache created here) on close.

    Attributes:
        downloads: number of files fetched from ``source`` so far.
        listings: number of directory listings fetched from ``source``.

    """

    def __init__(self, source: FS, cache: FS | None = None, *, auto_close: bool = True) -> None:
        """Wrap ``source``; see the class docstring for the arguments."""
        super().__init__()
        self.source = source
        self.owns_cache = cache is None
        self.cache = cache if cache is not None else TempFS(identifier="unionfs-lazy")
        self.auto_close = auto_close
        self.downloads = 0
        self.listings = 0
        self._dirs: dict[str, dict[str, Info]] = {}
        self._root: Info | None = None
        self._fetched: set[str] = set()
        self._fetch_lock = threading.RLock()

    def __repr__(self) -> str:
        """Show the source and the cache."""
        return f"LazyFS({self.source!r}, cache={self.cache!r})"

    # -- cached metadata -----------------------------------------------------

    def _listing(self, path: str) -> dict[str, Info]:
        """Return name -> Info of directory ``path``, fetched once from the source."""
        with self._lock:
            found = self._dirs.get(path)
            if found is None:
                found = {info.name: info for info in self._fetch_listing(path)}
                self.listings += 1
                self._dirs[path] = found
            return found

    def _fetch_listing(self, path: str) -> list[Info]:
        """Return the source's basic+details Info of each entry of directory ``path``.

        An entry the source cannot describe (a symbolic link that leads
        nowhere, in a local source) does not hide the others: the directory
        is then described entry by entry, that one as an empty file.
        """
        try:
            return list(self.source.scandir(path, namespaces=["details"]))
        except fs.errors.ResourceNotFound:
            if not self.source.isdir(path):
                raise
        return [self._entry_info(path, name) for name in self.source.listdir(path)]

    def _entry_info(self, parent: str, name: str) -> Info:
        """Return the source's Info of entry ``name`` of ``parent`` (see :meth:`_fetch_listing`)."""
        try:
            return self.source.getinfo(join_path(parent, name), namespaces=["details"])
        except (fs.errors.ResourceNotFound, fs.errors.OperationFailed):
            details = dict.fromkeys(("accessed", "created", "metadata_changed", "modified"))
            details.update(type=int(ResourceType.symlink), size=0)
            return Info({"basic": {"name": name, "is_dir": False}, "details": details})

    def _cached_info(self, path: str) -> Info:
        """Return the source's basic+details Info of ``path`` from the caches."""
        if path == "/":
            with self._lock:
                if self._root is None:
                    self._root = self.source.getinfo("/", namespaces=["details"])
                return self._root
        parent, name = split_path(path)
        try:
            listing = self._listing(parent)
        except (fs.errors.ResourceNotFound, fs.errors.DirectoryExpected):
            raise fs.errors.ResourceNotFound(path) from None
        info = listing.get(name)
        if info is None:
            raise fs.errors.ResourceNotFound(path)
        return info

    def getmeta(self, namespace: str = "standard") -> typing.Mapping[str, object]:
        """Return the source's meta, read-only."""
        meta = dict(self.source.getmeta(namespace))
        if namespace == "standard":
            meta["read_only"] = True
        return meta

    def getinfo(self, path: str, namespaces: typing.Collection[str] | None = None) -> Info:
        """Return info from the cached listings (other namespaces ask the source)."""
        _path = canonical(self.validatepath(path))
        wanted = set(namespaces or ()) | {"basic"}
        if not wanted <= _CACHED_NAMESPACES:
            return self.source.getinfo(_path, namespaces)
        return _only(self._cached_info(_path), wanted)

    def listdir(self, path: str) -> list[str]:
        """List a directory from the cached listing."""
        _path = canonical(self.validatepath(path))
        if not self._cached_info(_path).is_dir:
            raise fs.errors.DirectoryExpected(path)
        return list(self._listing(_path))

    def scandir(
        self,
        path: str,
        namespaces: typing.Collection[str] | None = None,
        page: tuple[int, int] | None = None,
    ) -> typing.Iterator[Info]:
        """Yield the entries of a directory from the cached listing."""
        _path = canonical(self.validatepath(path))
        if not self._cached_info(_path).is_dir:
            raise fs.errors.DirectoryExpected(path)
        wanted = set(namespaces or ()) | {"basic"}
        if not wanted <= _CACHED_NAMESPACES:
            return self.source.scandir(_path, namespaces, page)
        infos = list(self._listing(_path).values())
        if page is not None:
            infos = infos[page[0] : page[1]]
        return iter(_only(info, wanted) for info in infos)

    # -- file data -------------------------------------------------------------

    def is_fetched(self, path: str) -> bool:
        """Tell whether the data of file ``path`` is in the local cache."""
        return canonical(path) in self._fetched

    def fetch(self, path: str) -> None:
        """Download file ``path`` into the cache unless it is there already."""
        _path = canonical(self.validatepath(path))
        info = self._cached_info(_path)
        if info.is_dir:
            raise fs.errors.FileExpected(path)
        with self._fetch_lock:
            if _path in self._fetched:
                return
            size = info.raw.get("details", {}).get("size")
            if self.cache.isfile(_path) and size is not None and self.cache.getsize(_path) == size:
                self._fetched.add(_path)
                return
            self.cache.makedirs(dirname(_path), recreate=True)
            self.cache.makedirs(_CACHE_WORK, recreate=True)
            temp = join_path(_CACHE_WORK, uuid.uuid4().hex)
            try:
                with self.source.openbin(_path, "r") as source:
                    with self.cache.openbin(temp, "w") as out:
                        for chunk in iter(lambda: source.read(CHUNK_SIZE), b""):
                            out.write(chunk)
                self.cache.move(temp, _path, overwrite=True)
            except BaseException:
                if self.cache.exists(temp):
                    self.cache.remove(temp)
                raise
            self.downloads += 1
            self._fetched.add(_path)

    def prefetch(self, path: str = "/", progress: ProgressCallback | None = None) -> int:
        """Fetch every file under ``path``; return how many files were downloaded."""
        before = self.downloads
        done = 0
        for file_path in self.walk.files(path):
            self.fetch(file_path)
            done += 1
            if progress is not None:
                progress(ProgressEvent("prefetch", file_path, done, None, 0))
        return self.downloads - before

    def openbin(
        self, path: str, mode: str = "r", buffering: int = -1, **options: typing.Any
    ) -> typing.BinaryIO:
        """Open a file for reading, from the cache (fetching it on first access)."""
        _mode = Mode(mode)
        _mode.validate_bin()
        if _mode.writing:
            raise fs.errors.ResourceReadOnly(path)
        _path = canonical(self.validatepath(path))
        self.fetch(_path)
        return self.cache.openbin(_path, "r", buffering, **options)

    # -- read-only ---------------------------------------------------------------

    def getsyspath(self, path: str) -> str:
        """Lazy layers have no OS path of their own (the cache is private)."""
        raise fs.errors.NoSysPath(path=path)

    def served_from(self) -> FS:
        """Return the FS whose files this layer serves, path for path: the source.

        Over local files (an ``OSFS`` source) the overlay confines this layer
        and shows its links as the source's (see :mod:`unionfs_lib.host.local_syspaths`).
        """
        return self.source

    def close(self) -> None:
        """Close the source and a cache made here (with ``auto_close``)."""
        if self.isclosed():
            return
        if self.auto_close:
            self.source.close()
            if self.owns_cache:
                self.cache.close()
        super().close()


def _only(info: Info, namespaces: typing.Collection[str]) -> Info:
    """Return a copy of ``info`` holding just ``namespaces``."""
    return Info({key: info.raw[key] for key in namespaces if key in info.raw})
