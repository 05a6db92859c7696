"""Measure OverlayFS against direct layer access and ``fs.multifs.MultiFS`` in one run.

Usage::

    python -m benchmarks.run            # full size (a few minutes)
    python -m benchmarks.run --tiny     # smoke size (a few seconds)

Every figure is the minimum over several repeats of a ``time.perf_counter``
loop (with the garbage collector paused), so it shows what the code costs,
not what the machine was busy with. Each result is printed as a ratio to the
direct call on the layer that holds the entry, with the same layer objects
behind the direct call, the ``MultiFS`` and the ``OverlayFS``:

* ``getinfo``/``exists``/``readbytes`` of a file in the bottom lower layer
  and in the upper; ``exists`` of a missing path;
* ``listdir`` of a directory present in every layer with 1,000 entries each,
  against the SUM of the layers' own ``listdir`` calls (warm: the overlay's
  caches are filled, as they are after first use; cold: every call starts
  from empty caches);
* ``walk`` of a 10,000-file tree and ``iterdir``/``scandir`` of a directory
  of 100,000 entries (both in the bottom layer);
* copy-up of a 256 MiB file against ``fs.copy.copy_file`` between the same
  two FS types, with the peak of traced memory at two file sizes;
* ``movedir`` of a lower directory of 1,000 and 100,000 files;
* an overlay nested 500 deep against the same layers given flat;
* opening an overlay over an upper of 100,000 entries (a third of them
  copied up) against opening it over a small upper (one file copied up);
* the traced bytes the lookup caches keep per entry after a walk of a lower
  of 1,000,000 entries (1,000 directories of 999 files) at full size, on
  each backend and as a zip archive.

The layer count ``N`` is the number of lower layers under one upper.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import tracemalloc
import typing
import zipfile
from dataclasses import dataclass

import attrs
import fs.copy
from fs.base import FS
from fs.memoryfs import MemoryFS
from fs.multifs import MultiFS
from fs.osfs import OSFS
from fs.zipfs import ReadZipFS

from unionfs_lib import OverlayFS
from unionfs_lib.resolve.resolver import DEFAULT_DIR_BUDGET, DEFAULT_LISTING_BUDGET

MiB = 1 << 20


@dataclass(frozen=True)
class Sizes:
    """How big each case is and how long each timing sample runs."""

    ns: tuple[int, ...] = (1, 10, 100, 500)
    listdir_entries: int = 1_000
    walk_files: int = 10_000
    copy_bytes: int = 256 * MiB
    movedir_files: int = 100_000
    iterdir_entries: int = 100_000
    nested_depth: int = 500
    memory_entries: int = 1_000_000
    repeats: int = 15
    min_time: float = 0.005


FULL = Sizes()
TINY = Sizes(
    ns=(1, 3),
    listdir_entries=20,
    walk_files=60,
    copy_bytes=1 * MiB,
    movedir_files=200,
    iterdir_entries=200,
    nested_depth=30,
    memory_entries=400,
    repeats=2,
    min_time=0.001,
)


# -- timing --------------------------------------------------------------------


def _sample(fn: typing.Callable[[], object], loops: int) -> float:
    """Time ``loops`` calls of ``fn`` with the garbage collector paused."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in itertools.repeat(None, loops):
            fn()
        return time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()


def _calibrate(fn: typing.Callable[[], object], sizes: Sizes) -> tuple[int, float]:
    """Find a loop count whose sample lasts at least ``min_time``; return it and the time."""
    loops = 1
    elapsed = _sample(fn, loops)
    while elapsed < sizes.min_time:
        loops *= max(2, min(100, int(sizes.min_time / max(elapsed, 1e-9) * 1.2) + 1))
        elapsed = _sample(fn, loops)
    return loops, elapsed


def bench_group(fns: typing.Sequence[typing.Callable[[], object]], sizes: Sizes) -> list[float]:
    """Best time per call of each of ``fns`` (seconds), min over interleaved rounds.

    The functions are sampled in turn, round after round, so that a burst of
    load from elsewhere on the machine hits all of them alike; the minimum of
    each is what the code costs. Slow cases (a sample over a quarter of a
    second) get fewer rounds, a sample over five seconds just one.
    """
    calibrated = [_calibrate(fn, sizes) for fn in fns]
    best = [elapsed / loops for loops, elapsed in calibrated]
    slowest = max(elapsed for _, elapsed in calibrated)
    if slowest > 5.0:
        rounds = 0
    elif slowest > 0.25:
        rounds = min(2, sizes.repeats - 1)
    else:
        rounds = sizes.repeats - 1
    for round_ in range(rounds):
        order = list(range(len(fns)))
        if round_ % 2:
            order.reverse()
        for index in order:
            loops = calibrated[index][0]
            best[index] = min(best[index], _sample(fns[index], loops) / loops)
    return best


def bench(fn: typing.Callable[[], object], sizes: Sizes) -> float:
    """Return the best time per call of ``fn`` (seconds), min over repeats."""
    return bench_group([fn], sizes)[0]


_STARTED = time.perf_counter()


def progress(message: str) -> None:
    """Report progress on stderr with the elapsed time."""
    print(f"  [{time.perf_counter() - _STARTED:6.0f} s] {message}", file=sys.stderr, flush=True)


Case = typing.Tuple[
    typing.Callable[[], typing.Any],
    typing.Callable[[typing.Any], object],
    typing.Callable[[typing.Any], object],
]


def bench_once(cases: typing.Sequence[Case], repeats: int) -> list[float]:
    """Best time of each ``fn(state)``, a fresh ``setup()`` per run, cases interleaved."""
    best = [float("inf")] * len(cases)
    for _ in range(repeats):
        for index, (setup, fn, teardown) in enumerate(cases):
            state = setup()
            try:
                gc.collect()
                start = time.perf_counter()
                fn(state)
                best[index] = min(best[index], time.perf_counter() - start)
            finally:
                teardown(state)
    return best


def traced_peak(
    setup: typing.Callable[[], typing.Any],
    fn: typing.Callable[[typing.Any], object],
    teardown: typing.Callable[[typing.Any], object],
) -> int:
    """Peak bytes allocated (as seen by ``tracemalloc``) while ``fn(state)`` runs."""
    state = setup()
    try:
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            fn(state)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    finally:
        teardown(state)
    return peak - base


# -- layers --------------------------------------------------------------------


class Backend:
    """Makes empty layers of one FS type and fills them quickly."""

    name = "?"

    def new(self) -> FS:
        """Return a new empty layer."""
        raise NotImplementedError

    def dispose(self, layer: FS) -> None:
        """Close ``layer`` and free what it holds."""
        layer.close()

    def files(self, layer: FS, directory: str, names: typing.Iterable[str]) -> None:
        """Create empty files ``names`` in ``directory`` (made if missing)."""
        layer.makedirs(directory, recreate=True)
        for name in names:
            layer.create(f"{directory.rstrip('/')}/{name}")

    def close(self) -> None:
        """Free everything this backend made."""


class MemoryBackend(Backend):
    """``fs.memoryfs.MemoryFS`` layers."""

    name = "memory"

    def new(self) -> FS:
        """Return a new MemoryFS."""
        return MemoryFS()


class OSBackend(Backend):
    """``fs.osfs.OSFS`` layers in directories on local disk."""

    name = "osfs"

    def __init__(self, parent: str | None) -> None:
        """Make a scratch directory under ``parent`` (the system temp dir by default)."""
        self.root = tempfile.mkdtemp(prefix="unionfs-bench-", dir=parent)
        self._count = 0

    def new(self) -> FS:
        """Return an OSFS on a new empty directory."""
        self._count += 1
        path = os.path.join(self.root, f"layer{self._count}")
        os.mkdir(path)
        return OSFS(path)

    def dispose(self, layer: FS) -> None:
        """Close the OSFS and delete its directory."""
        path = layer.getsyspath("/")
        layer.close()
        shutil.rmtree(path, ignore_errors=True)

    def files(self, layer: FS, directory: str, names: typing.Iterable[str]) -> None:
        """Create the files with plain OS calls (much faster than through FS)."""
        base = layer.getsyspath(directory)
        os.makedirs(base, exist_ok=True)
        flags = os.O_CREAT | os.O_WRONLY
        for name in names:
            os.close(os.open(os.path.join(base, name), flags, 0o644))

    def close(self) -> None:
        """Delete the scratch directory."""
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Layers:
    """One backend's shared lower layers: fillers on top of one bottom layer."""

    bottom: FS
    fillers: list[FS]

    def lowers(self, n: int) -> list[FS]:
        """The ``n`` lower layers, top-most first: ``n - 1`` fillers, then the bottom."""
        return [*self.fillers[: n - 1], self.bottom]


SMALL_FILE = os.urandom(4096)


def build_layers(backend: Backend, sizes: Sizes) -> Layers:
    """Create the bottom layer (every big case lives there) and the fillers."""
    bottom = backend.new()
    bottom.makedir("/data")
    bottom.writebytes("/data/bottom.bin", SMALL_FILE)
    backend.files(bottom, "/merged", (f"b-{i:05d}" for i in range(sizes.listdir_entries)))
    per_dir = max(1, int(sizes.walk_files**0.5))
    for d in range(sizes.walk_files // per_dir):
        backend.files(bottom, f"/tree/d{d:04d}", (f"f{i:04d}" for i in range(per_dir)))
    backend.files(bottom, "/iter", (f"e{i:06d}" for i in range(sizes.iterdir_entries)))
    for count in movedir_counts(sizes):
        backend.files(bottom, f"/move{count}", (f"m{i:06d}" for i in range(count)))
    fillers = []
    for index in range(max(sizes.ns) - 1):
        layer = backend.new()
        layer.makedir("/data")
        layer.writebytes(f"/data/filler{index}.bin", b"x")
        backend.files(
            layer, "/merged", (f"l{index:03d}-{i:05d}" for i in range(sizes.listdir_entries))
        )
        fillers.append(layer)
    return Layers(bottom, fillers)


def movedir_counts(sizes: Sizes) -> tuple[int, int]:
    """The two directory sizes ``movedir`` is measured at."""
    return max(1, sizes.movedir_files // 100), sizes.movedir_files


def new_upper(backend: Backend, sizes: Sizes) -> FS:
    """A fresh upper with a file and its own share of the merged directory."""
    upper = backend.new()
    upper.makedir("/data")
    upper.writebytes("/data/top.bin", SMALL_FILE)
    backend.files(upper, "/merged", (f"u-{i:05d}" for i in range(sizes.listdir_entries)))
    return upper


def multifs(upper: FS, lowers: list[FS]) -> MultiFS:
    """A MultiFS searching ``upper`` first, then ``lowers`` top-first."""
    multi = MultiFS(auto_close=False)
    for index, layer in enumerate(reversed(lowers)):
        multi.add_fs(f"lower{index}", layer)
    multi.add_fs("upper", upper, write=True)
    return multi


# -- results -------------------------------------------------------------------


@dataclass
class Row:
    """One measured operation: absolute direct time and the two ratios."""

    backend: str
    n: int
    op: str
    direct: float
    multi: float | None
    overlay: float
    target: str = ""
    note: str = ""

    def met(self) -> str:
        """Check the overlay ratio against the target (``<=1.5`` style)."""
        if not self.target.startswith("<="):
            return ""
        return "yes" if self.overlay / self.direct <= float(self.target[2:]) else "NO"


def fmt_time(seconds: float) -> str:
    """Format seconds with a unit that keeps three digits."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_size(size: int) -> str:
    """Format a byte count in MiB (or KiB below one MiB)."""
    return f"{size // MiB} MiB" if size >= MiB else f"{size // 1024} KiB"


def fmt_ratio(value: float | None) -> str:
    """Format a ratio like ``1.23x``."""
    if value is None:
        return "-"
    return f"{value:.2f}x" if value < 100 else f"{value:.0f}x"


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """Print an aligned plain-text table (reStructuredText 'simple table')."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    rule = "  ".join("=" * width for width in widths)
    print()
    print(title)
    print()
    print(rule)
    print("  ".join(cell.ljust(width) for cell, width in zip(header, widths)).rstrip())
    print(rule)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    print(rule)
    sys.stdout.flush()


# -- the cases -----------------------------------------------------------------


def layered_cases(backend: Backend, layers: Layers, sizes: Sizes) -> list[Row]:
    """Lookups, reads and listings for every N, direct vs MultiFS vs OverlayFS."""
    rows: list[Row] = []
    for n in sizes.ns:
        rows += layered_for_n(backend, layers, sizes, n)
        progress(f"{backend.name} N={n} done")
    return rows


def layered_for_n(backend: Backend, layers: Layers, sizes: Sizes, n: int) -> list[Row]:
    """The layered cases with ``n`` lower layers."""
    rows: list[Row] = []
    lowers = layers.lowers(n)
    upper = new_upper(backend, sizes)
    multi = multifs(upper, lowers)
    overlay = OverlayFS(upper, lowers, auto_close=False)
    bottom = layers.bottom
    small_target = "<=1.5" if n == 1 else "<=2"
    all_layers = [upper, *lowers]

    def row(
        op: str,
        direct: typing.Callable[[], object],
        multi_fn: typing.Callable[[], object] | None,
        over: typing.Callable[[], object],
        target: str = "",
    ) -> None:
        over()  # first use fills the overlay's caches
        if multi_fn is None:
            (d, o), m = bench_group([direct, over], sizes), None
        else:
            d, m, o = bench_group([direct, multi_fn, over], sizes)
        rows.append(Row(backend.name, n, op, d, m, o, target))

    b, t, gone = "/data/bottom.bin", "/data/top.bin", "/data/missing.bin"
    row(
        "getinfo bottom",
        lambda: bottom.getinfo(b),
        lambda: multi.getinfo(b),
        lambda: overlay.getinfo(b),
        small_target,
    )
    row(
        "exists bottom",
        lambda: bottom.exists(b),
        lambda: multi.exists(b),
        lambda: overlay.exists(b),
    )
    row(
        "readbytes bottom",
        lambda: bottom.readbytes(b),
        lambda: multi.readbytes(b),
        lambda: overlay.readbytes(b),
        "<=1.1",
    )
    row(
        "getinfo upper",
        lambda: upper.getinfo(t),
        lambda: multi.getinfo(t),
        lambda: overlay.getinfo(t),
        "<=1.2",
    )
    row(
        "readbytes upper",
        lambda: upper.readbytes(t),
        lambda: multi.readbytes(t),
        lambda: overlay.readbytes(t),
        "<=1.2",
    )
    row(
        "exists missing",
        lambda: bottom.exists(gone),
        lambda: multi.exists(gone),
        lambda: overlay.exists(gone),
        "<=2",
    )

    def sum_listdir() -> None:
        for layer in all_layers:
            layer.listdir("/merged")

    def sum_scandir() -> None:
        # what a cold listing reads: the upper's names, the lowers' details
        for _ in upper.scandir("/merged"):
            pass
        for layer in lowers:
            for _ in layer.scandir("/merged", namespaces=["details"]):
                pass

    def cold_listdir() -> None:
        overlay.invalidate()
        overlay.listdir("/merged")

    row(
        "listdir merged, warm",
        sum_listdir,
        lambda: multi.listdir("/merged"),
        lambda: overlay.listdir("/merged"),
        "<=1.5",
    )
    merged_entries = (n + 1) * sizes.listdir_entries
    budget = min(DEFAULT_LISTING_BUDGET, DEFAULT_DIR_BUDGET)
    if merged_entries > budget:
        # The merged directory is larger than the default cache budget, so the
        # row above re-merges on every call; show what a larger budget gives.
        big = OverlayFS(upper, lowers, auto_close=False)
        sb = big._sb
        sb.replace_lowers(
            sb.lowers,
            attrs.evolve(
                sb.resolver, listing_budget=4 * merged_entries, dir_budget=4 * merged_entries
            ),
        )
        row(
            f"listdir merged, warm, {4 * merged_entries // 1000}k-entry caches",
            sum_listdir,
            None,
            lambda: big.listdir("/merged"),
            "<=1.5",
        )
        big.close()
    row(
        "listdir merged, cold (vs the layers' scandir)",
        sum_scandir,
        None,
        cold_listdir,
        "<=2",
    )

    def walk(target: FS) -> typing.Callable[[], object]:
        return lambda: sum(1 for _ in target.walk.files("/tree"))

    row(f"walk {sizes.walk_files} files", walk(bottom), walk(multi), walk(overlay))

    def scan(target: FS) -> typing.Callable[[], object]:
        return lambda: sum(1 for _ in target.scandir("/iter"))

    if n in (min(sizes.ns), max(sizes.ns)):  # slow (see README), so not at every N
        row(
            f"iterdir {sizes.iterdir_entries}",
            scan(bottom),
            scan(multi),
            lambda: sum(1 for _ in overlay.iterdir("/iter")),
            "<=1.3",
        )
    row(f"scandir {sizes.iterdir_entries}", scan(bottom), scan(multi), scan(overlay), "<=1.3")

    overlay.close()
    multi.close()
    backend.dispose(upper)
    return rows


@dataclass
class CopyResult:
    """Copy-up against ``copy_file`` at one file size."""

    backend: str
    size: int
    direct: float
    overlay: float
    direct_peak: int
    overlay_peak: int


def copy_cases(backend: Backend, sizes: Sizes) -> list[CopyResult]:
    """Copy-up of a big bottom-layer file vs ``fs.copy.copy_file`` to the same FS type."""
    results = [copy_at(backend, sizes, size) for size in (sizes.copy_bytes // 4, sizes.copy_bytes)]
    progress(f"{backend.name} copy-up done")
    return results


def copy_at(backend: Backend, sizes: Sizes, size: int) -> CopyResult:
    """Copy-up vs ``copy_file`` of one file of ``size`` bytes."""
    block = os.urandom(MiB)
    source = backend.new()
    with source.openbin("/big.bin", "w") as handle:
        for offset in range(0, size, MiB):
            handle.write(block[: size - offset])

    def plain_setup() -> FS:
        return backend.new()

    def plain(dst: FS) -> None:
        fs.copy.copy_file(source, "/big.bin", dst, "/big.bin")

    def overlay_setup() -> OverlayFS:
        return OverlayFS(backend.new(), [source], auto_close=False)

    def copy_up(overlay: OverlayFS) -> None:
        with overlay.openbin("/big.bin", "r+b") as handle:
            handle.write(block[:1])

    def overlay_teardown(overlay: OverlayFS) -> None:
        upper = overlay.upper
        overlay.close()
        assert upper is not None
        backend.dispose(upper)

    direct, over = bench_once(
        [(plain_setup, plain, backend.dispose), (overlay_setup, copy_up, overlay_teardown)],
        min(5, sizes.repeats),
    )
    direct_peak = traced_peak(plain_setup, plain, backend.dispose)
    over_peak = traced_peak(overlay_setup, copy_up, overlay_teardown)
    backend.dispose(source)
    return CopyResult(backend.name, size, direct, over, direct_peak, over_peak)


@dataclass
class MoveResult:
    """``movedir`` of a bottom-layer directory of ``files`` files."""

    backend: str
    files: int
    direct: float
    multi: str
    overlay: float


def movedir_cases(backend: Backend, layers: Layers, sizes: Sizes) -> list[MoveResult]:
    """Rename a lower directory through the overlay; the direct FS moves a copy."""
    results = [move_at(backend, layers, sizes, count) for count in movedir_counts(sizes)]
    progress(f"{backend.name} movedir done")
    return results


def move_at(backend: Backend, layers: Layers, sizes: Sizes, count: int) -> MoveResult:
    """``movedir`` of the bottom layer's directory of ``count`` files."""
    src = f"/move{count}"

    def direct_setup() -> FS:
        scratch = backend.new()
        backend.files(scratch, src, (f"m{i:06d}" for i in range(count)))
        return scratch

    def direct(scratch: FS) -> None:
        scratch.movedir(src, "/moved", create=True)

    def overlay_setup() -> OverlayFS:
        return OverlayFS(backend.new(), [layers.bottom], auto_close=False)

    def over(overlay: OverlayFS) -> None:
        overlay.movedir(src, "/moved", create=True)

    def overlay_teardown(overlay: OverlayFS) -> None:
        upper = overlay.upper
        overlay.close()
        assert upper is not None
        backend.dispose(upper)

    (direct_time,) = bench_once([(direct_setup, direct, backend.dispose)], 1)
    (over_time,) = bench_once([(overlay_setup, over, overlay_teardown)], sizes.repeats)
    multi_note = "-"
    if count == movedir_counts(sizes)[0]:
        upper = backend.new()
        multi = multifs(upper, [layers.bottom])
        start = time.perf_counter()
        try:
            multi.movedir(src, "/moved", create=True)
            multi_note = fmt_time(time.perf_counter() - start)
        except Exception as error:  # noqa: BLE001 - we report whatever MultiFS does
            multi_note = f"fails: {type(error).__name__}"
        multi.close()
        backend.dispose(upper)
    return MoveResult(backend.name, count, direct_time, multi_note, over_time)


@dataclass
class OpenResult:
    """Opening an overlay over a large upper vs over a small one (one file copied up)."""

    backend: str
    entries: int
    small: float
    full: float


def open_cases(backend: Backend, layers: Layers, sizes: Sizes) -> list[OpenResult]:
    """Open an overlay over an upper of ``iterdir_entries`` entries (a third copied up).

    The small upper also had a copy-up, so both have a work area to clean.
    """
    count = sizes.iterdir_entries
    small, full = backend.new(), backend.new()
    lower = layers.bottom
    backend.files(full, "/iter", (f"u{i:06d}" for i in range(count - count // 3)))
    for upper, copied in ((small, 1), (full, count // 3)):
        filler = OverlayFS(upper, [lower], auto_close=False)
        for index in range(copied):  # copied up: each with its identity record
            filler.appendbytes(f"/iter/e{index:06d}", b"+")
        filler.close()

    def opener(upper: FS) -> typing.Callable[[], object]:
        return lambda: OverlayFS(upper, [lower], auto_close=False)

    small_time, full_time = bench_group([opener(small), opener(full)], sizes)
    backend.dispose(small)
    backend.dispose(full)
    progress(f"{backend.name} open done")
    return [OpenResult(backend.name, count, small_time, full_time)]


@dataclass
class MemoryResult:
    """Traced bytes the lookup caches keep per cached lower entry after a walk."""

    backend: str
    entries: int
    bytes_per_entry: float


def memory_tree(sizes: Sizes) -> typing.Iterator[tuple[str, list[str]]]:
    """Yield ``(directory, file names)`` of the memory case's tree: ``memory_entries`` in all."""
    per_dir = max(2, math.isqrt(sizes.memory_entries))
    for d in range(sizes.memory_entries // per_dir):
        yield f"/d{d:04d}", [f"f{i:04d}" for i in range(per_dir - 1)]


def memory_cases(backend: Backend, sizes: Sizes) -> list[MemoryResult]:
    """Walk a lower of ``memory_entries`` entries through a fresh overlay; bytes kept per entry."""
    lower = backend.new()
    for directory, names in memory_tree(sizes):
        backend.files(lower, directory, names)
    found = [measure_memory(backend.name, lower, backend.new())]
    backend.dispose(lower)
    progress(f"{backend.name} memory done")
    return found


def zip_memory_case(sizes: Sizes, tmpdir: str | None) -> MemoryResult:
    """The memory case over a zip archive of the same tree (a ``ReadZipFS`` lower)."""
    with tempfile.TemporaryDirectory(prefix="unionfs-bench-", dir=tmpdir) as scratch:
        path = os.path.join(scratch, "lower.zip")
        with zipfile.ZipFile(path, "w") as archive:
            for directory, names in memory_tree(sizes):
                archive.writestr(directory.lstrip("/") + "/", b"")
                for name in names:
                    archive.writestr(f"{directory.lstrip('/')}/{name}", b"")
        lower = ReadZipFS(path)
        try:
            result = measure_memory("zip", lower, MemoryFS())
        finally:
            lower.close()
    progress("zip memory done")
    return result


def measure_memory(name: str, lower: FS, upper: FS) -> MemoryResult:
    """Walk all of ``lower`` through an overlay over ``upper``; traced bytes kept per entry.

    The caches get room for every entry, so the figure is what one cached
    entry costs, not what an eviction left.
    """
    entries = sum(1 for _ in lower.walk.info("/"))  # also warms the layer's own state
    overlay = OverlayFS(upper, [lower], auto_close=False, cache_entries=4 * entries + 1024)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        walked = sum(1 for _ in overlay.walk.info("/"))
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert walked == entries, (walked, entries)
    cached = overlay._sb.resolver._listings.weight
    assert cached >= entries, (cached, entries)  # nothing was evicted
    overlay.close()
    upper.close()
    return MemoryResult(name, entries, kept / max(1, entries))


@dataclass
class NestedResult:
    """One operation on an overlay nested ``depth`` deep vs the same layers flat."""

    op: str
    direct: float
    flat: float
    nested: float | None
    note: str


def nested_cases(sizes: Sizes) -> list[NestedResult]:
    """Overlays nested ``nested_depth`` deep (MemoryFS layers) vs the flat equivalent."""
    base = MemoryFS()
    base.makedir("/data")
    base.writebytes("/data/bottom.bin", SMALL_FILE)
    uppers = []
    current: FS = base
    note = ""
    nested: FS | None = None
    try:
        for level in range(sizes.nested_depth):
            upper = MemoryFS()
            upper.makedir("/data")
            upper.writebytes(f"/data/level{level}.bin", b"x")
            uppers.append(upper)
            current = OverlayFS(upper, [current], auto_close=False)
        nested = current
        nested.getinfo("/data/bottom.bin")
    except RecursionError:
        nested, note = None, "RecursionError"
    flat_uppers = [*uppers]
    flat = OverlayFS(flat_uppers[-1], [*reversed(flat_uppers[:-1]), base], auto_close=False)
    path = "/data/bottom.bin"
    calls: list[tuple[str, typing.Callable[[FS], object]]] = [
        ("getinfo bottom", lambda target: target.getinfo(path)),
        ("exists bottom", lambda target: target.exists(path)),
        ("readbytes bottom", lambda target: target.readbytes(path)),
        ("listdir /data", lambda target: target.listdir("/data")),
    ]
    return [nested_op(sizes, op, call, base, flat, nested, note) for op, call in calls]


def nested_op(
    sizes: Sizes,
    op: str,
    call: typing.Callable[[FS], object],
    base: FS,
    flat: FS,
    nested: FS | None,
    note: str,
) -> NestedResult:
    """Time one operation on the base layer, the flat overlay and the nested one."""
    call(flat)
    if nested is None:
        direct, flat_time = bench_group([lambda: call(base), lambda: call(flat)], sizes)
        return NestedResult(op, direct, flat_time, None, note)
    call(nested)
    direct, flat_time, nested_time = bench_group(
        [lambda: call(base), lambda: call(flat), lambda: call(nested)], sizes
    )
    return NestedResult(op, direct, flat_time, nested_time, note)


# -- main ----------------------------------------------------------------------


def machine() -> str:
    """Describe the machine: cores, CPU model, Python version."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"nproc={os.cpu_count()}, CPU: {model}, "
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.release()}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run every case and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes (seconds)")
    parser.add_argument("--backends", default="memory,osfs", help="comma-separated: memory, osfs")
    parser.add_argument("--ns", help="comma-separated lower-layer counts (default 1,10,100,500)")
    parser.add_argument("--tmpdir", help="where OSFS layers are made (default: system temp)")
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated sections to skip: layered,copy,movedir,nested,open,memory",
    )
    args = parser.parse_args(argv)
    sizes = TINY if args.tiny else FULL
    if args.ns:
        sizes = Sizes(**{**sizes.__dict__, "ns": tuple(int(n) for n in args.ns.split(","))})
    skip = set(filter(None, args.skip.split(",")))
    started = time.perf_counter()
    print(f"unionfs_lib benchmarks ({'tiny' if args.tiny else 'full'} size)")
    print(f"machine: {machine()}")
    print(f"command: python -m benchmarks.run {' '.join(argv or sys.argv[1:])}".rstrip())
    layered: list[Row] = []
    copies: list[CopyResult] = []
    moves: list[MoveResult] = []
    opens: list[OpenResult] = []
    memories: list[MemoryResult] = []
    for name in args.backends.split(","):
        backend: Backend = MemoryBackend() if name == "memory" else OSBackend(args.tmpdir)
        try:
            if not {"layered", "movedir", "open"} <= skip:
                layers = build_layers(backend, sizes)
                progress(f"{backend.name} layers built")
                if "layered" not in skip:
                    layered += layered_cases(backend, layers, sizes)
                if "open" not in skip:
                    opens += open_cases(backend, layers, sizes)
                if "movedir" not in skip:
                    moves += movedir_cases(backend, layers, sizes)
            if "memory" not in skip:
                memories += memory_cases(backend, sizes)
            if "copy" not in skip:
                copies += copy_cases(backend, sizes)
        finally:
            backend.close()
    if "memory" not in skip:
        memories.append(zip_memory_case(sizes, args.tmpdir))
    if layered:
        print_table(
            "Ratios to direct access (min of repeats; direct = the layer holding the entry)",
            [
                "backend",
                "N",
                "operation",
                "direct",
                "MultiFS/direct",
                "overlay/direct",
                "target",
                "met",
            ],
            [
                [
                    r.backend,
                    str(r.n),
                    r.op,
                    fmt_time(r.direct),
                    fmt_ratio(r.multi / r.direct if r.multi is not None else None),
                    fmt_ratio(r.overlay / r.direct),
                    r.target.replace("<=", "<= ") + "x" if r.target else "",
                    r.met(),
                ]
                for r in layered
            ],
        )
    if opens:
        print_table(
            "Opening an overlay over a large upper (a third copied up) vs a small one",
            ["backend", "upper entries", "open, small", "open, large", "large/small", "target"],
            [
                [
                    o.backend,
                    str(o.entries),
                    fmt_time(o.small),
                    fmt_time(o.full),
                    fmt_ratio(o.full / o.small),
                    "<= 1.2x",
                ]
                for o in opens
            ],
        )
    if memories:
        print_table(
            "Lookup cache memory after walking a whole lower (tracemalloc)",
            ["backend", "entries walked", "bytes per entry", "target"],
            [
                [m.backend, str(m.entries), f"{m.bytes_per_entry:.0f}", "<= 200"]
                for m in memories
            ],
        )
    if copies:
        print_table(
            "Copy-up vs fs.copy.copy_file (throughput ratio target >= 80%; peak = tracemalloc)",
            [
                "backend",
                "size",
                "copy_file",
                "copy-up",
                "throughput",
                "peak copy_file",
                "peak copy-up",
            ],
            [
                [
                    c.backend,
                    fmt_size(c.size),
                    fmt_time(c.direct),
                    fmt_time(c.overlay),
                    f"{100 * c.direct / c.overlay:.0f}%",
                    f"{c.direct_peak / MiB:.1f} MiB",
                    f"{c.overlay_peak / MiB:.1f} MiB",
                ]
                for c in copies
            ],
        )
    if moves:
        print_table(
            "movedir of a bottom-layer directory (direct: the same FS type moving its own copy)",
            ["backend", "files", "direct movedir", "MultiFS", "overlay movedir", "overlay/direct"],
            [
                [
                    m.backend,
                    str(m.files),
                    fmt_time(m.direct),
                    m.multi,
                    fmt_time(m.overlay),
                    fmt_ratio(m.overlay / m.direct),
                ]
                for m in moves
            ],
        )
    if "nested" not in skip:
        nested = nested_cases(sizes)
        print_table(
            f"Overlay nested {sizes.nested_depth} deep vs the same layers flat (MemoryFS)",
            ["operation", "direct", "flat/direct", "nested/direct", "nested/flat"],
            [
                [
                    r.op,
                    fmt_time(r.direct),
                    fmt_ratio(r.flat / r.direct),
                    fmt_ratio(r.nested / r.direct) if r.nested is not None else r.note,
                    fmt_ratio(r.nested / r.flat) if r.nested is not None else r.note,
                ]
                for r in nested
            ],
        )
    print(f"\ntotal time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
