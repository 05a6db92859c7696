"""Copy-up: bringing a lower entry into the upper before it changes.

As in Linux overlayfs, a file is copied to a temporary name in a work area of
the upper and renamed into place, so a crash never leaves a partial file
visible; parent directories are copied up first, with their times (and mode,
between OS directories). Between layers with OS paths an entry keeps its
mode, owner (where this process may give it), times and user extended
attributes, and a symbolic link is copied up as a link, never as the bytes
behind it. Data moves in chunks of :attr:`CopyUpEngine.chunk_size`
bytes, so memory stays flat whatever the file size.
"""

from __future__ import annotations

import os
import stat
import typing

import attrs
import fs.errors
from fs.base import FS
from fs.error_tools import convert_os_errors

from ..host.confine import check_data_inside
from ..host.datacopy import copy_data
from ..host.layer_io import (
    DirTimes,
    copy_times,
    put_dir_times,
    read_dir_times,
    replace_entry,
    syspaths,
)
from ..host.posix import (
    copy_file_metadata,
    copy_link,
    copy_owner_between,
    is_symlink,
    lstat_or_none,
    os_path,
)
from ..host.safe_tree import rename_dir
from ..host.workdir import discard
from ..model.paths import components, join_path, split_path
from ..model.records import CHUNK_SIZE, UPPER, DirListing, Node
from ..model.validators import flag, whole_number
from .casefold import check_copy_up
from .dir_ops import dir_times, restore_times
from .special_files import copy_node, is_special_mode, special_stat

if typing.TYPE_CHECKING:
    from .strategies import OverlayContext

#: Bytes copied per read/write (memory stays flat whatever the file size).
DEFAULT_CHUNK_SIZE = CHUNK_SIZE
#: The largest ``chunk_size`` accepted (1 GiB): one chunk is held in memory.
MAX_CHUNK_SIZE = 1 << 30


@attrs.frozen
class CopyUpEngine:
    """The default copy-up strategy: atomic, parents first, the kernel copying where it can.

    Attributes:
        chunk_size: bytes per read/write when the data is streamed, from 1
            to :data:`MAX_CHUNK_SIZE` (checked when the engine is built).
        kernel_copy: between layers with OS paths, let the kernel copy
            (reflink, else ``copy_file_range``; see :mod:`unionfs_lib.host.datacopy`).

    """

    chunk_size: int = attrs.field(
        default=DEFAULT_CHUNK_SIZE, validator=whole_number(1, MAX_CHUNK_SIZE)
    )
    kernel_copy: bool = attrs.field(default=True, validator=flag)

    def ensure_dir(self, sb: OverlayContext, path: str) -> Node:
        """Make sure the upper holds directory ``path``, copying up ancestors.

        Raises ``ResourceNotFound`` if ``path`` is not a visible directory.
        """
        node = sb.resolver.dir_node(path)
        if node is None:
            raise fs.errors.ResourceNotFound(path)
        if node.in_upper:
            return node
        current = "/"
        for name in components(path):
            current = join_path(current, name)
            step = sb.resolver.dir_node(current)
            if step is None:
                raise fs.errors.ResourceNotFound(path)
            if not step.in_upper:
                self._copy_up_dir(sb, step)
        found = sb.resolver.dir_node(path)
        assert found is not None and found.in_upper
        return found

    def missing_dirs(self, sb: OverlayContext, path: str) -> list[str]:
        """Return the directories on the way to ``path`` that the upper lacks, top-down."""
        missing = []
        current = "/"
        for name in components(path):
            current = join_path(current, name)
            step = sb.resolver.dir_node(current)
            if step is not None and not step.in_upper:
                missing.append(current)
        return missing

    def undo_dirs(self, sb: OverlayContext, created: list[str]) -> None:
        """Remove directories a failed copy-up made, deepest first, if still empty."""
        upper = sb.writable_upper("/")
        for path in reversed(created):
            try:
                if upper.isdir(path) and not upper.listdir(path):
                    upper.removedir(path)
            except fs.errors.FSError:
                pass
            sb.resolver.refresh(path, subtree=True)

    def _copy_up_dir(self, sb: OverlayContext, node: Node) -> None:
        """Create the upper directory for a lower one, with its times.

        On an upper with OS paths the directory is made in the work area, given
        its times and mode there, and renamed into place, so a crash never
        leaves it visible with the wrong metadata.
        """
        upper = sb.writable_upper(node.path)
        top = node.top
        check_copy_up(sb, node.path)
        parent = split_path(node.path)[0]
        parent_times = dir_times(upper, parent)
        if syspaths(upper, "/") is None or sb.work.path is None:
            upper.makedir(node.path, recreate=True)
            copy_metadata(sb.layer(top.layer), top.path, upper, node.path)
        else:
            temp = sb.work.temp_path()
            try:
                upper.makedir(temp)
                copy_metadata(sb.layer(top.layer), top.path, upper, temp)
                rename_dir(upper, temp, node.path)
            except BaseException:
                discard(upper, temp)
                raise
        restore_times(upper, parent, parent_times)
        sb.resolver.refresh(node.path)

    def copy_up(
        self,
        sb: OverlayContext,
        node: Node,
        dest: str | None = None,
        length: int | None = None,
    ) -> None:
        """Copy file ``node``'s data into the upper at ``dest`` (its own path by default).

        ``node`` is a lower file or a metadata-only copy-up. ``length`` limits
        the bytes copied (a truncation to that size needs no more). The parent
        of ``dest`` is copied up once the data is in the work area, so a failed
        copy-up (``InsufficientStorage``) changes nothing visible or in the
        upper but the work area. The new file appears at ``dest`` in one
        rename, and its identity record goes with it: written before the rename
        when ``dest`` is new, after it when it replaces a metadata-only
        placeholder (whose record still points at the intact lower data).
        """
        target = node.path if dest is None else dest
        upper = sb.writable_upper(target)
        temp = sb.work.temp_path()
        known = lstat_or_none(sb.layer(node.data_ref.layer), node.data_ref.path)
        link = _link_syspaths(sb, node, upper, temp, known)
        special = None if link is not None else _special_syspaths(sb, node, upper, temp, known)
        if node.is_dir and link is None:  # a link to a directory is copied as a link
            raise fs.errors.FileExpected(node.path)
        record = sb.inodes.copy_up_record(node).dump()
        replacing = node.in_upper and target == node.path
        if not replacing:
            check_copy_up(sb, target)
        parents = self.missing_dirs(sb, split_path(target)[0])
        parent_times: DirTimes | dict[str, float] | None = None
        try:
            if special is not None:
                copy_node(*special)
            elif link is None:
                self._copy_data(sb, node, upper, temp, length, known)
            else:
                copy_link(*link)
            same = known if node.data_ref == node.top else None  # else: metadata of the top
            copy_metadata(sb.layer(node.top.layer), node.top.path, upper, temp, same)
            sb.inodes.keep(sb.store.keeps_records, upper, node, temp)
            # Parents only once the data is safely in the work area: a copy-up
            # that fails (a full upper) leaves the upper as it was.
            self.ensure_dir(sb, split_path(target)[0])
            if dest is None:
                # A copy-up in place is no change to the parent (a move is).
                parent_times = _parent_times(upper, split_path(target)[0])
            if not replacing:
                sb.store.set_record(upper, target, record)
            made = link or special
            if made is not None:  # the FS's move would follow the link (or open the FIFO)
                os.replace(made[1], os_path(upper, target, "symbolic links"))
            else:
                _publish(upper, temp, target)
        except BaseException:
            discard(upper, temp)
            self.undo_dirs(sb, parents)
            raise
        if replacing:
            sb.store.set_record(upper, target, record)
        _restore_parent_times(upper, split_path(target)[0], parent_times)
        sb.resolver.refresh(target, now=_copied_in_place(sb, node, dest, record))
        sb.notify_copied_up(target)

    def copy_up_metadata(self, sb: OverlayContext, node: Node) -> None:
        """Copy up lower file ``node``'s metadata only (overlayfs ``metacopy=on``).

        The upper gets an empty placeholder with the lower file's times and a
        record saying where the data stays; the cost does not depend on the
        file's size. The first write copies the data (:meth:`copy_up`).
        """
        if node.is_dir or node.in_upper:
            raise fs.errors.FileExpected(node.path)
        lower = sb.layer(node.top.layer)
        whole = is_symlink(lower, node.top.path) or special_stat(lower, node.top.path) is not None
        if not sb.store.keeps_records or whole:
            # The placeholder needs a record to find its data (kernel format:
            # none); a link or a special file is copied up whole, as itself
            # (the kernel's rule).
            self.copy_up(sb, node)
            return
        upper = sb.writable_upper(node.path)
        check_copy_up(sb, node.path)
        parents = self.missing_dirs(sb, split_path(node.path)[0])
        temp = sb.work.temp_path()
        try:
            upper.create(temp)
            copy_metadata(sb.layer(node.top.layer), node.top.path, upper, temp)
            self.ensure_dir(sb, split_path(node.path)[0])
            parent_times = dir_times(upper, split_path(node.path)[0])
            record = sb.inodes.copy_up_record(node, metacopy=True)
            sb.store.set_record(upper, node.path, record.dump())
            upper.move(temp, node.path, overwrite=True)
        except BaseException:
            discard(upper, temp)
            self.undo_dirs(sb, parents)
            raise
        restore_times(upper, split_path(node.path)[0], parent_times)
        sb.resolver.refresh(node.path)

    def _copy_data(
        self,
        sb: OverlayContext,
        node: Node,
        upper: FS,
        temp: str,
        length: int | None,
        known: os.stat_result | None = None,
    ) -> None:
        """Copy the lower file's bytes (at most ``length``) into ``temp``.

        Between OS layers the kernel copies (:mod:`unionfs_lib.host.datacopy`);
        elsewhere the bytes are streamed in chunks of :attr:`chunk_size`. OS
        errors (``ENOSPC`` on a full upper) are raised as ``fs.errors``
        (``InsufficientStorage``). ``known`` is the ``lstat`` of the data
        entry read by the caller: a listed entry it shows is no link needs
        no check of its own (:func:`~unionfs_lib.host.confine.check_entry_inside`
        would ``lstat`` it again to see that).
        """
        data = node.data_ref
        source = sb.layer(data.layer)
        listed = data == node.top
        if not (listed and known is not None and not stat.S_ISLNK(known.st_mode)):
            check_data_inside(source, data.path, listed)
        with convert_os_errors("copy_up", node.path):
            copy_data(source, data.path, upper, temp, length, self.chunk_size, self.kernel_copy)


def copy_metadata(
    source: FS,
    source_path: str,
    upper: FS,
    target: str,
    known: os.stat_result | None = None,
) -> None:
    """Give a copy in the work area the metadata of its lower entry.

    Owner and group first (where this process may give them: as root, or
    its own), then mode, times and user extended attributes (between layers
    with OS paths; times alone elsewhere), as overlayfs's copy-up keeps them.
    ``known`` is the lower entry's ``lstat`` if the caller read it: for a
    regular file between OS layers it serves them all
    (:func:`~unionfs_lib.host.posix.copy_file_metadata`).
    """
    if known is not None and stat.S_ISREG(known.st_mode):
        found = syspaths(source, source_path), syspaths(upper, target)
        if found[0] is not None and found[1] is not None:
            copy_file_metadata(found[0][0], found[1][0], known)
            return
    copy_owner_between(source, source_path, upper, target)
    copy_times(source, source_path, upper, target)


def _link_syspaths(
    sb: OverlayContext, node: Node, upper: FS, temp: str, known: os.stat_result | None
) -> tuple[str, str] | None:
    """Return the OS paths ``(lower link, temp)`` when ``node`` is a link to copy up as a link.

    ``known`` is the ``lstat`` of ``node``'s data (``None``: no OS path, or
    nothing there). ``None`` for anything else: a regular file, or a layer
    without OS paths. A link is never followed, so it need not stay inside
    its layer.
    """
    is_link = known is not None and stat.S_ISLNK(known.st_mode)
    return _syspaths_if(sb, node, upper, temp, is_link)


def _special_syspaths(
    sb: OverlayContext, node: Node, upper: FS, temp: str, known: os.stat_result | None
) -> tuple[str, str] | None:
    """Return the OS paths ``(lower node, temp)`` when ``node`` is a special file.

    A FIFO, socket or device node is recreated in the upper (its bytes are
    never read); ``None`` for anything else, and for layers without OS paths.
    ``known`` is as for :func:`_link_syspaths`.
    """
    is_special = known is not None and is_special_mode(known.st_mode)
    return _syspaths_if(sb, node, upper, temp, is_special)


def _syspaths_if(
    sb: OverlayContext, node: Node, upper: FS, temp: str, holds: bool
) -> tuple[str, str] | None:
    """Return the OS paths ``(lower data, temp)`` when ``holds`` (a kind of ``node``'s data).

    ``None`` when it does not, and when either layer has no OS paths.
    """
    data = node.data_ref
    source = sb.layer(data.layer)
    if not holds:
        return None
    found = syspaths(source, data.path), syspaths(upper, temp)
    if found[0] is None or found[1] is None:
        return None
    return found[0][0], found[1][0]


def _publish(upper: FS, temp: str, target: str) -> None:
    """Rename the copy ``temp`` over ``target``: one ``rename(2)`` between OS paths.

    ``FS.move`` would ``stat`` the copy first, and fall back to copying the
    bytes when the rename fails; a rename that fails here is an error.
    """
    with convert_os_errors("copy_up", target):
        if replace_entry(upper, temp, target):
            return
    upper.move(temp, target, overwrite=True)


def _parent_times(upper: FS, parent: str) -> DirTimes | dict[str, float] | None:
    """Return the times of upper directory ``parent`` to put back after the rename.

    One ``lstat`` between OS paths (nanoseconds kept), else the FS's times
    (:func:`~unionfs_lib.ops.dir_ops.dir_times`).
    """
    found = syspaths(upper, parent)
    if found is None:
        return dir_times(upper, parent)
    return read_dir_times(found[0])


def _restore_parent_times(
    upper: FS, parent: str, times: DirTimes | dict[str, float] | None
) -> None:
    """Put back what :func:`_parent_times` read (one ``utimensat`` between OS paths)."""
    if isinstance(times, tuple):
        put_dir_times(times)
    else:
        restore_times(upper, parent, times)


def _copied_in_place(
    sb: OverlayContext, node: Node, dest: str | None, record: bytes
) -> DirListing | None:
    """Return what the upper holds at a lower file just copied up in place, else ``None``.

    A visible lower file had no upper entry and no whiteout at its name, so
    afterwards there is the file and its record (where the store keeps
    records): the caches need not read it back.
    """
    if dest is not None or node.in_upper or node.is_dir:
        return None
    name = split_path(node.path)[1]
    records = {name: record} if sb.store.keeps_records else {}
    return DirListing(entries={name: False}, records=records)


__all__ = ["CopyUpEngine", "DEFAULT_CHUNK_SIZE", "UPPER"]
