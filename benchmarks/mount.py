"""Our FUSE mount against the kernel overlay, fuse-overlayfs and ratarmount, same lowers, one run.

Usage::

    python -m benchmarks.mount               # the sizes of issue 25 (5,000 files, 128 MiB)
    python -m benchmarks.mount --quick       # smoke size (seconds; ``--tiny`` is the same)
    python -m benchmarks.mount --files 20000 --big-mib 1024 --repeats 3

The lower holds ``--files`` small files in ``--dirs`` directories, a
``--big-mib`` MiB file, a directory of ``--mv-files`` files to move and
``--append-files`` files to append to (the row "write 128 MiB" writes a new
file of ``--big-mib`` MiB); a tarball holds ``--tar-files`` small
files. Each workload gets a fresh upper and a fresh mount of each peer over
the same lower directory, and is timed with ``time.perf_counter`` around real
programs (``find``, ``cat``, ``tar``, ``mv``, ``sh``; the lower sits in the
page cache for every peer alike). Every workload runs ``--repeats`` times per
peer, interleaved (one round runs each peer once, the order rotating from
round to round), so a burst of load on the shared machine falls on all peers
alike; before each timed run dirty data is written out (``sync``). A
workload may have an untimed preparation on the same mount (the warm
``find -ls`` runs it once first; the parallel ``tar -x`` makes its four
target directories).

The table shows the best run per peer (seconds), our best as a ratio to
fuse-overlayfs's beside the target of issue 25, and the spread of the
per-round ratios. The line under each row gives the CPU time each FUSE
daemon spent during the best run, in user space and in the kernel (from
``/proc/PID/stat``): it says whether a difference is our Python or the
kernel's work on the daemon's behalf, and varies far less with the
machine's load than wall-clock time. Peers: the kernel overlay (``mount -t
overlay``, needs root), fuse-overlayfs (Debian's package) and ratarmount
(``--write-overlay``; its column is left out when it is not installed). A
peer that cannot mount here is shown as unavailable. ``--ours-option``
passes extra ``-o`` options to ``unionfs-lib-mount`` (to compare settings in
one run). ``--ours-libfuse PATH`` adds a column ``unionfs-lib-lf``: our
daemon with another libfuse (``FUSE_LIBRARY_PATH``, e.g. a private build of
3.19, to measure the kernel's directory cache); ``--threads-variant`` adds a
column ``unionfs-lib-mt``: our daemon serving requests on libfuse's worker
threads instead of one (an experiment measuring the GIL's effect; the
product serves on one thread). ``--ours-checkout DIR`` adds a column
``unionfs-lib-base``: our daemon run from another checkout of the project
(``PYTHONPATH=DIR``, e.g. a ``git worktree`` of the last release), so a
regression shows in one run, beside the same peers.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import typing

from unionfs_lib.mount.daemon import unmount

SCRIPT = os.path.join(os.path.dirname(sys.executable), "unionfs-lib-mount")
CHUNK = 1 << 20

#: Default sizes (issue 25's table) and the ``--quick`` smoke sizes.
FULL = {"files": 5_000, "dirs": 10, "big_mib": 128, "new_files": 1_000, "append_files": 500,
        "mv_files": 500, "tar_files": 2_000}
QUICK = {"files": 200, "dirs": 4, "big_mib": 4, "new_files": 40, "append_files": 30,
         "mv_files": 30, "tar_files": 60}

Sizes = typing.Dict[str, int]


class Context(typing.NamedTuple):
    """What a workload needs: the mount's root, the tarball and the sizes."""

    root: str
    tarball: str
    sizes: Sizes


Step = typing.Callable[[Context], None]


class Workload(typing.NamedTuple):
    """One row: its name, an untimed preparation (or ``None``), the timed run, the target."""

    name: str
    prepare: Step | None
    run: Step
    target: str


def build_lowers(base: str, sizes: Sizes) -> tuple[str, str]:
    """Create the lower directory and a tarball of small files; return both paths."""
    lower = os.path.join(base, "lower")
    per_dir = max(1, sizes["files"] // sizes["dirs"])
    for index in range(sizes["files"]):
        write(os.path.join(lower, "tree", f"d{index // per_dir:03}", f"f{index}"), b"x" * 100)
    for index in range(sizes["mv_files"]):
        write(os.path.join(lower, "movable", f"f{index}"), b"m")
    for index in range(sizes["append_files"]):
        write(os.path.join(lower, "appends", f"a{index}"), b"a" * 100)
    os.makedirs(os.path.join(lower, "new"))
    with open(os.path.join(lower, "large"), "wb") as handle:
        block = os.urandom(CHUNK)
        for _ in range(sizes["big_mib"]):
            handle.write(block)
    tarball = os.path.join(base, "small.tar")
    source = os.path.join(base, "tar-source")
    for index in range(sizes["tar_files"]):
        write(os.path.join(source, f"p{index // 100:03}", f"s{index}"), b"t" * 100)
    with tarfile.open(tarball, "w") as archive:
        archive.add(source, arcname="unpacked")
    shutil.rmtree(source)
    return lower, tarball


def write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path``, making its directory."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def shell(script: str, cwd: str) -> None:
    """Run ``script`` with ``sh`` in ``cwd``, its output discarded; fail on a failure."""
    subprocess.run(["sh", "-c", script], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


# -- workloads ---------------------------------------------------------------


def find_ls(context: Context) -> None:
    """``find . -ls`` of the whole mount."""
    shell("find . -ls", context.root)


def stat_all(context: Context) -> None:
    """``lstat`` every file of the tree from Python (the cold ``stat`` row)."""
    for dirpath, _, filenames in os.walk(os.path.join(context.root, "tree")):
        for name in filenames:
            os.lstat(os.path.join(dirpath, name))


def cat_all(context: Context) -> None:
    """``cat`` every file of the tree."""
    shell("find tree -type f -print0 | xargs -0 cat", context.root)


def read_big(context: Context) -> None:
    """Read the large file in 1 MiB requests."""
    with open(os.path.join(context.root, "large"), "rb", buffering=0) as handle:
        while handle.read(CHUNK):
            pass


def write_big(context: Context) -> None:
    """Write a new file of ``big_mib`` MiB in 1 MiB requests (the row "write 128 MiB")."""
    block = b"w" * CHUNK
    with open(os.path.join(context.root, "written"), "wb", buffering=0) as handle:
        for _ in range(context.sizes["big_mib"]):
            handle.write(block)


def create_files(context: Context) -> None:
    """``echo > f`` for ``new_files`` new files (one shell)."""
    count = context.sizes["new_files"]
    shell(f"i=0; while [ $i -lt {count} ]; do echo x > n$i; i=$((i+1)); done",
          os.path.join(context.root, "new"))


def append_lower(context: Context) -> None:
    """``echo >> f`` to every file of the ``appends`` directory (each a lower file)."""
    shell("for f in a*; do echo y >> $f; done", os.path.join(context.root, "appends"))


def move_dir(context: Context) -> None:
    """``mv`` of the lower directory ``movable``."""
    shell("mv movable moved", context.root)


def untar(context: Context) -> None:
    """``tar -x`` of the small-file tarball into the mount."""
    subprocess.run(["tar", "-xf", context.tarball, "-C", context.root], check=True)


def parallel_cat(context: Context) -> None:
    """``find tree -type f | xargs -P4 cat``: four readers at once."""
    shell("find tree -type f | xargs -P4 -n 50 cat", context.root)


def make_tar_targets(context: Context) -> None:
    """Make the four target directories of :func:`parallel_untar`."""
    for index in range(4):
        os.mkdir(os.path.join(context.root, f"t{index}"))


def parallel_untar(context: Context) -> None:
    """Four ``tar -x`` at once, each into its own directory."""
    processes = [
        subprocess.Popen(["tar", "-xf", context.tarball, "-C",
                          os.path.join(context.root, f"t{index}")])
        for index in range(4)
    ]
    if any(process.wait() != 0 for process in processes):
        raise subprocess.CalledProcessError(1, "tar -x")


WORKLOADS: list[Workload] = [
    Workload("find . -ls, fresh mount", None, find_ls, "<= 1.50"),
    Workload("find . -ls, warm", find_ls, find_ls, "<= 1.20"),
    Workload("stat every file, cold", None, stat_all, "<= 1.50"),
    Workload("cat every file", None, cat_all, "<= 1.50"),
    Workload("read the large file", None, read_big, "<= 1.50"),
    Workload("write 128 MiB", None, write_big, "<= 1.50"),
    Workload("write new files (echo > f)", None, create_files, "<= 1.50"),
    Workload("append to lower files", None, append_lower, "<= 1.50"),
    Workload("mv of a lower directory", None, move_dir, "<= 1.50"),
    Workload("tar -x of small files", None, untar, "<= 1.50"),
    Workload("parallel: xargs -P4 cat", None, parallel_cat, "<= 1.50"),
    Workload("parallel: 4 x tar -x", make_tar_targets, parallel_untar, "<= 1.50"),
]

OURS = "unionfs-lib"
THREADED = "unionfs-lib-mt"
OTHER_LIBFUSE = "unionfs-lib-lf"
OTHER_CHECKOUT = "unionfs-lib-base"
REFERENCE = "fuse-overlayfs"

#: Runs ``unionfs-lib-mount`` with libfuse's multi-threaded loop (``nothreads`` off).
THREADED_MAIN = (
    "import sys; from unionfs_lib.mount import daemon; plain = daemon.fuse_options; "
    "daemon.fuse_options = lambda *a, **k: {**plain(*a, **k), 'nothreads': False}; "
    "sys.exit(daemon.main(sys.argv[1:]))"
)


# -- peers -------------------------------------------------------------------


def available_peers(threads_variant: bool = False, other_libfuse: bool = False,
                    other_checkout: bool = False) -> tuple[str, ...]:
    """Return the peers to run: ratarmount only where it is installed, our variants if asked."""
    peers = ["kernel", REFERENCE]
    if shutil.which("ratarmount"):
        peers.append("ratarmount")
    peers.append(OURS)
    if threads_variant:
        peers.append(THREADED)
    if other_libfuse:
        peers.append(OTHER_LIBFUSE)
    if other_checkout:
        peers.append(OTHER_CHECKOUT)
    return tuple(peers)


def mount_command(peer: str, lower: str, upper: str, work: str, target: str,
                  ours_options: typing.Sequence[str] = ()) -> list[str]:
    """Return the command that mounts ``peer`` over ``lower`` on ``target``."""
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    if peer == "kernel":
        return ["mount", "-t", "overlay", "overlay", "-o", options, target]
    if peer == REFERENCE:
        return ["fuse-overlayfs", "-o", options, target]
    if peer == "ratarmount":
        return ["ratarmount", "--write-overlay", upper, lower, target]
    arguments = ["overlay", target, "-o", ",".join([options, *ours_options])]
    if peer == THREADED:
        return [sys.executable, "-c", THREADED_MAIN, *arguments]
    return [SCRIPT, *arguments]


#: ``FUSE_LIBRARY_PATH`` for the ``unionfs-lib-lf`` column (``--ours-libfuse``), or ``None``.
OURS_LIBFUSE: list[str | None] = [None]
#: ``PYTHONPATH`` for the ``unionfs-lib-base`` column (``--ours-checkout``), or ``None``.
OURS_CHECKOUT: list[str | None] = [None]


def mount_peer(command: list[str], peer: str, target: str) -> None:
    """Run ``command``; raise ``OSError`` if ``target`` is not mounted within 60 seconds."""
    env = dict(os.environ)
    if peer == OTHER_LIBFUSE and OURS_LIBFUSE[0]:
        env["FUSE_LIBRARY_PATH"] = typing.cast(str, OURS_LIBFUSE[0])
    if peer == OTHER_CHECKOUT and OURS_CHECKOUT[0]:
        env["PYTHONPATH"] = typing.cast(str, OURS_CHECKOUT[0])
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    deadline = time.monotonic() + 60
    while result.returncode == 0 and not os.path.ismount(target):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if result.returncode != 0 or not os.path.ismount(target):
        raise OSError(result.stderr.strip() or f"{peer} did not mount")


def unmount_peer(peer: str, target: str) -> None:
    """Unmount ``target`` and wait until it is gone."""
    if peer == "kernel":
        if subprocess.run(["umount", target], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", target], capture_output=True)
    elif not unmount(target):
        unmount(target, lazy=True)
    deadline = time.monotonic() + 30
    while os.path.ismount(target) and time.monotonic() < deadline:
        time.sleep(0.05)


class Measured(typing.NamedTuple):
    """One timed run: wall-clock seconds and the FUSE daemon's CPU seconds during it."""

    seconds: float
    daemon_user: float
    daemon_system: float


def daemon_pid(target: str) -> int | None:
    """Return the process id of the FUSE daemon serving ``target`` (``None`` if none)."""
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
    """Return the user and system CPU seconds process ``pid`` (all its threads) has used."""
    if pid is None:
        return 0.0, 0.0
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def measure(peer: str, workload: Workload, base: str, lower: str, tarball: str, sizes: Sizes,
            ours_options: typing.Sequence[str]) -> Measured | str:
    """Time ``workload`` on a fresh mount of ``peer``; return the timing or why it could not run."""
    run_dir = tempfile.mkdtemp(dir=base, prefix=f"{peer}-")
    upper, work, target = (os.path.join(run_dir, name) for name in ("upper", "work", "merged"))
    for path in (upper, work, target):
        os.mkdir(path)
    try:
        mount_peer(mount_command(peer, lower, upper, work, target, ours_options), peer, target)
    except OSError as error:
        shutil.rmtree(run_dir, ignore_errors=True)
        return f"unavailable ({str(error).splitlines()[0][:40]})"
    context = Context(target, tarball, sizes)
    try:
        if workload.prepare is not None:
            workload.prepare(context)
        os.sync()
        pid = daemon_pid(target) if peer != "kernel" else None
        user, system = cpu_seconds(pid)
        started = time.perf_counter()
        workload.run(context)
        seconds = time.perf_counter() - started
        user_after, system_after = cpu_seconds(pid)
        return Measured(seconds, user_after - user, system_after - system)
    except (OSError, subprocess.CalledProcessError) as error:
        return f"failed ({str(error)[:40]})"
    finally:
        unmount_peer(peer, target)
        shutil.rmtree(run_dir, ignore_errors=True)


# -- the table ---------------------------------------------------------------

Round = typing.Dict[str, typing.Union[Measured, str]]


def run_rounds(workload: Workload, peers: tuple[str, ...], base: str, lower: str, tarball: str,
               sizes: Sizes, repeats: int, ours_options: typing.Sequence[str]) -> list[Round]:
    """Run ``workload`` ``repeats`` times on every peer, interleaved; return each round's times."""
    rounds: list[Round] = []
    for index in range(max(1, repeats)):
        order = peers[index % len(peers):] + peers[:index % len(peers)]
        times = {peer: measure(peer, workload, base, lower, tarball, sizes, ours_options)
                 for peer in order}
        rounds.append({peer: times[peer] for peer in peers})
    return rounds


def best_of(rounds: list[Round], peer: str) -> Measured | str:
    """Return the fastest run of ``peer`` over ``rounds`` (or why it did not run)."""
    runs = [found[peer] for found in rounds if isinstance(found[peer], Measured)]
    if not runs:
        return str(rounds[0][peer])
    return min(typing.cast(typing.List[Measured], runs), key=lambda run: run.seconds)


def ratio(ours: Measured | str, theirs: Measured | str) -> float | None:
    """Return ``ours / theirs`` in seconds, or ``None`` if either did not run."""
    if isinstance(ours, Measured) and isinstance(theirs, Measured) and theirs.seconds > 0:
        return ours.seconds / theirs.seconds
    return None


def row(name: str, rounds: list[Round], peers: tuple[str, ...], target: str) -> str:
    """Format one row: best seconds per peer, ours/fuse-overlayfs, target, round ratios."""
    best = {peer: best_of(rounds, peer) for peer in peers}
    cells = " ".join(
        f"{value.seconds:>13.3f}s" if isinstance(value, Measured) else f"{value[:14]:>14}"
        for value in best.values()
    )
    found = ratio(best[OURS], best[REFERENCE])
    shown = f"{found:>12.2f}x" if found is not None else f"{'-':>13}"
    return f"{name:30} {cells} {shown} {target:>8} {spread(rounds):>12}"


def cpu_line(rounds: list[Round], peers: tuple[str, ...]) -> str:
    """Format each FUSE daemon's user and system CPU seconds during its best run."""
    cells = []
    for peer in peers:
        if peer == "kernel":
            continue
        best = best_of(rounds, peer)
        if isinstance(best, Measured):
            cells.append(f"{peer} {best.daemon_user:.2f}s user + {best.daemon_system:.2f}s sys")
    return f"{'':30} daemon CPU: " + "; ".join(cells) if cells else ""


def spread(rounds: list[Round]) -> str:
    """Format the lowest and highest per-round ratio of ours to fuse-overlayfs's."""
    ratios = [found for found in (ratio(one[OURS], one[REFERENCE]) for one in rounds)
              if found is not None]
    if not ratios:
        return "-"
    return f"{min(ratios):.2f}-{max(ratios):.2f}"


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", "--tiny", action="store_true", help="smoke sizes")
    parser.add_argument("--full", action="store_true", help="the default sizes (kept for scripts)")
    for key, value in FULL.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=None,
                            help=f"(default {value}, {QUICK[key]} with --quick)")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs per peer")
    parser.add_argument("--only", help="run only the workloads whose name contains this")
    parser.add_argument("--ours-option", action="append", default=[],
                        help="extra -o option for unionfs-lib-mount (repeatable)")
    parser.add_argument("--ours-libfuse",
                        help="add unionfs-lib-lf: our daemon with this FUSE_LIBRARY_PATH")
    parser.add_argument("--ours-checkout",
                        help="add unionfs-lib-base: our daemon run from this checkout (PYTHONPATH)")
    parser.add_argument("--threads-variant", action="store_true",
                        help="add unionfs-lib-mt: our daemon on libfuse's worker threads")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build the lowers, run every workload on every peer, print the table."""
    args = parse(argv)
    defaults = QUICK if args.quick else FULL
    sizes = {key: getattr(args, key) or value for key, value in defaults.items()}
    peers = available_peers(args.threads_variant, bool(args.ours_libfuse),
                            bool(args.ours_checkout))
    OURS_LIBFUSE[0] = args.ours_libfuse
    OURS_CHECKOUT[0] = args.ours_checkout
    machine = f"{platform.platform()} python {platform.python_version()}"
    print(f"machine: nproc={os.cpu_count()} load={os.getloadavg()[0]:.1f} {machine}")
    print(f"sizes: {sizes}; {args.repeats} interleaved repeats, best shown"
          + ("" if "ratarmount" in peers else "; ratarmount not installed (column left out)")
          + (f"; {OTHER_LIBFUSE}: {args.ours_libfuse}" if args.ours_libfuse else "")
          + (f"; {OTHER_CHECKOUT}: {args.ours_checkout}" if args.ours_checkout else ""))
    base = tempfile.mkdtemp(prefix="mount-bench-")
    try:
        lower, tarball = build_lowers(base, sizes)
        header = f"{'workload':30} " + " ".join(f"{peer[:14]:>14}" for peer in peers)
        print(f"\n{header} {'ours/fuse-ovl':>13} {'target':>8} {'round ratios':>12}")
        for workload in WORKLOADS:
            if args.only and args.only not in workload.name:
                continue
            rounds = run_rounds(workload, peers, base, lower, tarball, sizes, args.repeats,
                                args.ours_option)
            print(row(workload.name, rounds, peers, workload.target), flush=True)
            print(cpu_line(rounds, peers), flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
