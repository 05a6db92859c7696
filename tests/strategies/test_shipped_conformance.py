"""The shipped strategies pass the conformance suites of :mod:`unionfs_lib.testing`.

As a plugin author would use them: one ``unittest.TestCase`` per strategy,
each giving its suite one ``make_*`` method.
"""

from __future__ import annotations

import tempfile
import unittest

from unionfs_lib import CopyUpEngine, DirIterator, MarkerWhiteouts
from unionfs_lib.errors import KernelFormatUnsupported
from unionfs_lib.ops.strategies import CopyUpStrategy, DirIteratorStrategy
from unionfs_lib.stores.kernel_whiteouts import KernelWhiteouts
from unionfs_lib.stores.whiteout_store import WhiteoutStore
from unionfs_lib.testing import CopyUpTests, DirIteratorTests, WhiteoutStoreTests


class TestMarkerWhiteouts(WhiteoutStoreTests, unittest.TestCase):
    def make_store(self) -> WhiteoutStore:
        return MarkerWhiteouts()


class TestKernelWhiteouts(WhiteoutStoreTests, unittest.TestCase):
    """The kernel format on OS directories, ``trusted.overlay.*`` attributes (root only)."""

    def setUp(self) -> None:
        store = self.make_store()
        assert isinstance(store, KernelWhiteouts)
        try:  # the suite's layers are in the temporary directory
            store.probe(tempfile.gettempdir())
        except KernelFormatUnsupported as refusal:
            self.skipTest(str(refusal))

    def make_store(self) -> WhiteoutStore:
        return KernelWhiteouts()


class TestKernelWhiteoutsUserXattr(TestKernelWhiteouts):
    """The kernel format with ``user.overlay.*`` attributes, and so without redirects."""

    def make_store(self) -> WhiteoutStore:
        return KernelWhiteouts(userxattr=True)


class TestCopyUpEngine(CopyUpTests, unittest.TestCase):
    def make_engine(self) -> CopyUpStrategy:
        return CopyUpEngine()


class TestCopyUpEngineInSmallChunks(CopyUpTests, unittest.TestCase):
    def make_engine(self) -> CopyUpStrategy:
        return CopyUpEngine(chunk_size=1000)


class TestDirIterator(DirIteratorTests, unittest.TestCase):
    def make_iterator(self) -> DirIteratorStrategy:
        return DirIterator(batch_size=4)


class TestStreamingDirIterator(DirIteratorTests, unittest.TestCase):
    """Every batch streamed from the layers, none served from the lookup cache."""

    def make_iterator(self) -> DirIteratorStrategy:
        return DirIterator(batch_size=4, use_cache=False)
