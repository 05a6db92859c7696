"""Measure what ``OverlayFS.changes()`` costs against the size of the upper and of the lower.

Usage::

    python -m benchmarks.changes            # full size (about a minute)
    python -m benchmarks.changes --tiny     # smoke size (a few seconds)

``changes()`` walks the upper and asks the lowers about one name at a time,
so its time should grow with the number of changes and stay flat as the
lower grows. Two tables show it, each as ratios:

* **upper size**: 10 to 1,000 changes over one lower; the time per change
  relative to the smallest case (flat means linear in the changes);
* **lower size**: 10 changes over lowers of 1,000 to 100,000 files; the
  time relative to the smallest lower (flat means independent of it), and
  against a brute-force walk of the merged view, which is what finding the
  changes would cost without following the upper.

The lowers are ``MemoryFS`` trees of 100 directories; the changes are one
third rewrites, one third removals and one third new files, spread over the
directories. Timings are the minimum over repeats (see ``benchmarks.run``).
"""

from __future__ import annotations

import argparse
import os
import platform
import typing
from dataclasses import dataclass

from fs.memoryfs import MemoryFS

from unionfs_lib import OverlayFS

from .run import Sizes, bench, fmt_ratio, fmt_time, print_table, progress

DIRS = 100


@dataclass(frozen=True)
class Plan:
    """The sizes of one run."""

    change_counts: tuple[int, ...] = (10, 100, 1_000)
    upper_lower_files: int = 10_000
    lower_sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    timing: Sizes = Sizes(repeats=5, min_time=0.05)


FULL = Plan()
TINY = Plan(
    change_counts=(3, 12),
    upper_lower_files=200,
    lower_sizes=(200, 800),
    timing=Sizes(repeats=2, min_time=0.005),
)


def build_lower(files: int) -> MemoryFS:
    """A lower of ``files`` small files spread over :data:`DIRS` directories."""
    lower = MemoryFS()
    for index in range(files):
        directory = f"/d{index % DIRS:03d}"
        if index < DIRS:
            lower.makedir(directory)
        lower.writebytes(f"{directory}/f{index:07d}", b"lower data")
    return lower


def changed_overlay(lower: MemoryFS, files: int, changes: int) -> OverlayFS:
    """An overlay over a ``files``-file lower with ``changes`` changes of three kinds."""
    overlay = OverlayFS(MemoryFS(), [lower], auto_close=False)
    for number in range(changes):
        index = (number * 7919) % files  # a prime stride spreads them over the directories
        path = f"/d{index % DIRS:03d}/f{index:07d}"
        kind = number % 3
        if kind == 0:
            overlay.writebytes(path, b"changed")
        elif kind == 1 and overlay.exists(path):
            overlay.remove(path)
        else:
            overlay.writebytes(f"/d{index % DIRS:03d}/new{number:07d}", b"added")
    return overlay


def walk_merged(overlay: OverlayFS) -> int:
    """Visit every entry of the merged view (the brute-force way to find changes)."""
    return sum(1 for _ in overlay.walk.info("/"))


def upper_table(plan: Plan) -> None:
    """Time ``changes()`` for growing numbers of changes over one lower."""
    lower = build_lower(plan.upper_lower_files)
    rows = []
    base: float | None = None
    for count in plan.change_counts:
        progress(f"changes() with {count} changes")
        overlay = changed_overlay(lower, plan.upper_lower_files, count)
        found = len(overlay.changes())
        seconds = bench(overlay.changes, plan.timing)
        per_change = seconds / max(1, found)
        base = base if base is not None else per_change
        rows.append([str(found), fmt_time(seconds), fmt_time(per_change),
                     fmt_ratio(per_change / base)])
    print_table(
        f"changes() against the size of the upper ({plan.upper_lower_files:,}-file lower)",
        ["changes", "changes()", "per change", "per change / smallest"],
        rows,
    )


def lower_table(plan: Plan) -> None:
    """Time ``changes()`` for 10 changes over growing lowers."""
    rows = []
    base: float | None = None
    for files in plan.lower_sizes:
        progress(f"changes() over a {files}-file lower")
        overlay = changed_overlay(build_lower(files), files, 10)
        seconds = bench(overlay.changes, plan.timing)
        walk = bench(lambda overlay=overlay: walk_merged(overlay), plan.timing)
        base = base if base is not None else seconds
        rows.append([f"{files:,}", fmt_time(seconds), fmt_ratio(seconds / base),
                     fmt_time(walk), fmt_ratio(walk / seconds)])
    print_table(
        "changes() against the size of the lower (10 changes)",
        ["lower files", "changes()", "changes() / smallest", "walk merged", "walk / changes()"],
        rows,
    )


def main(argv: typing.Sequence[str] | None = None) -> int:
    """Run the benchmark and print both tables."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="smoke size (a few seconds)")
    args = parser.parse_args(argv)
    plan = TINY if args.tiny else FULL
    print(f"machine: nproc={os.cpu_count()} python={platform.python_version()}")
    upper_table(plan)
    lower_table(plan)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
