"""Measure what one change costs in a big merged directory, against the layer alone.

Usage::

    python -m benchmarks.changes_cost            # 1,000 / 10,000 / 100,000 entries
    python -m benchmarks.changes_cost --tiny     # smoke size (seconds)

Each change is made through the overlay in a directory of ``N`` lower files
(after one listing, so the caches are warm, and one copy-up, so the
directory is in the upper, as in real use) and followed by one ``exists()``
in the same directory:

* ``create``: write a new small file;
* ``remove``: remove a lower file (a whiteout);
* ``append``: append to a lower file (a copy-up);
* ``move``: rename a lower file within the directory (copy-up and whiteout);
* ``setinfo``: set the modification time of a lower file (a metadata-only
  copy-up).

The same operation on the layer alone is the reference: a write, remove,
rename or ``setinfo`` on an FS of the same type holding the same ``N`` files,
and for the copy-up ``fs.copy.copy_file`` from the lower plus the append.
For ``move`` and ``setinfo``, which copy the lower file up first, the last
column also compares with the layer's operation on a copy made by
``fs.copy.copy_file``. Every change uses a file no earlier sample touched. Each figure is the
minimum over interleaved rounds (overlay and layer in turn, the order of the
changes reversed every other round) of the mean of a few calls with the
garbage collector paused, so it shows what the code costs, not what the
machine was busy with.

Targets: the cost at the largest size within 1.5x of the cost at the
smallest (the cost does not grow with the directory), and within 5x of the
reference: the layer's own operation, or, for a change that copies a lower
file up (append, move, setinfo), ``fs.copy.copy_file`` plus the layer's
operation (a copy-up of a small file is measured against a copy).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import typing

import attrs
import fs.copy
from fs.base import FS

from unionfs_lib import OverlayFS

from .run import Backend, MemoryBackend, OSBackend, fmt_ratio, fmt_time, machine, print_table

DIRECTORY = "/big"
CHANGES = ("create", "remove", "append", "move", "setinfo")
GROWTH_TARGET = 1.5
LAYER_TARGET = 5.0


@attrs.frozen
class Sizes:
    """Directory sizes, rounds, and calls per timing sample."""

    entries: tuple[int, ...] = (1_000, 10_000, 100_000)
    rounds: int = 15
    calls: int = 10


FULL = Sizes()
TINY = Sizes(entries=(60, 240), rounds=2, calls=3)


def lower_name(index: int) -> str:
    """Return the path of lower file ``index``."""
    return f"{DIRECTORY}/l{index:06d}"


@attrs.define
class Scene:
    """One directory size on one backend: the overlay, and the plain layer to compare with.

    ``lower`` and ``plain`` both hold ``entries`` files in :data:`DIRECTORY`;
    each change takes lower file indices from its own sequence, so no two
    calls touch the same file.
    """

    backend: Backend
    entries: int
    lower: FS
    upper: FS
    plain: FS
    overlay: OverlayFS
    _fresh: dict[str, typing.Iterator[int]] = attrs.field(factory=dict)

    @classmethod
    def build(cls, backend: Backend, entries: int) -> Scene:
        """Fill the layers, then warm the overlay (one listing, one copy-up)."""
        names = [f"l{index:06d}" for index in range(entries)]
        lower, upper, plain = backend.new(), backend.new(), backend.new()
        backend.files(lower, DIRECTORY, names)
        backend.files(plain, DIRECTORY, names)
        overlay = OverlayFS(upper, [lower])
        scene = cls(backend, entries, lower, upper, plain, overlay)
        for position, change in enumerate(CHANGES):
            scene._fresh[change] = iter(range(position + len(CHANGES), entries, len(CHANGES)))
        overlay.listdir(DIRECTORY)
        overlay.appendbytes(lower_name(0), b"warm")  # the directory is in the upper now
        overlay.exists(lower_name(0))
        return scene

    def fresh(self, change: str) -> int:
        """Return a lower file index that ``change`` has not used yet."""
        return next(self._fresh[change])

    def close(self) -> None:
        """Close the overlay and dispose of the layers."""
        self.overlay.close()
        for layer in (self.lower, self.upper, self.plain):
            self.backend.dispose(layer)

    # -- one change through the overlay, then one lookup ------------------------

    def through_overlay(self, change: str, index: int) -> None:
        """Make ``change`` on lower file ``index`` through the overlay, then look it up."""
        overlay, path = self.overlay, lower_name(index)
        if change == "create":
            path = f"{DIRECTORY}/new{index:06d}"
            overlay.writebytes(path, b"new")
        elif change == "remove":
            overlay.remove(path)
        elif change == "append":
            overlay.appendbytes(path, b"+")
        elif change == "move":
            overlay.move(path, f"{DIRECTORY}/moved{index:06d}")
            path = f"{DIRECTORY}/moved{index:06d}"
        elif change == "setinfo":
            overlay.setinfo(path, {"details": {"modified": 1234567890.0}})
        overlay.exists(path)

    def on_layer(self, change: str, index: int) -> None:
        """Make the same change on the plain layer alone, then look it up."""
        plain, path = self.plain, lower_name(index)
        if change == "create":
            path = f"{DIRECTORY}/new{index:06d}"
            plain.writebytes(path, b"new")
        elif change == "remove":
            plain.remove(path)
        elif change == "append":
            path = f"{DIRECTORY}/copy{index:06d}"
            fs.copy.copy_file(self.lower, lower_name(index), plain, path)
            plain.appendbytes(path, b"+")
        elif change == "move":
            plain.move(path, f"{DIRECTORY}/moved{index:06d}")
            path = f"{DIRECTORY}/moved{index:06d}"
        elif change == "setinfo":
            plain.setinfo(path, {"details": {"modified": 1234567890.0}})
        plain.exists(path)

    def copy_up_on_layer(self, change: str, index: int) -> None:
        """The layer's operation done on a copy of the lower file (``fs.copy.copy_file``).

        What a change that copies up does: ``move`` and ``setinfo`` of a lower
        file copy it (``setinfo`` its metadata only) before changing it.
        """
        plain, path = self.plain, f"{DIRECTORY}/copy{index:06d}"
        fs.copy.copy_file(self.lower, lower_name(index), plain, path)
        if change == "move":
            plain.move(path, f"{DIRECTORY}/copy-moved{index:06d}")
            path = f"{DIRECTORY}/copy-moved{index:06d}"
        elif change == "setinfo":
            plain.setinfo(path, {"details": {"modified": 1234567890.0}})
        plain.exists(path)


#: Changes that copy up, also compared with the layer's operation on a copy.
COPYING = ("move", "setinfo")
OVERLAY, LAYER, COPY = "overlay", "layer", "copy"


def sample(scene: Scene, change: str, side: str, indices: list[int]) -> float:
    """Mean seconds of ``change`` on each of ``indices``, garbage collector paused.

    ``side`` is :data:`OVERLAY`, :data:`LAYER` or :data:`COPY` (the layer's
    operation on a copy of the file).
    """
    run = {
        OVERLAY: scene.through_overlay,
        LAYER: scene.on_layer,
        COPY: scene.copy_up_on_layer,
    }[side]
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for index in indices:
            run(change, index)
        return (time.perf_counter() - start) / len(indices)
    finally:
        if enabled:
            gc.enable()


def measure(scene: Scene, sizes: Sizes) -> dict[tuple[str, str], float]:
    """Best per-change time of every change on every side, over interleaved rounds."""
    best: dict[tuple[str, str], float] = {}
    for round_ in range(sizes.rounds):
        order = CHANGES if round_ % 2 == 0 else tuple(reversed(CHANGES))
        for change in order:
            # The overlay and the plain layer are separate FSes: the same files serve both.
            indices = [scene.fresh(change) for _ in range(sizes.calls)]
            for side in (OVERLAY, LAYER, COPY) if change in COPYING else (OVERLAY, LAYER):
                took = sample(scene, change, side, indices)
                key = (change, side)
                best[key] = min(best.get(key, took), took)
    return best


def report(backend: str, sizes: Sizes, results: dict[int, dict[tuple[str, str], float]]) -> bool:
    """Print one backend's table; return whether every target was met."""
    small, large = min(sizes.entries), max(sizes.entries)
    header = ["change"]
    header += [f"overlay {entries:,}" for entries in sizes.entries]
    header += [f"layer {entries:,}" for entries in sizes.entries]
    header += [
        f"growth {large:,}/{small:,} (<={GROWTH_TARGET}x)",
        "vs layer op",
        "vs copy + layer op",
        f"vs reference (<={LAYER_TARGET}x)",
    ]
    rows, met = [], True
    for change in CHANGES:
        overlay = [results[entries][(change, OVERLAY)] for entries in sizes.entries]
        layer = [results[entries][(change, LAYER)] for entries in sizes.entries]
        growth = overlay[-1] / overlay[0]
        copied = results[large].get((change, COPY))
        # A change that copies a lower file up is measured against the copy
        # plus the layer's operation (append's layer side is that already).
        ratio = overlay[-1] / (copied or layer[-1])
        ok_growth, ok_ratio = growth <= GROWTH_TARGET, ratio <= LAYER_TARGET
        met = met and ok_growth and ok_ratio
        rows.append(
            [change, *map(fmt_time, overlay), *map(fmt_time, layer),
             f"{fmt_ratio(growth)} {'yes' if ok_growth else 'NO'}",
             fmt_ratio(overlay[-1] / layer[-1]),
             fmt_ratio(overlay[-1] / copied) if copied else "-",
             f"{fmt_ratio(ratio)} {'yes' if ok_ratio else 'NO'}"]
        )
    title = f"{backend}: one change + one exists() in a directory of N lower files"
    print_table(title, header, rows)
    return met


def main(argv: list[str] | None = None) -> int:
    """Run every size on every backend and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes (seconds)")
    parser.add_argument("--backends", default="memory,osfs", help="comma-separated: memory, osfs")
    parser.add_argument("--tmpdir", help="where OSFS layers are made (default: system temp)")
    args = parser.parse_args(argv)
    sizes = TINY if args.tiny else FULL
    print(f"unionfs_lib change costs ({'tiny' if args.tiny else 'full'} size)")
    print(f"machine: {machine()}")
    print(f"command: python -m benchmarks.changes_cost {' '.join(argv or sys.argv[1:])}".rstrip())
    all_met = True
    for name in args.backends.split(","):
        backend: Backend = MemoryBackend() if name == "memory" else OSBackend(args.tmpdir)
        results = {}
        try:
            for entries in sizes.entries:
                scene = Scene.build(backend, entries)
                try:
                    results[entries] = measure(scene, sizes)
                finally:
                    scene.close()
                print(f"  {backend.name} {entries:,} entries measured", file=sys.stderr, flush=True)
        finally:
            backend.close()
        all_met = report(backend.name, sizes, results) and all_met
    print()
    print("every target met" if all_met else "some targets NOT met (see NO above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
