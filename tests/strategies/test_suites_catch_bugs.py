"""Each conformance suite fails on a strategy that breaks its contract.

The suites of :mod:`unionfs_lib.testing` are run here programmatically over
the deliberately broken strategies of :mod:`tests.strategies.broken`; each
run must fail, at least in the tests that check the promise the strategy
breaks, while most of the suite still passes (so the failure is the bug,
not the harness). The suites' classes here are not collected by pytest
(``__test__ = False``): they are meant to fail.
"""

from __future__ import annotations

import contextlib
import io
import unittest

import pytest

from unionfs_lib.ops.strategies import CopyUpStrategy, DirIteratorStrategy
from unionfs_lib.stores.whiteout_store import WhiteoutStore
from unionfs_lib.testing import CopyUpTests, DirIteratorTests, WhiteoutStoreTests

from .broken import (
    ForgetfulOpaqueStore,
    InPlaceCopyUp,
    PositionalIterator,
    TelldirTableIterator,
)


class ForgetfulOpaqueStoreSuite(WhiteoutStoreTests, unittest.TestCase):
    __test__ = False

    def make_store(self) -> WhiteoutStore:
        return ForgetfulOpaqueStore()


class InPlaceCopyUpSuite(CopyUpTests, unittest.TestCase):
    __test__ = False

    def make_engine(self) -> CopyUpStrategy:
        return InPlaceCopyUp(chunk_size=1000)


class TelldirTableIteratorSuite(DirIteratorTests, unittest.TestCase):
    __test__ = False

    def make_iterator(self) -> DirIteratorStrategy:
        return TelldirTableIterator()


class PositionalIteratorSuite(DirIteratorTests, unittest.TestCase):
    __test__ = False

    def make_iterator(self) -> DirIteratorStrategy:
        return PositionalIterator()


def failed_tests(case: type[unittest.TestCase]) -> set[str]:
    """Run every test of ``case`` and return the names of those that failed or erred."""
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = unittest.TextTestRunner(stream=io.StringIO()).run(suite)
    failed = {
        test_id.split(".")[-1]
        for test_id in (test.id() for test, _ in result.failures + result.errors)
    }
    assert len(failed) < (result.testsRun - len(result.skipped)) / 2, f"most failed: {failed}"
    return failed


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            ForgetfulOpaqueStoreSuite,
            {
                "test_changes_read_back_alike_after_reopening",
                "test_a_recreated_directory_hides_the_lower_one_after_reopening",
            },
        ),
        (InPlaceCopyUpSuite, {"test_a_failed_copy_up_leaves_nothing_visible"}),
        (
            TelldirTableIteratorSuite,
            {
                "test_cookies_stay_valid_across_reopening",
                "test_seeking_in_a_changing_directory_does_not_grow_memory",
            },
        ),
        (PositionalIteratorSuite, {"test_each_entry_present_throughout_an_iteration_comes_once"}),
    ],
    ids=lambda value: getattr(value, "__name__", "expected"),
)
def test_the_suite_fails_on_a_broken_strategy(
    case: type[unittest.TestCase], expected: set[str]
) -> None:
    assert expected <= failed_tests(case)
