"""The fsspec benchmark runs at tiny size, so it cannot rot (no time is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_fsspec_benchmark_runs_and_prints_every_ratio() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.fsspec_layer", "--tiny"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for backend in ("memory", "local"):
        for operation in ("info lower file", "cat_file lower file", "ls merged dir, warm",
                          "ls written dir, warm"):
            assert out.count(f"{operation}") >= 4
        assert f"\n{backend} " in out
    assert "target 1.5x" in out
