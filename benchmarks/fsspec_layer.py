"""OverlayFileSystem against the fsspec layer itself, at 1 and 100 lowers, in one run.

Usage::

    python -m benchmarks.fsspec_layer           # full size (well under a minute)
    python -m benchmarks.fsspec_layer --tiny    # smoke size (a few seconds)

Each lower is a directory of one fsspec filesystem (``memory``: fsspec's
in-process store; ``local``: a temporary directory through fsspec's local
filesystem), wrapped in ``FSSpecFS``; the overlay has an empty upper of the
same kind. Timed, as the best time per call over interleaved rounds (see
``benchmarks.run.bench_group``; ``info`` and ``cat_file``, about a
microsecond each on fsspec's memory filesystem, in 200 rounds of 2 ms
samples instead of 25 of 20 ms, which a busy machine interrupts less often):

* ``info`` of a file in the bottom lower, against ``fs.info`` on the layer
  that holds it;
* ``cat_file`` of that file (``FILE_BYTES`` bytes), against ``fs.cat_file``
  on that layer;
* ``ls`` (``detail=True``) of ``/data``, a directory every lower holds with
  ``dir_entries`` entries each, against the SUM of one ``fs.ls`` per layer
  (what a caller merging the layers itself would run). Warm: the overlay's
  caches are filled, so the layers are not listed again (for a remote store
  that is one listing per directory, not one per call), and the finished
  listing of a directory only lowers hold is reused;
* the same for ``/written``, which the upper holds too (one file written
  through the overlay), so its listing is merged again on every call from
  the cached layer listings (the upper's own ``ls`` joins the sum).

Each backend is measured at 1 and 100 lowers of ``dir_entries`` entries per
directory, and at 1 lower of ``large_entries`` entries (the directory-size
axis: what grows with the directory, at the same number of lowers). Every
ratio is printed beside the 1.5x target.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import typing
import uuid
from dataclasses import dataclass

import fsspec

from benchmarks.run import Sizes, bench_group, machine
from unionfs_lib.fsspec import FSSpecFS, OverlayFileSystem

TARGET = 1.5


@dataclass(frozen=True)
class Shape:
    """How many lowers, entries per merged directory and bytes per file."""

    lowers: tuple[int, ...] = (1, 100)
    dir_entries: int = 20
    large_entries: int = 2000
    file_bytes: int = 4096
    sizes: Sizes = Sizes(repeats=25, min_time=0.02)
    #: For the calls of about a microsecond (``info``, ``cat_file``): many
    #: short samples, so that both sides get samples no other process
    #: interrupted on a shared machine (the minimum of each side is kept).
    fast_sizes: Sizes = Sizes(repeats=200, min_time=0.002)

    def configurations(self) -> list[tuple[int, int]]:
        """Return (lowers, entries per lower) to measure: each lower count, then a big directory."""
        return [(count, self.dir_entries) for count in self.lowers] + [(1, self.large_entries)]


FULL = Shape()
TINY = Shape(
    lowers=(1, 3),
    dir_entries=3,
    large_entries=30,
    sizes=Sizes(repeats=2, min_time=0.0005),
    fast_sizes=Sizes(repeats=2, min_time=0.0005),
)


@dataclass
class Setup:
    """One overlay and the fsspec layers under it."""

    filesystem: typing.Any
    roots: list[str]
    upper: str
    overlay: OverlayFileSystem
    cleanup: typing.Callable[[], None]


def build(backend: str, count: int, entries: int, shape: Shape) -> Setup:
    """Fill ``count`` lowers of ``backend`` and compose the overlay over them."""
    if backend == "memory":
        filesystem = fsspec.filesystem("memory")
        base = f"/bench-{uuid.uuid4().hex}"
    else:
        filesystem = fsspec.filesystem("file")
        base = tempfile.mkdtemp(prefix="fsspec-bench-")
    roots = [f"{base}/lower{index}" for index in range(count)]
    for index, root in enumerate(roots):
        for directory in ("data", "written"):
            filesystem.makedirs(f"{root}/{directory}", exist_ok=True)
            for entry in range(entries):
                filesystem.pipe_file(f"{root}/{directory}/l{index}-{entry}.txt", b"x" * 16)
    filesystem.pipe_file(f"{roots[-1]}/data/file.bin", b"\1" * shape.file_bytes)
    filesystem.makedirs(f"{base}/upper", exist_ok=True)
    overlay = OverlayFileSystem(
        upper=FSSpecFS(filesystem, f"{base}/upper"),
        lowers=[FSSpecFS(filesystem, root, read_only=True) for root in roots],
    )

    overlay.pipe_file("/written/upper.txt", b"in the upper")

    def cleanup() -> None:
        if backend == "memory":
            filesystem.rm(base, recursive=True)
        else:
            shutil.rmtree(base)

    return Setup(filesystem, roots, f"{base}/upper", overlay, cleanup)


def measure(setup: Setup, entries: int, shape: Shape) -> dict[str, tuple[float, float]]:
    """Return operation -> (overlay seconds, layer seconds) per call."""
    layer, bottom, overlay = setup.filesystem, setup.roots[-1], setup.overlay
    expected = sorted(overlay.ls("/data", detail=False))  # fills the overlay's caches
    assert len(expected) == len(setup.roots) * entries + 1
    cases = {
        "info lower file": (
            lambda: overlay.info("/data/file.bin"),
            lambda: layer.info(f"{bottom}/data/file.bin"),
        ),
        "cat_file lower file": (
            lambda: overlay.cat_file("/data/file.bin"),
            lambda: layer.cat_file(f"{bottom}/data/file.bin"),
        ),
        "ls merged dir, warm": (
            lambda: overlay.ls("/data"),
            lambda: [layer.ls(f"{root}/data") for root in setup.roots],
        ),
        "ls written dir, warm": (
            lambda: overlay.ls("/written"),
            lambda: [layer.ls(f"{root}/written") for root in (setup.upper, *setup.roots)],
        ),
    }
    results = {}
    for name, (through_overlay, direct) in cases.items():
        sizes = shape.sizes if name.startswith("ls ") else shape.fast_sizes
        best = bench_group([through_overlay, direct], sizes)
        results[name] = (best[0], best[1])
    return results


def report(
    backend: str, count: int, entries: int, results: dict[str, tuple[float, float]]
) -> list[str]:
    """Format one table block; mark ratios above the target."""
    lines = []
    for name, (overlay_time, layer_time) in results.items():
        ratio = overlay_time / layer_time
        verdict = "ok" if ratio <= TARGET else "ABOVE TARGET"
        lines.append(
            f"{backend:<7} {count:>4} {entries:>5} {name:<22} {overlay_time * 1e6:>10.1f} "
            f"{layer_time * 1e6:>10.1f} {ratio:>7.2f}x  (target {TARGET}x: {verdict})"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run every backend at every lower count and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="smoke size")
    args = parser.parse_args(argv)
    shape = TINY if args.tiny else FULL
    print(f"machine: {machine()}")
    print(f"fsspec {fsspec.__version__}; 'entries' per lower in /data and /written, "
          f"{shape.file_bytes}-byte file in the bottom lower")
    print("OverlayFileSystem vs the fsspec layer itself (microseconds per call)")
    print(f"{'backend':<7} {'N':>4} {'entries':>5} {'operation':<22} {'overlay':>10} "
          f"{'layer':>10} {'ratio':>8}")
    for backend in ("memory", "local"):
        for count, entries in shape.configurations():
            setup = build(backend, count, entries, shape)
            try:
                for line in report(backend, count, entries, measure(setup, entries, shape)):
                    print(line, flush=True)
            finally:
                setup.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
