"""Every benchmark runs at tiny size, so none can rot (no time is asserted)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import fuse_floor

from ..support.mounting import fuse_or_skip

#: Every benchmark runs in a subprocess, where the lower guard cannot reach.
pytestmark = pytest.mark.out_of_process

ROOT = Path(__file__).resolve().parent.parent.parent


def run_benchmark(module: str, *args: str) -> str:
    """Run ``python -m benchmarks.<module> --tiny [args]``; return its standard output."""
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", "--tiny", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_benchmark_harness_runs_and_prints_the_tables() -> None:
    out = run_benchmark("run")
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
    out = run_benchmark("copy_up")
    assert "cp --reflink=auto" in out
    assert "1 MiB" in out


def test_sandbox_job_benchmark_prints_both_clocks() -> None:
    out = run_benchmark("sandbox_job")
    assert "Sandbox job:" in out and "direct OSFS on a copy" in out
    assert "\nwall " in out and "\nCPU " in out and "load average:" in out


def test_fsspec_benchmark_prints_every_ratio() -> None:
    out = run_benchmark("fsspec_layer")
    for backend in ("memory", "local"):
        for operation in ("info lower file", "cat_file lower file", "ls merged dir, warm",
                          "ls written dir, warm"):
            assert out.count(f"{operation}") >= 4
        assert f"\n{backend} " in out
    assert "target 1.5x" in out


def test_change_cost_benchmark_prints_both_tables(tmp_path: Path) -> None:
    out = run_benchmark("changes_cost", "--tmpdir", str(tmp_path))
    assert "machine: nproc=" in out
    for backend in ("memory", "osfs"):
        assert f"{backend}: one change + one exists()" in out
    for change in ("create", "remove", "append", "move", "setinfo"):
        assert f"\n{change} " in out
    assert "growth 240/60" in out and "vs layer" in out


def test_changes_benchmark_prints_both_tables() -> None:
    out = run_benchmark("changes")
    assert "changes() against the size of the upper" in out
    assert "changes() against the size of the lower" in out
    assert "per change / smallest" in out and "walk / changes()" in out


def test_mount_benchmark_prints_every_workload() -> None:
    fuse_or_skip()
    out = run_benchmark("mount", "--repeats", "1")
    for workload in ("find . -ls, fresh mount", "find . -ls, warm", "stat every file, cold",
                     "cat every file", "read the large file", "write new files",
                     "append to lower files", "mv of a lower directory", "tar -x of small files",
                     "parallel: xargs -P4 cat", "parallel: 4 x tar -x"):
        line = next(line for line in out.splitlines() if line.startswith(workload))
        assert "<=" in line  # the target column is printed
    assert "ours/fuse-ovl" in out and "round ratios" in out and "1 interleaved repeats" in out
    assert "daemon CPU: " in out


def test_removal_benchmark_prints_every_shape(tmp_path: Path) -> None:
    out = run_benchmark("removal", "--tmpdir", str(tmp_path))
    assert "machine: nproc=" in out
    for shape in ("wide", "flat", "deep"):
        assert f"\n{shape} " in out
    assert "safe/old (<=1.5x)" in out and "shutil.rmtree" in out


def test_sessions_benchmark_prints_the_cost_per_file() -> None:
    out = run_benchmark("sessions", "--local")
    assert "Session commit into local" in out
    assert "commit per file" in out and "flat (largest within" in out


#: The rows of issue 25 that benchmarks.fuse_floor measures the floors under.
FLOOR_ROWS = ("find . -ls, fresh mount", "find . -ls, warm", "stat every file, cold",
              "cat every file", "write new files", "append to lower files",
              "tar -x of small files", "parallel: xargs -P4 cat", "parallel: 4 x tar -x")


def test_fuse_floor_benchmark_prints_every_floor_and_row() -> None:
    fuse_or_skip()
    out = run_benchmark("fuse_floor", "--repeats", "1", "--count-ours")
    header = next(line for line in out.splitlines() if line.startswith("workload"))
    for peer in ("kernel", "fuse-overlayfs", "hl-floor", "hl-floor-mt", "unionfs-lib",
                 "ours-counted"):
        assert peer in header
    if fuse_floor.low_level_refusal() is None:
        assert "ll-floor" in header
    else:
        assert "ll-floor skipped: " in out and "is not importable" in out
    if fuse_floor.ctypes_refusal() is None:
        assert " ctll-floor " in header and "ctll-floor-mt" in header
    else:
        assert "ctll-floor and ctll-floor-mt skipped: " in out
    lines = out.splitlines()
    for row in FLOOR_ROWS:
        at = next(index for index, line in enumerate(lines) if line.startswith(row))
        assert "load " in lines[at]
        assert lines[at + 1].startswith("  / fuse-overlayfs")
        assert lines[at + 2].startswith("  daemon CPU user+sys")
        assert lines[at + 3].startswith("  requests, CPU per request")
    # The floors and the counted ours counted the requests of the row that reads every file.
    cat = next(index for index, line in enumerate(lines) if line.startswith("cat every file"))
    assert lines[cat + 3].count("us") >= 3
    for floor in (fuse_floor.CTYPES, fuse_floor.CTYPES_THREADS):
        if floor in header.split():
            assert "us" in floor_cell(header, lines[cat + 3], floor)
    assert "failed (" not in out


def floor_cell(header: str, line: str, peer: str) -> str:
    """Return ``peer``'s cell of a table line (15 characters a column after 34 of label)."""
    column = header[34:].split().index(peer)
    return line[34 + 15 * column:34 + 15 * (column + 1)]


def test_the_low_level_column_is_left_out_with_its_reason_without_pyfuse3(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pyfuse3", None)
    reason = fuse_floor.low_level_refusal()
    assert reason is not None and reason.startswith("ll-floor skipped: pyfuse3 is not importable")
    assert "unionfs-lib[bench]" in reason
    assert fuse_floor.LOW not in fuse_floor.peers_to_run()
    assert fuse_floor.HIGH in fuse_floor.peers_to_run()


def test_the_ctypes_columns_are_left_out_with_their_reason_without_libfuse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks import floor_ctypes

    monkeypatch.setattr(floor_ctypes.ctypes.util, "find_library", lambda name: None)
    reason = fuse_floor.ctypes_refusal()
    assert reason is not None and reason.startswith("ctll-floor and ctll-floor-mt skipped: ")
    assert fuse_floor.CTYPES not in fuse_floor.peers_to_run()
    assert fuse_floor.CTYPES_THREADS not in fuse_floor.peers_to_run()


def test_the_ctypes_structures_have_the_sizes_of_libfuse_3_14_headers() -> None:
    """Sizes and offsets as gcc lays out /usr/include/fuse3 (3.14) on x86_64."""
    from benchmarks import floor_ctypes as floor

    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip("the structures are laid out for x86_64 Linux")
    sizes = {floor.FileInfo: 40, floor.Stat: 144, floor.EntryParam: 176, floor.ConnInfo: 128,
             floor.Args: 24, floor.LowLevelOps: 352}
    for structure, size in sizes.items():
        assert floor.ctypes.sizeof(structure) == size, structure.__name__
    assert floor.FileInfo.fh.offset == 16 and floor.EntryParam.attr_timeout.offset == 160
    assert floor.LowLevelOps.create.offset == 240
    assert floor.LowLevelOps.forget_multi.offset == 304
    assert floor.LowLevelOps.readdirplus.offset == 328
    opened = floor.FileInfo()
    opened.keep_cache, opened.cache_readdir = 1, 1
    assert floor.ctypes.c_uint.from_buffer(opened, 4).value == 0x4 | 0x40


def test_the_ctypes_floor_lets_the_kernel_answer_a_second_listing_and_ends_on_sigterm(
    tmp_path: Path,
) -> None:
    """What ``floor_ctypes`` says of the kernel's caches: a listing it kept costs no readdir."""
    fuse_or_skip()
    from benchmarks import floor_ctypes

    if floor_ctypes.refusal() is not None:
        pytest.skip(str(floor_ctypes.refusal()))
    names = sorted(f"file-{index:04}" for index in range(2000))
    (tmp_path / "source" / "d").mkdir(parents=True)
    for name in names:
        (tmp_path / "source" / "d" / name).write_bytes(b"x")
    target, counter = tmp_path / "target", tmp_path / "requests"
    target.mkdir()
    counter.write_bytes(bytes(8))
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.floor_ctypes",
                                str(tmp_path / "source"), str(target), "--counter", str(counter)],
                               cwd=ROOT)
    daemon = fuse_floor.Daemon(process, str(counter))
    try:
        deadline = time.monotonic() + 30
        while not os.path.ismount(target) and process.poll() is None:
            assert time.monotonic() < deadline, "floor_ctypes did not mount"
            time.sleep(0.02)
        before = fuse_floor.requests(daemon) or 0
        assert sorted(os.listdir(target / "d")) == names
        first = (fuse_floor.requests(daemon) or 0) - before
        assert sorted(os.listdir(target / "d")) == names
        second = (fuse_floor.requests(daemon) or 0) - before - first
        # The first listing of 2,000 names takes about ten readdirplus chunks
        # (14 requests here); the second only opendir, releasedir and the
        # getattr of the directory's atime (3; 15 without cache_readdir).
        assert second <= 5 and first >= 12, (first, second)
        process.terminate()
        assert process.wait(timeout=30) == 0
        assert not os.path.ismount(target)
    finally:
        fuse_floor.stop(fuse_floor.CTYPES, str(target), daemon)
