"""The conformance suite of a whiteout store.

The protocol is :class:`~unionfs_lib.stores.whiteout_store.WhiteoutStore`.

Combine :class:`WhiteoutStoreTests` with ``unittest.TestCase`` and give it
one method, ``make_store``, returning a new store::

    class TestMyStore(WhiteoutStoreTests, unittest.TestCase):
        def make_store(self):
            return MyStore()

The suite checks the protocol's contract twice: on the store alone
(whiteouts, opaque flags, redirects, identity records and vacancies are read
back as written, ``scan_dir`` and ``read_dir`` agree, markers are never
entries, ``dir_flags`` and ``read_name`` do not list a directory), and
through an :class:`~unionfs_lib.overlay.OverlayFS` built with the store (a
removal, a recreated directory, a renamed merged directory and a metadata
change read back alike before and after reopening, with the same inode
numbers; no marker is listed, a reserved name cannot be created, and the
lowers are never written).

Layers are OS directories by default (:meth:`WhiteoutStoreTests.make_upper`,
:meth:`~WhiteoutStoreTests.make_lower`), since a store may keep its markers
in device nodes or extended attributes; a store that needs another kind of
layer overrides those two methods. Capabilities the store declares off
(``redirect_dir``, ``keeps_records``, the vacancy methods) skip the tests
that need them.
"""

from __future__ import annotations

import typing

import fs.errors
from fs.base import FS
from fs.wrapfs import WrapFS

from unionfs_lib.errors import ReservedName
from unionfs_lib.model.records import ScanItem, ScanKind
from unionfs_lib.overlay import OverlayFS
from unionfs_lib.stores.whiteout_store import WhiteoutStore
from unionfs_lib.testing.suite_base import OSLayers
from unionfs_lib.testing.trees import Tree, fill, snapshot, tree

#: The lower layer every overlay test starts from.
LOWER: Tree = {
    "/d": None,
    "/d/a": b"lower a",
    "/d/b": b"lower b",
    "/e": None,
    "/e/deep": None,
    "/e/deep/f": b"lower e/deep/f",
    "/gone": None,
    "/gone/x": b"lower gone/x",
    "/keep": b"lower keep",
    "/meta": b"lower metadata",
}

#: What the overlay shows after :meth:`WhiteoutStoreTests.change_overlay`.
CHANGED: Tree = {
    "/d": None,
    "/d/b": b"lower b",
    "/gone": None,
    "/gone/new": b"new",
    "/keep": b"lower keep",
    "/meta": b"lower metadata",
    "/moved": None,
    "/moved/deep": None,
    "/moved/deep/f": b"lower e/deep/f",
}

#: A modified time set on ``/meta`` (a change of metadata alone).
META_TIME = 1234567890.0


class CountingFS(WrapFS):  # type: ignore[type-arg]
    """A wrapper that counts the directory listings asked of the wrapped FS."""

    def __init__(self, wrapped: FS) -> None:
        """Wrap ``wrapped``, with no listing counted yet."""
        super().__init__(wrapped)
        self.listings = 0

    def listdir(self, path: str) -> list[str]:
        """Count one listing, then list."""
        self.listings += 1
        return super().listdir(path)

    def scandir(
        self,
        path: str,
        namespaces: typing.Collection[str] | None = None,
        page: tuple[int, int] | None = None,
    ) -> typing.Iterator[typing.Any]:
        """Count one listing, then scan."""
        self.listings += 1
        return typing.cast("typing.Iterator[typing.Any]", super().scandir(path, namespaces, page))


class WhiteoutStoreTests(OSLayers):
    """The contract of a whiteout store; implement :meth:`make_store`."""

    def make_store(self) -> WhiteoutStore:
        """Return a new store of the kind under test (every call a fresh object)."""
        raise NotImplementedError("implement make_store() to return the store under test")

    def make_upper(self) -> FS:
        """Return an empty upper layer (by default an OS directory with a work directory)."""
        return self.os_upper()

    def make_lower(self) -> FS:
        """Return an empty lower layer (by default an OS directory)."""
        return self.os_lower()

    # -- helpers ---------------------------------------------------------------

    def upper_with(self, entries: Tree) -> FS:
        """Return a new upper holding ``entries``."""
        upper = self.make_upper()
        fill(upper, entries)
        return upper

    def lower_with(self, entries: Tree) -> FS:
        """Return a new lower holding ``entries``."""
        lower = self.make_lower()
        fill(lower, entries)
        return lower

    def open_overlay(self, upper: FS, lowers: list[FS]) -> OverlayFS:
        """Return an overlay of the layers using a new store; closed after the test."""
        overlay = OverlayFS(upper, lowers, whiteouts=self.make_store(), auto_close=False)
        self.addCleanup(overlay.close)
        return overlay

    def reopen(self, overlay: OverlayFS) -> OverlayFS:
        """Close ``overlay`` and open its layers afresh (a new FS on an OS directory).

        The new overlay has a new store, so nothing the old store or the old
        layer objects held in memory can carry over.
        """
        upper, lowers = overlay.upper, list(overlay.lowers)
        assert upper is not None
        overlay.close()
        return self.open_overlay(self.reopen_layer(upper), lowers)

    def change_overlay(self, overlay: OverlayFS) -> None:
        """Remove, rename, recreate and re-time entries of :data:`LOWER`: every kind of marker."""
        overlay.remove("/d/a")  # a whiteout
        overlay.movedir("/e", "/moved", create=True)  # a redirect (or a copy), and a whiteout
        overlay.removetree("/gone")
        overlay.makedir("/gone")  # an opaque directory over a removed lower one
        overlay.writebytes("/gone/new", b"new")
        overlay.setinfo("/meta", {"details": {"modified": META_TIME}})  # a record (or a copy)

    def inodes(self, overlay: OverlayFS) -> dict[str, int]:
        """Return the inode number the overlay shows for each of its entries."""
        return {
            path: int(typing.cast(int, overlay.getinfo(path, ["overlay"]).raw["overlay"]["ino"]))
            for path in overlay.walk.files()
        }

    # -- the store alone ---------------------------------------------------------

    def test_store_satisfies_the_protocol(self) -> None:
        """The store is a ``WhiteoutStore``, with boolean capabilities and a reserved work area."""
        store = self.make_store()
        self.assertIsInstance(store, WhiteoutStore)
        for capability in ("whiteout_takes_name", "redirect_dir", "keeps_records"):
            self.assertIsInstance(getattr(store, capability), bool, capability)
        work = store.work_dir()
        if work is not None:
            self.assertTrue(work.startswith("/"), "the work area is an absolute path")
            self.assertTrue(store.is_reserved(work.rsplit("/", 1)[1]), "the work area is reserved")

    def test_a_whiteout_reads_back_and_goes(self) -> None:
        """A whiteout reads back by every method, is no entry, and can be removed."""
        store = self.make_store()
        upper = self.upper_with({"/d": None, "/d/kept": b"kept"})
        store.add_whiteout(upper, "/d/gone")
        self.assertTrue(store.has_whiteout(upper, "/d/gone"))
        self.assertFalse(store.has_whiteout(upper, "/d/kept"))
        listing = store.read_dir(upper, "/d", False)
        self.assertEqual(listing.whiteouts, frozenset({"gone"}))
        self.assertEqual(listing.entries, {"kept": False}, "a whiteout is not an entry")
        self.assertEqual(store.read_name(upper, "/d", "gone").whiteouts, frozenset({"gone"}))
        self.assertEqual(store.read_name(upper, "/d", "gone").entries, {})
        store.remove_whiteout(upper, "/d/gone")
        self.assertFalse(store.has_whiteout(upper, "/d/gone"))
        self.assertEqual(store.read_dir(upper, "/d", False).whiteouts, frozenset())
        store.remove_whiteout(upper, "/d/gone")  # none there: nothing to do

    def test_an_opaque_flag_reads_back(self) -> None:
        """An opaque flag reads back by ``dir_flags`` and ``read_dir`` and is no entry."""
        store = self.make_store()
        upper = self.upper_with({"/d": None, "/d/f": b"f", "/plain": None})
        store.set_opaque(upper, "/d")
        self.assertEqual(store.dir_flags(upper, "/d"), (True, None))
        self.assertEqual(store.dir_flags(upper, "/plain"), (False, None))
        listing = store.read_dir(upper, "/d", False)
        self.assertTrue(listing.opaque)
        self.assertEqual(listing.entries, {"f": False}, "the opaque flag is not an entry")

    def test_a_redirect_reads_back(self) -> None:
        """A redirect reads back by ``dir_flags`` and ``read_dir`` and is no entry."""
        store = self.make_store()
        if not store.redirect_dir:
            self.skipTest("the store keeps no redirects (redirect_dir is false)")
        upper = self.upper_with({"/d": None, "/d/f": b"f"})
        store.set_redirect(upper, "/d", "/old/place")
        self.assertEqual(store.dir_flags(upper, "/d"), (False, "/old/place"))
        listing = store.read_dir(upper, "/d", False)
        self.assertEqual(listing.redirect, "/old/place")
        self.assertEqual(listing.entries, {"f": False}, "the redirect is not an entry")

    def test_an_identity_record_reads_back_and_goes(self) -> None:
        """An identity record reads back by every method, and can be dropped."""
        store = self.make_store()
        if not store.keeps_records:
            self.skipTest("the store keeps no identity records (keeps_records is false)")
        upper = self.upper_with({"/d": None, "/d/f": b"f", "/d/g": b"g"})
        record = b'{"ino": 12345, "origin": 1}'
        store.set_record(upper, "/d/f", record)
        self.assertEqual(store.read_records(upper, "/d", ["f"]), {"f": record})
        self.assertEqual(store.read_dir(upper, "/d", False).records, {"f": record})
        self.assertEqual(store.read_name(upper, "/d", "f").records, {"f": record})
        self.assertEqual(store.read_dir(upper, "/d", False).entries, {"f": False, "g": False})
        store.set_record(upper, "/d/f", None)
        self.assertEqual(store.read_dir(upper, "/d", False).records, {})

    def test_vacancies_only_grow_and_are_never_entries(self) -> None:
        """Vacancies count up, survive the other writes and are never entries."""
        store = self.make_store()
        if not (hasattr(store, "vacate") and hasattr(store, "read_vacancies")):
            self.skipTest("the store keeps no vacancies")
        upper = self.upper_with({"/d": None, "/d/f": b"f"})
        store.vacate(upper, "/d/f")
        store.vacate(upper, "/d/f")
        store.vacate(upper, "/d/other")
        store.add_whiteout(upper, "/d/other")
        if store.keeps_records:
            store.set_record(upper, "/d/f", b'{"ino": 1}')
        self.assertEqual(store.read_vacancies(upper, "/d", ["f", "other"]), {"f": 2, "other": 1})
        listing = store.read_dir(upper, "/d", False)
        self.assertEqual(listing.vacated, {"f": 2, "other": 1})
        self.assertEqual(listing.entries, {"f": False})
        self.assertEqual(store.read_name(upper, "/d", "f").vacated, {"f": 2})

    def test_scan_dir_and_read_dir_agree(self) -> None:
        """``scan_dir`` and ``read_dir`` (and ``dir_flags``) tell the same of a directory."""
        store = self.make_store()
        upper = self.upper_with({"/d": None, "/d/f": b"f", "/d/sub": None})
        store.add_whiteout(upper, "/d/gone")
        store.set_opaque(upper, "/d")
        if store.redirect_dir:
            store.set_redirect(upper, "/d", "/elsewhere")
        if store.keeps_records:
            store.set_record(upper, "/d/f", b'{"ino": 7}')
        for with_info in (False, True):
            listing = store.read_dir(upper, "/d", with_info)
            items = list(store.scan_dir(upper, "/d", with_info))
            self.assertEqual(_names(items, ScanKind.ENTRY), set(listing.entries))
            entries = {item.name: item.is_dir for item in items if item.kind == ScanKind.ENTRY}
            self.assertEqual(entries, listing.entries)
            self.assertEqual(_names(items, ScanKind.WHITEOUT), set(listing.whiteouts))
            self.assertEqual(bool(_names(items, ScanKind.OPAQUE)), listing.opaque)
            redirects = [item for item in items if item.kind == ScanKind.REDIRECT]
            self.assertEqual(bool(redirects), listing.redirect is not None)
            self.assertEqual(_names(items, ScanKind.RECORD), set(listing.records))
            self.assertEqual(listing.infos is not None, with_info)
            self.assertEqual(store.dir_flags(upper, "/d"), (listing.opaque, listing.redirect))

    def test_dir_flags_and_read_name_do_not_list_the_directory(self) -> None:
        """``dir_flags`` and ``read_name`` answer without listing the directory."""
        store = self.make_store()
        entries: Tree = {f"/big/f{index:03d}": b"" for index in range(40)}
        upper = self.upper_with({"/big": None, **entries})
        store.set_opaque(upper, "/big")
        store.add_whiteout(upper, "/big/gone")
        counted = CountingFS(upper)
        self.assertEqual(store.dir_flags(counted, "/big")[0], True)
        self.assertEqual(store.read_name(counted, "/big", "f007").entries, {"f007": False})
        self.assertEqual(store.read_name(counted, "/big", "gone").whiteouts, frozenset({"gone"}))
        self.assertEqual(counted.listings, 0, "dir_flags or read_name listed the directory")

    def test_clear_dir_removes_the_whiteouts_inside(self) -> None:
        """``clear_dir`` leaves no marker in a directory, so that it can be removed."""
        store = self.make_store()
        upper = self.upper_with({"/d": None})
        store.add_whiteout(upper, "/d/one")
        store.add_whiteout(upper, "/d/two")
        store.clear_dir(upper, "/d")
        self.assertFalse(store.has_whiteout(upper, "/d/one"))
        self.assertEqual(store.read_dir(upper, "/d", False).whiteouts, frozenset())
        upper.removedir("/d")  # nothing is left in it

    def test_rename_over_is_atomic_or_refused(self) -> None:
        """``rename_over`` replaces a whiteout (leaving one behind), or is ``Unsupported``."""
        store = self.make_store()
        upper = self.upper_with({"/d": None, "/d/src": b"source"})
        if not store.whiteout_takes_name:
            with self.assertRaises(fs.errors.Unsupported):
                store.rename_over(upper, "/d/src", "/d/dst", leave_whiteout=False)
            return
        store.add_whiteout(upper, "/d/dst")
        store.rename_over(upper, "/d/src", "/d/dst", leave_whiteout=True)
        self.assertEqual(upper.readbytes("/d/dst"), b"source")
        self.assertFalse(store.has_whiteout(upper, "/d/dst"))
        self.assertTrue(store.has_whiteout(upper, "/d/src"))

    # -- through an overlay ------------------------------------------------------

    def test_changes_read_back_alike_after_reopening(self) -> None:
        """Changes read back alike after reopening, numbers kept, lowers unwritten."""
        lower = self.lower_with(LOWER)
        before = snapshot(lower)
        upper = self.make_upper()
        overlay = self.open_overlay(upper, [lower])
        self.change_overlay(overlay)
        self.assertEqual(tree(overlay), CHANGED)
        numbers = self.inodes(overlay)
        again = self.reopen(overlay)
        self.assertEqual(tree(again), CHANGED, "the markers did not survive reopening")
        self.assertEqual(self.inodes(again), numbers, "inode numbers changed on reopening")
        modified = again.getinfo("/meta", ["details"]).modified
        self.assertIsNotNone(modified)
        assert modified is not None
        self.assertEqual(modified.timestamp(), META_TIME)
        self.assertEqual(snapshot(lower), before, "a lower layer was written")

    def test_a_removed_name_stays_hidden_until_created_again(self) -> None:
        """A removed name stays hidden across reopening, until it is created again."""
        lower = self.lower_with(LOWER)
        upper = self.make_upper()
        overlay = self.open_overlay(upper, [lower])
        overlay.remove("/keep")
        overlay.removetree("/e")
        again = self.reopen(overlay)
        self.assertFalse(again.exists("/keep"))
        self.assertFalse(again.exists("/e"))
        self.assertEqual(sorted(again.listdir("/")), ["d", "gone", "meta"])
        again.writebytes("/keep", b"again")
        again.makedir("/e")
        third = self.reopen(again)
        self.assertEqual(third.readbytes("/keep"), b"again")
        self.assertEqual(third.listdir("/e"), [], "a recreated directory shows lower content")

    def test_a_recreated_directory_hides_the_lower_one_after_reopening(self) -> None:
        """A directory removed and made again hides the lower content after reopening."""
        lower = self.lower_with(LOWER)
        upper = self.make_upper()
        overlay = self.open_overlay(upper, [lower])
        overlay.removetree("/d")
        overlay.makedir("/d")
        overlay.writebytes("/d/b", b"upper b")
        again = self.reopen(overlay)
        self.assertEqual(tree(again, "/d"), {"/d/b": b"upper b"})

    def test_a_renamed_merged_directory_keeps_its_content_after_reopening(self) -> None:
        """A renamed merged directory shows all its content after reopening."""
        lower = self.lower_with(LOWER)
        upper = self.make_upper()
        overlay = self.open_overlay(upper, [lower])
        overlay.writebytes("/e/upper-file", b"upper")
        overlay.movedir("/e", "/d/renamed", create=True)
        again = self.reopen(overlay)
        self.assertFalse(again.exists("/e"))
        self.assertEqual(
            tree(again, "/d/renamed"),
            {
                "/d/renamed/deep": None,
                "/d/renamed/deep/f": b"lower e/deep/f",
                "/d/renamed/upper-file": b"upper",
            },
        )

    def test_the_overlay_refuses_the_stores_reserved_names(self) -> None:
        """A name the store reserves (its work area) cannot be created through the overlay."""
        work = self.make_store().work_dir()
        if work is None:
            self.skipTest("the store reserves no work area name in the upper")
        overlay = self.open_overlay(self.make_upper(), [self.lower_with(LOWER)])
        name = work.rsplit("/", 1)[1]
        for path in (f"/{name}", f"/d/{name}"):
            with self.assertRaises(ReservedName, msg=path):
                overlay.writebytes(path, b"x")
            with self.assertRaises(ReservedName, msg=path):
                overlay.makedir(path)
        self.assertEqual(sorted(overlay.listdir("/d")), ["a", "b"])

    def test_the_overlay_lists_no_marker(self) -> None:
        """The overlay's listings show no marker, whiteout or flag of the store."""
        lower = self.lower_with(LOWER)
        upper = self.make_upper()
        overlay = self.open_overlay(upper, [lower])
        self.change_overlay(overlay)
        for directory in ("/", "/d", "/gone", "/moved", "/moved/deep"):
            expected = sorted(
                path.rsplit("/", 1)[1]
                for path in CHANGED
                if path.rsplit("/", 1)[0] == directory.rstrip("/")
            )
            self.assertEqual(sorted(overlay.listdir(directory)), expected, directory)
            names = [info.name for _, info in overlay.iterdir(directory)]
            self.assertEqual(sorted(names), expected, directory)


def _names(items: list[ScanItem], kind: ScanKind) -> set[str]:
    """Return the names of the scan items of one kind."""
    return {item.name for item in items if item.kind == kind}


__all__ = ["CHANGED", "LOWER", "WhiteoutStoreTests"]
