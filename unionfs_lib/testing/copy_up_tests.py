"""The conformance suite of a copy-up engine (:class:`~unionfs_lib.ops.strategies.CopyUpStrategy`).

Combine :class:`CopyUpTests` with ``unittest.TestCase`` and give it one
method, ``make_engine``, returning a new engine::

    class TestMyCopyUp(CopyUpTests, unittest.TestCase):
        def make_engine(self):
            return MyCopyUp()

An engine is only ever called by the overlay, with the overlay's context,
so every test drives an :class:`~unionfs_lib.overlay.OverlayFS` built with
the engine: a write, a truncation, a move, a change of metadata and a new
entry in a lower directory must each bring the entry (and its parents) into
the upper with its bytes, its times and its inode number, read back alike
after reopening, and never write a lower. A copy-up that fails half-way (the
upper fills up) must leave nothing visible changed: no half file.

Layers are :class:`~fs.memoryfs.MemoryFS` (the upper a :class:`QuotaFS`,
which can play a full disk) and the store the default
:class:`~unionfs_lib.whiteout.MarkerWhiteouts`; override
:meth:`CopyUpTests.make_lower`, :meth:`~CopyUpTests.make_upper` or
:meth:`~CopyUpTests.make_store` to change them (the test of a failing
copy-up always fills a :class:`QuotaFS`).
"""

from __future__ import annotations

import typing

import fs.errors
from fs.base import FS
from fs.memoryfs import MemoryFS

from unionfs_lib.ops.strategies import CopyUpStrategy
from unionfs_lib.overlay import OverlayFS
from unionfs_lib.stores.marker_whiteouts import MarkerWhiteouts
from unionfs_lib.stores.whiteout_store import WhiteoutStore
from unionfs_lib.testing.suite_base import SuiteBase
from unionfs_lib.testing.trees import Tree, fill, snapshot, tree

#: A file larger than any sensible chunk of a streaming copy, not a repeated byte.
BIG = bytes(range(256)) * 1200
#: Times given to the lower's entries, so that a copy that loses them shows.
LOWER_TIME = 1000000000.0
#: The lower layer every test starts from.
LOWER: Tree = {
    "/d": None,
    "/d/sub": None,
    "/d/sub/big": BIG,
    "/d/a": b"lower a",
    "/d/b": b"lower b",
    "/top": b"lower top",
}


class QuotaFS(MemoryFS):
    """A MemoryFS that refuses to grow any one file past ``budget`` bytes, as a full disk.

    The write that crosses the budget stores what fits and raises
    ``fs.errors.InsufficientStorage``; with ``budget`` ``None`` there is no limit.
    """

    def __init__(self, budget: int | None = None) -> None:
        """Start with the given budget per file."""
        super().__init__()
        self.budget = budget

    def openbin(
        self, path: str, mode: str = "r", buffering: int = -1, **options: typing.Any
    ) -> typing.Any:
        """Open a file; a writing handle counts its bytes against the budget."""
        handle = super().openbin(path, mode, buffering, **options)
        if self.budget is None or mode.strip("bt") == "r":
            return handle
        return _QuotaFile(handle, path, self.budget)


class _QuotaFile:
    """A binary file handle that stops at a byte budget (see :class:`QuotaFS`)."""

    def __init__(self, handle: typing.Any, path: str, budget: int) -> None:
        """Wrap ``handle`` of ``path``."""
        self._handle = handle
        self._path = path
        self._left = budget

    def write(self, data: typing.Any) -> int:
        """Write what fits in the budget; raise ``InsufficientStorage`` past it."""
        size = len(data)
        if size <= self._left:
            self._left -= size
            return typing.cast(int, self._handle.write(data))
        self._handle.write(bytes(data[: self._left]))
        self._left = 0
        raise fs.errors.InsufficientStorage(self._path, msg="the upper is full")

    def __getattr__(self, name: str) -> typing.Any:
        """Everything else is the wrapped handle's."""
        return getattr(self._handle, name)

    def __enter__(self) -> _QuotaFile:
        """Use the handle as a context manager."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the handle."""
        self._handle.close()


class CopyUpTests(SuiteBase):
    """The contract of a copy-up engine; implement :meth:`make_engine`."""

    def make_engine(self) -> CopyUpStrategy:
        """Return a new engine of the kind under test."""
        raise NotImplementedError("implement make_engine() to return the engine under test")

    def make_store(self) -> WhiteoutStore:
        """Return the whiteout store of the overlays (default: marker files)."""
        return MarkerWhiteouts()

    def make_lower(self) -> FS:
        """Return an empty lower layer (default: a MemoryFS)."""
        return MemoryFS()

    def make_upper(self) -> FS:
        """Return an empty upper layer (default: a :class:`QuotaFS` without a budget)."""
        return QuotaFS()

    # -- helpers ---------------------------------------------------------------

    def lower(self) -> FS:
        """Return a new lower holding :data:`LOWER`, every entry dated :data:`LOWER_TIME`."""
        lower = self.make_lower()
        fill(lower, LOWER)
        for path in LOWER:
            lower.setinfo(path, {"details": {"modified": LOWER_TIME, "accessed": LOWER_TIME}})
        return lower

    def open_overlay(self, upper: FS, lowers: list[FS]) -> OverlayFS:
        """Return an overlay of the layers with a new engine; closed after the test."""
        overlay = OverlayFS(
            upper,
            lowers,
            whiteouts=self.make_store(),
            copy_up=self.make_engine(),
            auto_close=False,
        )
        self.addCleanup(overlay.close)
        return overlay

    def reopen(self, overlay: OverlayFS) -> OverlayFS:
        """Close ``overlay`` and open its layers again with a new engine."""
        upper, lowers = overlay.upper, list(overlay.lowers)
        overlay.close()
        assert upper is not None
        return self.open_overlay(upper, lowers)

    def modified(self, layer: FS, path: str) -> float | None:
        """Return the modified time of ``path`` as a timestamp."""
        when = layer.getinfo(path, ["details"]).modified
        return None if when is None else when.timestamp()

    def ino(self, overlay: OverlayFS, path: str) -> int:
        """Return the inode number the overlay shows for ``path``."""
        return typing.cast(int, overlay.getinfo(path, ["overlay"]).raw["overlay"]["ino"])

    def visible_upper_files(self, overlay: OverlayFS) -> dict[str, bytes]:
        """Return the upper's files outside the store's reserved names (its work area, markers)."""
        upper = overlay.upper
        assert upper is not None
        store = overlay.whiteouts
        found = {}
        for path in upper.walk.files():
            if not any(store.is_reserved(part) for part in path.split("/") if part):
                found[path] = upper.readbytes(path)
        return found

    # -- the tests -------------------------------------------------------------

    def test_engine_satisfies_the_protocol(self) -> None:
        """The engine is a ``CopyUpStrategy`` (it has the protocol's methods)."""
        """The engine is a ``CopyUpStrategy`` (it has the protocol's methods)."""
        self.assertIsInstance(self.make_engine(), CopyUpStrategy)

    def test_a_write_copies_the_whole_file_up(self) -> None:
        """A write to a lower file copies all its bytes into the upper first."""
        """A write to a lower file copies all its bytes into the upper first."""
        lower = self.lower()
        before = snapshot(lower)
        overlay = self.open_overlay(self.make_upper(), [lower])
        overlay.appendbytes("/d/sub/big", b"+")
        self.assertEqual(overlay.readbytes("/d/sub/big"), BIG + b"+")
        upper = overlay.upper
        assert upper is not None
        self.assertEqual(upper.readbytes("/d/sub/big"), BIG + b"+", "the data is not in the upper")
        again = self.reopen(overlay)
        self.assertEqual(again.readbytes("/d/sub/big"), BIG + b"+")
        self.assertEqual(again.readbytes("/d/a"), b"lower a")
        self.assertEqual(snapshot(lower), before, "a lower layer was written")

    def test_a_copy_up_keeps_the_times_of_the_file_and_its_parents(self) -> None:
        """A copied file and its copied parents keep the lower modified times."""
        """A copied file and the parents copied up with it keep the lower's modified times."""
        overlay = self.open_overlay(self.make_upper(), [self.lower()])
        overlay.move("/d/sub/big", "/d/sub/moved")  # a rename changes no time of the file
        overlay.setinfo("/d/b", {"details": {"accessed": 7.0}})  # nor does a new access time
        upper = overlay.upper
        assert upper is not None
        self.assertTrue(upper.isdir("/d/sub"), "the parents were not copied up")
        for path in ("/d/sub/moved", "/d/b", "/d"):
            self.assertEqual(self.modified(overlay, path), LOWER_TIME, path)
        self.assertEqual(overlay.readbytes("/d/sub/moved"), BIG)
        self.assertEqual(overlay.readbytes("/d/b"), b"lower b")

    def test_a_copy_up_keeps_the_inode_number_across_reopening(self) -> None:
        """A file keeps its inode number through copy-up and reopening (a store with records)."""
        """A file keeps its inode number through copy-up and reopening (stores with records)."""
        overlay = self.open_overlay(self.make_upper(), [self.lower()])
        if not overlay.whiteouts.keeps_records:
            self.skipTest("the store keeps no identity records")
        numbers = {path: self.ino(overlay, path) for path in ("/d/a", "/d/sub/big", "/top")}
        overlay.appendbytes("/d/a", b"+")
        overlay.setinfo("/d/sub/big", {"details": {"modified": 5.0}})
        with overlay.openbin("/top", "r+") as handle:
            handle.truncate(3)
        after = {path: self.ino(overlay, path) for path in numbers}
        self.assertEqual(after, numbers, "a copy-up changed an inode number")
        again = self.reopen(overlay)
        self.assertEqual({path: self.ino(again, path) for path in numbers}, numbers)

    def test_a_failed_copy_up_leaves_nothing_visible(self) -> None:
        """A copy-up failing half-way (a full upper) leaves no half file, changes nothing."""
        """A copy-up that fails half-way (a full upper) leaves no half file and changes nothing."""
        lower = self.lower()
        upper = QuotaFS(budget=len(BIG) // 3)
        overlay = self.open_overlay(upper, [lower])
        shown = tree(overlay)
        with self.assertRaises(fs.errors.FSError):
            overlay.appendbytes("/d/sub/big", b"+")
        self.assertEqual(tree(overlay), shown, "a failed copy-up changed what the overlay shows")
        self.assertEqual(self.visible_upper_files(overlay), {}, "a half file is in the upper")
        again = self.reopen(overlay)
        self.assertEqual(tree(again), shown, "a failed copy-up left something behind")
        upper.budget = None
        again.appendbytes("/d/sub/big", b"+")
        self.assertEqual(again.readbytes("/d/sub/big"), BIG + b"+")

    def test_a_move_copies_a_lower_file_to_its_destination(self) -> None:
        """Moving a lower file copies it up at its destination and hides its source."""
        """Moving a lower file copies it up at its destination and hides its source."""
        lower = self.lower()
        before = snapshot(lower)
        overlay = self.open_overlay(self.make_upper(), [lower])
        overlay.makedir("/new")
        overlay.move("/d/sub/big", "/new/big")
        overlay.move("/d/a", "/d/renamed")
        self.assertFalse(overlay.exists("/d/sub/big"))
        again = self.reopen(overlay)
        self.assertEqual(again.readbytes("/new/big"), BIG)
        self.assertEqual(again.readbytes("/d/renamed"), b"lower a")
        self.assertEqual(sorted(again.listdir("/d")), ["b", "renamed", "sub"])
        self.assertEqual(again.listdir("/d/sub"), [])
        self.assertEqual(snapshot(lower), before, "a lower layer was written")

    def test_a_truncation_copies_what_it_keeps(self) -> None:
        """Truncating or overwriting a lower file keeps the right bytes, across reopening."""
        """Truncating or overwriting a lower file keeps the bytes it should, across reopening."""
        overlay = self.open_overlay(self.make_upper(), [self.lower()])
        with overlay.openbin("/d/sub/big", "r+") as handle:
            handle.truncate(1000)
        self.assertEqual(overlay.readbytes("/d/sub/big"), BIG[:1000])
        with overlay.openbin("/d/a", "w") as handle:
            handle.write(b"new")
        again = self.reopen(overlay)
        self.assertEqual(again.readbytes("/d/sub/big"), BIG[:1000])
        self.assertEqual(again.readbytes("/d/a"), b"new")

    def test_a_change_of_metadata_keeps_the_data(self) -> None:
        """A change of metadata alone keeps the data, and a later write still finds it."""
        """A change of metadata alone keeps the data, and a later write still finds it."""
        lower = self.lower()
        overlay = self.open_overlay(self.make_upper(), [lower])
        overlay.setinfo("/d/sub/big", {"details": {"modified": 5.0}})
        self.assertEqual(overlay.readbytes("/d/sub/big"), BIG)
        self.assertEqual(self.modified(overlay, "/d/sub/big"), 5.0)
        again = self.reopen(overlay)
        self.assertEqual(again.readbytes("/d/sub/big"), BIG)
        self.assertEqual(self.modified(again, "/d/sub/big"), 5.0)
        again.appendbytes("/d/sub/big", b"+")  # the data follows a metadata-only copy
        self.assertEqual(self.reopen(again).readbytes("/d/sub/big"), BIG + b"+")
        self.assertEqual(lower.readbytes("/d/sub/big"), BIG)

    def test_a_new_entry_in_a_lower_directory_copies_the_directories_up(self) -> None:
        """Creating in a lower directory copies it up, times kept; a missing one is refused."""
        """Creating in a lower directory copies it up, times kept; a missing one is refused."""
        lower = self.lower()
        before = snapshot(lower)
        overlay = self.open_overlay(self.make_upper(), [lower])
        overlay.makedir("/d/sub/new")
        overlay.writebytes("/d/sub/new/f", b"f")
        self.assertEqual(sorted(overlay.listdir("/d/sub")), ["big", "new"])
        self.assertEqual(self.modified(overlay, "/d"), LOWER_TIME, "a parent lost its times")
        with self.assertRaises(fs.errors.ResourceNotFound):
            overlay.makedir("/missing/new")
        with self.assertRaises(fs.errors.ResourceNotFound):
            overlay.writebytes("/d/missing/f", b"f")
        again = self.reopen(overlay)
        self.assertEqual(again.readbytes("/d/sub/new/f"), b"f")
        self.assertEqual(again.readbytes("/d/sub/big"), BIG)
        self.assertEqual(snapshot(lower), before, "a lower layer was written")


__all__ = ["BIG", "CopyUpTests", "LOWER", "QuotaFS"]
