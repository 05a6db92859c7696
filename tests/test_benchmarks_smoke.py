"""The benchmark harness runs at tiny size, so it cannot rot (no time is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_harness_runs_and_prints_the_tables() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--tiny"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "machine: nproc=" in out
    for title in (
        "Ratios to direct access",
        "Copy-up vs fs.copy.copy_file",
        "movedir of a",
        "Overlay nested",
    ):
        assert title in out
    for operation in (
        "getinfo bottom",
        "readbytes bottom",
        "exists missing",
        "listdir merged, warm",
        "walk ",
        "iterdir ",
    ):
        assert operation in out
    for backend in ("memory", "osfs"):
        assert f"\n{backend} " in out
    assert "MultiFS/direct" in out and "overlay/direct" in out


def test_copy_up_benchmark_runs_at_tiny_size() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.copy_up", "--tiny"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "cp --reflink=auto" in result.stdout
    assert "1 MiB" in result.stdout
