"""Threads: many threads on overlapping paths lose nothing and copy up once.

Files hold fixed-size records (16 bytes, the first byte telling who wrote
it), so a torn file (a partial copy-up, an interleaved write) shows as a bad
length or a bad record. Threads append (the first append to a lower file
copies it up), read whole files and stream them in small chunks, replace
files atomically (write a temp name, ``move`` over), remove, move files and
directories, change metadata and list directories, all on the same few
paths. Only the expected ``fs.errors`` may be raised; a copy-up engine that
counts its calls checks that no lower file is copied up twice.

The thread switch interval is lowered to 10 µs during these tests so the
threads interleave far more often than they would by default.
"""

from __future__ import annotations

import collections
import random
import re
import sys
import threading
import typing

import fs.errors
import pytest
from fs.base import FS
from fs.memoryfs import MemoryFS
from fs.tempfs import TempFS

from unionfs_lib import OverlayFS
from unionfs_lib.errors import IllegalDestination

from ..support import summary
from ..support.counting_copy_up import CountingCopyUp
from ..support.layers import content_hash, fill

RECORD = 16
VALID_RECORD = re.compile(rb"[LAW][ -~]{14}\n")
EXPECTED = (
    fs.errors.ResourceNotFound,
    fs.errors.DestinationExists,
    fs.errors.DirectoryExists,
    fs.errors.FileExists,
    fs.errors.FileExpected,
    fs.errors.DirectoryExpected,
    fs.errors.DirectoryNotEmpty,
    IllegalDestination,
)
FILES = [f"/f{index}" for index in range(6)]
DIRS = ["/d0", "/d1", "/d2"]
THREADS = 8


def record(kind: str, text: str) -> bytes:
    body = f"{kind}{text}"[: RECORD - 1].ljust(RECORD - 1, ".")
    return body.encode("ascii") + b"\n"


def lower_entries() -> dict[str, bytes | None]:
    entries: dict[str, bytes | None] = {}
    for path in FILES:
        entries[path] = b"".join(record("L", f"{path}-{n}") for n in range(64))
    for directory in DIRS[:2]:
        entries[directory] = None
        for path in FILES[:3]:
            entries[directory + path] = record("L", directory + path) * 8
    return entries


def filled_lower() -> MemoryFS:
    """A memory lower holding :func:`lower_entries`."""
    lower = MemoryFS()
    fill(lower, lower_entries())
    return lower


def check_content(path: str, data: bytes) -> None:
    """A file is whole records, from one writer's base plus appended records."""
    assert len(data) % RECORD == 0, f"torn file {path}: {len(data)} bytes"
    records = [data[i : i + RECORD] for i in range(0, len(data), RECORD)]
    for item in records:
        assert VALID_RECORD.fullmatch(item), f"torn record in {path}: {item!r}"




@pytest.fixture(autouse=True)
def _fast_switching():
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


def make_upper(kind: str) -> FS:
    return MemoryFS() if kind == "memory" else TempFS()


def run_threads(worker: typing.Callable[[int], None], count: int = THREADS) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(index: int) -> None:
        start.wait()
        try:
            worker(index)
        except BaseException as error:  # noqa: B036 - collected and re-raised
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
        assert not thread.is_alive(), "a thread hung (deadlock?)"
    return errors


@pytest.mark.parametrize("kind", ["memory", "temp"])
def test_concurrent_first_writes_copy_up_once(kind):
    lower = filled_lower()
    before = content_hash(lower)
    engine = CountingCopyUp(chunk_size=64)
    overlay = OverlayFS(make_upper(kind), [lower], copy_up=engine)
    appends = 20

    def worker(index: int) -> None:
        for n in range(appends):
            for path in FILES:
                overlay.appendbytes(path, record("A", f"{index}-{n}"))
                if n % 5 == 0:
                    check_content(path, overlay.readbytes(path))

    assert run_threads(worker) == []
    for path in FILES:
        data = overlay.readbytes(path)
        check_content(path, data)
        assert data.startswith(lower.readbytes(path)), f"{path} lost its lower content"
        assert len(data) == len(lower.readbytes(path)) + THREADS * appends * RECORD
        assert engine.data[(1, path)] == 1, f"{path} copied up {engine.data[(1, path)]} times"
    assert content_hash(lower) == before
    overlay.close()


@pytest.mark.parametrize("kind", ["memory", "temp"])
def test_readers_follow_a_concurrent_copy_up(kind):
    """Streaming readers of a lower file switch to the upper copy mid-read without error."""
    lower = filled_lower()
    overlay = OverlayFS(make_upper(kind), [lower], copy_up=CountingCopyUp(chunk_size=64))

    def worker(index: int) -> None:
        for round_ in range(10):
            path = FILES[round_ % len(FILES)]
            if index % 2:
                overlay.appendbytes(path, record("A", f"{index}-{round_}"))
                continue
            with overlay.openbin(path) as handle:
                chunks = []
                while True:
                    chunk = handle.read(RECORD)
                    if not chunk:
                        break
                    chunks.append(chunk)
            check_content(path, b"".join(chunks))

    assert run_threads(worker) == []
    overlay.close()


class Chaos:
    """Random operations on overlapping paths; only expected fs.errors allowed."""

    def __init__(self, overlay: OverlayFS, seed: int) -> None:
        self.overlay = overlay
        self.rng = random.Random(seed)
        self.ops = collections.Counter[str]()
        self.expected = collections.Counter[str]()

    def path(self) -> str:
        if self.rng.random() < 0.6:
            return self.rng.choice(FILES)
        return self.rng.choice(DIRS) + self.rng.choice(FILES[:3])

    def step(self, index: int, n: int) -> None:
        name = self.rng.choice(
            ["append", "append", "read", "stream", "replace", "remove", "move", "movedir",
             "setinfo", "listdir", "removetree", "makedir"]
        )
        try:
            getattr(self, "op_" + name)(index, n)
        except EXPECTED as error:
            self.expected[type(error).__name__] += 1
        self.ops[name] += 1

    def op_append(self, index: int, n: int) -> None:
        self.overlay.appendbytes(self.path(), record("A", f"{index}-{n}"))

    def op_read(self, index: int, n: int) -> None:
        path = self.path()
        check_content(path, self.overlay.readbytes(path))

    def op_stream(self, index: int, n: int) -> None:
        path = self.path()
        with self.overlay.openbin(path) as handle:
            data = b"".join(iter(lambda: handle.read(RECORD * 3), b""))
        check_content(path, data)

    def op_replace(self, index: int, n: int) -> None:
        temp = f"/tmp-{index}-{n}"
        self.overlay.writebytes(temp, record("W", f"{index}-{n}") * 4)
        try:
            self.overlay.move(temp, self.path(), overwrite=True)
        finally:
            if self.overlay.exists(temp):
                self.overlay.remove(temp)

    def op_remove(self, index: int, n: int) -> None:
        self.overlay.remove(self.path())

    def op_move(self, index: int, n: int) -> None:
        self.overlay.move(self.path(), self.path(), overwrite=True)

    def op_movedir(self, index: int, n: int) -> None:
        self.overlay.movedir(self.rng.choice(DIRS), self.rng.choice(DIRS), create=True)

    def op_setinfo(self, index: int, n: int) -> None:
        self.overlay.setinfo(self.path(), {"details": {"modified": 1_000_000.0 + n}})

    def op_listdir(self, index: int, n: int) -> None:
        for info in self.overlay.scandir(self.rng.choice(["/", *DIRS])):
            assert not info.name.startswith(".wh.")

    def op_removetree(self, index: int, n: int) -> None:
        if self.rng.random() < 0.3:
            self.overlay.removetree(self.rng.choice(DIRS))

    def op_makedir(self, index: int, n: int) -> None:
        self.overlay.makedir(self.rng.choice(DIRS))


@pytest.mark.parametrize("kind", ["memory", "temp"])
def test_chaos_on_overlapping_paths(kind):
    lower = filled_lower()
    before = content_hash(lower)
    engine = CountingCopyUp(chunk_size=64)
    upper = make_upper(kind)
    overlay = OverlayFS(upper, [lower], copy_up=engine, auto_close=False)
    chaos = [Chaos(overlay, seed) for seed in range(THREADS)]
    steps = 150

    def worker(index: int) -> None:
        for n in range(steps):
            chaos[index].step(index, n)

    errors = run_threads(worker)
    assert errors == [], f"unexpected exceptions: {errors[:3]!r}"
    total = sum((c.ops for c in chaos), collections.Counter())
    expected = sum((c.expected for c in chaos), collections.Counter())
    summary.count("thread chaos operations", sum(total.values()))
    print(f"\n{kind}: {sum(total.values())} operations {dict(total)}")
    print(f"expected errors {dict(expected)}")
    twice = {key: count for key, count in engine.data.items() if count > 1}
    assert twice == {}, f"copied up more than once: {twice}"
    assert {key: c for key, c in engine.metadata.items() if c > 1} == {}
    view = {}
    for path in overlay.walk.files():
        data = overlay.readbytes(path)
        check_content(path, data)
        view[path] = data
    assert not any(name.startswith(".wh.") for name in overlay.walk.files())
    assert content_hash(lower) == before
    work = overlay.whiteouts.work_dir()
    assert work is None or not upper.isdir(work) or upper.listdir(work) == []
    overlay.close()
    reopened = OverlayFS(upper, [lower])
    assert {path: reopened.readbytes(path) for path in reopened.walk.files()} == view
    reopened.close()


@pytest.mark.parametrize("kind", ["memory", "temp"])
def test_streaming_reader_never_repeats_or_skips_bytes_during_copy_up(kind):
    """Regression: a read racing the switch to the upper copy read a record twice.

    ``OverlayFile`` now holds its own lock around every use of the backing
    handle, and a switch announced to a handle being closed no longer raises
    in the thread that copied up.
    """
    sys.setswitchinterval(1e-6)
    base = b"".join(b"L%014d\n" % n for n in range(3000))
    failures = []
    for trial in range(12):
        lower = MemoryFS()
        lower.writebytes("/f", base)
        overlay = OverlayFS(make_upper(kind), [lower])

        def worker(index: int, overlay: OverlayFS = overlay, trial: int = trial) -> None:
            if index == 0:
                overlay.appendbytes("/f", b"A%014d\n" % trial)
                return
            with overlay.openbin("/f") as handle:
                data = b"".join(iter(lambda: handle.read(RECORD), b""))
            if not data.startswith(base):
                failures.append((trial, len(data)))

        assert run_threads(worker, 4) == []
        overlay.close()
    assert failures == []


def test_handles_closed_while_another_thread_copies_up():
    """Closing lower-backed handles races the copy-up that notifies them.

    (``OverlaySuper.unlisten`` now takes the overlay lock: without it a close
    could delete the path's listener set just as a copy-up took it. The race
    is narrow; this stress test exercises it, it does not force it.)
    """
    sys.setswitchinterval(1e-6)
    for _trial in range(60):
        lower = MemoryFS()
        lower.writebytes("/f", b"x" * 100)
        overlay = OverlayFS(MemoryFS(), [lower])

        def worker(index: int, overlay: OverlayFS = overlay) -> None:
            if index == 0:
                overlay.appendbytes("/f", b"y")
                return
            for _ in range(20):
                with overlay.openbin("/f") as handle:
                    assert handle.read(1) == b"x"

        assert run_threads(worker, 4) == []
        assert overlay.readbytes("/f") == b"x" * 100 + b"y"
        overlay.close()
