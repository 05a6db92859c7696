"""Copy-up: bringing a lower entry into the upper before it changes.

As in Linux overlayfs, a file is copied to a temporary name in a work area of
the upper and renamed into place, so a crash never leaves a partial file
visible; parent directories are copied up first, with their times (and mode,
between OS directories). Data moves in chunks of :attr:`CopyUpEngine.chunk_size`
bytes, so memory stays flat whatever the file size.
"""

from __future__ import annotations

import typing
import uuid

import attrs
import fs.errors

from .lookup import UPPER, Node
from .util import components, copy_times, join_path, rename_dir, split_path

if typing.TYPE_CHECKING:
    from .superblock import OverlaySuper

DEFAULT_CHUNK_SIZE = 1 << 20


@attrs.frozen
class CopyUpEngine:
    """The default copy-up strategy: streamed, atomic, parents first."""

    chunk_size: int = DEFAULT_CHUNK_SIZE

    def ensure_dir(self, sb: OverlaySuper, path: str) -> Node:
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

    def _copy_up_dir(self, sb: OverlaySuper, node: Node) -> None:
        """Create the upper directory for a lower one, with its times."""
        upper = sb.writable_upper(node.path)
        top = node.top
        upper.makedir(node.path, recreate=True)
        copy_times(sb.layer(top.layer), top.path, upper, node.path)
        sb.resolver.invalidate(node.path)

    def copy_up(
        self,
        sb: OverlaySuper,
        node: Node,
        dest: str | None = None,
        length: int | None = None,
    ) -> None:
        """Copy lower file ``node`` into the upper at ``dest`` (its own path by default).

        ``length`` limits the bytes copied (a truncation to that size needs no
        more). The parent of ``dest`` is copied up first. The new file appears
        at ``dest`` in one rename.
        """
        if node.is_dir:
            raise fs.errors.FileExpected(node.path)
        target = node.path if dest is None else dest
        self.ensure_dir(sb, split_path(target)[0])
        upper = sb.writable_upper(target)
        temp = self.temp_path(sb)
        try:
            self._copy_data(sb, node, upper, temp, length)
            copy_times(sb.layer(node.top.layer), node.top.path, upper, temp)
            upper.move(temp, target, overwrite=True)
        except BaseException:
            _discard(upper, temp)
            raise
        sb.resolver.invalidate(target)
        sb.notify_copied_up(target)

    def _copy_data(
        self, sb: OverlaySuper, node: Node, upper: typing.Any, temp: str, length: int | None
    ) -> None:
        """Stream the lower file's bytes (at most ``length``) into ``temp``."""
        top = node.top
        remaining = length
        with sb.layer(top.layer).openbin(top.path, "r") as source:
            with upper.openbin(temp, "w") as target:
                while remaining is None or remaining > 0:
                    size = self.chunk_size if remaining is None else min(self.chunk_size, remaining)
                    chunk = source.read(size)
                    if not chunk:
                        break
                    target.write(chunk)
                    if remaining is not None:
                        remaining -= len(chunk)

    def temp_path(self, sb: OverlaySuper) -> str:
        """Return a fresh name in the upper's work area (creating the area)."""
        upper = sb.writable_upper("/")
        work = sb.store.work_dir()
        if work is None:
            raise fs.errors.Unsupported("this whiteout store has no work area in the upper")
        upper.makedir(work, recreate=True)
        return join_path(work, uuid.uuid4().hex)

    def clean_work_area(self, sb: OverlaySuper) -> None:
        """Remove leftovers of interrupted operations from the work area."""
        work = sb.store.work_dir()
        if sb.upper is None or work is None or not sb.upper.isdir(work):
            return
        for name in sb.upper.listdir(work):
            _discard(sb.upper, join_path(work, name))

    def move_dir_into_place(self, sb: OverlaySuper, temp: str, dest: str) -> None:
        """Rename a directory built in the work area to ``dest`` in one step."""
        rename_dir(sb.writable_upper(dest), temp, dest)
        sb.resolver.invalidate(dest, subtree=True)

    def trash(self, sb: OverlaySuper, path: str) -> None:
        """Remove upper entry ``path``: a directory is first renamed into the work area."""
        upper = sb.writable_upper(path)
        if not upper.isdir(path):
            upper.remove(path)
            return
        temp = self.temp_path(sb)
        rename_dir(upper, path, temp)
        upper.removetree(temp)


def _discard(upper: typing.Any, path: str) -> None:
    """Delete a work-area leftover, file or directory, ignoring absence."""
    try:
        if upper.isdir(path):
            upper.removetree(path)
        elif upper.exists(path):
            upper.remove(path)
    except fs.errors.ResourceNotFound:
        pass


__all__ = ["CopyUpEngine", "DEFAULT_CHUNK_SIZE", "UPPER"]
