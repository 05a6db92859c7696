"""Conformance suites for third-party strategies, as ``fs.test.FSTestCases`` is for filesystems.

An author of a whiteout store, a copy-up engine or a directory iterator
combines one suite with ``unittest.TestCase`` and implements one method that
makes the strategy under test:

* :class:`WhiteoutStoreTests`: ``make_store()`` returns a
  :class:`~unionfs_lib.stores.whiteout_store.WhiteoutStore`;
* :class:`CopyUpTests`: ``make_engine()`` returns a
  :class:`~unionfs_lib.ops.strategies.CopyUpStrategy`;
* :class:`DirIteratorTests`: ``make_iterator()`` returns a
  :class:`~unionfs_lib.ops.strategies.DirIteratorStrategy`.

Each suite checks the contract of its protocol on the strategy alone where
the strategy can be called alone, and always through an
:class:`~unionfs_lib.overlay.OverlayFS` built with it (the overlay is the
strategy's user). They run in seconds, for a plugin's CI. The test classes
run under ``unittest`` and under ``pytest``.
"""

from unionfs_lib.testing.copy_up_tests import CopyUpTests
from unionfs_lib.testing.dir_iterator_tests import DirIteratorTests
from unionfs_lib.testing.whiteout_store_tests import WhiteoutStoreTests

__all__ = ["CopyUpTests", "DirIteratorTests", "WhiteoutStoreTests"]
