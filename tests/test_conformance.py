"""PyFilesystem2's own test suite, run over several overlay configurations.

After every test each lower layer's content hash must be unchanged.
"""

from __future__ import annotations

import unittest

from fs.memoryfs import MemoryFS
from fs.tempfs import TempFS
from fs.test import FSTestCases

from unionfs_lib import OverlayFS

from .layers import (
    SUITE_NAMES,
    content_hash,
    memory_layer,
    remove_visible,
    shadow_entries,
    zip_layer,
)


class _LowerGuard:
    """Mixin: record lower hashes at setUp, compare them at tearDown."""

    lowers: list = []

    def make_lowers(self):
        return []

    def make_fs(self):
        self.lowers = self.make_lowers()
        self.hashes = [content_hash(layer) for layer in self.lowers]
        overlay = self.make_overlay()
        remove_visible(overlay, SUITE_NAMES)
        assert overlay.listdir("/") == []
        return overlay

    def tearDown(self):
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
        return OverlayFS(MemoryFS(), self.lowers, auto_close=False)


class TestTempOverZipAndMemory(_LowerGuard, FSTestCases, unittest.TestCase):
    """TempFS upper over a ZipFS and a MemoryFS that disagree on every type."""

    def make_lowers(self):
        return [zip_layer(shadow_entries()), memory_layer(shadow_entries(flip=True))]

    def make_overlay(self):
        self.upper = TempFS()
        return OverlayFS(self.upper, self.lowers, auto_close=False)

    def destroy_fs(self, fs):
        fs.close()
        self.upper.close()


class TestNestedOverlay(_LowerGuard, FSTestCases, unittest.TestCase):
    """An OverlayFS used as the lower of another OverlayFS."""

    def make_lowers(self):
        inner_upper = memory_layer(shadow_entries(flip=True))
        inner = OverlayFS(inner_upper, [memory_layer(shadow_entries())])
        return [inner]

    def make_overlay(self):
        return OverlayFS(MemoryFS(), self.lowers, auto_close=False)
