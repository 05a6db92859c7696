"""The changes() benchmark runs at tiny size, so it cannot rot (no time is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_changes_benchmark_runs_and_prints_both_tables() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.changes", "--tiny"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert "changes() against the size of the upper" in result.stdout
    assert "changes() against the size of the lower" in result.stdout
    assert "per change / smallest" in result.stdout and "walk / changes()" in result.stdout
