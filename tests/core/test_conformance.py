"""PyFilesystem2's own test suite, run over several overlay configurations.

After every test each lower layer's content hash must be unchanged. Besides
the default strategies, the suite runs with a whiteout store and a directory
iterator of a different design (``tests/strategies``), written against the
strategy protocols alone: the overlay's seams hold whatever fills them.
"""

from __future__ import annotations

import typing
import unittest

from fs.base import FS
from fs.memoryfs import MemoryFS
from fs.tempfs import TempFS
from fs.test import FSTestCases

from unionfs_lib import OverlayFS
from unionfs_lib.ops.strategies import CopyUpStrategy, DirIteratorStrategy
from unionfs_lib.stores.whiteout_store import WhiteoutStore

from ..strategies.chunked import ChunkedCopyUp
from ..strategies.sidecar import SidecarWhiteouts
from ..strategies.unsorted import LayerOrderIterator
from ..support.layers import (
    SUITE_NAMES,
    content_hash,
    memory_layer,
    remove_visible,
    shadow_entries,
    zip_layer,
)


class _LowerGuard(unittest.TestCase):
    """Base of the configurations with lowers: lower hashes recorded at setUp, compared at tearDown.

    ``whiteouts``, ``copy_up`` and ``readdir`` choose the overlay's strategies (``None``:
    the defaults); :meth:`overlay` builds an overlay with them.
    """

    whiteouts: typing.ClassVar[WhiteoutStore | None] = None
    readdir: typing.ClassVar[DirIteratorStrategy | None] = None
    copy_up: typing.ClassVar[CopyUpStrategy | None] = None
    lowers: list[FS] = []

    def make_lowers(self) -> list[FS]:
        return []

    def make_overlay(self) -> OverlayFS:
        raise NotImplementedError

    def overlay(self, upper: FS, lowers: list[FS], auto_close: bool = False) -> OverlayFS:
        """Return an overlay of ``upper`` over ``lowers`` with this configuration's strategies."""
        return OverlayFS(
            upper,
            lowers,
            whiteouts=self.whiteouts,
            copy_up=self.copy_up,
            readdir=self.readdir,
            auto_close=auto_close,
        )

    def make_fs(self) -> OverlayFS:
        self.lowers = self.make_lowers()
        self.hashes = [content_hash(layer) for layer in self.lowers]
        overlay = self.make_overlay()
        remove_visible(overlay, SUITE_NAMES)
        assert overlay.listdir("/") == []
        return overlay

    def tearDown(self) -> None:
        super().tearDown()
        for layer, before in zip(self.lowers, self.hashes):
            self.assertEqual(content_hash(layer), before, f"lower {layer!r} was changed")
            layer.close()


class TestNoLowers(FSTestCases, unittest.TestCase):
    """An overlay of an upper alone behaves as that FS does."""

    def make_fs(self):
        return OverlayFS(MemoryFS(), [])


class TestMemoryOverWhiteouts(_LowerGuard, FSTestCases, unittest.TestCase):
    """MemoryFS upper over a MemoryFS lower whose every suite path was removed."""

    def make_lowers(self):
        return [memory_layer(shadow_entries())]

    def make_overlay(self):
        return self.overlay(MemoryFS(), self.lowers)


class TestTempOverZipAndMemory(_LowerGuard, FSTestCases, unittest.TestCase):
    """TempFS upper over a ZipFS and a MemoryFS that disagree on every type."""

    def make_lowers(self):
        return [zip_layer(shadow_entries()), memory_layer(shadow_entries(flip=True))]

    def make_overlay(self):
        self.upper = TempFS()
        return self.overlay(self.upper, self.lowers)

    def destroy_fs(self, fs):
        fs.close()
        self.upper.close()


class TestNestedOverlay(_LowerGuard, FSTestCases, unittest.TestCase):
    """An OverlayFS used as the lower of another OverlayFS."""

    def make_lowers(self):
        inner_upper = memory_layer(shadow_entries(flip=True))
        inner = self.overlay(inner_upper, [memory_layer(shadow_entries())], auto_close=True)
        return [inner]

    def make_overlay(self):
        return self.overlay(MemoryFS(), self.lowers)


# -- the same over strategies of another design ---------------------------------


class TestChunkedCopyUpOverWhiteouts(TestMemoryOverWhiteouts):
    """Copy-up streamed in small fixed chunks (``tests/strategies/chunked.py``)."""

    copy_up = ChunkedCopyUp(chunk_size=7)


class TestChunkedCopyUpOverZipAndMemory(TestTempOverZipAndMemory):
    """The chunked copy-up into an OS upper, from a ZipFS and a MemoryFS."""

    copy_up = ChunkedCopyUp(chunk_size=7)


class TestSidecarStoreOverWhiteouts(TestMemoryOverWhiteouts):
    """Whiteouts, flags and records kept in one side-car record per directory."""

    whiteouts = SidecarWhiteouts()


class TestSidecarStoreOverZipAndMemory(TestTempOverZipAndMemory):
    """The side-car store on an OS upper (its records replaced by OS renames)."""

    whiteouts = SidecarWhiteouts()


class TestLayerOrderOverWhiteouts(TestMemoryOverWhiteouts):
    """Listings in overlayfs's order (upper first, no sort), positional cookies."""

    readdir = LayerOrderIterator(batch_size=2)


class TestLayerOrderOverZipAndMemory(TestTempOverZipAndMemory):
    """Overlayfs's order over an OS upper, whose listing order is the OS's."""

    readdir = LayerOrderIterator(batch_size=2)


class TestBothOverNestedOverlay(TestNestedOverlay):
    """Both strategies at once, the inner overlay flattened into the outer one."""

    whiteouts = SidecarWhiteouts()
    readdir = LayerOrderIterator(batch_size=2)
