"""``OverlayFileSystem``: an :class:`~unionfs_lib.overlay.OverlayFS` as an fsspec filesystem.

Registered with fsspec under the protocol ``"overlay"`` (the ``fsspec.specs``
entry point), so that::

    fsspec.filesystem("overlay", upper=U, lowers=[L1, L2])
    fsspec.open("overlay://data/x.csv", "rt", upper=U, lowers=[L1])
    pandas.read_csv("overlay://data/x.csv", storage_options={"upper": U, "lowers": [L1]})

all work. Layers are PyFilesystem2 FS objects or URLs, fsspec filesystems or
URLs (see :mod:`unionfs_lib.fsspec.layers`); ``upper=None`` is read-only.
Every call goes through the overlay, so whiteouts, copy-up, redirects for a
directory ``mv`` and the persistence of all of it in the upper hold exactly
as they do for PyFilesystem2 callers; errors are the built-in exceptions
fsspec callers expect (see :mod:`unionfs_lib.fsspec.errors`).

Paths are absolute, ``/``-separated and rooted at ``/`` (the root marker);
``overlay://data/x.csv``, ``data/x.csv`` and ``/data/x.csv`` are one path.
"""

from __future__ import annotations

import datetime
import typing

import fs.errors
from fs.path import basename, dirname, join
from fsspec import AbstractFileSystem
from fsspec.utils import stringify_path

from ..overlay import OverlayFS
from .errors import as_fsspec_errors, to_builtin
from .layers import LayerSpec, open_layer
from .shared import SHARED, Served

#: fsspec binary modes and the PyFilesystem2 modes that do the same.
_MODES = {"rb": "r", "wb": "w", "ab": "a", "xb": "x", "r+b": "r+", "rb+": "r+"}


def _datetime(value: typing.Any, path: str) -> datetime.datetime:
    if value is None:
        raise NotImplementedError(f"the layer holding {path} keeps no such time")
    return datetime.datetime.fromtimestamp(float(value), tz=datetime.timezone.utc)


class OverlayFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """An fsspec filesystem over one writable upper and read-only lower layers.

    Arguments:
        upper: the writable layer, or ``None`` for a read-only overlay (every
            write raises ``PermissionError``).
        lowers: read-only layers, top-most first. They are never written.
        overlay: an existing :class:`~unionfs_lib.overlay.OverlayFS` to serve
            instead of building one from ``upper`` and ``lowers``.
        overlay_options: keyword arguments for ``OverlayFS`` (``whiteouts=``,
            ``copy_up=``, ``cache_entries=`` ...). ``auto_close`` is false by
            default: layers given as objects stay the caller's to close.

    Example:
        >>> import fsspec
        >>> base = fsspec.filesystem("memory")
        >>> base.pipe("/doc/base/greeting.txt", b"hello")
        >>> overlay = fsspec.filesystem(
        ...     "overlay", upper="memory:///doc/upper", lowers=["memory:///doc/base"])
        >>> overlay.cat_file("greeting.txt")
        b'hello'

    Instances built from the same layers and ``overlay_options`` share one
    overlay and its lookup caches (:mod:`unionfs_lib.fsspec.shared`), so what
    one writes every other sees at once: pandas builds a new instance per
    call from ``storage_options`` while the caller may hold another. fsspec
    does not cache the instances themselves (it would tell layer objects
    apart only by their ``repr``). A new instance looks at the layers afresh;
    after a change made to a layer by other means, an instance already held
    needs ``invalidate_cache()`` (or a new instance beside it).
    """

    protocol = "overlay"
    root_marker = "/"
    cachable = False

    def __init__(
        self,
        upper: LayerSpec | None = None,
        lowers: typing.Sequence[LayerSpec] = (),
        *,
        overlay: OverlayFS | None = None,
        overlay_options: typing.Mapping[str, typing.Any] | None = None,
        **storage_options: typing.Any,
    ) -> None:
        """Open the layers and compose the overlay; see the class docstring."""
        super().__init__(**storage_options)
        if overlay is None:
            if isinstance(lowers, (str, typing.Mapping)):
                lowers = [lowers]
            specs = (upper, tuple(lowers), dict(overlay_options or {}))
            served = SHARED.get(specs, lambda: _build(upper, lowers, overlay_options))
        else:
            served = Served.over(overlay)
        self._served = served
        self.overlay = served.overlay
        self._listings = served.listings
        self._reads = served.reads
        self._read_locations = self._reads.locations
        self._infos = served.infos

    @classmethod
    def _strip_protocol(cls, path: typing.Any) -> typing.Any:
        """Return ``path`` absolute, without ``overlay://`` and trailing ``/``.

        The root is ``""`` (as in fsspec's memory filesystem), so that
        ``find("", withdirs=True)`` does not list the root itself.
        """
        if isinstance(path, list):
            return [cls._strip_protocol(each) for each in path]
        if isinstance(path, str) and path[:1] == "/" and path[-1:] != "/" and "//" not in path:
            return path  # already stripped: the common case
        text = str(stringify_path(path))
        for prefix in ("overlay://", "overlay::"):
            if text.startswith(prefix):
                text = text[len(prefix) :]
        text = text.strip("/")
        return "/" + text if text else ""

    def unstrip_protocol(self, name: str) -> str:
        """Return ``overlay://`` + the path (without its leading ``/``)."""
        return "overlay://" + str(self._strip_protocol(name)).lstrip("/")

    # -- reading -------------------------------------------------------------

    def info(self, path: str, **kwargs: typing.Any) -> dict[str, typing.Any]:
        """Return ``name``, ``size``, ``type``, ``mtime`` and ``created`` of ``path``.

        What the answer is made of is kept while the overlay does not change
        (see :class:`~unionfs_lib.fsspec.infos.InfoCache`): an entry the upper
        holds is asked of the upper again on every call. Each call returns a
        new dict.
        """
        if type(path) is str:
            found = self._infos.get(path)
            if found is not None:
                return found
        stripped = self._strip_protocol(path)
        with as_fsspec_errors(stripped):
            return self._infos.load(path if type(path) is str else stripped, stripped)

    def ls(self, path: str, detail: bool = True, **kwargs: typing.Any) -> list[typing.Any]:
        """List a merged directory (a file lists as itself), as info dicts or names.

        The finished listing is kept while the overlay does not change (see
        :class:`~unionfs_lib.fsspec.listings.ListingCache`); entries the upper
        holds are read again on every call. Each call returns new dicts.
        """
        path = self._strip_protocol(path)
        found = self._listings.get(path, detail)
        if found is not None:
            return found
        with as_fsspec_errors(path):
            try:
                kept = self._listings.load(path)
            except fs.errors.DirectoryExpected:
                entry = self.info(path)
                return [entry] if detail else [entry["name"]]
        return kept.detailed() if detail else list(kept.names)

    def exists(self, path: str, **kwargs: typing.Any) -> bool:
        """Tell whether ``path`` is visible in the overlay."""
        return bool(self.overlay.exists(self._strip_protocol(path)))

    def isdir(self, path: str) -> bool:
        """Tell whether ``path`` is a visible directory."""
        return bool(self.overlay.isdir(self._strip_protocol(path)))

    def isfile(self, path: str) -> bool:
        """Tell whether ``path`` is a visible file."""
        return bool(self.overlay.isfile(self._strip_protocol(path)))

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: typing.Any
    ) -> bytes:
        """Return the bytes of ``path`` from ``start`` to ``end`` (negative: from the end).

        Where a whole file's bytes live is kept while the overlay does not
        change (see :class:`~unionfs_lib.fsspec.reads.ReadCache`), so a
        repeated read is the layer's own read call; the bytes are read anew
        on every call.
        """
        if start is None and end is None:
            # The hot path, inlined (a call costs a tenth of a memory read):
            # a location kept for this overlay generation, read by the layer.
            kept = self._read_locations.get(path)
            if kept is not None and kept[0] == self.overlay.generation:
                if not self.overlay.isclosed():
                    try:
                        return kept[1](kept[2])
                    except (OSError, fs.errors.FSError):
                        pass  # the overlay reports it in its own words
            return self._read_whole(path)
        path = self._strip_protocol(path)
        with as_fsspec_errors(path):
            with self.overlay.openbin(path, "r") as handle:
                size = handle.seek(0, 2)
                first = _position(start or 0, size)
                last = size if end is None else _position(end, size)
                handle.seek(first)
                return handle.read(max(last - first, 0))

    def _read_whole(self, path: typing.Any) -> bytes:
        """Read a whole file through the overlay, keeping where its bytes live."""
        stripped = self._strip_protocol(path)
        try:
            return self._reads.load(path if type(path) is str else stripped, stripped)
        except fs.errors.FSError as error:
            raise to_builtin(error, stripped) from error

    def modified(self, path: str) -> datetime.datetime:
        """Return the modification time of ``path`` (UTC)."""
        return _datetime(self.info(path)["mtime"], path)

    def created(self, path: str) -> datetime.datetime:
        """Return the creation time of ``path`` (UTC), if its layer keeps one."""
        return _datetime(self.info(path)["created"], path)

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: typing.Any = None,
        autocommit: bool = True,
        cache_options: typing.Any = None,
        **kwargs: typing.Any,
    ) -> typing.BinaryIO:
        """Open ``path`` in ``rb``, ``wb``, ``ab``, ``xb`` or ``r+b``; writing copies up."""
        path = self._strip_protocol(path)
        if mode not in _MODES:
            raise ValueError(f"unsupported mode {mode!r}; use one of {sorted(_MODES)}")
        with as_fsspec_errors(path):
            if _MODES[mode] != "r":
                self._make_parent(path)
            return self.overlay.openbin(path, _MODES[mode])

    # -- writing -------------------------------------------------------------

    def _make_parent(self, path: str) -> None:
        """Create the parent directories of ``path`` (as object stores do implicitly)."""
        parent = dirname(path)
        if parent not in ("", "/") and not self.overlay.isdir(parent):
            self.overlay.makedirs(parent, recreate=True)

    def pipe_file(
        self, path: str, value: bytes, mode: str = "overwrite", **kwargs: typing.Any
    ) -> None:
        """Write ``value`` to ``path``; ``mode="create"`` refuses an existing file."""
        path = self._strip_protocol(path)
        with as_fsspec_errors(path):
            self._make_parent(path)
            with self.overlay.openbin(path, "x" if mode == "create" else "w") as handle:
                handle.write(value)

    def touch(self, path: str, truncate: bool = True, **kwargs: typing.Any) -> None:
        """Create ``path`` empty, or (``truncate=False``) update its times."""
        path = self._strip_protocol(path)
        with as_fsspec_errors(path):
            self._make_parent(path)
            if truncate or not self.overlay.exists(path):
                self.overlay.writebytes(path, b"")
            else:
                self.overlay.touch(path)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: typing.Any) -> None:
        """Make directory ``path`` (and its parents unless ``create_parents=False``)."""
        path = self._strip_protocol(path)
        with as_fsspec_errors(path):
            if self.overlay.exists(path):
                raise fs.errors.DirectoryExists(path)
            if create_parents:
                self.overlay.makedirs(path)
            else:
                self.overlay.makedir(path)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Make directory ``path`` and its parents."""
        path = self._strip_protocol(path)
        with as_fsspec_errors(path):
            if path == "":
                if exist_ok:
                    return
                raise fs.errors.DirectoryExists(path)
            self.overlay.makedirs(path, recreate=exist_ok)

    def rmdir(self, path: str) -> None:
        """Remove an empty directory (a lower one is hidden by a whiteout)."""
        path = self._strip_protocol(path)
        with as_fsspec_errors(path):
            self.overlay.removedir(path)

    def rm_file(self, path: str) -> None:
        """Remove a file (a lower one is hidden by a whiteout)."""
        path = self._strip_protocol(path)
        with as_fsspec_errors(path):
            self.overlay.remove(path)

    def _rm(self, path: str) -> None:
        """Remove a file or an empty directory."""
        if self.isdir(path):
            self.rmdir(path)
        else:
            self.rm_file(path)

    def rm(
        self, path: typing.Any, recursive: bool = False, maxdepth: int | None = None
    ) -> None:
        """Remove files and directories; ``recursive`` removes whole trees.

        A recursive remove of a directory is one ``removetree``: a directory
        that only a lower holds costs one whiteout, not one per entry.
        """
        if maxdepth is not None:
            for found in reversed(self.expand_path(path, recursive=recursive, maxdepth=maxdepth)):
                self._rm(found)
            return
        for found in self.expand_path(path, recursive=False):
            if recursive and self.isdir(found):
                with as_fsspec_errors(found):
                    self.overlay.removetree(found)
            elif self.exists(found):
                self._rm(found)

    def cp_file(self, path1: str, path2: str, **kwargs: typing.Any) -> None:
        """Copy a file (a directory: make it) inside the overlay."""
        source, target = self._strip_protocol(path1), self._strip_protocol(path2)
        with as_fsspec_errors(source):
            if self.overlay.isdir(source):
                self.overlay.makedirs(target, recreate=True)
                return
            self._make_parent(target)
            self.overlay.copy(source, target, overwrite=True)

    def mv(
        self,
        path1: typing.Any,
        path2: typing.Any,
        recursive: bool = False,
        maxdepth: int | None = None,
        **kwargs: typing.Any,
    ) -> None:
        """Move a file or directory; a directory is renamed in one step (a redirect).

        Moving onto an existing directory moves into it, as ``mv`` does.
        Lists and glob patterns fall back to fsspec's copy-then-remove.
        """
        if not (isinstance(path1, str) and isinstance(path2, str)) or self._is_pattern(path1):
            super().mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)
            return
        source, target = self._strip_protocol(path1), self._strip_protocol(path2)
        with as_fsspec_errors(source):
            if self.overlay.isdir(target):
                target = join(target or "/", basename(source))
            self._make_parent(target)
            if self.overlay.isdir(source):
                self.overlay.movedir(source, target, create=True)
            else:
                self.overlay.move(source, target, overwrite=True)

    @staticmethod
    def _is_pattern(path: str) -> bool:
        return any(char in path for char in "*?[")

    def invalidate_cache(self, path: str | None = None) -> None:
        """Forget every listing cached (after a layer changed behind the overlay's back)."""
        self._listings.clear()  # the one cache: infos and read locations go too
        self.overlay.invalidate()


def _build(
    upper: LayerSpec | None,
    lowers: typing.Sequence[LayerSpec],
    overlay_options: typing.Mapping[str, typing.Any] | None,
) -> OverlayFS:
    """Open the layers and compose a new overlay of them."""
    upper_fs = None if upper is None else open_layer(upper, writeable=True)
    lower_fss = [open_layer(layer, writeable=False) for layer in lowers]
    options = {"auto_close": False, **dict(overlay_options or {})}
    return OverlayFS(upper_fs, lower_fss, **options)


def _position(offset: int, size: int) -> int:
    """Return an absolute position for a possibly negative ``offset``, within ``size``."""
    if offset < 0:
        return max(size + offset, 0)
    return min(offset, size)
