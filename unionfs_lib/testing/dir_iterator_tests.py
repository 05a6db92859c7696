"""The conformance suite of a directory iterator (``DirIteratorStrategy``).

Combine :class:`DirIteratorTests` with ``unittest.TestCase`` and give it one
method, ``make_iterator``, returning a new iterator::

    class TestMyIterator(DirIteratorTests, unittest.TestCase):
        def make_iterator(self):
            return MyIterator(batch_size=8)

Give the iterator a small batch size, so that the suite's directories take
several batches. Every test drives an :class:`~unionfs_lib.overlay.OverlayFS`
built with the iterator over an upper and two lowers, with whiteouts, an
opaque directory and names in several layers: every visible name exactly
once and in one order for ``listdir``, ``scandir`` pages and ``iterdir``;
``iterdir`` resumes after any cookie, after reopening too, and seeking back
and forth gives the same entries; a malformed cookie is refused; an
iteration under concurrent change ends and returns only visible names, each
once; and no loop of create, remove and seek makes the overlay hold more
memory (the ``telldir``/``seekdir`` denial of service).

An iterator that guarantees less under change than "each entry present
throughout an iteration once, no name twice" (the protocol allows it, if its
docstring says so) sets :attr:`DirIteratorTests.stable_under_change` to
``False``; the test of that guarantee is then skipped.
"""

from __future__ import annotations

import gc
import itertools
import tracemalloc
import typing

import fs.errors
from fs.base import FS
from fs.memoryfs import MemoryFS

from unionfs_lib.ops.strategies import DirIteratorStrategy
from unionfs_lib.overlay import OverlayFS
from unionfs_lib.testing.suite_base import SuiteBase
from unionfs_lib.testing.trees import Tree, fill, snapshot

#: Names of the big directory ``/d`` in each layer (some in several).
UPPER_NAMES = [f"u{index:02d}" for index in range(0, 30, 3)] + ["shared", "top-and-upper"]
TOP_NAMES = [f"t{index:02d}" for index in range(20)] + ["shared", "top-and-upper", "hidden"]
BOTTOM_NAMES = [f"b{index:02d}" for index in range(25)] + ["shared", "gone"]
#: What ``/d`` lists once ``hidden`` and ``gone`` are removed.
VISIBLE = sorted(
    set(UPPER_NAMES + TOP_NAMES + BOTTOM_NAMES + ["opaque", "empty"]) - {"hidden", "gone"}
)
#: Cookies no iterator hands out.
MALFORMED_COOKIES = ("\0not a cookie\0", "//..//")
#: How much the overlay may grow over a long create/seek/remove loop.
MEMORY_SLACK = 64 * 1024


def _entries(names: list[str], label: str) -> Tree:
    """Return the files ``/d/<name>`` holding ``label`` and their name."""
    return {f"/d/{name}": f"{label} {name}".encode() for name in names}


class DirIteratorTests(SuiteBase):
    """The contract of a directory iterator; implement :meth:`make_iterator`."""

    #: Whether the iterator returns each entry present throughout an iteration once.
    stable_under_change: typing.ClassVar[bool] = True

    def make_iterator(self) -> DirIteratorStrategy:
        """Return a new iterator of the kind under test (with a small batch size)."""
        raise NotImplementedError("implement make_iterator() to return the iterator under test")

    def make_layer(self) -> FS:
        """Return an empty layer (default: a MemoryFS)."""
        return MemoryFS()

    # -- helpers ---------------------------------------------------------------

    def layers(self) -> tuple[FS, FS, FS]:
        """Return an upper and two lowers whose ``/d`` holds names of every layer."""
        upper, top, bottom = self.make_layer(), self.make_layer(), self.make_layer()
        fill(upper, {"/d": None, **_entries(UPPER_NAMES, "upper")})
        fill(top, {"/d": None, "/d/empty": None, **_entries(TOP_NAMES, "top")})
        fill(
            bottom,
            {"/d": None, "/d/opaque": None, "/d/opaque/below": b"below"}
            | _entries(BOTTOM_NAMES, "bottom"),
        )
        return upper, top, bottom

    def open_overlay(self, upper: FS, lowers: list[FS]) -> OverlayFS:
        """Return an overlay of the layers with a new iterator; closed after the test."""
        overlay = OverlayFS(upper, lowers, readdir=self.make_iterator(), auto_close=False)
        self.addCleanup(overlay.close)
        return overlay

    def overlay(self) -> OverlayFS:
        """Return an overlay of :meth:`layers` showing :data:`VISIBLE` in ``/d``."""
        upper, top, bottom = self.layers()
        overlay = self.open_overlay(upper, [top, bottom])
        overlay.remove("/d/hidden")
        overlay.remove("/d/gone")
        overlay.removetree("/d/opaque")
        overlay.makedir("/d/opaque")
        return overlay

    def iterate(
        self, overlay: OverlayFS, path: str = "/d", cookie: str | None = None
    ) -> list[tuple[str, str]]:
        """Return ``(cookie, name)`` of every entry ``iterdir`` gives after ``cookie``."""
        return [(found, info.name) for found, info in overlay.iterdir(path, cookie)]

    def names_after(self, overlay: OverlayFS, cookie: str | None, path: str = "/d") -> list[str]:
        """Return the names ``iterdir`` gives after ``cookie``."""
        return [name for _, name in self.iterate(overlay, path, cookie)]

    # -- the tests -------------------------------------------------------------

    def test_iterator_satisfies_the_protocol(self) -> None:
        """The iterator is a ``DirIteratorStrategy`` (it has the protocol's methods)."""
        self.assertIsInstance(self.make_iterator(), DirIteratorStrategy)

    def test_every_visible_name_once_in_one_order(self) -> None:
        """``listdir``, pages and ``iterdir`` give each visible name once, in one order."""
        overlay = self.overlay()
        names = overlay.listdir("/d")
        self.assertEqual(sorted(names), VISIBLE, "not the visible names, or not each once")
        self.assertEqual([info.name for info in overlay.scandir("/d")], names)
        pages = [overlay.scandir("/d", page=(start, start + 7)) for start in range(0, 70, 7)]
        self.assertEqual([info.name for page in pages for info in page], names)
        entries = self.iterate(overlay)
        self.assertEqual([name for _, name in entries], names, "iterdir and listdir disagree")
        self.assertTrue(all(isinstance(cookie, str) for cookie, _ in entries))
        self.assertEqual(len({cookie for cookie, _ in entries}), len(entries))
        self.assertEqual(overlay.listdir("/d/opaque"), [], "an opaque directory shows below")
        self.assertEqual(self.iterate(overlay, "/d/empty"), [])

    def test_entries_carry_their_info(self) -> None:
        """``iterdir`` gives each entry's type and size."""
        overlay = self.overlay()
        for _, info in overlay.iterdir("/d", namespaces=["details"]):
            self.assertEqual(info.is_dir, info.name in ("empty", "opaque"), info.name)
            if not info.is_dir:
                self.assertEqual(info.size, len(overlay.readbytes(f"/d/{info.name}")), info.name)

    def test_iterating_writes_no_lower(self) -> None:
        """Listing, paging, iterating and seeking leave every lower as it was."""
        upper, top, bottom = self.layers()
        before = [snapshot(top), snapshot(bottom)]
        overlay = self.open_overlay(upper, [top, bottom])
        overlay.remove("/d/hidden")
        entries = self.iterate(overlay)
        overlay.listdir("/d")
        overlay.scandir("/d", page=(3, 9))
        self.names_after(overlay, entries[len(entries) // 2][0])
        self.assertEqual([snapshot(top), snapshot(bottom)], before, "a lower layer was written")

    def test_iterdir_resumes_after_any_cookie(self) -> None:
        """Resuming after the cookie of any entry gives exactly the entries after it."""
        overlay = self.overlay()
        entries = self.iterate(overlay)
        names = [name for _, name in entries]
        for index, (cookie, _) in enumerate(entries):
            self.assertEqual(self.names_after(overlay, cookie), names[index + 1 :], cookie)

    def test_cookies_stay_valid_across_reopening(self) -> None:
        """A cookie resumes an iteration in a new overlay of the same layers."""
        overlay = self.overlay()
        upper, lowers = overlay.upper, list(overlay.lowers)
        assert upper is not None
        entries = self.iterate(overlay)
        names = [name for _, name in entries]
        overlay.close()
        again = self.open_overlay(upper, lowers)
        for index in (0, 10, 25, len(entries) - 1):
            self.assertEqual(self.names_after(again, entries[index][0]), names[index + 1 :])

    def test_seeking_back_and_forth_gives_the_same_entries(self) -> None:
        """Seeking back and forth (``telldir``/``seekdir``) gives the same entries every time."""
        overlay = self.overlay()
        entries = self.iterate(overlay)
        names = [name for _, name in entries]
        early, late = entries[9][0], entries[30][0]  # telldir, twice
        for _ in range(3):  # seekdir forth and back
            self.assertEqual(self.names_after(overlay, late), names[31:])
            self.assertEqual(self.names_after(overlay, early), names[10:])
        resumed = overlay.iterdir("/d", early)
        self.assertEqual(next(resumed)[1].name, names[10])
        self.assertEqual(self.names_after(overlay, early), names[10:], "an open iteration moved")

    def test_a_malformed_cookie_is_refused(self) -> None:
        """A cookie the iterator never handed out is refused (``OperationFailed``)."""
        overlay = self.overlay()
        for cookie in MALFORMED_COOKIES:
            with self.assertRaises(fs.errors.OperationFailed, msg=repr(cookie)):
                list(overlay.iterdir("/d", cookie))

    def test_only_directories_iterate(self) -> None:
        """Iterating a file or a missing name is refused with the usual errors."""
        overlay = self.overlay()
        with self.assertRaises(fs.errors.DirectoryExpected):
            list(overlay.iterdir("/d/shared"))
        with self.assertRaises(fs.errors.ResourceNotFound):
            list(overlay.iterdir("/d/gone"))

    def test_an_iteration_under_change_ends_with_visible_names_only(self) -> None:
        """An iteration under change ends, and returns only names that were visible."""
        overlay = self.overlay()
        ever_visible = set(VISIBLE)
        returned = []
        for step, (_, info) in enumerate(overlay.iterdir("/d")):
            returned.append(info.name)
            if step < 20:
                overlay.writebytes(f"/d/new{step:02d}", b"new")
                ever_visible.add(f"new{step:02d}")
                if overlay.isfile(f"/d/{info.name}"):  # a name returned twice is gone
                    overlay.remove(f"/d/{info.name}")
            self.assertLess(step, 4 * len(VISIBLE), "the iteration does not end")
        self.assertLessEqual(set(returned), ever_visible, "a name never visible was returned")

    def test_each_entry_present_throughout_an_iteration_comes_once(self) -> None:
        """Under change, each entry present throughout comes once, and no name twice."""
        if not self.stable_under_change:
            self.skipTest("the iterator does not guarantee this (stable_under_change is false)")
        overlay = self.overlay()
        touched: set[str] = set()
        seen: list[str] = []
        cookie = None
        for round_ in range(12):
            taken = list(itertools.islice(overlay.iterdir("/d", cookie), 4))
            seen += [info.name for _, info in taken]
            if len(taken) < 4:
                break
            cookie = taken[-1][0]
            self.change_during_iteration(overlay, round_, touched)
        else:
            seen += self.names_after(overlay, cookie)
        self.assertEqual(len(seen), len(set(seen)), "a name was returned twice")
        missing = set(VISIBLE) - touched - set(seen)
        self.assertEqual(missing, set(), "an entry present throughout was skipped")

    def change_during_iteration(self, overlay: OverlayFS, round_: int, touched: set[str]) -> None:
        """Create, remove, copy up and rename entries of ``/d`` (the names go in ``touched``)."""
        created = f"a-new{round_:02d}"  # sorts before most names, and in the upper
        overlay.writebytes(f"/d/{created}", b"new")
        touched.add(created)
        removed = VISIBLE[(round_ * 7 + 3) % len(VISIBLE)]
        if overlay.isfile(f"/d/{removed}"):
            overlay.remove(f"/d/{removed}")
            touched.add(removed)
        copied = f"t{round_:02d}"  # a lower file copied up: still present throughout
        overlay.appendbytes(f"/d/{copied}", b"+")
        moved = f"b{round_:02d}"
        if overlay.exists(f"/d/{moved}"):
            overlay.move(f"/d/{moved}", f"/d/z-moved{round_:02d}")
            touched.update({moved, f"z-moved{round_:02d}"})

    def test_seeking_in_a_changing_directory_does_not_grow_memory(self) -> None:
        """A long create/seek/remove loop makes the overlay hold no more memory."""
        overlay = self.overlay()
        cookie = self.iterate(overlay)[5][0]

        def churn(rounds: int) -> None:
            for index in range(rounds):
                overlay.writebytes(f"/d/tmp{index % 7}", b"x")
                next(iter(overlay.iterdir("/d", cookie)), None)
                overlay.remove(f"/d/tmp{index % 7}")

        churn(40)
        gc.collect()
        tracemalloc.start()
        try:
            churn(20)
            gc.collect()
            first = tracemalloc.get_traced_memory()[0]
            churn(160)
            gc.collect()
            second = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        self.assertLess(second - first, MEMORY_SLACK, "memory grows with every seek")


__all__ = ["DirIteratorTests", "VISIBLE"]
