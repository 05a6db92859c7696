"""Shared pytest configuration.

Guard mode: with ``UNIONFS_GUARD_LOWERS=1`` every lower layer passed to
``OverlayFS`` is wrapped in :class:`tests.support.guard.LowerGuard`, and any write
call that reached a lower fails the test that made it (even if the library
caught the exception).
"""

from __future__ import annotations

import pytest

from .support import guard


def pytest_configure(config):
    """Register the ``unguarded`` marker."""
    config.addinivalue_line(
        "markers",
        "unguarded: the test checks the identity of the lowers it passes, so guard mode "
        "(UNIONFS_GUARD_LOWERS=1) leaves its lowers unwrapped",
    )


@pytest.fixture(autouse=True)
def _guard_lowers(request, monkeypatch):
    """In guard mode, wrap every lower in a guard and fail the test on a write."""
    if not guard.guard_enabled() or request.node.get_closest_marker("unguarded"):
        yield
        return
    guard.take_violations()
    guard.install(monkeypatch)
    yield
    found = guard.take_violations()
    if found:
        pytest.fail(
            f"{len(found)} write call(s) reached a lower layer:\n  " + "\n  ".join(found[:20]),
            pytrace=False,
        )


def pytest_report_header(config):
    """Say in the header whether lower layers are guarded."""
    if guard.guard_enabled():
        return "unionfs guard mode: every lower is wrapped in tests.support.guard.LowerGuard"
    return None


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print the counters of :mod:`tests.support.summary` (e.g. kernel oracle comparisons)."""
    from .support import summary

    found = summary.lines()
    if found:
        terminalreporter.section("unionfs summary", sep="-")
        for line in found:
            terminalreporter.write_line(line)
