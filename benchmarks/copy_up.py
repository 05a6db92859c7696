"""Copy-up between OS layers against ``cp --reflink=auto`` and ``fs.copy.copy_file``.

Usage::

    python -m benchmarks.copy_up            # 16, 64 and 256 MiB files
    python -m benchmarks.copy_up --tiny     # smoke size

Lower and upper are directories on the same filesystem (the temporary
directory's). Each round copies up one file through the overlay (open
``r+``, write one byte: the copy-up, then a one-byte write), once with the
default engine (the kernel copies: reflink or ``copy_file_range``) and once
streaming (``kernel_copy=False``), and copies the same file with
``cp --reflink=auto`` (what ``cp`` does on this machine) and with
``fs.copy.copy_file``. Rounds are interleaved and each figure is the minimum
over the rounds. The throughput ratio is ``cp``'s time over ours (target:
at least 90%); the peak is the traced Python memory of our copy-up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import typing

import fs.copy
from fs.osfs import OSFS

from unionfs_lib import CopyUpEngine, OverlayFS

MiB = 1 << 20


def write_file(path: str, size: int) -> None:
    """Write ``size`` bytes of non-repeating-looking data."""
    block = os.urandom(MiB)
    with open(path, "wb") as handle:
        for _ in range(size // MiB):
            handle.write(block)
        handle.write(block[: size % MiB])


def timed(fn: typing.Callable[[], object]) -> float:
    """Return the seconds ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def copy_up_once(base: str, lower: str, engine: CopyUpEngine, traced: bool) -> tuple[float, int]:
    """Copy ``/big`` up through a fresh overlay; return ``(seconds, traced peak)``."""
    upper = tempfile.mkdtemp(dir=base)
    overlay = OverlayFS(OSFS(upper), [OSFS(lower)], copy_up=engine)

    def run() -> None:
        with overlay.openbin("/big", "r+") as handle:
            handle.write(b"!")

    if traced:
        tracemalloc.start()
    seconds = timed(run)
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    if traced:
        tracemalloc.stop()
    overlay.close()
    shutil.rmtree(upper)
    return seconds, peak


def cp_once(base: str, lower: str) -> float:
    """``cp --reflink=auto`` of the same file, process start included."""
    target = tempfile.mkdtemp(dir=base)
    seconds = timed(
        lambda: subprocess.run(
            ["cp", "--reflink=auto", os.path.join(lower, "big"), os.path.join(target, "big")],
            check=True,
        )
    )
    shutil.rmtree(target)
    return seconds


def copy_file_once(base: str, lower: str) -> float:
    """``fs.copy.copy_file`` between two OSFS."""
    target = tempfile.mkdtemp(dir=base)
    source, dest = OSFS(lower), OSFS(target)
    seconds = timed(lambda: fs.copy.copy_file(source, "/big", dest, "/big"))
    shutil.rmtree(target)
    return seconds


def measure(size: int, rounds: int) -> list[str]:
    """One row: the four copies of a ``size``-byte file, interleaved ``rounds`` times."""
    base = tempfile.mkdtemp(prefix="copy-up-bench-")
    try:
        lower = os.path.join(base, "lower")
        os.mkdir(lower)
        write_file(os.path.join(lower, "big"), size)
        times: dict[str, list[float]] = {"ours": [], "stream": [], "cp": [], "copy_file": []}
        peak = 0
        for index in range(rounds):
            seconds, found = copy_up_once(base, lower, CopyUpEngine(), traced=index == 0)
            peak = max(peak, found)
            if index:
                times["ours"].append(seconds)
            streamed = CopyUpEngine(kernel_copy=False)
            times["stream"].append(copy_up_once(base, lower, streamed, traced=False)[0])
            times["cp"].append(cp_once(base, lower))
            times["copy_file"].append(copy_file_once(base, lower))
        best = {name: min(values) for name, values in times.items() if values}
        ours = best.get("ours", best["stream"])
        return [
            f"{size // MiB} MiB",
            f"{ours * 1000:.1f} ms",
            f"{best['stream'] * 1000:.1f} ms",
            f"{best['cp'] * 1000:.1f} ms",
            f"{best['copy_file'] * 1000:.1f} ms",
            f"{best['cp'] / ours:.0%}",
            f"{best['copy_file'] / ours:.0%}",
            f"{peak / 1024:.0f} KiB",
        ]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="smoke size")
    args = parser.parse_args(argv)
    sizes = [1 * MiB] if args.tiny else [16 * MiB, 64 * MiB, 256 * MiB]
    rounds = 2 if args.tiny else 5
    header = ["file", "ours", "ours streamed", "cp --reflink=auto", "copy_file",
              "vs cp (>= 90%)", "vs copy_file", "peak (ours)"]
    rows = [measure(size, rounds) for size in sizes]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print(f"Copy-up between OS layers ({sys.platform}, {os.cpu_count()} cores); min of {rounds}")
    for row in [header, *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
