"""Soak: long random operation sequences with every reliability invariant checked.

A hypothesis state machine drives an ``OverlayFS`` (a TempFS upper behind a
byte quota, a MemoryFS and a zip lower, both guarded against writes) with
writes, appends, in-place patches, truncations, removals, renames, directory
renames, ``setinfo``, reopening, hostile paths and copy-ups into a full upper.
After every step:

* the overlay's tree equals a plain dict model (no loss, no resurrection);
* no reserved name is visible and the work area is empty;
* no lower file has been copied up twice;
* no write reached a lower (the guard records it, the step fails).

A step the model calls invalid must raise an ``fs.errors`` exception and
change nothing; a step into a full upper may raise ``InsufficientStorage``
and then must change nothing either.

Budget: ``UNIONFS_SOAK_EXAMPLES`` sequences (default 100) of up to
``UNIONFS_SOAK_STEPS`` steps (default 50); setting either lifts the per-test
timeout. The number of operations run is
printed in the ``unionfs summary`` section at the end of the pytest output.
A long run is one command::

    UNIONFS_SOAK_EXAMPLES=5000 UNIONFS_SOAK_STEPS=100 python3 tasks.py test -k soak
"""

from __future__ import annotations

import os
import typing

import fs.errors
import pytest
from fs.memoryfs import MemoryFS
from fs.tempfs import TempFS
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from unionfs_lib import OverlayFS

from ..support import guard, summary
from ..support.counting_copy_up import CountingCopyUp
from ..support.layers import content_hash, fill, zip_layer
from ..support.quota_fs import QuotaFS

EXAMPLES = int(os.environ.get("UNIONFS_SOAK_EXAMPLES", "100"))
STEPS = int(os.environ.get("UNIONFS_SOAK_STEPS", "50"))
LONG = "UNIONFS_SOAK_EXAMPLES" in os.environ or "UNIONFS_SOAK_STEPS" in os.environ
OPERATIONS = "soak operations"
SEQUENCES = "soak sequences"
summary.declare(OPERATIONS)
summary.note(
    OPERATIONS, f"{EXAMPLES} sequences x up to {STEPS} steps; UNIONFS_SOAK_EXAMPLES for more"
)

WORK = "/.wh..wh..work"
Tree = typing.Dict[str, typing.Optional[bytes]]

ZIP_LOWER: Tree = {
    "/a": None, "/a/x": b"zip a/x", "/a/deep": None, "/a/deep/y": b"zip a/deep/y",
    "/b": b"zip file b", "/d": None, "/d/z": b"zip d/z",
}
MEMORY_LOWER: Tree = {
    "/a": None, "/a/w": b"mem a/w", "/c": b"mem file c", "/d": None,
    "/d/.wh.z": b"", "/e": None, "/e/v": b"mem e/v",
}
NAMES = ["a", "b", "c", "d", "e", "w", "x", "y", "deep", "n"]
HOSTILE = ["..", "/../a", "/a/../../b", "/a\0", "/.wh.x", "/a/.wh..wh..opq", WORK, WORK + "/t"]
PATHS = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map(lambda p: "/" + "/".join(p))
DATA = st.binary(max_size=40)


def initial_view() -> Tree:
    view: Tree = {"/": None}
    view.update({k: v for k, v in ZIP_LOWER.items() if k != "/d/z"})
    view.update({k: v for k, v in MEMORY_LOWER.items() if ".wh." not in k})
    return view


def parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def below(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith(ancestor.rstrip("/") + "/")


class SoakMachine(RuleBasedStateMachine):
    """Random operations; the model says what must happen."""

    def __init__(self) -> None:
        super().__init__()
        summary.count(SEQUENCES)
        guard.take_violations()
        memory = MemoryFS()
        fill(memory, MEMORY_LOWER)
        self.raw_lowers = [memory, zip_layer(ZIP_LOWER)]
        self.hashes = [content_hash(layer) for layer in self.raw_lowers]
        self.lowers = [guard.LowerGuard(layer) for layer in self.raw_lowers]
        self.temp = TempFS()
        self.upper = QuotaFS(self.temp, budget=1 << 40)
        self.engine = CountingCopyUp(chunk_size=16)
        self.overlay = self.open()
        self.model = initial_view()

    def open(self) -> OverlayFS:
        return OverlayFS(self.upper, self.lowers, copy_up=self.engine, auto_close=False)

    # -- helpers -----------------------------------------------------------

    def is_dir(self, path: str) -> bool:
        return path in self.model and self.model[path] is None

    def is_file(self, path: str) -> bool:
        return self.model.get(path) is not None

    def attempt(self, valid: bool, call: typing.Callable[[], object],
                change: typing.Callable[[], object]) -> None:
        """Run ``call``: if valid it must succeed and ``change`` the model, else fail cleanly."""
        summary.count(OPERATIONS)
        if valid:
            call()
            change()
            return
        with pytest.raises((fs.errors.FSError, fs.errors.IllegalBackReference)):
            call()

    # -- rules -------------------------------------------------------------

    @rule(path=PATHS, data=DATA)
    def write(self, path: str, data: bytes) -> None:
        valid = self.is_dir(parent(path)) and not self.is_dir(path)
        self.attempt(valid, lambda: self.overlay.writebytes(path, data),
                     lambda: self.model.__setitem__(path, data))

    @rule(path=PATHS, data=DATA)
    def append(self, path: str, data: bytes) -> None:
        valid = self.is_dir(parent(path)) and not self.is_dir(path)
        new = (self.model.get(path) or b"") + data
        self.attempt(valid, lambda: self.overlay.appendbytes(path, data),
                     lambda: self.model.__setitem__(path, new))

    @rule(path=PATHS, data=DATA, offset=st.integers(0, 50))
    def patch(self, path: str, data: bytes, offset: int) -> None:
        old = self.model.get(path) or b""
        new = old[:offset].ljust(offset, b"\0") + data + old[offset + len(data):]
        if not data:
            new = old

        def call() -> None:
            with self.overlay.openbin(path, "r+b") as handle:
                handle.seek(offset)
                handle.write(data)

        self.attempt(self.is_file(path), call, lambda: self.model.__setitem__(path, new))

    @rule(path=PATHS, size=st.integers(0, 30))
    def truncate(self, path: str, size: int) -> None:
        old = self.model.get(path) or b""
        new = old[:size].ljust(size, b"\0")

        def call() -> None:
            with self.overlay.openbin(path, "r+b") as handle:
                handle.truncate(size)

        self.attempt(self.is_file(path), call, lambda: self.model.__setitem__(path, new))

    @rule(path=PATHS)
    def remove(self, path: str) -> None:
        self.attempt(self.is_file(path), lambda: self.overlay.remove(path),
                     lambda: self.model.pop(path))

    @rule(path=PATHS)
    def removetree(self, path: str) -> None:
        def change() -> None:
            for key in [key for key in self.model if below(key, path)]:
                del self.model[key]

        self.attempt(self.is_dir(path), lambda: self.overlay.removetree(path), change)

    @rule(path=PATHS)
    def makedir(self, path: str) -> None:
        valid = self.is_dir(parent(path)) and path not in self.model
        self.attempt(valid, lambda: self.overlay.makedir(path),
                     lambda: self.model.__setitem__(path, None))

    @rule(src=PATHS, dst=PATHS)
    def move(self, src: str, dst: str) -> None:
        valid = self.is_file(src) and self.is_dir(parent(dst)) and not self.is_dir(dst)

        def change() -> None:
            self.model[dst] = self.model.pop(src)

        self.attempt(valid, lambda: self.overlay.move(src, dst, overwrite=True), change)

    @rule(src=PATHS, dst=PATHS)
    def movedir(self, src: str, dst: str) -> None:
        """Rename a directory, or (PyFilesystem2 semantics) merge it into an existing one."""
        moved = sorted(key for key in self.model if below(key, src))
        targets = {key: dst + key[len(src):] for key in moved}
        if self.is_dir(dst) and src != dst and any(
            target in self.model and (self.model[key] is None) != (self.model[target] is None)
            for key, target in targets.items()
        ):
            return  # a file meets a directory: movedir stops half-way (not modelled)
        valid = (self.is_dir(src) and self.is_dir(parent(dst)) and not below(dst, src)
                 and (dst not in self.model or self.is_dir(dst))) or (
                     src == dst and self.is_dir(src))

        def change() -> None:
            if src == dst:
                return
            for key in moved:
                data = self.model.pop(key)
                if targets[key] not in self.model or data is not None:
                    self.model[targets[key]] = data

        self.attempt(valid, lambda: self.overlay.movedir(src, dst, create=True), change)

    @rule(path=PATHS, stamp=st.integers(1, 2_000_000_000))
    def setinfo(self, path: str, stamp: int) -> None:
        def call() -> None:
            self.overlay.setinfo(path, {"details": {"modified": float(stamp)}})
            info = self.overlay.getinfo(path, ["details"])
            assert info.raw["details"]["modified"] == float(stamp)

        self.attempt(path in self.model, call, lambda: None)

    @rule(path=st.sampled_from(HOSTILE), data=DATA)
    def hostile(self, path: str, data: bytes) -> None:
        self.attempt(False, lambda: self.overlay.writebytes(path, data), lambda: None)

    @rule(path=PATHS, data=DATA, budget=st.integers(0, 64))
    def full_upper(self, path: str, data: bytes, budget: int) -> None:
        """Append to a file with almost no room left: success as modelled, or no change.

        (Only existing files: a new file's data written through an open upper
        handle is the upper FS's business, as on any FS.)
        """
        if not self.is_file(path):
            return
        valid = True
        new = (self.model.get(path) or b"") + data
        summary.count(OPERATIONS)
        self.upper.budget = budget
        try:
            self.overlay.appendbytes(path, data)
        except fs.errors.InsufficientStorage:
            assert valid
            return  # the invariants check that nothing changed
        except fs.errors.FSError:
            assert not valid
            return
        finally:
            self.upper.budget = 1 << 40
        assert valid
        self.model[path] = new

    @rule()
    def reopen(self) -> None:
        summary.count(OPERATIONS)
        self.overlay.close()
        self.overlay = self.open()

    # -- invariants --------------------------------------------------------

    @invariant()
    def same_tree(self) -> None:
        seen: Tree = {"/": None}
        for path, info in self.overlay.walk.info("/"):
            assert ".wh." not in path, f"reserved name visible: {path}"
            seen[path] = None if info.is_dir else self.overlay.readbytes(path)
        assert seen == self.model

    @invariant()
    def work_area_empty(self) -> None:
        assert not self.temp.isdir(WORK) or self.temp.listdir(WORK) == []

    @invariant()
    def copied_up_at_most_once(self) -> None:
        twice = {key: count for key, count in self.engine.data.items() if count > 1}
        assert twice == {}, f"copied up more than once: {twice}"

    @invariant()
    def lowers_never_written(self) -> None:
        assert guard.take_violations() == []

    def teardown(self) -> None:
        self.overlay.close()
        assert [content_hash(layer) for layer in self.raw_lowers] == self.hashes
        self.temp.close()


TestSoak = pytest.mark.timeout(0 if LONG else 300)(SoakMachine.TestCase)
TestSoak.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)
