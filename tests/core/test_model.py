"""A hypothesis state machine comparing ``OverlayFS`` with a plain dict model.

The overlay runs on a TempFS upper over two lowers: a MemoryFS that carries
markers of its own (a whiteout, an opaque directory, a lower whiteout inside a
merged directory), as a former upper stacked as a lower would, and a real zip
beneath it, with a file in one where the other has a directory. The model is a
dict of path -> bytes (file) or ``None`` (directory). After every step the
overlay's whole tree must equal the model, no reserved name may be visible and
every lower's content hash must be unchanged.

Besides the default strategies, the machine runs with the side-car whiteout
store and the overlayfs-order directory iterator of ``tests/strategies``; the
top lower's markers are written by the configuration's own store, and the
iterator's listings are compared as sets where it does not sort.

The budget comes from a hypothesis profile: ``UNIONFS_MODEL_PROFILE=long``
runs many more and longer sequences.
"""

from __future__ import annotations

import os
import sys
import typing

import fs.errors
import pytest
from fs.memoryfs import MemoryFS
from fs.tempfs import TempFS
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from unionfs_lib import CopyUpEngine, MarkerWhiteouts, OverlayFS
from unionfs_lib.errors import IllegalDestination, ReservedName
from unionfs_lib.ops.strategies import DirIteratorStrategy
from unionfs_lib.stores.whiteout_store import WhiteoutStore

from ..strategies.sidecar import SidecarWhiteouts
from ..strategies.unsorted import LayerOrderIterator
from ..support.layers import content_hash, fill, zip_layer

settings.register_profile(
    "unionfs-fast",
    max_examples=45,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "unionfs-long",
    max_examples=2000,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = "unionfs-" + os.environ.get("UNIONFS_MODEL_PROFILE", "fast")
# A long run must not be cut by the suite's per-test timeout.
pytestmark = pytest.mark.timeout(0 if PROFILE == "unionfs-long" else 300)

Entries = typing.Dict[str, typing.Optional[bytes]]

#: Bottom lower (a real zip).
BOTTOM: Entries = {
    "/a": None,
    "/a/f1": b"bottom a/f1",
    "/a/sub": None,
    "/a/sub/g": b"bottom a/sub/g",
    "/b": b"bottom file b",
    "/c": None,
    "/c/x": b"bottom c/x",
    "/e": None,
    "/e/y": b"bottom e/y",
    "/e/z": b"bottom e/z",
    "/h": b"bottom h",
    "/o": None,
    "/o/old": b"bottom o/old",
    "/o/sub": None,
    "/o/sub/g": b"bottom o/sub/g",
}

#: Top lower (a MemoryFS holding markers, like a former upper): its entries,
#: and below the markers the configuration's whiteout store writes into it.
TOP: Entries = {
    "/a": None,
    "/a/f2": b"top a/f2",
    "/a/sub": None,
    "/a/sub/h": b"top a/sub/h",
    "/b": None,  # a directory hides the file beneath
    "/b/inner": b"top b/inner",
    "/c": b"top file c",  # a file hides the directory beneath
    "/e": None,
    "/o": None,
    "/o/new": b"top o/new",
    "/t": b"top t",
}
#: Lower whiteouts in the top lower: inside a merged directory, and at the root.
TOP_WHITEOUTS = ["/e/z", "/h"]
#: Opaque directories of the top lower.
TOP_OPAQUE = ["/o"]

#: What the overlay shows before any change.
INITIAL: Entries = {
    "/": None,
    "/a": None,
    "/a/f1": b"bottom a/f1",
    "/a/f2": b"top a/f2",
    "/a/sub": None,
    "/a/sub/g": b"bottom a/sub/g",
    "/a/sub/h": b"top a/sub/h",
    "/b": None,
    "/b/inner": b"top b/inner",
    "/c": b"top file c",
    "/e": None,
    "/e/y": b"bottom e/y",
    "/o": None,
    "/o/new": b"top o/new",
    "/t": b"top t",
}

NAMES = ["a", "b", "c", "e", "h", "o", "t", "f1", "sub", "g", "z", "new", "old", "n"]
DATA = st.binary(max_size=12)


def parent_of(path: str) -> str:
    """Return the parent of a canonical path."""
    parent = path.rsplit("/", 1)[0]
    return parent or "/"


def below(path: str, ancestor: str) -> bool:
    """Tell whether ``path`` is ``ancestor`` or beneath it."""
    return ancestor == "/" or path == ancestor or path.startswith(ancestor + "/")


class Model:
    """The reference: a dict of path -> bytes or ``None`` (directory).

    Each operation checks its preconditions first (raising the ``fs.errors``
    exception PyFilesystem2 documents) and only then changes the dict.
    """

    def __init__(self, tree: Entries) -> None:
        self.tree = dict(tree)
        self.times: dict[str, int] = {}

    def isdir(self, path: str) -> bool:
        return path in self.tree and self.tree[path] is None

    def isfile(self, path: str) -> bool:
        return path in self.tree and self.tree[path] is not None

    def subtree(self, path: str) -> list[str]:
        return [p for p in self.tree if below(p, path)]

    def children(self, path: str) -> list[str]:
        return [p for p in self.tree if p != "/" and parent_of(p) == path]

    def _file_target(self, path: str) -> None:
        if not self.isdir(parent_of(path)):
            raise fs.errors.ResourceNotFound(path)
        if self.isdir(path):
            raise fs.errors.FileExpected(path)

    def _existing_file(self, path: str) -> bytes:
        if not self.isdir(parent_of(path)) or path not in self.tree:
            raise fs.errors.ResourceNotFound(path)
        data = self.tree[path]
        if data is None:
            raise fs.errors.FileExpected(path)
        return data

    def _existing_dir(self, path: str) -> None:
        if path not in self.tree:
            raise fs.errors.ResourceNotFound(path)
        if not self.isdir(path):
            raise fs.errors.DirectoryExpected(path)

    def write(self, path: str, data: bytes) -> None:
        self._file_target(path)
        self.tree[path] = data
        self.times.pop(path, None)

    def append(self, path: str, data: bytes) -> None:
        self._file_target(path)
        self.tree[path] = (self.tree.get(path) or b"") + data
        self.times.pop(path, None)

    def patch(self, path: str, offset: int, data: bytes) -> None:
        old = self._existing_file(path)
        self.times.pop(path, None)  # even an empty write may touch the time
        if not data:
            return  # writing nothing never extends a file
        padded = old.ljust(offset, b"\0")
        self.tree[path] = padded[:offset] + data + padded[offset + len(data) :]
        self.times.pop(path, None)

    def truncate(self, path: str, size: int) -> None:
        old = self._existing_file(path)
        self.tree[path] = old[:size].ljust(size, b"\0")
        self.times.pop(path, None)

    def remove(self, path: str) -> None:
        if path not in self.tree:
            raise fs.errors.ResourceNotFound(path)
        if self.isdir(path):
            raise fs.errors.FileExpected(path)
        del self.tree[path]
        self.times.pop(path, None)

    def makedir(self, path: str) -> None:
        if path in self.tree:
            raise fs.errors.DirectoryExists(path)
        if not self.isdir(parent_of(path)):
            raise fs.errors.ResourceNotFound(path)
        self.tree[path] = None

    def removedir(self, path: str) -> None:
        self._existing_dir(path)
        if self.children(path):
            raise fs.errors.DirectoryNotEmpty(path)
        del self.tree[path]
        self.times.pop(path, None)

    def removetree(self, path: str) -> None:
        self._existing_dir(path)
        for found in self.subtree(path):
            if found != "/":
                del self.tree[found]
                self.times.pop(found, None)

    def move(self, src: str, dst: str, overwrite: bool) -> None:
        data = self._existing_file(src)
        if not self.isdir(parent_of(dst)):
            raise fs.errors.ResourceNotFound(dst)
        if dst in self.tree:
            if not overwrite:
                raise fs.errors.DestinationExists(dst)
            if self.isdir(dst):
                raise fs.errors.FileExpected(dst)
        if src == dst:
            return
        del self.tree[src]
        self.tree[dst] = data
        self.times.pop(dst, None)
        if src in self.times:
            self.times[dst] = self.times.pop(src)

    def movedir(self, src: str, dst: str, create: bool) -> bool:
        """Apply a ``movedir``; return ``False`` for an ill-defined merge (skipped)."""
        if dst not in self.tree and not create:
            raise fs.errors.ResourceNotFound(dst)
        self._existing_dir(src)
        if src == "/":
            raise IllegalDestination(dst)
        if dst not in self.tree:
            if not self.isdir(parent_of(dst)):
                raise fs.errors.ResourceNotFound(dst)
            if below(dst, src):
                raise IllegalDestination(dst)
            self._relocate(src, dst)
            return True
        if not self.isdir(dst):
            raise fs.errors.DirectoryExpected(dst)
        if src == dst:
            return True
        if below(dst, src):
            raise IllegalDestination(dst)
        return self._merge(src, dst)

    def _relocate(self, src: str, dst: str) -> None:
        for old in sorted(self.subtree(src)):
            new = dst + old[len(src) :]
            self.tree[new] = self.tree.pop(old)
            if old in self.times:
                self.times[new] = self.times.pop(old)

    def _merge(self, src: str, dst: str) -> bool:
        """PyFilesystem2's movedir into an existing directory, if well defined."""
        moves = [(old, dst + old[len(src) :]) for old in sorted(self.subtree(src)) if old != src]
        for old, new in moves:
            if below(new, src):
                return False  # the merge would write into its own source
            if new in self.tree and (self.tree[old] is None) != (self.tree[new] is None):
                return False  # a type conflict: both fail half-way, differently
        for old, new in moves:
            data = self.tree[old]
            if data is not None or new not in self.tree:
                self.tree[new] = data
                self.times.pop(new, None)
                if old in self.times:
                    self.times[new] = self.times[old]
        for old in self.subtree(src):
            del self.tree[old]
            self.times.pop(old, None)
        return True


class OverlayModel(RuleBasedStateMachine):
    """Random operation sequences on an overlay and on the model, compared."""

    #: The upper layer: a TempFS, so a reopen really goes through the OS.
    make_upper: typing.Callable[[], typing.Any] = TempFS
    #: The whiteout store (it also writes the top lower's markers).
    whiteouts: WhiteoutStore = MarkerWhiteouts()
    #: The directory iterator (``None``: the default).
    readdir: DirIteratorStrategy | None = None
    #: Whether the iterator lists names sorted (else they are compared as sets).
    sorted_listings = True
    #: Names the store reserves, which creating must refuse.
    reserved_names = [".wh.a", ".wh.new", ".wh..wh..opq", ".wh..wh..x"]

    def __init__(self) -> None:
        super().__init__()
        self.lowers = [self._top_lower(), zip_layer(BOTTOM)]
        self.hashes = [content_hash(layer) for layer in self.lowers]
        self.upper = self.make_upper()
        self.overlay = self._open()
        self.model = Model(INITIAL)
        self.clock = 1_000_000_000

    def _top_lower(self) -> MemoryFS:
        """Build the top lower: its entries, then its markers in the store's format."""
        top = MemoryFS()
        fill(top, TOP)
        for path in TOP_WHITEOUTS:
            self.whiteouts.add_whiteout(top, path)
        for path in TOP_OPAQUE:
            self.whiteouts.set_opaque(top, path)
        return top

    def _open(self) -> OverlayFS:
        """Open the overlay on the machine's layers (again, for a reopen)."""
        return OverlayFS(
            self.upper,
            self.lowers,
            auto_close=False,
            whiteouts=self.whiteouts,
            readdir=self.readdir,
        )

    def teardown(self) -> None:
        self.overlay.close()
        self.upper.close()
        for layer in self.lowers:
            layer.close()

    # -- drawing paths ---------------------------------------------------

    def _path(
        self, data: st.DataObject, existing: bool | None = None, kind: str | None = None
    ) -> str:
        """Draw a path: mostly an existing one (of ``kind``: "file" or "dir"), else a new one.

        New paths are built from ``NAMES``, so they often hit lower entries,
        whiteouts and former names.
        """
        known = sorted(p for p in self.model.tree if p != "/")
        choice = data.draw(st.integers(0, 9))
        if existing is None:
            existing = choice < 7
        if existing:
            preferred = [
                p for p in known if kind is None or self.model.isdir(p) == (kind == "dir")
            ]
            pool = preferred if preferred and choice < 6 else known
            if pool:
                return data.draw(st.sampled_from(pool))
        parts = data.draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3))
        return "/" + "/".join(parts)

    def _check(
        self,
        model_op: typing.Callable[[], object],
        overlay_op: typing.Callable[[], object],
    ) -> object:
        """Run the model, then the overlay; their errors must agree."""
        rule_name = sys._getframe(1).f_code.co_name.lstrip("_")
        try:
            outcome = model_op()
        except fs.errors.FSError as error:
            expected = type(error)
            event(f"{rule_name}: {expected.__name__}")
            try:
                overlay_op()
            except expected:
                return None
            except fs.errors.FSError as other:
                message = f"expected {expected.__name__}, overlay raised {other!r}"
                raise AssertionError(message) from other
            raise AssertionError(f"expected {expected.__name__}, overlay succeeded") from None
        event(f"{rule_name}: done")
        overlay_op()
        return outcome

    # -- rules -----------------------------------------------------------

    @rule(data=st.data(), content=DATA)
    def write(self, data: st.DataObject, content: bytes) -> None:
        path = self._path(data, kind="file")
        self._check(
            lambda: self.model.write(path, content),
            lambda: self.overlay.writebytes(path, content),
        )

    @rule(data=st.data(), content=DATA)
    def append(self, data: st.DataObject, content: bytes) -> None:
        path = self._path(data, kind="file")
        self._check(
            lambda: self.model.append(path, content),
            lambda: self.overlay.appendbytes(path, content),
        )

    @rule(data=st.data(), content=DATA, offset=st.integers(0, 16))
    def patch(self, data: st.DataObject, content: bytes, offset: int) -> None:
        path = self._path(data, kind="file")

        def overlay_op() -> None:
            with self.overlay.openbin(path, "r+") as handle:
                handle.seek(offset)
                handle.write(content)

        self._check(lambda: self.model.patch(path, offset, content), overlay_op)

    @rule(data=st.data(), size=st.integers(0, 16))
    def truncate(self, data: st.DataObject, size: int) -> None:
        path = self._path(data, kind="file")

        def overlay_op() -> None:
            with self.overlay.openbin(path, "r+") as handle:
                handle.truncate(size)

        self._check(lambda: self.model.truncate(path, size), overlay_op)

    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        path = self._path(data, kind="file")
        self._check(lambda: self.model.remove(path), lambda: self.overlay.remove(path))

    @rule(data=st.data())
    def makedir(self, data: st.DataObject) -> None:
        path = self._path(data)
        self._check(lambda: self.model.makedir(path), lambda: self.overlay.makedir(path))

    @rule(data=st.data())
    def removedir(self, data: st.DataObject) -> None:
        path = self._path(data, kind="dir")
        self._check(lambda: self.model.removedir(path), lambda: self.overlay.removedir(path))

    @rule(data=st.data())
    def removetree(self, data: st.DataObject) -> None:
        # Now and then the root: every visible entry goes, the root stays.
        path = "/" if data.draw(st.integers(0, 15)) == 0 else self._path(data, kind="dir")
        self._check(lambda: self.model.removetree(path), lambda: self.overlay.removetree(path))

    @rule(data=st.data(), overwrite=st.booleans())
    def move(self, data: st.DataObject, overwrite: bool) -> None:
        src = self._path(data, kind="file")
        dst = self._path(data)
        self._check(
            lambda: self.model.move(src, dst, overwrite),
            lambda: self.overlay.move(src, dst, overwrite=overwrite),
        )

    @rule(data=st.data())
    def movedir_rename(self, data: st.DataObject) -> None:
        src = self._path(data, existing=True, kind="dir")
        dst = self._path(data, existing=False)
        self._movedir(src, dst, create=True)

    @rule(data=st.data(), create=st.booleans())
    def movedir_into(self, data: st.DataObject, create: bool) -> None:
        src = self._path(data, existing=True, kind="dir")
        dst = self._path(data, existing=True, kind="dir")
        self._movedir(src, dst, create)

    def _movedir(self, src: str, dst: str, create: bool) -> None:
        trial = Model(self.model.tree)
        trial.times = dict(self.model.times)
        try:
            defined = trial.movedir(src, dst, create)
        except fs.errors.FSError:
            defined = True
        if not defined:
            return
        self._check(
            lambda: self.model.movedir(src, dst, create),
            lambda: self.overlay.movedir(src, dst, create=create),
        )

    @rule(data=st.data())
    def setinfo(self, data: st.DataObject) -> None:
        path = self._path(data)
        self.clock += 1000
        stamp = self.clock
        if path not in self.model.tree:
            with _raises(fs.errors.ResourceNotFound):
                self.overlay.setinfo(path, {"details": {"modified": stamp}})
            return
        self.overlay.setinfo(path, {"details": {"modified": stamp}})
        assert self.overlay.getinfo(path, ["details"]).raw["details"]["modified"] == stamp
        if self.model.isfile(path):
            self.model.times[path] = stamp

    @rule(data=st.data())
    def create_reserved(self, data: st.DataObject) -> None:
        directory = data.draw(st.sampled_from(sorted(p for p in self.model.tree
                                                     if self.model.isdir(p))))
        name = data.draw(st.sampled_from(self.reserved_names))
        path = directory.rstrip("/") + "/" + name
        with _raises(ReservedName):
            if data.draw(st.booleans()):
                self.overlay.writebytes(path, b"x")
            else:
                self.overlay.makedir(path)

    @rule()
    def reopen(self) -> None:
        self.overlay.close()
        self.overlay = self._open()

    # -- invariants ------------------------------------------------------

    @invariant()
    def same_tree(self) -> None:
        seen: Entries = {"/": None}
        pending = ["/"]
        while pending:
            directory = pending.pop()
            names = self.overlay.listdir(directory)
            assert len(names) == len(set(names)), f"repeated names in {directory}"
            if self.sorted_listings:
                assert names == sorted(names), f"unsorted names in {directory}"
            scanned = [(info.name, info.is_dir) for info in self.overlay.scandir(directory)]
            assert [name for name, _ in scanned] == names, "scandir and listdir disagree"
            described = list(self.overlay.iterdir(directory, None, ["overlay"]))
            assert [info.name for _, info in described] == names, "iterdir and listdir disagree"
            numbered = list(self.overlay.iterdir_numbers(directory))
            assert numbered == [
                (cookie, info.name, info.is_dir, info.raw["overlay"]["ino"])
                for cookie, info in described
            ], "iterdir_numbers and iterdir disagree"
            infos = dict(scanned)
            for name in names:
                assert not self.whiteouts.is_reserved(name), f"reserved name visible: {name}"
                path = directory.rstrip("/") + "/" + name
                if infos[name]:
                    seen[path] = None
                    pending.append(path)
                else:
                    seen[path] = self.overlay.readbytes(path)
        assert seen == self.model.tree
        for path, stamp in self.model.times.items():
            assert self.overlay.getinfo(path, ["details"]).raw["details"]["modified"] == stamp

    @invariant()
    def lowers_untouched(self) -> None:
        assert [content_hash(layer) for layer in self.lowers] == self.hashes


class _raises:
    """A tiny ``pytest.raises`` that hypothesis can replay without fixtures."""

    def __init__(self, expected: type[BaseException]) -> None:
        self.expected = expected

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: typing.Any, value: typing.Any, tb: typing.Any) -> bool:
        if kind is None:
            raise AssertionError(f"{self.expected.__name__} not raised")
        return issubclass(kind, self.expected)


class MemoryUpperModel(OverlayModel):
    """The same over a MemoryFS upper (no OS renames; kept open across reopens).

    This machine also starves the lookup caches (``cache_entries=4``, the
    public knob, so the caches keep their path index) and copies up in 3-byte
    chunks, so every step runs through cache eviction.
    """

    make_upper = MemoryFS

    def _open(self) -> OverlayFS:
        overlay = OverlayFS(
            self.upper,
            self.lowers,
            auto_close=False,
            whiteouts=self.whiteouts,
            readdir=self.readdir,
            copy_up=CopyUpEngine(chunk_size=3),
            cache_entries=4,
        )
        assert overlay._sb.resolver._listings.budget == 4
        return overlay


class SidecarStoreModel(OverlayModel):
    """The same with every marker of a directory in one side-car record."""

    whiteouts = SidecarWhiteouts()
    reserved_names = [".unionfs-dir.json", ".unionfs-work", ".unionfs-x"]


class LayerOrderModel(OverlayModel):
    """The same with listings in overlayfs's order and positional cookies (tiny batches)."""

    readdir = LayerOrderIterator(batch_size=2)
    sorted_listings = False


class BothStrategiesModel(MemoryUpperModel):
    """Both strategies of another design at once, on starved caches and a MemoryFS upper."""

    whiteouts = SidecarWhiteouts()
    reserved_names = SidecarStoreModel.reserved_names
    readdir = LayerOrderIterator(batch_size=3)
    sorted_listings = False


MACHINES = [OverlayModel, MemoryUpperModel, SidecarStoreModel, LayerOrderModel, BothStrategiesModel]
for _machine in MACHINES:
    _machine.TestCase.settings = settings.get_profile(PROFILE)
TestOverlayModel = OverlayModel.TestCase
TestMemoryUpperModel = MemoryUpperModel.TestCase
TestSidecarStoreModel = SidecarStoreModel.TestCase
TestLayerOrderModel = LayerOrderModel.TestCase
TestBothStrategiesModel = BothStrategiesModel.TestCase


@pytest.mark.parametrize("machine_class", MACHINES, ids=lambda found: found.__name__)
def test_initial_view_matches_model(machine_class: type[OverlayModel]) -> None:
    """The hand-written initial view is what the overlay shows (a sanity check)."""
    machine = machine_class()
    try:
        machine.same_tree()
    finally:
        machine.teardown()
