"""The mount daemon killed with SIGKILL under a write load, at many kill points.

Several writer processes work through the mount (create, write, append to
lower files, which copies them up, rename, unlink, mkdir, ``fsync`` of files
and directories). Before each operation a writer notes its intent in a
journal outside the mount, and after the ``fsync`` that makes it durable it
notes it done. The daemon is killed (``kill -9``) at a random moment (every
other round: as soon as the work area holds something, i.e. in the middle of
a copy-up of a 4 MiB lower file or a create), the dead mount is unmounted
lazily, and then:

1. everything the journals call done is present with exactly its content;
2. every entry is a whole old or new state: files are made of fixed-size
   records carrying a checksum, so a torn or half copied-up file is seen;
3. the work area is empty once a remount has opened it;
4. the remounted tree lists, every file reads, no reserved name shows, and
   the kernel overlay mounts the same upper with the same tree.

Both layouts run: the kernel format (``upperdir=``/``workdir=``) and the
marker store (``unionfs-lib mount OVERLAY_URL``). ``UNIONFS_MOUNT_CRASH_ROUNDS``
sets the number of kill points per layout (default 10).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
import typing
import urllib.parse

import pytest

from unionfs_lib.stores.marker_whiteouts import WORK_DIR_NAME

from ..support import summary
from ..support.kernel import KernelMount, compared, kernel_overlay_refusal
from ..support.mounting import DaemonMount, cleanup, fill_os_dir, fuse_or_skip, mount_options

#: The counter CI prints ("mount crash kill points: N").
KILL_POINTS = "mount crash kill points"
summary.declare(KILL_POINTS)
#: How many operations the journals called durable over all kill points.
DURABLE = "mount crash fsynced operations checked"
summary.declare(DURABLE)
#: Kill points that left something in the work area (a copy-up or create in flight).
IN_FLIGHT = "mount crash kill points with a work area to clean"
summary.declare(IN_FLIGHT)

ROUNDS = int(os.environ.get("UNIONFS_MOUNT_CRASH_ROUNDS", "10"))
WRITERS = 3
LOWER_FILES = 8
RECORD = 64
BIG_RECORDS = (4 << 20) // RECORD

#: The writer, run with ``python -c``: ROOT JOURNAL SEED WRITER LOWER_FILES.
WRITER = r'''
import errno, hashlib, json, os, random, sys
root, journal_path = sys.argv[1], sys.argv[2]
seed, wid, nlower = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(seed)
journal = open(journal_path, "a", buffering=1)
seq = 0

def log(**entry):
    journal.write(json.dumps(entry) + "\n")
    journal.flush()

def records(count):
    global seq
    out = b""
    for _ in range(count):
        seq += 1
        payload = f"w{wid}:{seq:010d}:".encode().ljust(48, b".")
        out += payload + hashlib.sha256(payload).hexdigest()[:16].encode()
    return out

def full(rel):
    return os.path.join(root, rel)

def sync(rel, flags=os.O_RDONLY):
    fd = os.open(full(rel), flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

def parent(rel):
    return os.path.dirname(rel) or "."

def write_file(rel, data, durable):
    fd = os.open(full(rel), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)

def do(op, **args):
    log(op=op, phase="intent", **args)
    if op == "mkdir":
        os.mkdir(full(args["path"]))
        sync(parent(args["path"]))
    elif op == "create":
        write_file(args["path"], bytes.fromhex(args["data"]), True)
        sync(parent(args["path"]))
    elif op == "scratch":
        write_file(args["path"], bytes.fromhex(args["data"]), False)
        return
    elif op == "append":
        fd = os.open(full(args["path"]), os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, bytes.fromhex(args["data"]))
            os.fsync(fd)
        finally:
            os.close(fd)
    elif op == "rename":
        os.rename(full(args["src"]), full(args["dst"]))
        sync(parent(args["src"]))
        sync(parent(args["dst"]))
    elif op == "unlink":
        os.unlink(full(args["path"]))
        sync(parent(args["path"]))
    log(op=op, phase="done", **args)

mine = f"w{wid}"
made = []
lowers = [f"l{wid}/f{k}" for k in range(nlower)]
count = 0
try:
    do("mkdir", path=mine)
    log(op="ready")
    while True:
        count += 1
        choice = rng.random()
        if choice < 0.3 or not made:
            rel = f"{mine}/n{count}"
            do("create", path=rel, data=records(rng.randint(1, 64)).hex())
            made.append(rel)
        elif choice < 0.5:
            do("append", path=rng.choice(lowers + made), data=records(1).hex())
        elif choice < 0.58:
            src = made.pop(rng.randrange(len(made)))
            dst = f"{mine}/r{count}" if rng.random() < 0.7 else f"{mine}/d{count}"
            if dst.endswith(f"d{count}"):
                do("mkdir", path=dst)
                dst = f"{dst}/m{count}"
            do("rename", src=src, dst=dst)
            made.append(dst)
        elif choice < 0.66:
            do("unlink", path=made.pop(rng.randrange(len(made))))
        elif choice < 0.7 and lowers:
            src = lowers.pop(rng.randrange(len(lowers)))
            dst = f"{src}.moved{count}" if rng.random() < 0.5 else f"{mine}/lower{count}"
            do("rename", src=src, dst=dst)
            made.append(dst)
        elif choice < 0.73 and lowers:
            do("unlink", path=lowers.pop(rng.randrange(len(lowers))))
        elif choice < 0.85:
            do("mkdir", path=f"{mine}/d{count}")
        else:
            do("scratch", path=f"{mine}/s{count}", data=records(rng.randint(1, 200)).hex())
except OSError as error:
    log(op="stop", errno=error.errno)
'''

Model = typing.Dict[str, typing.Union[bytes, str]]  # path -> content, or "dir"


def record_ok(record: bytes) -> bool:
    """Tell whether one record is whole: its checksum matches its payload."""
    payload, check = record[:48], record[48:]
    return len(record) == RECORD and hashlib.sha256(payload).hexdigest()[:16].encode() == check


def whole_records(data: bytes) -> bool:
    """Tell whether ``data`` is nothing but whole records."""
    return len(data) % RECORD == 0 and all(
        record_ok(data[at:at + RECORD]) for at in range(0, len(data), RECORD))


@functools.cache
def lower_content(wid: int, index: int) -> bytes:
    """The records a lower file starts with: 4 MiB for file 0 (a copy-up that takes a while)."""
    out = []
    for seq in range(BIG_RECORDS if index == 0 else 3):
        payload = f"L{wid}.{index}:{seq:08d}:".encode().ljust(48, b".")
        out.append(payload + hashlib.sha256(payload).hexdigest()[:16].encode())
    return b"".join(out)


def apply(model: Model, entry: dict[str, str]) -> Model:
    """Return ``model`` after one whole operation of a journal."""
    after = dict(model)
    op = entry["op"]
    if op == "mkdir":
        after[entry["path"]] = "dir"
    elif op == "create":
        after[entry["path"]] = bytes.fromhex(entry["data"])
    elif op == "append":
        before = after[entry["path"]]
        assert isinstance(before, bytes)
        after[entry["path"]] = before + bytes.fromhex(entry["data"])
    elif op == "rename":
        after[entry["dst"]] = after.pop(entry["src"])
    elif op == "unlink":
        del after[entry["path"]]
    return after


def candidates(wid: int, journal: list[dict[str, str]]) -> tuple[list[Model], dict[str, bytes]]:
    """Replay one writer's journal: the models the tree may show, and its scratch files.

    Every operation but the last is done (the writer waits for its ``fsync``),
    so the model is exact up to it; the last one, if it was not done, may show
    as before or after, and a file being created as absent or any whole-record
    prefix of its data.
    """
    model: Model = {f"l{wid}": "dir"}
    for index in range(LOWER_FILES):
        model[f"l{wid}/f{index}"] = lower_content(wid, index)
    scratch: dict[str, bytes] = {}
    pending: dict[str, str] | None = None
    for entry in journal:
        if entry["op"] == "scratch":
            scratch[entry["path"]] = bytes.fromhex(entry["data"])
        elif entry.get("phase") == "intent":
            assert pending is None, f"two operations in flight: {pending}, {entry}"
            pending = entry
        elif entry.get("phase") == "done":
            assert pending == {**entry, "phase": "intent"}
            model, pending = apply(model, entry), None
    if pending is None:
        return [model], scratch
    found = [model, apply(model, pending)]
    if pending["op"] == "create":
        data = bytes.fromhex(pending["data"])
        found += [{**model, pending["path"]: data[:size]} for size in range(0, len(data), RECORD)]
    return found, scratch


def snapshot(root: str, top: str) -> Model:
    """Read the subtree ``top`` of ``root``: path -> content, or ``"dir"``."""
    found: Model = {}
    base = os.path.join(root, top)
    if not os.path.lexists(base):
        return found
    found[top] = "dir"
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            mode = os.lstat(path).st_mode
            if stat.S_ISDIR(mode):
                found[rel] = "dir"
            else:
                assert stat.S_ISREG(mode), f"{rel} is not a regular file: {oct(mode)}"
                with open(path, "rb") as handle:
                    found[rel] = handle.read()
    return found


def check_writer(root: str, wid: int, journal: list[dict[str, str]]) -> None:
    """Assert the writer's subtrees in the mounted ``root`` are one of its allowed models."""
    models, scratch = candidates(wid, journal)
    seen = {**snapshot(root, f"w{wid}"), **snapshot(root, f"l{wid}")}
    for path, data in scratch.items():
        got = seen.pop(path, None)
        assert got is None or (isinstance(got, bytes) and data.startswith(got)
                               and whole_records(got)), f"scratch file {path} is torn"
    if seen in models:
        return
    done = models[0]
    lost = {path for path in done if path not in seen and all(path in m for m in models)}
    extra = {path for path in seen if all(path not in m for m in models)}
    wrong = {path for path in seen if path in done and all(m.get(path) != seen[path]
                                                           for m in models)}
    last = [{key: value for key, value in entry.items() if key != "data"}
            for entry in journal[-2:]]
    raise AssertionError(f"writer {wid}: missing {sorted(lost)}, unexpected {sorted(extra)}, "
                         f"different {sorted(wrong)}; last entries {last}")


def read_journal(path: str) -> list[dict[str, str]]:
    """Read one journal (JSON lines)."""
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def check_upper_records(upper: str, work_area: str) -> None:
    """Every regular file in the upper is whole records; nothing else but dirs, files, whiteouts.

    The work area and the marker store's own ``.wh.`` files are left out.
    """
    for dirpath, dirnames, filenames in os.walk(upper):
        dirnames[:] = [name for name in dirnames
                       if os.path.join(dirpath, name) != work_area]
        for name in filenames:
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISCHR(mode):
                assert os.lstat(path).st_rdev == 0, f"{path} is a device, not a whiteout"
                continue
            assert stat.S_ISREG(mode), f"{path}: unexpected type {oct(mode)}"
            if name.startswith(".wh."):
                continue
            with open(path, "rb") as handle:
                assert whole_records(handle.read()), f"{path} in the upper is torn"


def full_tree(root: str) -> dict[str, bytes | str]:
    """The whole visible tree, every file read, no reserved name."""
    found: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            assert not name.startswith(".wh."), f"reserved name visible: {name}"
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.isdir(path):
                found[rel] = "dir"
            else:
                with open(path, "rb") as handle:
                    found[rel] = handle.read()
    return found


def make_dirs(base: str) -> dict[str, str]:
    """Make lower, upper, work and merged under ``base`` with each writer's lower files."""
    made = {name: os.path.join(base, name) for name in ("lower", "upper", "work", "merged",
                                                         "kernel", "journals")}
    for path in made.values():
        os.mkdir(path)
    entries: dict[str, bytes | None] = {"/shared": None, "/shared/x": lower_content(9, 9)}
    for wid in range(WRITERS):
        for index in range(LOWER_FILES):
            entries[f"/l{wid}/f{index}"] = lower_content(wid, index)
    fill_os_dir(made["lower"], entries)
    return made


def start_writers(root: str, journals: str, seed: int) -> list[subprocess.Popen[bytes]]:
    """Start the writer processes on the mount."""
    return [subprocess.Popen([sys.executable, "-c", WRITER, root,
                              os.path.join(journals, f"{wid}.jsonl"), str(seed * 100 + wid),
                              str(wid), str(LOWER_FILES)], stderr=subprocess.PIPE)
            for wid in range(WRITERS)]


def all_ready(journals: str) -> bool:
    """Tell whether every writer has made its directory."""
    for wid in range(WRITERS):
        path = os.path.join(journals, f"{wid}.jsonl")
        if not os.path.exists(path):
            return False
        with open(path) as handle:
            if '"ready"' not in handle.read():
                return False
    return True


def daemon_mount(layout: str, dirs: dict[str, str]) -> DaemonMount:
    """Return the daemon for ``layout``: the kernel format by ``upperdir=``/``workdir=``,
    or the marker store through ``unionfs-lib mount OVERLAY_URL``."""
    options = mount_options([dirs["lower"]], dirs["upper"], dirs["work"])
    mount = DaemonMount(options, dirs["merged"])
    if layout == "marker":
        quote = urllib.parse.quote
        url = (f"overlay://?upper={quote('osfs://' + dirs['upper'], safe='')}"
               f"&lower={quote('osfs://' + dirs['lower'], safe='')}")
        mount.command = [sys.executable, "-m", "unionfs_lib", "mount", "-f", url, dirs["merged"]]
    return mount


def work_area(layout: str, dirs: dict[str, str]) -> str:
    """Where ``layout`` keeps its copy-up work area."""
    if layout == "marker":
        return os.path.join(dirs["upper"], WORK_DIR_NAME)
    return os.path.join(dirs["work"], "work")


def wait_for_work(work: str, seconds: float) -> bool:
    """Poll (busily) until the work area holds something, for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if os.listdir(work):
                return True
        except FileNotFoundError:
            pass
    return False


def crash_round(base: str, layout: str, seed: int) -> None:
    """One kill point: load, kill -9, unmount, check upper, remount, check, kernel compare."""
    rng = random.Random(seed)
    dirs = make_dirs(base)
    lower_before = full_tree(dirs["lower"])
    writers: list[subprocess.Popen[bytes]] = []
    with daemon_mount(layout, dirs) as daemon:
        try:
            writers = start_writers(dirs["merged"], dirs["journals"], seed)
            deadline = time.monotonic() + 30
            while not all_ready(dirs["journals"]) and time.monotonic() < deadline:
                time.sleep(0.01)
            if seed % 2:
                wait_for_work(work_area(layout, dirs), 2.0)
            else:
                time.sleep(rng.uniform(0.05, 0.5))
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGKILL)
                daemon.wait()
            cleanup(dirs["merged"])
            for writer in writers:
                try:
                    writer.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    writer.kill()
                    writer.wait()
    for writer in writers:
        error = writer.stderr.read().decode() if writer.stderr else ""
        if writer.stderr:
            writer.stderr.close()
        assert writer.returncode == 0, f"a writer failed: {error}"
    journals = [read_journal(os.path.join(dirs["journals"], f"{wid}.jsonl"))
                for wid in range(WRITERS)]
    for journal in journals:
        assert journal[-1]["op"] == "stop", "a writer was not stopped by the dead mount"
        summary.count(DURABLE, sum(entry.get("phase") == "done" for entry in journal))
    assert full_tree(dirs["lower"]) == lower_before, "a lower was written"
    work = work_area(layout, dirs)
    check_upper_records(dirs["upper"], work)
    if os.path.isdir(work) and os.listdir(work):
        summary.count(IN_FLIGHT)
    with daemon_mount(layout, dirs):
        assert not os.path.exists(work) or os.listdir(work) == [], "work area not cleaned"
        for wid in range(WRITERS):
            check_writer(dirs["merged"], wid, journals[wid])
        ours = full_tree(dirs["merged"])
    if layout == "kernel" and kernel_overlay_refusal() is None:
        with KernelMount([dirs["lower"]], dirs["upper"], dirs["work"], dirs["kernel"]) as root:
            assert full_tree(root) == ours, "the kernel overlay shows another tree"
        compared()
    summary.count(KILL_POINTS)


@pytest.mark.parametrize("seed", range(ROUNDS))
@pytest.mark.parametrize("layout", ["kernel", "marker"])
def test_kill_9_under_a_write_load_loses_nothing_fsynced(layout, seed, tmp_path):
    if os.environ.get("UNIONFS_GUARD_LOWERS") == "1":
        pytest.skip("runs once, in the unguarded pass: the daemon is a separate process the guard "
                    "does not wrap, each round checks the lower byte for byte, and it takes ~30 s")
    fuse_or_skip()
    crash_round(str(tmp_path), layout, seed)
