"""A copy-up engine that streams data in small fixed chunks, written against the protocol alone.

:class:`ChunkedCopyUp` implements :class:`unionfs_lib.ops.strategies.CopyUpStrategy`
with nothing but what the protocol hands it (the :class:`OverlayContext`:
layers, store, lookup, inode numbers, work area) and the PyFilesystem2 API.
Where the default :class:`~unionfs_lib.copy_up.CopyUpEngine` lets the kernel
copy between OS layers (reflink, ``copy_file_range``), this one always reads
and writes ``chunk_size`` bytes at a time through the layers' ``openbin``,
so it works on any FS and holds one chunk in memory. It keeps no data below
(:meth:`ChunkedCopyUp.copy_up_metadata` copies the data too, as the protocol
allows).

Like the default it builds a file in the work area and moves it into place
in one step, with its times and identity record, after its parent
directories are copied up (with their times); a copy-up that fails leaves
nothing visible changed.

What it does not do (use the default for these): symbolic links and special
files of OS layers are copied as the bytes they read as; owners, modes and
extended attributes are not copied; case-folding layers are not checked.
"""

from __future__ import annotations

import typing

import attrs
import fs.errors
from fs.base import FS

from unionfs_lib.model.records import Node
from unionfs_lib.ops.strategies import OverlayContext

#: Bytes per read and write.
DEFAULT_CHUNK_SIZE = 64 * 1024


def times_of(layer: FS, path: str) -> dict[str, float]:
    """Return the modified and accessed times of ``path`` (those the layer has)."""
    info = layer.getinfo(path, ["details"])
    found = {"modified": info.modified, "accessed": info.accessed}
    return {key: when.timestamp() for key, when in found.items() if when is not None}


def set_times(layer: FS, path: str, times: dict[str, float]) -> None:
    """Give ``path`` the ``times``, where the layer can keep them (best effort)."""
    if times:
        try:
            layer.setinfo(path, {"details": times})
        except fs.errors.FSError:
            pass


def parent_of(path: str) -> str:
    """Return the parent directory of a canonical absolute path."""
    return path.rsplit("/", 1)[0] or "/"


@attrs.frozen
class ChunkedCopyUp:
    """Copy-up by fixed chunks through ``openbin``, atomic by a move from the work area.

    Attributes:
        chunk_size: bytes read and written at a time (at least 1).
    """

    chunk_size: int = attrs.field(default=DEFAULT_CHUNK_SIZE, validator=attrs.validators.ge(1))

    def ensure_dir(self, sb: OverlayContext, path: str) -> Node:
        """Copy up visible directory ``path`` and its ancestors, each with its times."""
        current = ""
        for name in [part for part in path.split("/") if part]:
            current = f"{current}/{name}"
            node = sb.resolver.dir_node(current)
            if node is None:
                raise fs.errors.ResourceNotFound(path)
            if not node.in_upper:
                self._copy_dir(sb, node)
        found = sb.resolver.dir_node(path)
        if found is None:
            raise fs.errors.ResourceNotFound(path)
        return found

    def _copy_dir(self, sb: OverlayContext, node: Node) -> None:
        """Make the upper directory of lower directory ``node``, with the lower's times."""
        upper = sb.writable_upper(node.path)
        parent = parent_of(node.path)
        kept = times_of(upper, parent)
        upper.makedir(node.path, recreate=True)
        set_times(upper, node.path, times_of(sb.layer(node.top.layer), node.top.path))
        set_times(upper, parent, kept)  # a copy-up is no change to the parent
        sb.resolver.invalidate(node.path)

    def copy_up(
        self,
        sb: OverlayContext,
        node: Node,
        dest: str | None = None,
        length: int | None = None,
    ) -> None:
        """Copy file ``node`` (at most ``length`` bytes) to upper ``dest``, in one final move.

        The data goes to the work area first, the parents are copied up only
        once it is there, and the identity record is written before the move
        (after it, when the move replaces a metadata-only placeholder).
        """
        if node.is_dir:
            raise fs.errors.FileExpected(node.path)
        target = node.path if dest is None else dest
        upper = sb.writable_upper(target)
        record = sb.inodes.copy_up_record(node).dump()
        replacing = node.in_upper and target == node.path
        temp = sb.work.temp_path()
        try:
            self._copy_data(sb, node, upper, temp, length)
            set_times(upper, temp, times_of(sb.layer(node.top.layer), node.top.path))
            self.ensure_dir(sb, parent_of(target))
            kept = times_of(upper, parent_of(target)) if dest is None else {}
            if not replacing:
                sb.store.set_record(upper, target, record)
            upper.move(temp, target, overwrite=True)
        except BaseException:
            _discard(upper, temp)
            raise
        if replacing:
            sb.store.set_record(upper, target, record)
        set_times(upper, parent_of(target), kept)
        sb.resolver.invalidate(target)
        sb.notify_copied_up(target)

    def copy_up_metadata(self, sb: OverlayContext, node: Node) -> None:
        """Copy the whole file: this engine keeps no data below."""
        self.copy_up(sb, node)

    def _copy_data(
        self, sb: OverlayContext, node: Node, upper: FS, temp: str, length: int | None
    ) -> None:
        """Stream the file's bytes (at most ``length``) into ``temp``, a chunk at a time."""
        data = node.data_ref
        left = length
        with sb.layer(data.layer).openbin(data.path, "r") as source:
            with upper.openbin(temp, "w") as target:
                while left is None or left > 0:
                    size = self.chunk_size if left is None else min(left, self.chunk_size)
                    chunk = source.read(size)
                    if not chunk:
                        break
                    target.write(chunk)
                    if left is not None:
                        left -= len(chunk)


def _discard(upper: FS, temp: str) -> None:
    """Remove a half-built file from the work area, if it is there."""
    try:
        upper.remove(temp)
    except fs.errors.FSError:
        pass


__all__: typing.Final = ["ChunkedCopyUp", "DEFAULT_CHUNK_SIZE"]
