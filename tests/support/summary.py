"""Counters that the test run reports at its end (see ``pytest_terminal_summary``).

Any test helper may count something worth seeing in CI's output::

    from tests import summary
    summary.count("kernel oracle comparisons")

``tests/conftest.py`` prints one line per counter after the run, so the line
shows even with ``-q`` and without ``-s``. :func:`note` adds a free-form line
(for instance why a counter stayed at zero).
"""

from __future__ import annotations

import collections

counters: collections.Counter[str] = collections.Counter()
notes: dict[str, str] = {}


def count(name: str, amount: int = 1) -> None:
    """Add ``amount`` to counter ``name`` (created at zero)."""
    counters[name] += amount


def declare(name: str) -> None:
    """Make counter ``name`` show up even if nothing is counted (as 0)."""
    counters[name] += 0


def note(name: str, text: str) -> None:
    """Attach a remark to counter ``name`` (the last one wins)."""
    notes[name] = text


def lines() -> list[str]:
    """Return the summary lines, one per counter, sorted by name."""
    out = []
    for name in sorted(set(counters) | set(notes)):
        line = f"{name}: {counters[name]}"
        if name in notes:
            line += f" ({notes[name]})"
        out.append(line)
    return out
