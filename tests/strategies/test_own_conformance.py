"""The project's second implementations, written against the protocols alone, pass the suites.

``sidecar.SidecarWhiteouts`` (one JSON record per directory),
``chunked.ChunkedCopyUp`` (data streamed in fixed chunks) and
``unsorted.LayerOrderIterator`` (overlayfs's order, positional cookies: it
guarantees less under concurrent change, and says so).
"""

from __future__ import annotations

import unittest

from unionfs_lib.ops.strategies import CopyUpStrategy, DirIteratorStrategy
from unionfs_lib.stores.whiteout_store import WhiteoutStore
from unionfs_lib.testing import CopyUpTests, DirIteratorTests, WhiteoutStoreTests

from .chunked import ChunkedCopyUp
from .sidecar import SidecarWhiteouts
from .unsorted import LayerOrderIterator


class TestSidecarWhiteouts(WhiteoutStoreTests, unittest.TestCase):
    def make_store(self) -> WhiteoutStore:
        return SidecarWhiteouts()


class TestChunkedCopyUp(CopyUpTests, unittest.TestCase):
    def make_engine(self) -> CopyUpStrategy:
        return ChunkedCopyUp(chunk_size=1000)


class TestChunkedCopyUpWithSidecarWhiteouts(CopyUpTests, unittest.TestCase):
    """Both second implementations in one overlay."""

    def make_engine(self) -> CopyUpStrategy:
        return ChunkedCopyUp(chunk_size=1000)

    def make_store(self) -> WhiteoutStore:
        return SidecarWhiteouts()


class TestLayerOrderIterator(DirIteratorTests, unittest.TestCase):
    #: Positional cookies: a change may skip or repeat an entry (its docstring says so).
    stable_under_change = False

    def make_iterator(self) -> DirIteratorStrategy:
        return LayerOrderIterator(batch_size=4)
