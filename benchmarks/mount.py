"""Our FUSE mount against fuse-overlayfs and the kernel overlay, same lowers, one run.

Usage::

    python -m benchmarks.mount            # scaled to a few minutes
    python -m benchmarks.mount --full     # the sizes of the performance targets
    python -m benchmarks.mount --tiny     # smoke size (seconds)

Each workload gets a fresh upper and a fresh mount of each peer over the same
lower directories, and is timed with ``time.perf_counter`` around real
programs or ``os`` calls (the lowers sit in the page cache for every peer
alike). Every workload runs ``--repeats`` times per peer, interleaved (one
round runs each peer once, the order rotating from round to round), so a
burst of load on the shared machine or its disk falls on all peers alike;
before each timed run the page cache's dirty data is written out
(``sync``), so a run that ends with ``fsync`` flushes its own data only, and
with ``--drop-caches`` the clean page cache is dropped too (root only; the
lowers are then read from disk by every peer). The table shows the median
of the repeats per peer, our median as a ratio to fuse-overlayfs's beside the
target (metadata within 2x, sequential throughput at least 80%, the directory
``mv`` at least 10x faster), and the spread of the per-round ratios; a
second line gives the median CPU time the two FUSE daemons spent in user
space and in the kernel during the run (from ``/proc/PID/stat``), which says
whether a difference is our Python or the kernel's work on the daemon's
behalf, and varies far less with the machine's load than wall-clock time.
Workloads: ``stat`` of every file of a tree, reading them all, ``tar -x`` of
small files into the mount, sequential write (ending with ``fsync``) and read
of one large file, ``ls -l`` of a large directory, ``mv`` of a lower
directory of many files. A peer that cannot mount here is shown as
unavailable.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import typing

from unionfs_lib.mount.daemon import unmount

SCRIPT = os.path.join(os.path.dirname(sys.executable), "unionfs-lib-mount")
CHUNK = 1 << 20

SIZES = {
    "tiny": {"files": 300, "big_dir": 1_000, "big_file_mib": 8, "mv_files": 300},
    "scaled": {"files": 10_000, "big_dir": 20_000, "big_file_mib": 256, "mv_files": 10_000},
    "full": {"files": 10_000, "big_dir": 100_000, "big_file_mib": 1024, "mv_files": 10_000},
}


def build_lowers(base: str, sizes: dict[str, int]) -> tuple[str, str]:
    """Create the lower directory and a tarball of small files; return both paths."""
    lower = os.path.join(base, "lower")
    for index in range(sizes["files"]):
        write(os.path.join(lower, "tree", f"d{index // 100:03}", f"f{index}"), b"x" * 100)
    for index in range(sizes["mv_files"]):
        write(os.path.join(lower, "movable", f"d{index // 100:03}", f"f{index}"), b"m")
    big_dir = os.path.join(lower, "big")
    os.makedirs(big_dir)
    for index in range(sizes["big_dir"]):
        open(os.path.join(big_dir, f"e{index:06}"), "wb").close()
    with open(os.path.join(lower, "large"), "wb") as handle:
        block = os.urandom(CHUNK)
        for _ in range(sizes["big_file_mib"]):
            handle.write(block)
    tarball = os.path.join(base, "small.tar")
    source = os.path.join(base, "tar-source")
    for index in range(sizes["files"]):
        write(os.path.join(source, f"p{index // 100:03}", f"s{index}"), b"t" * 100)
    with tarfile.open(tarball, "w") as archive:
        archive.add(source, arcname="unpacked")
    shutil.rmtree(source)
    return lower, tarball


def write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def mount_peer(peer: str, lower: str, upper: str, work: str, target: str) -> None:
    """Mount ``peer`` over ``lower``; raise ``OSError`` if it cannot."""
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    if peer == "kernel":
        command = ["mount", "-t", "overlay", "overlay", "-o", options, target]
    elif peer == "fuse-overlayfs":
        command = ["fuse-overlayfs", "-o", options, target]
    else:
        command = [SCRIPT, "overlay", target, "-o", options]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not os.path.ismount(target):
        raise OSError(result.stderr.strip() or f"{peer} did not mount")


def unmount_peer(peer: str, target: str) -> None:
    if peer == "kernel":
        if subprocess.run(["umount", target], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", target], capture_output=True)
    elif not unmount(target):
        unmount(target, lazy=True)
    deadline = time.monotonic() + 30
    while os.path.ismount(target) and time.monotonic() < deadline:
        time.sleep(0.05)


def stat_all(root: str, tarball: str) -> None:
    for dirpath, _, filenames in os.walk(os.path.join(root, "tree")):
        for name in filenames:
            os.lstat(os.path.join(dirpath, name))


def read_all(root: str, tarball: str) -> None:
    for dirpath, _, filenames in os.walk(os.path.join(root, "tree")):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as handle:
                handle.read()


def untar(root: str, tarball: str) -> None:
    subprocess.run(["tar", "-xf", tarball, "-C", root], check=True)


def sequential_write(root: str, tarball: str) -> None:
    size = os.path.getsize(os.path.join(root, "large"))
    block = b"w" * CHUNK
    with open(os.path.join(root, "written"), "wb") as handle:
        for _ in range(size // CHUNK):
            handle.write(block)
        handle.flush()
        os.fsync(handle.fileno())


def sequential_read(root: str, tarball: str) -> None:
    with open(os.path.join(root, "large"), "rb", buffering=0) as handle:
        while handle.read(CHUNK):
            pass


def list_long(root: str, tarball: str) -> None:
    subprocess.run(["ls", "-l", os.path.join(root, "big")], check=True, stdout=subprocess.DEVNULL)


def move_dir(root: str, tarball: str) -> None:
    subprocess.run(["mv", os.path.join(root, "movable"), os.path.join(root, "moved")], check=True)


#: (name, function, kind of target)
WORKLOADS: list[tuple[str, typing.Callable[[str, str], None], str]] = [
    ("stat every file of the tree", stat_all, "metadata"),
    ("read every file of the tree", read_all, "metadata"),
    ("tar -x of small files", untar, "metadata"),
    ("sequential write", sequential_write, "throughput"),
    ("sequential read", sequential_read, "throughput"),
    ("ls -l of the large directory", list_long, "metadata"),
    ("mv of a lower directory", move_dir, "mv"),
]
PEERS = ("kernel", "fuse-overlayfs", "unionfs-lib")
TARGETS = {"metadata": "<= 2.00", "throughput": "<= 1.25", "mv": "<= 0.10"}


def settle(drop_caches: bool) -> None:
    """Write out dirty data (and drop the page cache if asked) before a timed run."""
    os.sync()
    if drop_caches:
        with open("/proc/sys/vm/drop_caches", "w") as control:
            control.write("3\n")


class Measured(typing.NamedTuple):
    """One timed run: wall-clock seconds and the FUSE daemon's CPU seconds during it."""

    seconds: float
    daemon_user: float
    daemon_system: float


def daemon_pid(target: str) -> int | None:
    """Return the process id of the FUSE daemon serving ``target`` (``None`` for the kernel)."""
    wanted = os.fsencode(target)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                arguments = handle.read().split(b"\0")
        except OSError:
            continue
        if wanted in arguments:
            return int(entry)
    return None


def cpu_seconds(pid: int | None) -> tuple[float, float]:
    """Return the user and system CPU seconds process ``pid`` has used so far."""
    if pid is None:
        return 0.0, 0.0
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def measure(peer: str, workload: typing.Callable[[str, str], None], base: str, lower: str,
            tarball: str, drop_caches: bool = False) -> Measured | str:
    """Time ``workload`` on a fresh mount of ``peer``; return the timing or why it could not run."""
    run_dir = tempfile.mkdtemp(dir=base, prefix=f"{peer}-")
    upper, work, target = (os.path.join(run_dir, name) for name in ("upper", "work", "merged"))
    for path in (upper, work, target):
        os.mkdir(path)
    try:
        mount_peer(peer, lower, upper, work, target)
    except OSError as error:
        shutil.rmtree(run_dir, ignore_errors=True)
        return f"unavailable ({str(error).splitlines()[0][:40]})"
    try:
        settle(drop_caches)
        pid = daemon_pid(target) if peer != "kernel" else None
        user, system = cpu_seconds(pid)
        started = time.perf_counter()
        workload(target, tarball)
        seconds = time.perf_counter() - started
        user_after, system_after = cpu_seconds(pid)
        return Measured(seconds, user_after - user, system_after - system)
    finally:
        unmount_peer(peer, target)
        shutil.rmtree(run_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--tiny", action="store_true")
    group.add_argument("--full", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per peer")
    parser.add_argument("--drop-caches", action="store_true",
                        help="drop the page cache before each timed run (root)")
    parser.add_argument("--only", help="run only the workloads whose name contains this")
    args = parser.parse_args(argv)
    scale = "tiny" if args.tiny else "full" if args.full else "scaled"
    sizes = SIZES[scale]
    machine = f"{platform.platform()} python {platform.python_version()}"
    print(f"machine: nproc={os.cpu_count()} {machine}")
    print(f"sizes ({scale}): {sizes}; {args.repeats} interleaved repeats, median shown"
          + ("; page cache dropped before each run" if args.drop_caches else ""))
    base = tempfile.mkdtemp(prefix="mount-bench-")
    try:
        lower, tarball = build_lowers(base, sizes)
        header = f"{'workload':32} " + " ".join(f"{peer:>16}" for peer in PEERS)
        print(f"\n{header} {'ours/fuse-ovl':>14} {'target':>8} {'round ratios':>14}")
        for name, workload, kind in WORKLOADS:
            if args.only and args.only not in name:
                continue
            rounds = run_rounds(workload, base, lower, tarball, args.repeats, args.drop_caches)
            print(f"{name:32} {row(rounds)} {TARGETS[kind]:>8} {spread(rounds):>14}", flush=True)
            print(f"{'':32} {daemon_cpu(rounds)}", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


Round = typing.Dict[str, typing.Union[Measured, str]]


def run_rounds(workload: typing.Callable[[str, str], None], base: str, lower: str, tarball: str,
               repeats: int, drop_caches: bool) -> list[Round]:
    """Run ``workload`` ``repeats`` times on every peer, interleaved; return each round's times."""
    rounds: list[Round] = []
    for index in range(max(1, repeats)):
        order = PEERS[index % len(PEERS):] + PEERS[:index % len(PEERS)]
        times = {peer: measure(peer, workload, base, lower, tarball, drop_caches) for peer in order}
        rounds.append({peer: times[peer] for peer in PEERS})
    return rounds


def median_of(rounds: list[Round], peer: str) -> float | str:
    """Return the median seconds of ``peer`` over ``rounds`` (or why it did not run)."""
    values = [value.seconds for value in (found[peer] for found in rounds)
              if isinstance(value, Measured)]
    if not values:
        return str(rounds[0][peer])
    return statistics.median(values)


def daemon_cpu(rounds: list[Round]) -> str:
    """Format the median user and system CPU seconds of each FUSE daemon over ``rounds``."""
    cells = []
    for peer in ("fuse-overlayfs", "unionfs-lib"):
        runs = [found[peer] for found in rounds if isinstance(found[peer], Measured)]
        if runs:
            user = statistics.median(typing.cast(Measured, run).daemon_user for run in runs)
            system = statistics.median(typing.cast(Measured, run).daemon_system for run in runs)
            cells.append(f"{peer} {user:.2f}s user + {system:.2f}s system")
    return "daemon CPU (median): " + "; ".join(cells) if cells else ""


def row(rounds: list[Round]) -> str:
    """Format the medians per peer and our median's ratio to fuse-overlayfs's."""
    medians = {peer: median_of(rounds, peer) for peer in PEERS}
    cells = " ".join(
        f"{value:>15.3f}s" if isinstance(value, float) else f"{value[:16]:>16}"
        for value in medians.values()
    )
    ours, theirs = medians["unionfs-lib"], medians["fuse-overlayfs"]
    ratio = (f"{ours / theirs:>14.2f}" if isinstance(ours, float)
             and isinstance(theirs, float) and theirs > 0 else f"{'-':>14}")
    return f"{cells} {ratio}"


def spread(rounds: list[Round]) -> str:
    """Format the lowest and highest per-round ratio of ours to fuse-overlayfs's."""
    ratios = []
    for found in rounds:
        ours, theirs = found["unionfs-lib"], found["fuse-overlayfs"]
        if isinstance(ours, Measured) and isinstance(theirs, Measured) and theirs.seconds > 0:
            ratios.append(ours.seconds / theirs.seconds)
    if not ratios:
        return "-"
    return f"{min(ratios):.2f}-{max(ratios):.2f}"


if __name__ == "__main__":
    sys.exit(main())
