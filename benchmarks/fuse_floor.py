"""The floor each Python FUSE API puts under the mount's rows, beside fuse-overlayfs and ours.

Usage::

    python -m benchmarks.fuse_floor              # the sizes of issue 25 (benchmarks.mount's)
    python -m benchmarks.fuse_floor --quick      # smoke size (``--tiny`` is the same)
    python -m benchmarks.fuse_floor --only "append" --repeats 3

It builds the lower and runs the workloads of :mod:`benchmarks.mount` (the
same rows, the same programs, imported from there) on these peers, each on a
fresh mount per run, interleaved, best of ``--repeats`` (2):

* ``kernel``: the kernel overlay; ``fuse-overlayfs``: the C daemon, the
  reference of every ratio; ``unionfs-lib``: ``unionfs-lib-mount``, run as
  :mod:`benchmarks.mount` runs it. These three mount the lower with a fresh
  upper.
* ``hl-floor``: :mod:`benchmarks.floor_highlevel`, a minimal pass-through on
  mfusepy's high-level API (the API ours is built on), served by one thread
  like ours; ``hl-floor-mt``: the same on libfuse's worker threads.
* ``ll-floor``: :mod:`benchmarks.floor_lowlevel`, a minimal pass-through on
  pyfuse3, the low-level (inode-based) API. pyfuse3 is optional (the
  ``bench`` extra): where it cannot be imported the column is left out and
  the header says why.
* ``ctll-floor``: :mod:`benchmarks.floor_ctypes`, a minimal pass-through on
  the same low-level API called through ctypes (the system's libfuse 3, no
  binding library), which also asks the kernel to keep directory listings
  (``cache_readdir`` and ``keep_cache`` on ``opendir``), served by one
  thread; ``ctll-floor-mt``: the same on libfuse's worker threads. Where the
  structures do not fit (not x86_64 Linux) or libfuse 3 is missing, both
  columns are left out and the header says why.

A pass-through has no upper: each floor run mirrors a fresh copy of the
lower (hard links for the files the workloads only read, real copies of the
files they append to, made before the mount and not timed), so no run writes
the lower and every peer reads the same cached pages.

Under each row: each peer's time as a ratio to fuse-overlayfs's, each FUSE
daemon's CPU during its best run (user + system seconds, ``/proc/PID/stat``),
and for the floors the requests that reached Python during that run (each
counts its handler calls into a shared 8-byte file) and the daemon's CPU per
request. ``--count-ours`` adds ``ours-counted``: ours run through a
``python -c`` wrapper that counts its requests the same way (for its CPU per
request; the ``unionfs-lib`` column stays the console script). The
1-minute load average is printed with every row: the machine is shared, so
compare rows measured at a low load.

Reading a row: where ours is close to ``hl-floor`` and ``hl-floor`` is far
above fuse-overlayfs while ``ll-floor`` or ``ctll-floor`` is near it, the
high-level API is the wall; where ours is far above ``hl-floor``, the gap is
the layer's own work. ``ll-floor`` and ``ctll-floor`` serve the same
requests except on a second listing (only ``ctll-floor`` has the kernel keep
listings), so between them the difference per request is the binding's
(pyfuse3's trio tasks against one ctypes call).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import typing

from benchmarks import mount as bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HIGH = "hl-floor"
HIGH_THREADS = "hl-floor-mt"
LOW = "ll-floor"
CTYPES = "ctll-floor"
CTYPES_THREADS = "ctll-floor-mt"
FLOORS = {
    HIGH: ["benchmarks.floor_highlevel"],
    HIGH_THREADS: ["benchmarks.floor_highlevel", "--threads"],
    LOW: ["benchmarks.floor_lowlevel"],
    CTYPES: ["benchmarks.floor_ctypes"],
    CTYPES_THREADS: ["benchmarks.floor_ctypes", "--threads"],
}
COUNTED = "ours-counted"
#: Runs ``unionfs-lib-mount`` counting its requests in the file named by the first argument.
COUNTED_MAIN = """
import sys
from benchmarks.floor_highlevel import RequestCounter
from unionfs_lib.mount import daemon
counter, plain = RequestCounter(sys.argv.pop(1)), daemon._fuse_class

def counted():
    class Counted(plain()):
        def _wrapper(self, func, *args, **kwargs):
            counter.tick()
            return super()._wrapper(func, *args, **kwargs)
    return Counted

daemon._fuse_class = counted
sys.exit(daemon.main(sys.argv[1:]))
"""
#: The lower's directories the workloads write to: copied, not linked, into a floor's mirror.
WRITTEN = ("appends",)


class Measured(typing.NamedTuple):
    """One timed run: seconds, the daemon's CPU seconds, the requests it handled (or ``None``)."""

    seconds: float
    daemon_user: float
    daemon_system: float
    requests: int | None


Outcome = typing.Union[Measured, str]
Round = typing.Dict[str, Outcome]


def low_level_refusal() -> str | None:
    """Return why the low-level floor cannot run here, or ``None`` if it can."""
    for module in ("pyfuse3", "trio"):
        try:
            importlib.import_module(module)
        except ImportError as error:
            return (f"{LOW} skipped: {module} is not importable ({error}; "
                    "pip install 'unionfs-lib[bench]', which needs libfuse3-dev)")
    return None


def ctypes_refusal() -> str | None:
    """Return why the ctypes floors cannot run here, or ``None`` if they can."""
    from benchmarks import floor_ctypes

    reason = floor_ctypes.refusal()
    return None if reason is None else f"{CTYPES} and {CTYPES_THREADS} skipped: {reason}"


def peers_to_run(count_ours: bool = False) -> tuple[str, ...]:
    """Return the peers of this run (each low-level floor only where it can run)."""
    peers = ["kernel", bench.REFERENCE, HIGH, HIGH_THREADS]
    if low_level_refusal() is None:
        peers.append(LOW)
    if ctypes_refusal() is None:
        peers.extend((CTYPES, CTYPES_THREADS))
    return (*peers, bench.OURS, *([COUNTED] if count_ours else []))


def mirror(lower: str, target: str) -> None:
    """Make ``target`` a copy of ``lower`` the workloads may change (hard links where read only)."""
    subprocess.run(["cp", "-al", lower, target], check=True)
    for name in WRITTEN:
        copied = os.path.join(target, name)
        shutil.rmtree(copied)
        shutil.copytree(os.path.join(lower, name), copied)


@contextlib.contextmanager
def importable() -> typing.Iterator[None]:
    """Put the checkout first on ``PYTHONPATH`` for the daemons started inside."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, saved]))
    try:
        yield
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


class Daemon(typing.NamedTuple):
    """A started peer: a floor's process, and the file counting its requests (or ``None``)."""

    process: subprocess.Popen[bytes] | None
    counter: str | None


def start(peer: str, lower: str, run_dir: str, target: str) -> Daemon:
    """Mount ``peer`` over ``lower`` on ``target``; raise ``OSError`` if it does not mount."""
    counter = os.path.join(run_dir, "requests")
    with open(counter, "wb") as handle:
        handle.write(bytes(8))
    if peer not in FLOORS:
        upper, work = os.path.join(run_dir, "upper"), os.path.join(run_dir, "work")
        os.mkdir(upper)
        os.mkdir(work)
        command = bench.mount_command(bench.OURS if peer == COUNTED else peer, lower, upper,
                                      work, target)
        if peer == COUNTED:
            command = [sys.executable, "-c", COUNTED_MAIN, counter, *command[1:]]
        with importable():
            bench.mount_peer(command, peer, target)
        return Daemon(None, counter if peer == COUNTED else None)
    source, log = os.path.join(run_dir, "source"), os.path.join(run_dir, "stderr")
    mirror(lower, source)
    with importable(), open(log, "wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", *FLOORS[peer][:1], source, target, *FLOORS[peer][1:],
             "--counter", counter], cwd=ROOT, stderr=errors)
    deadline = time.monotonic() + 60
    while not os.path.ismount(target) and process.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if not os.path.ismount(target):
        stop(peer, target, Daemon(process, counter))
        with open(log, errors="replace") as handle:
            said = handle.read().strip()
        raise OSError(said.splitlines()[-1] if said else f"{peer} did not mount")
    return Daemon(process, counter)


def stop(peer: str, target: str, daemon: Daemon) -> None:
    """Unmount ``target`` and reap a floor's process."""
    if os.path.ismount(target):
        bench.unmount_peer(peer, target)
    if daemon.process is not None:
        try:
            daemon.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.process.kill()
            daemon.process.wait()


def requests(daemon: Daemon) -> int | None:
    """Return the requests a counted peer has handled so far (``None`` for the others)."""
    if daemon.counter is None:
        return None
    with open(daemon.counter, "rb") as handle:
        found: int = struct.unpack("=Q", handle.read(8))[0]
    return found


def timed(workload: bench.Workload, context: bench.Context, pid: int | None,
          daemon: Daemon) -> Measured:
    """Run ``workload`` on a ready mount; return its time, the daemon's CPU and requests."""
    if workload.prepare is not None:
        workload.prepare(context)
    os.sync()
    user, system = bench.cpu_seconds(pid)
    before = requests(daemon)
    started = time.perf_counter()
    workload.run(context)
    seconds = time.perf_counter() - started
    after = requests(daemon)
    user_after, system_after = bench.cpu_seconds(pid)
    handled = None if before is None or after is None else after - before
    return Measured(seconds, user_after - user, system_after - system, handled)


def measure(peer: str, workload: bench.Workload, base: str, lower: str, tarball: str,
            sizes: bench.Sizes) -> Outcome:
    """Time ``workload`` on a fresh mount of ``peer``; return the timing or why it did not run."""
    run_dir = tempfile.mkdtemp(dir=base, prefix=f"{peer}-")
    target = os.path.join(run_dir, "merged")
    os.mkdir(target)
    try:
        try:
            daemon = start(peer, lower, run_dir, target)
        except (OSError, subprocess.CalledProcessError) as error:
            return f"unavailable ({str(error).splitlines()[0][:40]})"
        try:
            pid = None if peer == "kernel" else bench.daemon_pid(target)
            return timed(workload, bench.Context(target, tarball, sizes), pid, daemon)
        except (OSError, subprocess.CalledProcessError) as error:
            return f"failed ({str(error)[:40]})"
        finally:
            stop(peer, target, daemon)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def run_rounds(workload: bench.Workload, peers: tuple[str, ...], base: str, lower: str,
               tarball: str, sizes: bench.Sizes, repeats: int) -> list[Round]:
    """Run ``workload`` ``repeats`` times on every peer, the order rotating each round."""
    rounds: list[Round] = []
    for index in range(max(1, repeats)):
        order = peers[index % len(peers):] + peers[:index % len(peers)]
        times = {peer: measure(peer, workload, base, lower, tarball, sizes) for peer in order}
        rounds.append({peer: times[peer] for peer in peers})
    return rounds


def best_of(rounds: list[Round], peer: str) -> Outcome:
    """Return the fastest run of ``peer`` (or why it did not run)."""
    runs = [found for found in (one[peer] for one in rounds) if isinstance(found, Measured)]
    return min(runs, key=lambda run: run.seconds) if runs else str(rounds[0][peer])


# -- the table ---------------------------------------------------------------


def header(peers: tuple[str, ...]) -> str:
    """Return the table's header line."""
    return f"{'workload':34}" + "".join(f"{peer[:14]:>15}" for peer in peers)


def seconds_line(name: str, best: dict[str, Outcome]) -> str:
    """Format a row's best seconds per peer and the load average now."""
    cells = "".join(f"{found.seconds:>14.3f}s" if isinstance(found, Measured)
                    else f"{found[:14]:>15}" for found in best.values())
    return f"{name[:34]:34}{cells}   load {os.getloadavg()[0]:.2f}"


def ratio_line(best: dict[str, Outcome]) -> str:
    """Format each peer's best time as a ratio to fuse-overlayfs's."""
    reference = best[bench.REFERENCE]
    cells = []
    for found in best.values():
        if isinstance(found, Measured) and isinstance(reference, Measured) and reference.seconds:
            cells.append(f"{found.seconds / reference.seconds:>14.2f}x")
        else:
            cells.append(f"{'-':>15}")
    return f"{'  / fuse-overlayfs':34}" + "".join(cells)


def cpu_line(best: dict[str, Outcome]) -> str:
    """Format each FUSE daemon's user and system CPU seconds during its best run."""
    cells = [f"{found.daemon_user:>8.2f}+{found.daemon_system:.2f}s"
             if isinstance(found, Measured) and peer != "kernel" else f"{'-':>15}"
             for peer, found in best.items()]
    return f"{'  daemon CPU user+sys':34}" + "".join(cells)


def request_line(best: dict[str, Outcome]) -> str:
    """Format the requests each floor handled and its CPU microseconds per request."""
    cells = []
    for found in best.values():
        if isinstance(found, Measured) and found.requests:
            cpu = (found.daemon_user + found.daemon_system) / found.requests * 1e6
            cells.append(f"{found.requests:>7} {cpu:>4.0f}us")
        else:
            cells.append(f"{'-':>15}")
    return f"{'  requests, CPU per request':34}" + "".join(f"{cell:>15}" for cell in cells)


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", "--tiny", action="store_true", help="smoke sizes")
    for key, value in bench.FULL.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=None,
                            help=f"(default {value}, {bench.QUICK[key]} with --quick)")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs per peer")
    parser.add_argument("--only", help="run only the workloads whose name contains this")
    parser.add_argument("--count-ours", action="store_true",
                        help=f"add {COUNTED}: ours counting its requests (python -c wrapper)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build the lower, run every workload on every peer, print the table."""
    args = parse(argv)
    defaults = bench.QUICK if args.quick else bench.FULL
    sizes = {key: getattr(args, key) or value for key, value in defaults.items()}
    peers = peers_to_run(args.count_ours)
    machine = f"{platform.platform()} python {platform.python_version()}"
    print(f"machine: nproc={os.cpu_count()} load={os.getloadavg()[0]:.2f} {machine}")
    print(f"sizes: {sizes}; {args.repeats} interleaved repeats, best shown")
    for refusal in (low_level_refusal(), ctypes_refusal()):
        if refusal is not None:
            print(refusal)
    base = tempfile.mkdtemp(prefix="fuse-floor-")
    try:
        lower, tarball = bench.build_lowers(base, sizes)
        print(f"\n{header(peers)}")
        for workload in bench.WORKLOADS:
            if args.only and args.only not in workload.name:
                continue
            rounds = run_rounds(workload, peers, base, lower, tarball, sizes, args.repeats)
            best = {peer: best_of(rounds, peer) for peer in peers}
            for line in (seconds_line(workload.name, best), ratio_line(best), cpu_line(best),
                         request_line(best)):
                print(line, flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"\nload at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
