"""Measure symlink-safe tree removal against PyFilesystem2's ``removetree``.

Usage::

    python -m benchmarks.removal            # 10,000-file trees
    python -m benchmarks.removal --tiny     # smoke size (seconds)

Every tree holds the same number of files, in three shapes: ``wide`` (100
directories of 100 files), ``flat`` (one directory) and ``deep`` (a chain of
100 nested directories, 100 files in each). Each round builds one fresh tree per method
and removes it, the methods in turn (the order reversed every other round),
with the garbage collector paused; each figure is the minimum over the
rounds:

* ``old``: ``OSFS.removetree`` (PyFilesystem2's walk, which follows links);
* ``safe``: :func:`unionfs_lib.host.safe_tree.remove_tree`, the descriptor walk
  that never follows a link (what the overlay uses now);
* ``shutil``: ``shutil.rmtree``, for reference (Linux's own symlink-safe
  walk, in C where it can).

On a ``MemoryFS`` both removals drop one dictionary entry (a ``MemoryFS``
holds no links) and are not measured. Target: ``safe`` at most 1.5x ``old``.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
import typing

import attrs
from fs.osfs import OSFS

from unionfs_lib import safe_tree

from .run import fmt_ratio, fmt_time, machine, print_table

TARGET = 1.5
SHAPES = ("wide", "flat", "deep")
METHODS = ("old", "safe", "shutil")


@attrs.frozen
class Sizes:
    """Files per tree and rounds."""

    files: int = 10_000
    per_dir: int = 100
    deep_per_dir: int = 100
    rounds: int = 5


FULL = Sizes()
TINY = Sizes(files=200, per_dir=20, deep_per_dir=20, rounds=2)


def build(root: str, shape: str, sizes: Sizes) -> None:
    """Fill ``root`` (made here) with ``sizes.files`` small files in ``shape``."""
    os.makedirs(root)
    if shape == "flat":
        per_dir, nested = sizes.files, False
    elif shape == "wide":
        per_dir, nested = sizes.per_dir, False
    else:
        per_dir, nested = sizes.deep_per_dir, True
    directory = root
    for index in range(sizes.files):
        if index % per_dir == 0 and shape != "flat":
            parent = directory if nested else root
            directory = os.path.join(parent, f"d{index // per_dir:05d}")
            os.mkdir(directory)
        with open(os.path.join(directory, f"f{index:06d}"), "wb") as handle:
            handle.write(b"x")


def remove(method: str, base: str, name: str) -> None:
    """Remove tree ``base/name`` with ``method``."""
    if method == "old":
        with OSFS(base) as layer:
            layer.removetree("/" + name)
    elif method == "safe":
        with OSFS(base) as layer:
            safe_tree.remove_tree(layer, "/" + name)
    else:
        shutil.rmtree(os.path.join(base, name))


def timed(fn: typing.Callable[..., None]) -> float:
    """Seconds ``fn`` takes, the garbage collector paused."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()


def measure(base: str, shape: str, sizes: Sizes) -> dict[str, float]:
    """Best removal time of each method for one shape."""
    best: dict[str, float] = {}
    for round_ in range(sizes.rounds):
        order = METHODS if round_ % 2 == 0 else tuple(reversed(METHODS))
        for method in order:
            name = f"{shape}-{method}-{round_}"
            build(os.path.join(base, name), shape, sizes)
            took = timed(lambda method=method, name=name: remove(method, base, name))
            assert not os.path.lexists(os.path.join(base, name))
            best[method] = min(best.get(method, took), took)
    return best


def main(argv: list[str] | None = None) -> int:
    """Measure every shape and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes (seconds)")
    parser.add_argument("--tmpdir", help="where the trees are made (default: system temp)")
    args = parser.parse_args(argv)
    sizes = TINY if args.tiny else FULL
    print(f"unionfs_lib tree removal ({'tiny' if args.tiny else 'full'} size)")
    print(f"machine: {machine()}")
    print(f"command: python -m benchmarks.removal {' '.join(argv or sys.argv[1:])}".rstrip())
    rows, met = [], True
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as base:
        for shape in SHAPES:
            best = measure(base, shape, sizes)
            ratio = best["safe"] / best["old"]
            met = met and ratio <= TARGET
            verdict = "yes" if ratio <= TARGET else "NO"
            rows.append(
                [shape, f"{sizes.files:,}", fmt_time(best["old"]), fmt_time(best["safe"]),
                 fmt_time(best["shutil"]), f"{fmt_ratio(ratio)} {verdict}",
                 fmt_ratio(best["safe"] / best["shutil"])]
            )
            print(f"  {shape} measured", file=sys.stderr, flush=True)
    header = ["shape", "files", "old removetree", "safe remove_tree", "shutil.rmtree",
              f"safe/old (<={TARGET}x)", "safe/shutil"]
    print_table("OSFS: removing a tree of small files (best of rounds)", header, rows)
    print()
    print("every target met" if met else "some targets NOT met (see NO above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
