"""The side-car whiteout store and the overlayfs-order iterator on their own.

``tests/core/test_conformance.py`` and ``tests/core/test_model.py`` run the overlay
with these strategies; the tests here check what is particular to them: the
side-car's on-disk form, its atomic updates, its reading of a directory
without listing it, reopening; the iterator's order, its cookies and what it
keeps under concurrent change.
"""

from __future__ import annotations

import json
import logging
import re

import fs.errors
import pytest
from fs.base import FS
from fs.memoryfs import MemoryFS
from fs.tempfs import TempFS

from unionfs_lib import DirIterator, MarkerWhiteouts, OverlayFS
from unionfs_lib.errors import ReservedName
from unionfs_lib.model.records import ScanKind
from unionfs_lib.stores.whiteout_store import WhiteoutStore

from ..strategies.sidecar import SIDECAR_NAME, WORK_DIR_NAME, DirMarkers, SidecarWhiteouts
from ..strategies.unsorted import LayerOrderIterator, LayerPosition
from ..support.helpers import CountingFS, tree
from ..support.layers import content_hash, memory_layer

STORE = SidecarWhiteouts()

LOWER: dict[str, bytes | None] = {
    "/d": None,
    "/d/a": b"lower a",
    "/d/b": b"lower b",
    "/e": None,
    "/e/deep": None,
    "/e/deep/f": b"lower e/deep/f",
    "/gone": None,
    "/gone/x": b"lower gone/x",
    "/meta": b"lower metadata-only",
}


def sidecar(layer: FS, directory: str) -> dict[str, object]:
    """Return the parsed side-car of ``directory`` in ``layer``."""
    raw = layer.readbytes(directory.rstrip("/") + "/" + SIDECAR_NAME)
    found: dict[str, object] = json.loads(raw)
    return found


def make_changes(overlay: OverlayFS) -> None:
    """Remove, rename, recreate and re-time entries, so every kind of marker is written."""
    overlay.remove("/d/a")  # a whiteout in /d
    overlay.movedir("/e", "/moved", create=True)  # a redirect, and a whiteout at the root
    overlay.removetree("/gone")
    overlay.makedir("/gone")  # an opaque directory over a removed lower one
    overlay.writebytes("/gone/new", b"new")
    overlay.setinfo("/meta", {"details": {"modified": 1234567890.0}})  # an identity record


# -- the side-car whiteout store ---------------------------------------------------


def test_sidecar_store_satisfies_the_protocol() -> None:
    assert isinstance(STORE, WhiteoutStore)
    assert (STORE.whiteout_takes_name, STORE.redirect_dir, STORE.keeps_records) == (
        False,
        True,
        True,
    )
    with pytest.raises(fs.errors.Unsupported):
        STORE.rename_over(MemoryFS(), "/a", "/b", leave_whiteout=True)


def test_every_marker_of_a_directory_is_in_its_one_sidecar() -> None:
    lower = memory_layer(LOWER)
    with TempFS() as upper:
        overlay = OverlayFS(upper, [lower], whiteouts=STORE, auto_close=False)
        make_changes(overlay)
        markers = {
            path
            for path in upper.walk.files(exclude_dirs=[WORK_DIR_NAME])
            if path.rsplit("/", 1)[1].startswith(".")
        }
        assert markers == {
            f"{directory}/{SIDECAR_NAME}" for directory in ("", "/d", "/moved", "/gone")
        }
        root = sidecar(upper, "/")
        assert root["whiteouts"] == ["e"]
        assert "meta" in root["records"]  # type: ignore[operator]
        assert sidecar(upper, "/d")["whiteouts"] == ["a"]
        assert sidecar(upper, "/moved")["redirect"] == "/e"
        assert sidecar(upper, "/gone")["opaque"] is True
        assert tree(overlay) == {
            "/d": None,
            "/d/b": b"lower b",
            "/gone": None,
            "/gone/new": b"new",
            "/meta": b"lower metadata-only",
            "/moved": None,
            "/moved/deep": None,
            "/moved/deep/f": b"lower e/deep/f",
        }
        assert upper.getsize("/meta") == 0  # its data is still below: the record says where
        overlay.close()


def test_an_overlay_written_with_the_sidecar_store_reopens_with_the_same_tree() -> None:
    lower = memory_layer(LOWER)
    hashed = content_hash(lower)
    with TempFS() as upper:
        overlay = OverlayFS(upper, [lower], whiteouts=STORE, auto_close=False)
        make_changes(overlay)
        before = tree(overlay)
        inodes = {path: overlay.getinfo(path, ["overlay"]).raw["overlay"]["ino"] for path in before}
        overlay.close()
        with OverlayFS(upper, [lower], whiteouts=SidecarWhiteouts(), auto_close=False) as again:
            assert tree(again) == before
            assert {
                path: again.getinfo(path, ["overlay"]).raw["overlay"]["ino"] for path in before
            } == inodes
            assert again.getinfo("/meta", ["details"]).raw["details"]["modified"] == 1234567890.0
    assert content_hash(lower) == hashed


def test_scan_dir_and_read_dir_agree() -> None:
    lower = memory_layer(LOWER)
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower], whiteouts=STORE, auto_close=False)
    make_changes(overlay)
    overlay.writebytes("/moved/upper-file", b"u")
    for directory in ("/", "/d", "/moved", "/gone"):
        for with_info in (False, True):
            listing = STORE.read_dir(upper, directory, with_info)
            items = list(STORE.scan_dir(upper, directory, with_info))
            entries = {item.name: item.is_dir for item in items if item.kind == ScanKind.ENTRY}
            whiteouts = {item.name for item in items if item.kind == ScanKind.WHITEOUT}
            redirects = [item.name for item in items if item.kind == ScanKind.REDIRECT]
            records = [item.name for item in items if item.kind == ScanKind.RECORD]
            assert entries == listing.entries
            assert whiteouts == listing.whiteouts
            assert any(item.kind == ScanKind.OPAQUE for item in items) == listing.opaque
            assert (redirects[0] if redirects else None) == listing.redirect
            assert STORE.read_records(upper, directory, records) == listing.records
            assert STORE.dir_flags(upper, directory) == (listing.opaque, listing.redirect)
            assert (listing.infos is not None) == with_info
    assert STORE.has_whiteout(upper, "/d/a") and not STORE.has_whiteout(upper, "/d/b")


def test_the_default_iterator_streams_sidecar_directories_in_batches() -> None:
    lower = memory_layer(LOWER)
    upper = MemoryFS()
    streaming = DirIterator(batch_size=4, use_cache=False)
    overlay = OverlayFS(upper, [lower], whiteouts=STORE, readdir=streaming, auto_close=False)
    make_changes(overlay)
    for index in range(9):
        overlay.writebytes(f"/d/new{index}", b"n")
    overlay.remove("/d/new3")
    for directory in ("/", "/d", "/moved", "/gone"):
        names = overlay.listdir(directory)
        assert [info.name for _, info in overlay.iterdir(directory)] == names
    assert "a" not in overlay.listdir("/d") and "new3" not in overlay.listdir("/d")


def test_dir_flags_read_the_sidecar_without_listing_the_directory() -> None:
    layer = memory_layer({"/big": None, **{f"/big/f{index}": b"" for index in range(50)}})
    STORE.set_opaque(layer, "/big")
    STORE.set_redirect(layer, "/big", "/elsewhere")
    counted = CountingFS(layer)
    assert STORE.dir_flags(counted, "/big") == (True, "/elsewhere")
    assert counted.calls["scandir"] == counted.calls["listdir"] == 0
    assert counted.calls["readbytes"] == 1


def test_a_sidecar_without_markers_is_removed_and_updates_leave_no_temporary_file() -> None:
    lower = memory_layer(LOWER)
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower], whiteouts=STORE, auto_close=False)
    overlay.remove("/d/a")
    assert sidecar(upper, "/d")["whiteouts"] == ["a"]
    overlay.writebytes("/d/a", b"again")  # a file over the whiteout drops it
    assert overlay.readbytes("/d/a") == b"again"
    assert not upper.exists("/d/" + SIDECAR_NAME)
    assert sorted(upper.listdir("/d")) == ["a"]


def test_a_leftover_temporary_sidecar_is_hidden_reserved_and_removed_with_its_directory() -> None:
    lower = memory_layer(LOWER)
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower], whiteouts=STORE, auto_close=False)
    overlay.remove("/d/a")
    leftover = f"/d/{SIDECAR_NAME}.0123.tmp"  # as a crash between write and move leaves it
    upper.writebytes(leftover, b"{half")
    assert sorted(overlay.listdir("/d")) == ["b"]
    with pytest.raises(ReservedName):
        overlay.writebytes("/d/.unionfs-anything", b"x")
    overlay.removetree("/d")
    assert not overlay.exists("/d")
    assert not upper.exists(leftover)


def test_a_malformed_sidecar_in_a_lower_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lower = memory_layer(LOWER)
    lower.writebytes("/d/" + SIDECAR_NAME, b'{"version": 1, "whiteouts": "a"}')
    lower.writebytes("/e/" + SIDECAR_NAME, b"\xff not json")
    hashed = content_hash(lower)
    overlay = OverlayFS(MemoryFS(), [lower], whiteouts=STORE)
    with caplog.at_level(logging.WARNING):
        assert sorted(overlay.listdir("/d")) == ["a", "b"]
        assert overlay.listdir("/e") == ["deep"]
    assert "malformed side-car" in caplog.text
    assert content_hash(lower) == hashed


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b'{"version": 2}',
        b'{"version": 1, "whiteouts": ["a/b"]}',
        b'{"version": 1, "opaque": "yes"}',
        b'{"version": 1, "redirect": "/a/../b"}',
        b'{"version": 1, "redirect": "relative"}',
        b'{"version": 1, "records": {"a": "not base64!"}}',
    ],
)
def test_malformed_sidecars_are_refused_by_the_parser(raw: bytes) -> None:
    with pytest.raises(ValueError):
        DirMarkers.load(raw)


def test_a_redirect_must_be_canonical() -> None:
    upper = memory_layer({"/d": None})
    with pytest.raises(fs.errors.OperationFailed):
        STORE.set_redirect(upper, "/d", "/a/../b")
    assert not upper.exists("/d/" + SIDECAR_NAME)


# -- the overlayfs-order directory iterator ------------------------------------------


def order_layers() -> tuple[MemoryFS, MemoryFS, MemoryFS]:
    """An upper and two lowers whose listings of ``/d`` are in no sorted order."""
    bottom = memory_layer({"/d": None})
    for name in ("z", "m", "a", "hidden"):
        bottom.writebytes(f"/d/{name}", b"bottom " + name.encode())
    top = memory_layer({"/d": None})
    for name in ("y", "b", "m"):
        top.writebytes(f"/d/{name}", b"top " + name.encode())
    upper = memory_layer({"/d": None})
    for name in ("q", "c", "y"):
        upper.writebytes(f"/d/{name}", b"upper " + name.encode())
    return upper, top, bottom


def layer_order(upper: FS, lowers: list[FS], path: str, hidden: set[str]) -> list[str]:
    """Return overlayfs's order from the layers' own listings: each new name, top-most first."""
    store = MarkerWhiteouts()
    seen: list[str] = []
    for layer in (upper, *lowers):
        seen += [
            name
            for name in layer.listdir(path)
            if name not in seen and name not in hidden and not store.is_reserved(name)
        ]
    return seen


def iterate(overlay: OverlayFS, path: str, cookie: str | None = None) -> list[tuple[str, str]]:
    """Return ``(cookie, name)`` of every entry ``iterdir`` gives after ``cookie``."""
    return [(found, info.name) for found, info in overlay.iterdir(path, cookie)]


def test_listings_come_in_overlayfs_order_upper_first_unsorted() -> None:
    upper, top, bottom = order_layers()
    overlay = OverlayFS(upper, [top, bottom], readdir=LayerOrderIterator(), auto_close=False)
    overlay.remove("/d/hidden")
    expected = layer_order(upper, [top, bottom], "/d", hidden={"hidden"})
    assert expected == ["q", "c", "y", "b", "m", "z", "a"]
    assert overlay.listdir("/d") == expected
    assert [info.name for info in overlay.scandir("/d")] == expected
    pages = [overlay.scandir("/d", page=(start, start + 3)) for start in range(0, 9, 3)]
    assert [info.name for page in pages for info in page] == expected
    assert [name for _, name in iterate(overlay, "/d")] == expected
    assert overlay.readbytes("/d/y") == b"upper y" and overlay.readbytes("/d/m") == b"top m"


def test_cookies_are_positions_and_resume_after_any_entry_across_reopening() -> None:
    upper, top, bottom = order_layers()
    overlay = OverlayFS(
        upper, [top, bottom], readdir=LayerOrderIterator(batch_size=2), auto_close=False
    )
    entries = iterate(overlay, "/d")
    names = [name for _, name in entries]
    assert all(re.fullmatch(r"lo:\d+:\d+", cookie) for cookie, _ in entries)
    assert not any(name in cookie for cookie, name in entries)
    for index, (cookie, _) in enumerate(entries):
        assert [name for _, name in iterate(overlay, "/d", cookie)] == names[index + 1 :]
    overlay.close()
    reopened = OverlayFS(upper, [top, bottom], readdir=LayerOrderIterator(), auto_close=False)
    cookie = entries[3][0]
    assert [name for _, name in iterate(reopened, "/d", cookie)] == names[4:]
    assert iterate(reopened, "/d", "lo:9:0") == []  # a position past every layer ends it


@pytest.mark.parametrize("cookie", ["", "n:a", "lo:", "lo:1", "lo:x:1", "lo:1:-1", "lo:1:2:3"])
def test_a_malformed_cookie_is_refused(cookie: str) -> None:
    with pytest.raises(ValueError):
        LayerPosition.decode(cookie)
    upper, top, bottom = order_layers()
    overlay = OverlayFS(upper, [top, bottom], readdir=LayerOrderIterator(), auto_close=False)
    with pytest.raises(fs.errors.OperationFailed):
        list(overlay.iterdir("/d", cookie))


def test_upper_changes_do_not_disturb_an_iteration_among_the_lowers_entries() -> None:
    upper, top, bottom = order_layers()
    overlay = OverlayFS(
        upper, [top, bottom], readdir=LayerOrderIterator(batch_size=2), auto_close=False
    )
    before = [name for _, name in iterate(overlay, "/d")]
    entries = iterate(overlay, "/d")
    cookie = entries[4][0]  # among the lowers' entries
    assert LayerPosition.decode(cookie).layer > 0
    overlay.writebytes("/d/new-upper-only", b"n")
    overlay.remove("/d/q")
    assert [name for _, name in iterate(overlay, "/d", cookie)] == before[5:]


def test_an_iteration_under_change_ends_and_gives_only_visible_names() -> None:
    upper, top, bottom = order_layers()
    overlay = OverlayFS(
        upper, [top, bottom], readdir=LayerOrderIterator(batch_size=2), auto_close=False
    )
    visible_at_some_point = set(overlay.listdir("/d"))
    returned: list[str] = []
    for step, (_, info) in enumerate(overlay.iterdir("/d")):
        returned.append(info.name)
        if step < 6:
            overlay.writebytes(f"/d/extra{step}", b"x")
            visible_at_some_point.add(f"extra{step}")
            overlay.remove(f"/d/{info.name}")
        assert step < 40, "the iteration does not end"
    assert set(returned) <= visible_at_some_point
