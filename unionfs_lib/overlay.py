"""``OverlayFS``: one writable upper FS over read-only lower FS objects.

``OverlayFS`` is the PyFilesystem2 face of the overlay; it validates paths,
takes the lock, and delegates: lookups to :mod:`unionfs_lib.resolve.resolver`, copy-up
to a :class:`~unionfs_lib.copy_up.CopyUpEngine`, whiteouts to a
:class:`~unionfs_lib.stores.whiteout_store.WhiteoutStore`, listings to a
:class:`~unionfs_lib.readdir.DirIterator`, creates, removes and renames to
:mod:`unionfs_lib.ops.dir_ops`, links to :mod:`unionfs_lib.ops.link_ops`, extended
attributes to :mod:`unionfs_lib.ops.xattr_ops`, and open files to
:mod:`unionfs_lib.ops.file_ops`.
"""

from __future__ import annotations

import os
import typing

import fs.errors
from fs.base import FS
from fs.info import Info
from fs.mode import Mode
from fs.subfs import SubFS

from .changesets import changes as changeset
from .changesets import commit, patch
from .changesets.changes import Change
from .changesets.export import export_layer
from .errors import InvalidOption, make_printable
from .host.layer_io import syspaths
from .host.workdir import WorkArea
from .layers import lifecycle
from .layers.description import build_overlay, describe
from .layers.fingerprints import FingerprintKind
from .layers.kernel_mount import StrPath, from_dirs
from .layers.lifecycle import Backing
from .layers.nested_overlays import flatten_lowers
from .layers.recorded_fingerprints import verify_lowers_at_open
from .model.paths import canonical
from .model.progress import ProgressCallback
from .model.records import Node
from .model.validators import check_choice, check_flag, check_whole_number, shown
from .ops import dir_ops
from .ops import link_ops as links
from .ops import special_files as special
from .ops import xattr_ops as xattrs
from .ops.copy_up_engine import CopyUpEngine
from .ops.dir_iterator import DirIterator
from .ops.file_ops import open_file, read_bytes
from .ops.info_ops import batch_infos, batch_numbers, child_infos, node_info, set_info
from .ops.strategies import CopyUpStrategy, DirIteratorStrategy, Strategies
from .ops.superblock import OverlayLock, OverlaySuper
from .resolve.inode_numbers import InodeNumbers
from .resolve.resolver import DEFAULT_LISTING_BUDGET, Resolver
from .stores.upper_format import default_whiteouts
from .stores.whiteout_store import WhiteoutStore

_Overlay = typing.TypeVar("_Overlay", bound="OverlayFS")
_Described = typing.TypeVar("_Described")

_UPPER_LIMITS = ("case_insensitive", "invalid_path_chars", "max_path_length", "unicode_paths")
#: What ``verify_lowers`` may be.
_VERIFY_MODES = ("error", "warn", "off")
#: The largest ``cache_entries`` accepted.
MAX_CACHE_ENTRIES = 1 << 48


def _check_strategy(name: str, strategy: object, protocol: type) -> None:
    """Refuse a strategy argument that does not implement its protocol (``None``: the default)."""
    if strategy is not None and not isinstance(strategy, protocol):
        wanted, found = protocol.__name__, shown(strategy)
        raise InvalidOption(f"OverlayFS option {name} must implement {wanted}, not {found}")


class OverlayFS(FS):
    """A union of one writable upper FS over read-only lower FS objects.

    Arguments:
        upper: the writable FS that receives every change, or ``None`` for a
            read-only overlay (every write raises ``ResourceReadOnly``).
        lowers: read-only layers, top-most first (like overlayfs
            ``lowerdir=top:...:bottom``). They are never written. An
            ``OverlayFS`` as the last lower (with an equal whiteout store) is
            flattened: its upper and lowers join the layer list, so nesting
            costs nothing per level (see :mod:`unionfs_lib.layers.nested_overlays`).
        whiteouts: the whiteout store (default :class:`MarkerWhiteouts`; for
            a kernel-layout upper, an ``upperdir://`` URL's ``UpperDirFS``, the
            format its directory holds, see :mod:`unionfs_lib.stores.upper_format`).
        copy_up: the copy-up engine (default :class:`CopyUpEngine`).
        readdir: the directory iterator (default :class:`DirIterator`).
        auto_close: close the layers when the overlay is closed.
        verify_lowers: ``"error"`` or ``"warn"`` checks the lowers against the
            fingerprints kept in the upper (recording them on first use), see
            :func:`unionfs_lib.layers.recorded_fingerprints.verify_lowers_at_open`; ``"off"``
            (default) costs nothing.
        cache_entries: budget, in directory entries, of each of the two lookup
            caches (layer listings, merged directories); about 40-120 bytes
            per lower entry (about 400 more in a directory being iterated
            with ``iterdir``). Directories of up to a quarter of it are iterated
            from the cache, larger ones streamed.

    Example:
        >>> from fs.memoryfs import MemoryFS
        >>> from unionfs_lib import OverlayFS
        >>> lower = MemoryFS(); lower.writetext("/hello.txt", "lower")
        >>> overlay = OverlayFS(MemoryFS(), [lower])
        >>> overlay.remove("/hello.txt")
        >>> lower.exists("/hello.txt"), overlay.exists("/hello.txt")
        (True, False)

    """

    def __init__(
        self,
        upper: FS | None,
        lowers: typing.Sequence[FS] = (),
        *,
        whiteouts: WhiteoutStore | None = None,
        copy_up: CopyUpStrategy | None = None,
        readdir: DirIteratorStrategy | None = None,
        auto_close: bool = True,
        verify_lowers: str = "off",
        cache_entries: int = DEFAULT_LISTING_BUDGET,
    ) -> None:
        """Compose the overlay; see the class docstring for the arguments.

        Every argument is checked first (``TypeError`` for a layer that is no
        FS, :class:`~unionfs_lib.errors.InvalidOption` for a bad option). An
        overlay whose construction fails closes nothing it was given.
        """
        super().__init__()
        self._lock = OverlayLock()
        try:
            check_choice("OverlayFS", "verify_lowers", verify_lowers, _VERIFY_MODES)
            self._compose(
                upper, tuple(lowers), whiteouts, copy_up, readdir, auto_close, cache_entries
            )
            if verify_lowers != "off":
                verify_lowers_at_open(self, verify_lowers)
        except BaseException:
            self._closed = True  # a half-built overlay: close() (and __del__) leave the layers be
            raise

    def _compose(
        self,
        upper: FS | None,
        lower_layers: tuple[FS, ...],
        whiteouts: WhiteoutStore | None,
        copy_up: CopyUpStrategy | None,
        readdir: DirIteratorStrategy | None,
        auto_close: bool,
        cache_entries: int,
    ) -> None:
        """Check the arguments, build the superblock and clean the work area."""
        if upper is None and not lower_layers:
            raise ValueError("an overlay needs an upper or at least one lower layer")
        for layer in (upper, *lower_layers):
            if layer is not None and not isinstance(layer, FS):
                raise TypeError(f"layers must be PyFilesystem2 FS objects, not {shown(layer)}")
        check_flag("OverlayFS", "auto_close", auto_close)
        check_whole_number("OverlayFS", "cache_entries", cache_entries, 0, MAX_CACHE_ENTRIES)
        _check_strategy("whiteouts", whiteouts, WhiteoutStore)
        _check_strategy("copy_up", copy_up, CopyUpStrategy)
        _check_strategy("readdir", readdir, DirIteratorStrategy)
        store = whiteouts if whiteouts is not None else default_whiteouts(upper)
        self._flat = flatten_lowers(lower_layers, store)
        lower_layers = self._flat.lowers
        self._sb = OverlaySuper(
            upper=upper,
            lowers=lower_layers,
            store=store,
            copier=copy_up if copy_up is not None else CopyUpEngine(),
            readdir=readdir if readdir is not None else DirIterator(),
            resolver=Resolver(
                (upper, *lower_layers),
                store,
                listing_budget=cache_entries,
                dir_budget=cache_entries,
                record_layers=self._flat.record_layers,
            ),
            inodes=InodeNumbers.for_upper(upper),
            work=WorkArea.of(upper, store.work_dir()),
            lock=self._lock,
        )
        self._auto_close = auto_close
        if upper is not None:
            self._sb.work.clean()

    def __del__(self) -> None:
        """Close the overlay when it is collected; one never fully built holds nothing."""
        if not getattr(self, "_closed", True):
            self.close()

    @classmethod
    def from_dirs(
        cls,
        lowerdirs: StrPath | typing.Sequence[StrPath],
        upperdir: StrPath | None = None,
        workdir: StrPath | None = None,
        **options: typing.Any,
    ) -> OverlayFS:
        """Open directories as ``mount -t overlay -o lowerdir=...,upperdir=...,workdir=...``.

        ``lowerdirs`` is top-most first (a ``:``-separated string or a
        sequence); every directory may be a string or a path object. The
        upper uses the Linux overlayfs on-disk format
        (:class:`~unionfs_lib.kernel_format.KernelWhiteouts`, ``userxattr=True``
        for ``user.overlay.*``) unless ``whiteouts=`` says otherwise, and
        copy-up builds entries in ``workdir`` and renames them into
        ``upperdir``. Without ``upperdir`` the overlay is read-only. Other
        ``options`` go to the constructor. See :mod:`unionfs_lib.layers.kernel_mount`.
        """
        return from_dirs(cls, lowerdirs, upperdir, workdir, **options)

    def __enter__(self: _Overlay) -> _Overlay:
        """Use the overlay as a context manager (typed as itself, not as ``FS``)."""
        return self

    def __repr__(self) -> str:
        """Show the layers."""
        return f"OverlayFS({self._sb.upper!r}, {list(self._sb.lowers)!r})"

    # -- layers ------------------------------------------------------------

    @property
    def upper(self) -> FS | None:
        """The writable upper layer (``None`` for a read-only overlay)."""
        return self._sb.upper

    @property
    def lowers(self) -> tuple[FS, ...]:
        """The read-only lower layers, top-most first, as given.

        A flattened nested overlay shows here as itself; the layer numbers of
        :meth:`which` and ``detach_lower`` count the flattened layers
        (``overlay._sb.lowers``), which is also what this returns once
        ``detach_lower`` changed them.
        """
        flat = self._flat
        if flat.nested and self._sb.lowers == flat.lowers:
            return flat.given
        return self._sb.lowers

    @property
    def whiteouts(self) -> WhiteoutStore:
        """The whiteout store strategy."""
        return self._sb.store

    @property
    def strategies(self) -> Strategies:
        """The three strategy objects: whiteout store, copy-up engine, directory iterator."""
        return Strategies(self._sb.store, self._sb.copier, self._sb.readdir)

    @property
    def cached_directory_limit(self) -> int:
        """The most entries (in all its layers) a directory may have to stay merged in the cache.

        Larger directories are streamed by ``iterdir`` and re-merged by lookups
        in them; the limit is a quarter of ``cache_entries``.
        """
        return self._sb.resolver.cacheable_entries

    @property
    def fs_url(self) -> str:
        """The ``overlay://`` URL that reopens this overlay (``describe()["url"]``).

        Computing it fingerprints the lowers (a metadata walk of each). Raises
        :class:`~unionfs_lib.errors.NoLayerURL` if a layer has no URL.
        """
        return str(self.describe()["url"])

    def invalidate(self) -> None:
        """Forget everything cached about the layers.

        Lower layers are assumed not to change while the overlay is open; call
        this after changing one anyway (or after writing to the upper behind
        the overlay's back).
        """
        with self._lock:
            self._sb.resolver.clear()

    # -- helpers -----------------------------------------------------------

    _invalid_chars: frozenset[str] | None = None

    def validatepath(self, path: str) -> str:
        """Check ``path`` and return it absolute and normalised.

        The checks are those of ``FS.validatepath`` (closed overlay, bytes,
        characters the upper cannot store), but the forbidden characters are
        read from :meth:`getmeta` once, not on every call: this runs at the
        start of every operation.
        """
        if self._closed:
            raise fs.errors.FilesystemClosed()
        if isinstance(path, bytes):
            raise TypeError("paths must be str (not bytes)")
        invalid = self._invalid_chars
        if invalid is None:
            chars = self.getmeta().get("invalid_path_chars")
            invalid = self._invalid_chars = frozenset(chars if isinstance(chars, str) else "")
        if invalid and not invalid.isdisjoint(path):
            raise fs.errors.InvalidCharsInPath(path)
        if path[:1] == "/" and path[-1:] != "/" and "//" not in path and "/." not in path:
            return path  # already absolute and normal: the common case, no regex
        return canonical(path)

    def _lookup(self, path: str) -> tuple[str, Node]:
        """Validate ``path`` and resolve it, or raise ``ResourceNotFound``."""
        _path = self.validatepath(path)
        node = self._sb.resolver.lookup(_path)
        if node is None:
            raise fs.errors.ResourceNotFound(path)
        return _path, node

    def _dir(self, path: str) -> tuple[str, Node]:
        """Resolve a path that must be a directory."""
        _path, node = self._lookup(path)
        if not node.is_dir:
            raise fs.errors.DirectoryExpected(path)
        return _path, node

    # -- the essential FS methods ----------------------------------------

    def getmeta(self, namespace: str = "standard") -> typing.Mapping[str, object]:
        """Describe the overlay; the upper's limits apply to what can be created."""
        if namespace != "standard":
            return {}
        meta: dict[str, object] = {
            "case_insensitive": False,
            "invalid_path_chars": "\0",
            "max_path_length": None,
            "max_sys_path_length": None,
            "network": False,
            "read_only": self._sb.upper is None,
            "supports_rename": False,
            "thread_safe": True,
            "unicode_paths": True,
            "virtual": False,
        }
        if self._sb.upper is not None:
            upper_meta = self._sb.upper.getmeta()
            for key in _UPPER_LIMITS:
                if key in upper_meta:
                    meta[key] = upper_meta[key]
        return meta

    def getinfo(self, path: str, namespaces: typing.Collection[str] | None = None) -> Info:
        """Return the info of the entry visible at ``path``.

        The ``overlay`` namespace tells which layer holds the entry.
        """
        with self._lock:
            _, node = self._lookup(path)
            return node_info(self._sb, node, namespaces)

    def listdir(self, path: str) -> list[str]:
        """List the visible names in a merged directory (sorted, with the default iterator)."""
        with self._lock:
            _, node = self._dir(path)
            return self._sb.readdir.listdir(self._sb, node)

    def makedir(
        self, path: str, permissions: typing.Any = None, recreate: bool = False
    ) -> SubFS[FS]:
        """Create a directory; over a whiteout it becomes opaque."""
        with self._lock:
            _path = self.validatepath(path)
            dir_ops.create_dir(self._sb, _path, permissions, recreate)
            return self.opendir(_path)

    def openbin(
        self, path: str, mode: str = "r", buffering: int = -1, **options: typing.Any
    ) -> typing.BinaryIO:
        """Open a file; changes to a lower file copy it up at the first write."""
        _mode = Mode(mode)
        _mode.validate_bin()
        with self._lock:
            _path = self.validatepath(path)
            return open_file(self._sb, _path, _mode, buffering, options)

    def remove(self, path: str) -> None:
        """Remove a file; a lower file is hidden by a whiteout."""
        with self._lock:
            _, node = self._lookup(path)
            dir_ops.remove_file(self._sb, node)

    def removedir(self, path: str) -> None:
        """Remove a directory that is empty in the merged view."""
        with self._lock:
            _, node = self._dir(path)
            dir_ops.remove_empty_dir(self._sb, node)

    def setinfo(self, path: str, info: typing.Mapping[str, typing.Any]) -> None:
        """Change metadata; a lower entry is copied up first.

        Besides ``details`` times, the ``access`` namespace sets the mode
        (``permissions``) and owner (``uid``/``gid``/``user``/``group``) on
        uppers with OS paths (see :mod:`unionfs_lib.host.access`).
        """
        with self._lock:
            _, node = self._lookup(path)
            set_info(self._sb, node, info)

    # -- links, extended attributes (unionfs_lib.ops.link_ops, .xattrs) --------------

    def islink(self, path: str) -> bool:
        """Tell whether ``path`` is a symbolic link in the layer that holds it."""
        with self._lock:
            _, node = self._lookup(path)
            return links.is_link(self._sb, node)

    def readlink(self, path: str) -> str:
        """Return the target of symbolic link ``path`` as stored, never resolved.

        See :func:`unionfs_lib.ops.link_ops.read_link`.
        """
        with self._lock:
            _, node = self._lookup(path)
            return links.read_link(self._sb, node)

    def symlink(self, target: str, path: str) -> None:
        """Create the symbolic link ``path`` pointing to ``target`` (``ln -s target path``).

        See :func:`unionfs_lib.ops.link_ops.symlink`.
        """
        with self._lock:
            links.symlink(self._sb, target, self.validatepath(path))

    def hardlink(self, existing: str, new: str) -> None:
        """Give file ``existing`` a second name ``new`` (``ln existing new``).

        A lower file is copied up with its data first; both names then show
        one file and one overlay ``ino``. See :func:`unionfs_lib.ops.link_ops.hardlink`.
        """
        with self._lock:
            _, node = self._lookup(existing)
            links.hardlink(self._sb, node, self.validatepath(new))

    def mknod(self, path: str, mode: int, device: int = 0) -> None:
        """Create special file ``path``: a FIFO, a Unix domain socket or a device node.

        ``mode`` holds the file type (``stat.S_IFIFO``, ``S_IFSOCK``,
        ``S_IFCHR`` or ``S_IFBLK``) and the permission bits; ``device`` is
        a device node's number (``os.makedev``). Needs an upper with OS paths
        (``Unsupported`` elsewhere). See :func:`unionfs_lib.ops.special_files.mknod`.
        """
        with self._lock:
            special.mknod(self._sb, self.validatepath(path), mode, device)

    def getxattr(self, path: str, name: str) -> bytes:
        """Return the value of extended attribute ``name`` of ``path``.

        See :mod:`unionfs_lib.ops.xattr_ops`.
        """
        with self._lock:
            _, node = self._lookup(path)
            return xattrs.get_xattr(self._sb, node, name)

    def listxattr(self, path: str) -> list[str]:
        """Return the names of the extended attributes of ``path`` (not the overlay's own)."""
        with self._lock:
            _, node = self._lookup(path)
            return xattrs.list_xattrs(self._sb, node)

    def setxattr(self, path: str, name: str, value: bytes, flags: int = 0) -> None:
        """Set extended attribute ``name`` of ``path`` (a lower entry is copied up first).

        ``flags`` may be ``os.XATTR_CREATE`` or ``os.XATTR_REPLACE``.
        """
        with self._lock:
            _, node = self._lookup(path)
            xattrs.set_xattr(self._sb, node, name, value, flags)

    def removexattr(self, path: str, name: str) -> None:
        """Remove extended attribute ``name`` of ``path`` (a lower entry is copied up first)."""
        with self._lock:
            _, node = self._lookup(path)
            xattrs.remove_xattr(self._sb, node, name)

    # -- overrides for merged semantics and speed --------------------------

    def scandir(
        self,
        path: str,
        namespaces: typing.Collection[str] | None = None,
        page: tuple[int, int] | None = None,
    ) -> typing.Iterator[Info]:
        """Yield the info of each visible entry, in the directory iterator's order."""
        with self._lock:
            _, node = self._dir(path)
            if page is None:
                names = self._sb.readdir.listdir(self._sb, node)
            else:
                names = self._sb.readdir.page(self._sb, node, *page)
            resolver = self._sb.resolver
            children = resolver.children(node)
            in_order = zip(resolver.names(node), resolver.children_in_name_order(node))
            infos = child_infos(self._sb, node, children, names, namespaces, in_order)
        return iter(infos)

    def iterdir(
        self,
        path: str,
        cookie: str | None = None,
        namespaces: typing.Collection[str] | None = None,
    ) -> typing.Iterator[tuple[str, Info]]:
        """Yield ``(cookie, info)`` for each entry, resuming after ``cookie``.

        Cookies are strings, valid across calls and across reopening: pass one
        back to continue right after the entry it came with. Entries come in
        batches read under the lock, in the directory iterator's order. With
        the default :class:`~unionfs_lib.readdir.DirIterator` that is sorted
        name order, and under concurrent change every entry present throughout
        is returned once and no name twice; memory stays bounded by the batch
        size, not the directory size.
        """
        sb = self._sb
        return self._batches(path, cookie, lambda entries: batch_infos(sb, entries, namespaces))

    def iterdir_numbers(
        self, path: str, cookie: str | None = None
    ) -> typing.Iterator[tuple[str, str, bool, int]]:
        """Yield ``(cookie, name, is_dir, ino)`` for each entry, resuming after ``cookie``.

        The entries, cookies and batches of :meth:`iterdir`, each described
        as ``iterdir(path, cookie, ["overlay"])`` would describe it (its
        name, whether it is a directory, and the ``ino`` of its ``overlay``
        namespace), without building an ``Info`` per entry: what a
        directory listing of the FUSE mount needs (``readdir``).
        """
        sb = self._sb
        return self._batches(path, cookie, lambda entries: batch_numbers(sb, entries))

    def _batches(
        self,
        path: str,
        cookie: str | None,
        describe: typing.Callable[[list[tuple[str, Node]]], list[_Described]],
    ) -> typing.Iterator[_Described]:
        """Yield ``describe``'s answer for each batch of ``path``'s entries after ``cookie``.

        Each batch is read and described under the lock (see :meth:`iterdir`).
        """
        with self._lock:
            _path, _ = self._dir(path)
        while True:
            with self._lock:
                node = self._sb.resolver.lookup(_path)
                if node is None or not node.is_dir:
                    return
                try:
                    batch = self._sb.readdir.next_batch(self._sb, node, cookie)
                except ValueError as error:
                    raise fs.errors.OperationFailed(path, msg=str(error)) from error
                described = describe(batch.entries)
            yield from described
            if batch.done or batch.resume is None or batch.resume == cookie:
                return
            cookie = batch.resume

    def exists(self, path: str) -> bool:
        """Tell whether anything is visible at ``path``."""
        with self._lock:
            return self._sb.resolver.lookup(self.validatepath(path)) is not None

    def isdir(self, path: str) -> bool:
        """Tell whether a directory is visible at ``path``."""
        with self._lock:
            node = self._sb.resolver.lookup(self.validatepath(path))
            return node is not None and node.is_dir

    def isfile(self, path: str) -> bool:
        """Tell whether a file is visible at ``path``."""
        with self._lock:
            node = self._sb.resolver.lookup(self.validatepath(path))
            return node is not None and not node.is_dir

    def readbytes(self, path: str) -> bytes:
        """Read a whole file straight from the layer that holds it."""
        with self._lock:
            _, node = self._lookup(path)
            return read_bytes(self._sb, node)

    def move(
        self, src_path: str, dst_path: str, overwrite: bool = False, preserve_time: bool = False
    ) -> None:
        """Rename a file: copy-up if needed, rename in the upper, whiteout at the source."""
        with self._lock:
            _, src = self._lookup(src_path)
            _dst = self.validatepath(dst_path)
            dir_ops.rename_file(self._sb, src, _dst, overwrite, preserve_time)

    def rename(
        self, old_path: str, new_path: str, *, noreplace: bool = False, exchange: bool = False
    ) -> None:
        """Rename a file, a link or a directory as ``rename(2)`` does, each path resolved once.

        A file or link replaces a file or link at ``new_path``; a directory
        replaces an empty directory (lower content follows it by redirect,
        not copied). With ``noreplace`` (``RENAME_NOREPLACE``) anything at
        ``new_path`` is ``DestinationExists``. With ``exchange``
        (``RENAME_EXCHANGE``) both entries must exist and swap names, files
        and directories alike: each name then shows the other's merged tree,
        as the kernel overlay shows it; this needs an upper with OS paths.
        Raises ``FileExpected``, ``DirectoryExpected``, ``DirectoryNotEmpty``
        or :class:`~unionfs_lib.errors.IllegalDestination` where
        ``rename(2)`` answers ``EISDIR``, ``ENOTDIR``, ``ENOTEMPTY`` or
        ``EINVAL``; ``ValueError`` for both flags at once.
        """
        if noreplace and exchange:
            raise ValueError("rename: noreplace and exchange cannot be combined")
        with self._lock:
            _, src = self._lookup(old_path)
            if exchange:
                dir_ops.exchange(self._sb, src, self._lookup(new_path)[1])
            else:
                dir_ops.rename_entry(self._sb, src, self.validatepath(new_path), noreplace)

    def movedir(
        self, src_path: str, dst_path: str, create: bool = False, preserve_time: bool = False
    ) -> None:
        """Move a directory; lower content is followed by a redirect, not copied.

        As in PyFilesystem2, an existing ``dst_path`` receives the content of
        ``src_path``; a missing one is created when ``create`` is true.
        """
        with self._lock:
            _dst = self.validatepath(dst_path)
            dir_ops.rename_dir(self._sb, self.validatepath(src_path), _dst, create)

    def removetree(self, dir_path: str) -> None:
        """Remove a directory and everything visible beneath it.

        Lower content goes with one whiteout, whatever its size.
        """
        with self._lock:
            _, node = self._dir(dir_path)
            dir_ops.remove_tree(self._sb, node)

    def close(self) -> None:
        """Close the overlay (and its layers, with ``auto_close``).

        A flattened nested overlay is closed as an object (it decides about
        its own layers); nested overlays are closed in a loop, not
        recursively, so any depth closes at the default recursion limit.
        """
        pending: list[FS] = [self]
        while pending:
            overlay = pending.pop()
            if not isinstance(overlay, OverlayFS):
                overlay.close()
                continue
            if overlay.isclosed():
                continue
            if overlay._auto_close:
                for layer in overlay._sb.layers:
                    if layer is not None and id(layer) not in overlay._flat.borrowed:
                        layer.close()
                pending.extend(overlay._flat.nested)
            FS.close(overlay)

    # -- layer lifecycle (unionfs_lib.checkpoint, .lifecycle, .oci) -------------

    def describe(
        self,
        *,
        fingerprints: FingerprintKind = "tree",
        urls: typing.Mapping[int, str] | None = None,
    ) -> dict[str, typing.Any]:
        """Return a JSON-serialisable description: layer URLs, strategies, fingerprints.

        See :func:`unionfs_lib.layers.description.describe`.
        """
        with self._lock:
            return describe(self, fingerprints=fingerprints, urls=urls)

    @classmethod
    def from_description(
        cls,
        description: typing.Mapping[str, typing.Any],
        *,
        verify: bool = True,
        create: bool = False,
    ) -> OverlayFS:
        """Rebuild an overlay from :meth:`describe`'s output, checking fingerprints.

        A missing upper is created only if ``create`` is true. See
        :func:`unionfs_lib.layers.description.build_overlay`.
        """
        try:
            return build_overlay(cls, description, verify=verify, create=create)
        except (fs.errors.FSError, fs.errors.IllegalBackReference) as error:
            make_printable(error)  # a crafted URL's NUL or ESC stays out of the message
            raise

    def which(self, path: str) -> Backing:
        """Return the layer entry backing ``path``.

        A :class:`~unionfs_lib.layers.lifecycle.Backing`, which unpacks as
        ``(index, layer, layer_path)``; see
        :func:`unionfs_lib.layers.lifecycle.which`.
        """
        return lifecycle.which(self, path)

    def which_with_ino(self, path: str) -> tuple[Backing, int]:
        """Return :meth:`which`'s answer and the ``ino`` of ``path``, from one lookup.

        The ``ino`` is the one ``getinfo(path, ["overlay"])`` reports, without
        building an ``Info``. See :func:`unionfs_lib.layers.lifecycle.which_with_ino`.
        """
        return lifecycle.which_with_ino(self, path)

    def upper_syspath(self, path: str) -> str | None:
        """Return the OS path of ``path`` in the upper, whatever lies there (no lookup).

        ``None`` for a read-only overlay or an upper without OS paths (see
        :func:`unionfs_lib.host.layer_io.syspaths`). A front end that works
        on the upper's files itself (a FUSE ``chmod``) copies ``path`` up
        first.
        """
        upper = self.upper
        if upper is None:
            return None
        found = syspaths(upper, self.validatepath(path))
        return None if found is None else found[0]

    @property
    def generation(self) -> int:
        """A number that changes whenever the overlay's tree may have changed.

        Any change made through the overlay (or :meth:`invalidate`) gives a
        new value, and values are never reused, even across overlays: a front
        end may key what it caches about the tree on it.
        """
        return self._sb.resolver.generation

    def copy_up_tree(self, path: str = "/", progress: ProgressCallback | None = None) -> int:
        """Copy up everything under ``path`` and opaquify finished directories.

        See :func:`unionfs_lib.layers.lifecycle.copy_up_tree`.
        """
        return lifecycle.copy_up_tree(self, path, progress)

    def detach_lower(self, index: int) -> FS:
        """Drop lower ``index`` once nothing visible depends on it, and return it.

        See :func:`unionfs_lib.layers.lifecycle.detach_lower`.
        """
        return lifecycle.detach_lower(self, index)

    def squash(self, target: FS, progress: ProgressCallback | None = None) -> FS:
        """Write the merged view into the empty FS ``target``, streaming.

        See :func:`unionfs_lib.layers.lifecycle.squash`.
        """
        return lifecycle.squash(self, target, progress)

    def export_layer(
        self,
        target: str | os.PathLike[str] | typing.BinaryIO,
        *,
        compression: typing.Literal["", "gz"] = "",
        progress: ProgressCallback | None = None,
    ) -> int:
        """Write the upper's changes as an OCI layer tarball.

        ``target`` is a file path (a string or a path object) or a binary file
        object. See :func:`unionfs_lib.changesets.export.export_layer`.
        """
        if isinstance(target, os.PathLike):
            target = os.fspath(target)
        return export_layer(self, target, compression=compression, progress=progress)

    # -- changesets (unionfs_lib.changesets.changes, .patch, .commit) ---------------------

    def changes(self, path: str = "/", *, detailed: bool = False) -> list[Change]:
        """Return what changed at and beneath ``path`` against the lowers, sorted.

        A renamed directory is one change (``R old -> new``) unless
        ``detailed``. See :func:`unionfs_lib.changesets.changes.changes`.
        """
        return changeset.changes(self, path, detailed=detailed)

    def diff(self, path: str = "/", *, context: int = 3) -> str:
        """Return a unified diff of the changed text files (for ``git apply``).

        See :func:`unionfs_lib.changesets.patch.unified_diff`.
        """
        return patch.unified_diff(self, path, context=context)

    def commit(
        self,
        target: FS,
        paths: typing.Iterable[str] | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Apply the changes (all, or those at and beneath ``paths``) to ``target``.

        See :func:`unionfs_lib.changesets.commit.commit`.
        """
        return commit.commit(self, target, paths, progress=progress)

    def discard(self, paths: typing.Iterable[str] | None = None) -> None:
        """Revert ``paths`` (or everything) to the lowers' view, dropping cached state.

        See :func:`unionfs_lib.changesets.commit.discard`.
        """
        commit.discard(self, paths)


if typing.TYPE_CHECKING:  # here, not at the top: only the changeset methods use it
    from .changesets.changes import Change
