"""PyFilesystem2's own test suite against ``FSSpecFS`` and overlays made of it."""

from __future__ import annotations

import shutil
import tempfile
import unittest

import fsspec
from fs.test import FSTestCases

from unionfs_lib import OverlayFS
from unionfs_lib.fsspec import FSSpecFS

from ..support.fsspec_layers import fsspec_memory_layer, local_layer, memory_prefix
from ..support.layers import SUITE_NAMES, content_hash, remove_visible, shadow_entries


class TestFSSpecMemory(FSTestCases, unittest.TestCase):
    """FSSpecFS over a directory of fsspec's memory filesystem."""

    def make_fs(self):
        self.prefix = memory_prefix()
        memory = fsspec.filesystem("memory")
        memory.makedirs(self.prefix)
        return FSSpecFS(memory, self.prefix)

    def destroy_fs(self, fs):
        fs.close()
        fsspec.filesystem("memory").rm(self.prefix, recursive=True)


class TestFSSpecLocal(FSTestCases, unittest.TestCase):
    """FSSpecFS over a directory of fsspec's local filesystem."""

    def make_fs(self):
        self.root = tempfile.mkdtemp()
        return FSSpecFS(fsspec.filesystem("file"), self.root)

    def destroy_fs(self, fs):
        fs.close()
        shutil.rmtree(self.root)


class TestOverlayOfFSSpecLayers(FSTestCases, unittest.TestCase):
    """OverlayFS with an fsspec memory upper over fsspec local and memory lowers.

    The two lowers disagree on the type of every name the suite uses and the
    overlay removes all of them first, so every test runs over whiteouts.
    """

    def make_fs(self):
        self.prefix = memory_prefix()
        self.root = tempfile.mkdtemp()
        self.lowers = [
            local_layer(self.root, shadow_entries()),
            fsspec_memory_layer(self.prefix + "/lower", shadow_entries(flip=True)),
        ]
        self.hashes = [content_hash(layer) for layer in self.lowers]
        memory = fsspec.filesystem("memory")
        memory.makedirs(self.prefix + "/upper")
        overlay = OverlayFS(
            FSSpecFS(memory, self.prefix + "/upper"), self.lowers, auto_close=False
        )
        remove_visible(overlay, SUITE_NAMES)
        assert overlay.listdir("/") == []
        return overlay

    def destroy_fs(self, fs):
        fs.close()
        assert [content_hash(layer) for layer in self.lowers] == self.hashes
        for layer in self.lowers:
            layer.close()
        fsspec.filesystem("memory").rm(self.prefix, recursive=True)
        shutil.rmtree(self.root)
