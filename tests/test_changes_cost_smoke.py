"""The change-cost benchmark runs at tiny size, so it cannot rot (no time is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_change_cost_benchmark_runs_and_prints_both_tables(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.changes_cost", "--tiny", "--tmpdir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "machine: nproc=" in out
    for backend in ("memory", "osfs"):
        assert f"{backend}: one change + one exists()" in out
    for change in ("create", "remove", "append", "move", "setinfo"):
        assert f"\n{change} " in out
    assert "growth 240/60" in out and "vs layer" in out
