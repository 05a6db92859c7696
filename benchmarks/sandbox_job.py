"""Measure the in-process sandbox job: an overlay over real files against direct OSFS on a copy.

Usage::

    python -m benchmarks.sandbox_job            # 5,000 files in 10 directories, best of 3
    python -m benchmarks.sandbox_job --tiny     # smoke size (seconds)
    python -m benchmarks.sandbox_job --axes     # also how the cost grows along each axis

The lower is a directory of real files on local disk (``files`` files of
``size`` bytes in ``dirs`` directories). The *job* is what a program run in a
sandbox does to a checkout: walk the tree and read every file, append to
``changes`` existing files, create ``changes`` new files, delete ``changes``
existing files, and list every directory. It is run

* *direct*: on ``OSFS`` over a copy of the lower (the copy, made before the
  clock starts, is what a sandbox without an overlay pays on top);
* *overlay*: on ``OverlayFS(OSFS(upper), [OSFS(lower)])`` opened on a fresh,
  empty upper (opening is inside the clock).

Each figure is the minimum over interleaved rounds, each on a fresh copy and
a fresh upper, with the garbage collector paused, on the wall clock and in
this process's CPU time (steadier on a loaded machine); the ratio is
overlay / direct (target: 1.5x, on the wall clock). ``--axes`` times the
overlay alone, as CPU time per file read (the walk and the reads, opening
included) and per change (append, create or delete, and the final
listing), along the number of files, the size of one directory, the number
of lower layers and the number of changes: each should stay flat.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import shutil
import sys
import tempfile
import time
import typing

import attrs
from fs.base import FS
from fs.osfs import OSFS

from unionfs_lib import OverlayFS

from .run import fmt_ratio, fmt_time, machine, print_table

TARGET = 1.5


@attrs.frozen
class Sizes:
    """The shape of the lower and of the job."""

    files: int = 5000
    dirs: int = 10
    size: int = 1024
    changes: int = 100
    repeats: int = 5


@attrs.frozen
class Timing:
    """Seconds of one run: on the wall clock and of this process's CPU."""

    wall: float
    cpu: float

    @classmethod
    def best(cls, runs: typing.Sequence[Timing]) -> Timing:
        """The best wall time and the best CPU time of ``runs``."""
        return cls(min(run.wall for run in runs), min(run.cpu for run in runs))


TINY = Sizes(files=200, dirs=4, size=64, changes=10, repeats=1)


def fill_lower(root: str, sizes: Sizes, layer: int = 0, layers: int = 1) -> None:
    """Lay ``sizes.files`` files of ``sizes.size`` bytes in ``sizes.dirs`` directories."""
    per_dir = max(1, sizes.files // sizes.dirs)
    payload = os.urandom(sizes.size)
    for d in range(sizes.dirs):
        directory = os.path.join(root, f"d{d:03d}")
        os.makedirs(directory, exist_ok=True)
        for f in range(per_dir):
            if f % layers == layer:
                with open(os.path.join(directory, f"f{f:05d}.dat"), "wb") as out:
                    out.write(payload)


def job(target: FS, sizes: Sizes) -> int:
    """Run the sandbox job on ``target``; return the number of bytes read (checked)."""
    total = 0
    for path in target.walk.files():
        total += len(target.readbytes(path))
    job_changes(target, sizes)
    return total


def job_changes(target: FS, sizes: Sizes) -> None:
    """The job's changes: appends, creates, deletes, then a listing of every directory."""
    dirs = sorted(target.listdir("/"))
    per_dir = max(1, sizes.files // sizes.dirs)
    for n in range(sizes.changes):
        directory = dirs[n % len(dirs)]
        with target.openbin(f"/{directory}/f{n // len(dirs):05d}.dat", "a") as out:
            out.write(b"appended\n")
    for n in range(sizes.changes):
        target.writebytes(f"/{dirs[n % len(dirs)]}/new{n:05d}.dat", b"created\n")
    for n in range(sizes.changes):
        target.remove(f"/{dirs[n % len(dirs)]}/f{per_dir - 1 - n // len(dirs):05d}.dat")
    for path in target.walk.dirs():
        target.listdir(path)
    target.listdir("/")


@contextlib.contextmanager
def paused_gc() -> typing.Iterator[None]:
    """Pause the garbage collector while timing."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def time_direct(lower: str, scratch: str, sizes: Sizes) -> Timing:
    """Time the job on OSFS over a fresh copy of ``lower``."""
    copy = os.path.join(scratch, "copy")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(lower, copy)
    with paused_gc():
        start, cpu = time.perf_counter(), time.process_time()
        with OSFS(copy) as direct:
            job(direct, sizes)
        elapsed = Timing(time.perf_counter() - start, time.process_time() - cpu)
    shutil.rmtree(copy)
    return elapsed


def time_overlay(lowers: list[str], scratch: str, sizes: Sizes) -> Timing:
    """Time opening an overlay on a fresh upper over ``lowers`` and the job on it."""
    upper = os.path.join(scratch, "upper")
    shutil.rmtree(upper, ignore_errors=True)
    os.makedirs(upper)
    with paused_gc():
        start, cpu = time.perf_counter(), time.process_time()
        with OverlayFS(OSFS(upper), [OSFS(lower) for lower in lowers]) as overlay:
            job(overlay, sizes)
        elapsed = Timing(time.perf_counter() - start, time.process_time() - cpu)
    shutil.rmtree(upper)
    return elapsed


def compare(root: str, sizes: Sizes) -> tuple[Timing, Timing]:
    """Return the best direct and overlay times (wall and CPU, each its own best)."""
    lower = os.path.join(root, "lower")
    fill_lower(lower, sizes)
    direct, overlay = [], []
    for _ in range(sizes.repeats):
        direct.append(time_direct(lower, root, sizes))
        overlay.append(time_overlay([lower], root, sizes))
    shutil.rmtree(lower)
    return Timing.best(direct), Timing.best(overlay)


def axis_point(root: str, sizes: Sizes, layers: int) -> tuple[float, float]:
    """Overlay CPU time per file read (walk, read) and per change for one point of an axis.

    Best of ``sizes.repeats`` fresh overlays (opened on an empty upper); the
    read part includes opening the overlay.
    """
    lowers = []
    for layer in range(layers):
        lower = os.path.join(root, f"lower{layer}")
        fill_lower(lower, sizes, layer, layers)
        lowers.append(lower)
    reads, changes = [], []
    for _ in range(sizes.repeats):
        upper = os.path.join(root, "upper")
        os.makedirs(upper)
        with paused_gc():
            start = time.process_time()
            with OverlayFS(OSFS(upper), [OSFS(lower) for lower in lowers]) as overlay:
                for path in overlay.walk.files():
                    overlay.readbytes(path)
                middle = time.process_time()
                job_changes(overlay, sizes)
                changes.append(time.process_time() - middle)
            reads.append(middle - start)
        shutil.rmtree(upper)
    for lower in lowers:
        shutil.rmtree(lower)
    return min(reads) / sizes.files, min(changes) / (3 * sizes.changes)


def axes(root: str, sizes: Sizes) -> list[list[str]]:
    """Rows of CPU time per file read and per change along each axis."""
    points: list[tuple[str, Sizes, int]] = []
    for files in (1000, 5000, 20000):
        points.append((f"files={files} (dirs=10)", attrs.evolve(sizes, files=files), 1))
    for dirs in (100, 10, 1):
        points.append((f"dir size={5000 // dirs} (files=5000)", attrs.evolve(sizes, dirs=dirs), 1))
    for layers in (1, 10, 50):
        points.append((f"layers={layers} (files=5000)", sizes, layers))
    for changes in (10, 100, 1000):
        points.append((f"changes={changes} (files=5000)", attrs.evolve(sizes, changes=changes), 1))
    rows = []
    for label, point, layers in points:
        print(f"  {label} ...", file=sys.stderr, flush=True)
        read, change = axis_point(root, point, layers)
        rows.append([label, fmt_time(read), fmt_time(change)])
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the comparison (and with ``--axes`` the growth along each axis); print tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes (seconds)")
    parser.add_argument("--axes", action="store_true", help="also time along each axis")
    parser.add_argument("--tmpdir", default=None, help="where the layers are made")
    args = parser.parse_args(argv)
    sizes = TINY if args.tiny else Sizes()
    print(machine())
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as root:
        direct, overlay = compare(root, sizes)
        ratio, cpu_ratio = overlay.wall / direct.wall, overlay.cpu / direct.cpu
        met = "yes" if ratio <= TARGET else "NO"
        title = (
            f"Sandbox job: {sizes.files} files in {sizes.dirs} directories, "
            f"{sizes.changes} appends/creates/deletes, list"
        )
        header = ["clock", "direct OSFS on a copy", "OverlayFS", "ratio", "target", "met"]
        rows = [
            ["wall", fmt_time(direct.wall), fmt_time(overlay.wall), fmt_ratio(ratio)],
            ["CPU", fmt_time(direct.cpu), fmt_time(overlay.cpu), fmt_ratio(cpu_ratio)],
        ]
        rows[0] += [fmt_ratio(TARGET), met]
        rows[1] += ["", ""]
        print_table(title, header, rows)
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.axes and not args.tiny:
            header = ["axis", "per file read", "per change"]
            print_table("Overlay CPU time along each axis", header, axes(root, sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
