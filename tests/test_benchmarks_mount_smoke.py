"""The mount benchmark runs at tiny size, so it cannot rot (no time is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .mounting import fuse_or_skip

ROOT = Path(__file__).resolve().parent.parent


def test_mount_benchmark_runs_and_prints_every_workload() -> None:
    fuse_or_skip()
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.mount", "--tiny"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr
    for workload in ("stat every file", "read every file", "tar -x", "sequential write",
                     "sequential read", "ls -l", "mv of a lower directory"):
        line = next(line for line in result.stdout.splitlines() if line.startswith(workload))
        assert "<=" in line  # the target column is printed
    assert "ours/fuse-ovl" in result.stdout
