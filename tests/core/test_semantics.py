"""Focused tests, one or a few per rule of the overlay's semantics.

Linux overlayfs is the reference; the README's "Semantics" section lists the
same rules in the same order. Every test that builds lowers checks at the end
that none of them changed (``LowerHashes``).
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import fs.errors
import pytest
from fs.base import FS
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS
from fs.tarfs import TarFS
from fs.tempfs import TempFS
from fs.wrapfs import WrapFS
from fs.zipfs import ZipFS

from unionfs_lib import CopyUpEngine, OverlayFS
from unionfs_lib.errors import ReservedName

from ..support.helpers import CountingFS, tree
from ..support.layers import content_hash, fill, memory_layer, zip_bytes, zip_layer

WORK = "/.wh..wh..work"


def upper_files(upper: FS) -> set[str]:
    """Files of the upper outside the work area (markers included)."""
    return {path for path in upper.walk.files() if not path.startswith(WORK + "/")}


class LowerHashes:
    """Hash layers now; :meth:`check` asserts they were never written."""

    def __init__(self, *layers: FS) -> None:
        self.layers = layers
        self.before = [content_hash(layer) for layer in layers]

    def check(self) -> None:
        assert [content_hash(layer) for layer in self.layers] == self.before


@pytest.fixture
def guard():
    """Collect lowers to hash; the test fails if any changed by the end."""
    guards: list[LowerHashes] = []

    def watch(*layers: FS) -> tuple[FS, ...]:
        guards.append(LowerHashes(*layers))
        return layers

    yield watch
    for found in guards:
        found.check()


# -- lookup ------------------------------------------------------------------


def test_lookup_stops_at_a_whiteout(guard):
    (lower,) = guard(memory_layer({"/f": b"lower", "/d": None, "/d/x": b"x"}))
    upper = MemoryFS()
    upper.writebytes("/.wh.f", b"")
    upper.writebytes("/.wh.d", b"")
    overlay = OverlayFS(upper, [lower], auto_close=False)
    assert not overlay.exists("/f")
    assert not overlay.exists("/d")
    assert not overlay.exists("/d/x")
    assert overlay.listdir("/") == []


def test_lookup_stops_at_an_opaque_directory(guard):
    (lower,) = guard(memory_layer({"/d": None, "/d/old": b"old", "/d/sub": None}))
    upper = memory_layer({"/d": None, "/d/.wh..wh..opq": b"", "/d/new": b"new"})
    overlay = OverlayFS(upper, [lower], auto_close=False)
    assert overlay.listdir("/d") == ["new"]
    assert not overlay.exists("/d/old")
    assert not overlay.exists("/d/sub")


def test_a_file_hides_everything_beneath_it(guard):
    top, bottom = guard(
        memory_layer({"/p": b"top file"}),
        memory_layer({"/p": None, "/p/child": b"c", "/q": None, "/q/r": b"r"}),
    )
    overlay = OverlayFS(MemoryFS(), [top, bottom], auto_close=False)
    assert overlay.isfile("/p")
    assert overlay.readbytes("/p") == b"top file"
    assert not overlay.exists("/p/child")
    with pytest.raises(fs.errors.ResourceNotFound):
        overlay.listdir("/p/child")
    assert overlay.readbytes("/q/r") == b"r"


def test_a_directory_hides_a_file_beneath_it(guard):
    top, middle, bottom = guard(
        memory_layer({"/p": None, "/p/a": b"top a"}),
        memory_layer({"/p": b"middle file"}),
        memory_layer({"/p": None, "/p/b": b"bottom b"}),
    )
    overlay = OverlayFS(MemoryFS(), [top, middle, bottom], auto_close=False)
    assert overlay.isdir("/p")
    # The merge of /p stops at the file in the middle: the bottom dir is hidden.
    assert overlay.listdir("/p") == ["a"]


def test_directories_merge_across_layers(guard):
    layers = guard(
        memory_layer({"/d": None, "/d/one": b"1", "/d/same": b"top"}),
        memory_layer({"/d": None, "/d/two": b"2", "/d/same": b"middle", "/d/sub": None}),
        memory_layer({"/d": None, "/d/three": b"3", "/d/sub": None, "/d/sub/deep": b"deep"}),
    )
    upper = memory_layer({"/d": None, "/d/zero": b"0"})
    overlay = OverlayFS(upper, layers, auto_close=False)
    assert overlay.listdir("/d") == ["one", "same", "sub", "three", "two", "zero"]
    assert overlay.readbytes("/d/same") == b"top"
    assert overlay.readbytes("/d/sub/deep") == b"deep"


def test_markers_in_lower_layers_are_honoured(guard):
    """A former upper stacked as a lower shows what the overlay showed."""
    (base,) = guard(
        memory_layer(
            {
                "/gone": b"removed later",
                "/d": None,
                "/d/old": b"old",
                "/d/keep": b"keep",
                "/m": None,
                "/m/x": b"x",
                "/tree": None,
                "/tree/deep": None,
                "/tree/deep/f": b"f",
            }
        )
    )
    first_upper = MemoryFS()
    first = OverlayFS(first_upper, [base], auto_close=False)
    first.remove("/gone")
    first.remove("/d/old")
    first.removetree("/m")
    first.makedir("/m")  # opaque over the whiteout
    first.writebytes("/m/y", b"y")
    first.movedir("/tree", "/moved", create=True)  # a redirect
    expected = tree(first)
    first.close()
    assert {".wh.gone", ".wh.tree"} <= set(first_upper.listdir("/"))

    stacked = OverlayFS(MemoryFS(), [first_upper, base], auto_close=False)
    assert tree(stacked) == expected
    assert tree(stacked)["/moved/deep/f"] == b"f"
    assert not stacked.exists("/gone")
    assert stacked.listdir("/m") == ["y"]
    # And the stacked overlay still works on top of them.
    stacked.writebytes("/gone", b"back")
    stacked.makedir("/tree")
    assert stacked.readbytes("/gone") == b"back"
    assert stacked.listdir("/tree") == []


# -- removal and creation ----------------------------------------------------


def test_remove_of_a_lower_file_leaves_a_whiteout(guard):
    (lower,) = guard(memory_layer({"/d": None, "/d/f": b"lower"}))
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower], auto_close=False)
    overlay.remove("/d/f")
    assert not overlay.exists("/d/f")
    assert upper.exists("/d/.wh.f")
    assert lower.readbytes("/d/f") == b"lower"


def test_remove_of_an_upper_only_file_leaves_no_whiteout(guard):
    (lower,) = guard(memory_layer({"/d": None}))
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower], auto_close=False)
    overlay.writebytes("/d/new", b"n")
    overlay.remove("/d/new")
    assert upper_files(upper) == set()


def test_removedir_of_a_logically_empty_merged_dir_leaves_no_stale_markers(guard):
    top, bottom = guard(
        memory_layer({"/d": None, "/d/a": b"a"}),
        memory_layer({"/d": None, "/d/b": b"b", "/d/sub": None}),
    )
    upper = MemoryFS()
    overlay = OverlayFS(upper, [top, bottom], auto_close=False)
    overlay.writebytes("/d/c", b"upper c")
    with pytest.raises(fs.errors.DirectoryNotEmpty):
        overlay.removedir("/d")
    overlay.remove("/d/a")
    overlay.remove("/d/b")
    overlay.remove("/d/c")
    overlay.removedir("/d/sub")
    assert overlay.listdir("/d") == []
    assert upper.listdir("/d")  # only whiteouts are left in the upper dir
    overlay.removedir("/d")
    assert not overlay.exists("/d")
    assert upper_files(upper) == {"/.wh.d"}
    assert not upper.exists("/d")
    overlay.makedir("/d")
    assert overlay.listdir("/d") == []


def test_removetree_on_a_merged_tree(guard):
    top, bottom = guard(
        memory_layer({"/t": None, "/t/a": b"a", "/t/s": None, "/t/s/x": b"x"}),
        memory_layer({"/t": None, "/t/b": b"b", "/t/s": None, "/t/s/y": b"y"}),
    )
    upper = MemoryFS()
    overlay = OverlayFS(upper, [top, bottom], auto_close=False)
    overlay.writebytes("/t/s/z", b"z")
    overlay.removetree("/t/s")
    assert overlay.listdir("/t") == ["a", "b"]
    overlay.removetree("/t")
    assert not overlay.exists("/t")
    assert upper_files(upper) == {"/.wh.t"}
    overlay.removetree("/")
    assert overlay.listdir("/") == []


def test_makedir_over_a_whiteout_is_opaque(guard):
    (lower,) = guard(memory_layer({"/d": None, "/d/old": b"old", "/f": b"file"}))
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower], auto_close=False)
    overlay.removetree("/d")
    overlay.makedir("/d")
    assert overlay.listdir("/d") == []
    assert upper.exists("/d/.wh..wh..opq")
    assert not upper.exists("/.wh.d")
    overlay.remove("/f")
    overlay.makedir("/f")  # a directory over a whited-out file
    assert overlay.isdir("/f")
    assert overlay.listdir("/f") == []


def test_a_file_written_over_a_whiteout_replaces_it(guard):
    (lower,) = guard(memory_layer({"/f": b"lower", "/d": None, "/d/x": b"x"}))
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower], auto_close=False)
    overlay.remove("/f")
    overlay.writebytes("/f", b"new")
    assert overlay.readbytes("/f") == b"new"
    overlay.removetree("/d")
    overlay.writebytes("/d", b"now a file")
    assert overlay.readbytes("/d") == b"now a file"
    assert not upper.exists("/.wh.f")
    assert not upper.exists("/.wh.d")
    assert sorted(overlay.listdir("/")) == ["d", "f"]


# -- copy-up -----------------------------------------------------------------


def _timed_lower() -> MemoryFS:
    lower = memory_layer({"/p": None, "/p/q": None, "/p/q/f": b"lower data"})
    lower.setinfo("/p", {"details": {"modified": 1_000_000, "accessed": 1_000_000}})
    lower.setinfo("/p/q", {"details": {"modified": 2_000_000, "accessed": 2_000_000}})
    lower.setinfo("/p/q/f", {"details": {"modified": 3_000_000, "accessed": 3_000_000}})
    return lower


def _modified(layer: FS, path: str) -> float:
    return float(layer.getinfo(path, ["details"]).get("details", "modified"))


COPY_UP_CHANGES = {
    "open r+": lambda o: _write_with(o, "r+", b"LOWER"),
    "open a": lambda o: _write_with(o, "a", b"!"),
    "open w": lambda o: _write_with(o, "w", b"new"),
    "setinfo": lambda o: o.setinfo("/p/q/f", {"details": {"modified": 5_000_000}}),
    "upload": lambda o: o.upload("/p/q/f", io.BytesIO(b"uploaded")),
    "truncate": lambda o: _truncate(o, 3),
    "move": lambda o: o.move("/p/q/f", "/p/q/g"),
}

EXPECTED_AFTER = {
    "open r+": {"/p/q/f": b"LOWER data"},
    "open a": {"/p/q/f": b"lower data!"},
    "open w": {"/p/q/f": b"new"},
    "setinfo": {"/p/q/f": b"lower data"},
    "upload": {"/p/q/f": b"uploaded"},
    "truncate": {"/p/q/f": b"low"},
    "move": {"/p/q/g": b"lower data"},
}


def _write_with(overlay: FS, mode: str, data: bytes) -> None:
    with overlay.openbin("/p/q/f", mode) as handle:
        handle.write(data)


def _truncate(overlay: FS, size: int) -> None:
    with overlay.openbin("/p/q/f", "r+") as handle:
        handle.truncate(size)


@pytest.mark.parametrize("change", sorted(COPY_UP_CHANGES))
def test_copy_up_before_any_change_with_parents_and_times(guard, change):
    (lower,) = guard(_timed_lower())
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower], auto_close=False)
    COPY_UP_CHANGES[change](overlay)
    expected = {"/p": None, "/p/q": None, **EXPECTED_AFTER[change]}
    assert tree(overlay) == expected
    # The upper holds the changed file (a metadata-only copy-up for setinfo,
    # as overlayfs metacopy=on) beside its markers.
    files = {path for path in upper_files(upper) if "/.wh." not in path}
    assert files == {path for path, data in expected.items() if data is not None}
    if change != "setinfo":
        for path in files:
            assert upper.readbytes(path) == expected[path]
    # Parent directories were copied up with their times.
    assert _modified(upper, "/p") == 1_000_000
    assert _modified(upper, "/p/q") == 2_000_000
    assert lower.readbytes("/p/q/f") == b"lower data"


def test_copy_up_of_os_files_keeps_their_times(guard, tmp_path):
    lower_dir = tmp_path / "lower"
    (lower_dir / "d").mkdir(parents=True)
    (lower_dir / "d" / "f").write_bytes(b"lower")
    lower = OSFS(str(lower_dir))
    lower.setinfo("/d/f", {"details": {"modified": 3_000_000, "accessed": 3_000_000}})
    guard(lower)
    with TempFS() as upper:
        overlay = OverlayFS(upper, [lower], auto_close=False)
        overlay.setinfo("/d/f", {"access": {"permissions": ["u_r", "u_w", "g_r"]}})
        assert _modified(upper, "/d/f") == 3_000_000
        assert overlay.readbytes("/d/f") == b"lower"
        with overlay.openbin("/d/f", "r+") as handle:
            handle.write(b"L")
        assert _modified(upper, "/d/f") != 3_000_000
        assert upper.readbytes("/d/f") == b"Lower"
        overlay.close()


def test_copy_up_between_os_layers_keeps_directory_modes(guard, tmp_path):
    lower_dir = tmp_path / "lower"
    (lower_dir / "p" / "q").mkdir(parents=True)
    (lower_dir / "p" / "q" / "f").write_bytes(b"lower")
    (lower_dir / "p").chmod(0o750)
    (lower_dir / "p" / "q").chmod(0o700)
    lower = OSFS(str(lower_dir))
    guard(lower)
    with TempFS() as upper:
        overlay = OverlayFS(upper, [lower], auto_close=False)
        overlay.appendbytes("/p/q/f", b"+")
        modes = {
            path: Path(upper.getsyspath(path)).stat().st_mode & 0o777 for path in ("/p", "/p/q")
        }
        assert modes == {"/p": 0o750, "/p/q": 0o700}
        assert upper.readbytes("/p/q/f") == b"lower+"
        overlay.close()


def _os_lower_with_old_times(root: Path) -> OSFS:
    (root / "p" / "q").mkdir(parents=True)
    (root / "p" / "q" / "f").write_bytes(b"lower")
    (root / "p" / "q" / "g").write_bytes(b"other")
    for path in (root / "p" / "q" / "f", root / "p" / "q" / "g", root / "p" / "q", root / "p"):
        os.utime(path, (1_000_000, 1_000_000))
    return OSFS(str(root))


@pytest.mark.parametrize("change", ["append", "setinfo", "open r+", "open w", "upload"])
def test_copy_up_to_an_os_upper_keeps_the_parents_times(guard, tmp_path, change):
    """Regression: linking the copy into an OS directory changed its mtime.

    Linux overlayfs restores the parent's times after a copy-up (copy-up is
    no change to the directory); a real change to it still shows.
    """
    lower = _os_lower_with_old_times(tmp_path / "lower")
    guard(lower)
    with TempFS() as upper:
        overlay = OverlayFS(upper, [lower], auto_close=False)
        if change == "append":
            overlay.appendbytes("/p/q/f", b"+")
        elif change == "setinfo":
            overlay.setinfo("/p/q/f", {"details": {"accessed": 2_000_000}})
        elif change == "open w":
            overlay.writebytes("/p/q/f", b"replaced")
        elif change == "upload":
            overlay.upload("/p/q/f", io.BytesIO(b"uploaded"))
        else:
            with overlay.openbin("/p/q/f", "r+") as handle:
                handle.write(b"L")
        assert upper.isdir("/p/q")
        assert _modified(overlay, "/p") == 1_000_000
        assert _modified(overlay, "/p/q") == 1_000_000
        overlay.remove("/p/q/g")  # a real change to /p/q
        assert _modified(overlay, "/p/q") > 1_000_000
        assert _modified(overlay, "/p") == 1_000_000
        overlay.close()


def test_an_open_for_writing_copies_up_only_at_the_first_write(guard):
    (lower,) = guard(memory_layer({"/f": b"lower"}))
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower], auto_close=False)
    with overlay.openbin("/f", "r+") as handle:
        assert handle.read() == b"lower"
    assert upper_files(upper) == set()
    with overlay.openbin("/f", "r+") as handle:
        handle.seek(2)
        handle.write(b"W")
        assert upper.exists("/f")
    assert overlay.readbytes("/f") == b"loWer"


def test_a_write_past_the_end_of_a_zip_member_leaves_a_hole(guard):
    """Regression: the zip member's handle stopped at its end, losing the seek."""
    (lower,) = guard(zip_layer({"/f": b"abc"}))
    overlay = OverlayFS(MemoryFS(), [lower], auto_close=False)
    with overlay.openbin("/f", "r+") as handle:
        assert handle.seek(5) == 5
        assert handle.tell() == 5
        handle.write(b"Z")
    assert overlay.readbytes("/f") == b"abc\0\0Z"
    with overlay.openbin("/f", "r+") as handle:
        handle.seek(2, io.SEEK_END)
        handle.seek(-1, io.SEEK_CUR)
        assert handle.tell() == 7


def test_close_after_copy_up_to_an_os_upper(guard):
    """Regression: closing flushed the OS handle it had already closed."""
    (lower,) = guard(memory_layer({"/f": b"lower"}))
    with TempFS() as upper:
        with OverlayFS(upper, [lower], auto_close=False) as overlay:
            overlay.appendbytes("/f", b"+")
            with overlay.openbin("/f", "r+") as handle:
                handle.write(b"L")
            assert overlay.readbytes("/f") == b"Lower+"


def _bad_crc_zip(data: bytes) -> ZipFS:
    """A real zip whose member fails its CRC check when read to the end."""
    archive = zip_bytes({"/dir": None, "/dir/big": data})
    with zipfile.ZipFile(io.BytesIO(archive)) as check:
        crc = check.getinfo("dir/big").CRC.to_bytes(4, "little")
    bad = bytes(byte ^ 0xFF for byte in crc)
    assert archive.count(crc) == 2  # the local header and the central directory
    return ZipFS(io.BytesIO(archive.replace(crc, bad)))


class WorkAreaWrites(WrapFS):
    """A pass-through upper recording the bytes written to work-area files."""

    def __init__(self, wrapped: FS) -> None:
        super().__init__(wrapped)
        self.written: dict[str, int] = {}

    def openbin(self, path, mode="r", buffering=-1, **options):
        handle = super().openbin(path, mode, buffering, **options)
        if path.startswith(WORK + "/") and "w" in mode:
            written, write = self.written, handle.write

            def counting_write(data):
                written[path] = written.get(path, 0) + len(data)
                return write(data)

            handle.write = counting_write  # type: ignore[method-assign]
        return handle


def test_a_copy_up_failing_midway_leaves_nothing_visible():
    lower = _bad_crc_zip(b"0123456789" * 10_000)
    with TempFS() as real_upper:
        upper = WorkAreaWrites(real_upper)
        overlay = OverlayFS(upper, [lower], copy_up=CopyUpEngine(chunk_size=64), auto_close=False)
        with pytest.raises(Exception, match="CRC"):
            with overlay.openbin("/dir/big", "r+") as handle:
                handle.write(b"X")  # the copy-up reads the whole lower file
        # Data had been streamed into the work area before the failure ...
        assert sum(upper.written.values()) >= 64
        # ... but nothing is visible, not even the parent, and no temp is left.
        assert not real_upper.exists("/dir")
        assert not real_upper.exists(WORK) or real_upper.listdir(WORK) == []
        # The overlay still shows the lower file and still works.
        assert overlay.exists("/dir/big")
        overlay.writebytes("/other", b"fine")
        overlay.close()


def test_work_area_leftovers_are_invisible_and_cleaned_at_reopen(guard):
    (lower,) = guard(memory_layer({"/f": b"lower"}))
    with TempFS() as upper:
        overlay = OverlayFS(upper, [lower], auto_close=False)
        overlay.writebytes("/g", b"g")
        # What a crash in the middle of a copy-up leaves behind.
        upper.makedirs(WORK + "/4567/sub", recreate=True)
        upper.writebytes(WORK + "/0123abcd", b"partial cop")
        assert tree(overlay) == {"/f": b"lower", "/g": b"g"}
        overlay.close()
        reopened = OverlayFS(upper, [lower], auto_close=False)
        assert upper.listdir(WORK) == []
        assert tree(reopened) == {"/f": b"lower", "/g": b"g"}
        reopened.close()


# -- rename ------------------------------------------------------------------


def test_move_of_a_lower_file_is_copy_up_rename_and_whiteout(guard):
    (lower,) = guard(memory_layer({"/a": None, "/a/f": b"data", "/b": None}))
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower], auto_close=False)
    overlay.move("/a/f", "/b/g")
    assert not overlay.exists("/a/f")
    assert overlay.readbytes("/b/g") == b"data"
    assert upper.readbytes("/b/g") == b"data"
    assert upper.exists("/a/.wh.f")
    assert not upper.exists("/a/f")


def test_movedir_into_the_parent_of_a_merged_lower_dir(guard):
    """Regression: the merge loop put a stale node back in the directory cache.

    The source was then copied up a second time over its own upper copy
    (``OSError: Directory not empty`` on an OS upper).
    """
    top, bottom = guard(
        memory_layer({"/a": None, "/a/f2": b"2", "/a/sub": None, "/a/sub/h": b"h"}),
        zip_layer({"/a": None, "/a/f1": b"1", "/a/sub": None, "/a/sub/g": b"g"}),
    )
    with TempFS() as upper:
        overlay = OverlayFS(upper, [top, bottom], auto_close=False)
        overlay.movedir("/a/sub", "/a", create=True)
        expected = {"/a": None, "/a/f1": b"1", "/a/f2": b"2", "/a/g": b"g", "/a/h": b"h"}
        assert tree(overlay) == expected
        overlay.close()
        with OverlayFS(upper, [top, bottom], auto_close=False) as reopened:
            assert tree(reopened) == expected


def test_move_over_a_lower_file_replaces_it(guard):
    (lower,) = guard(memory_layer({"/a": b"source", "/b": b"target"}))
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower], auto_close=False)
    with pytest.raises(fs.errors.DestinationExists):
        overlay.move("/a", "/b")
    overlay.move("/a", "/b", overwrite=True)
    assert tree(overlay) == {"/b": b"source"}


def test_movedir_onto_a_whited_out_name_hides_what_was_there(guard):
    (lower,) = guard(
        memory_layer({"/a": None, "/a/x": b"x", "/b": None, "/b/y": b"y", "/c": None})
    )
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower], auto_close=False)
    overlay.removetree("/b")
    overlay.movedir("/a", "/b", create=True)  # lower content: a redirect, opaque to /b
    assert tree(overlay) == {"/b": None, "/b/x": b"x", "/c": None}
    overlay.makedir("/new")
    overlay.writebytes("/new/n", b"n")
    overlay.removetree("/c")
    overlay.movedir("/new", "/c", create=True)  # upper-only content over a whiteout
    assert tree(overlay) == {"/b": None, "/b/x": b"x", "/c": None, "/c/n": b"n"}
    overlay.close()
    with OverlayFS(upper, [lower], auto_close=False) as reopened:
        assert tree(reopened) == {"/b": None, "/b/x": b"x", "/c": None, "/c/n": b"n"}


def _big_tree(files: int) -> dict[str, bytes | None]:
    entries: dict[str, bytes | None] = {"/src": None, "/src/deep": None, "/src/deep/er": None}
    for index in range(files):
        folder = ("/src", "/src/deep", "/src/deep/er")[index % 3]
        entries[f"{folder}/f{index:05d}"] = b"x" * 100
    return entries


def _movedir_cost(files: int) -> tuple[int, int, int, set[str]]:
    lower = CountingFS(memory_layer(_big_tree(files)))
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower], auto_close=False)
    assert overlay.isdir("/src")
    before = lower.total()
    overlay.movedir("/src", "/dst", create=True)
    calls = lower.total() - before
    opened = lower.calls.get("openbin", 0) + lower.calls.get("readbytes", 0)
    # Lookups below the new name follow the redirect.
    assert overlay.readbytes("/dst/deep/er/f00002") == b"x" * 100
    assert len(overlay.listdir("/dst")) == files // 3 + 1 + (files % 3 > 0)
    assert not overlay.exists("/src")
    return calls, opened, lower.bytes_read, upper_files(upper)


def test_movedir_records_a_redirect_at_a_cost_independent_of_size():
    small = _movedir_cost(30)
    large = _movedir_cost(3000)
    assert small[0] == large[0], "movedir touched the lower a size-dependent number of times"
    assert small[1] == large[1] == 0, "movedir opened lower files"
    assert large[3] == {"/dst/.wh..wh..redirect", "/.wh.src"}


def test_lookups_follow_redirects_through_renames_and_reopen(guard):
    (lower,) = guard(memory_layer({"/a": None, "/a/b": None, "/a/b/f": b"deep", "/a/g": b"g"}))
    with TempFS() as upper:
        overlay = OverlayFS(upper, [lower], auto_close=False)
        overlay.movedir("/a", "/x", create=True)
        overlay.movedir("/x/b", "/y", create=True)  # a redirect inside a redirect
        overlay.movedir("/y", "/x/z", create=True)  # and back under the first
        overlay.writebytes("/x/z/new", b"new")
        overlay.makedir("/a")  # the old name is free again, and empty
        expected = {
            "/a": None,
            "/x": None,
            "/x/g": b"g",
            "/x/z": None,
            "/x/z/f": b"deep",
            "/x/z/new": b"new",
        }
        assert tree(overlay) == expected
        overlay.close()
        with OverlayFS(upper, [lower], auto_close=False) as reopened:
            assert tree(reopened) == expected


# -- listings ----------------------------------------------------------------


def test_listings_give_every_visible_name_once_in_a_stable_order(guard):
    names = [f"n{index:03d}" for index in range(60)]
    top, bottom = guard(
        memory_layer({"/d": None, **{f"/d/{name}": b"t" for name in names[::2]}}),
        memory_layer({"/d": None, **{f"/d/{name}": None for name in names[::3]}}),
    )
    upper = MemoryFS()
    overlay = OverlayFS(upper, [top, bottom], auto_close=False)
    for name in names[::5]:
        if not overlay.isdir(f"/d/{name}"):
            overlay.writebytes(f"/d/{name}", b"upper")
    overlay.remove("/d/n002")
    visible = sorted((set(names[::2]) | set(names[::3]) | set(names[::5])) - {"n002"})
    listed = overlay.listdir("/d")
    assert listed == visible
    assert listed == overlay.listdir("/d")
    assert [info.name for info in overlay.scandir("/d")] == listed
    paged: list[str] = []
    for start in range(0, len(listed) + 7, 7):
        paged.extend(info.name for info in overlay.scandir("/d", page=(start, start + 7)))
    assert paged == listed
    walked = [path for path, _ in overlay.walk.info("/")]
    assert len(walked) == len(set(walked))
    assert sorted(walked) == sorted(
        ["/d"] + [f"/d/{name}" for name in listed]
    )
    assert [path for path, _ in overlay.walk.info("/")] == walked


# -- read-only overlays and reserved names -----------------------------------

READ_ONLY_WRITES = {
    "writebytes": lambda o: o.writebytes("/new", b"x"),
    "writebytes existing": lambda o: o.writebytes("/f", b"x"),
    "appendbytes": lambda o: o.appendbytes("/f", b"x"),
    "open r+": lambda o: o.openbin("/f", "r+"),
    "open w": lambda o: o.openbin("/f", "w"),
    "open a": lambda o: o.openbin("/new", "a"),
    "open x": lambda o: o.openbin("/new", "x"),
    "remove": lambda o: o.remove("/f"),
    "removedir": lambda o: o.removedir("/empty"),
    "removetree": lambda o: o.removetree("/d"),
    "removetree root": lambda o: o.removetree("/"),
    "makedir": lambda o: o.makedir("/newdir"),
    "makedirs": lambda o: o.makedirs("/a/b/c"),
    "move": lambda o: o.move("/f", "/g"),
    "movedir": lambda o: o.movedir("/d", "/e", create=True),
    "copy": lambda o: o.copy("/f", "/g"),
    "setinfo": lambda o: o.setinfo("/f", {"details": {"modified": 1}}),
    "upload": lambda o: o.upload("/f", io.BytesIO(b"x")),
    "create": lambda o: o.create("/new"),
    "touch": lambda o: o.touch("/f"),
}


@pytest.mark.parametrize("operation", sorted(READ_ONLY_WRITES))
def test_a_read_only_overlay_refuses_every_write(guard, operation):
    (lower,) = guard(memory_layer({"/f": b"f", "/d": None, "/d/x": b"x", "/empty": None}))
    overlay = OverlayFS(None, [lower], auto_close=False)
    assert overlay.getmeta()["read_only"] is True
    with pytest.raises(fs.errors.ResourceReadOnly):
        READ_ONLY_WRITES[operation](overlay)
    assert overlay.readbytes("/f") == b"f"
    with overlay.openbin("/f", "r") as handle:
        assert handle.read() == b"f"


RESERVED_CREATIONS = {
    "writebytes .wh.foo": lambda o: o.writebytes("/d/.wh.foo", b""),
    "writebytes opq": lambda o: o.writebytes("/d/.wh..wh..opq", b""),
    "makedir .wh.foo": lambda o: o.makedir("/.wh.foo"),
    "makedir opq": lambda o: o.makedir("/d/.wh..wh..opq"),
    "move to .wh.": lambda o: o.move("/f", "/.wh.f2"),
    "movedir to .wh.": lambda o: o.movedir("/d", "/.wh.d2", create=True),
    "copy to .wh.": lambda o: o.copy("/f", "/d/.wh.g"),
    "upload .wh.": lambda o: o.upload("/.wh.up", io.BytesIO(b"x")),
    "open x .wh.": lambda o: o.openbin("/.wh.x", "x"),
}


@pytest.mark.parametrize("operation", sorted(RESERVED_CREATIONS))
def test_reserved_names_cannot_be_created(guard, operation):
    (lower,) = guard(memory_layer({"/f": b"f", "/d": None, "/d/x": b"x"}))
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower], auto_close=False)
    before = tree(overlay)
    with pytest.raises(ReservedName) as raised:
        RESERVED_CREATIONS[operation](overlay)
    assert isinstance(raised.value, fs.errors.PermissionDenied)
    assert tree(overlay) == before


def test_reserved_names_are_never_visible(guard):
    (lower,) = guard(
        memory_layer(
            {
                "/d": None,
                "/d/.wh..wh..opq": b"",
                "/d/.wh.z": b"",
                "/d/.wh..wh..other": b"",
                "/d/ok": b"ok",
                "/.wh..wh..work": None,
                "/.wh..wh..work/junk": b"j",
            }
        )
    )
    overlay = OverlayFS(MemoryFS(), [lower], auto_close=False)
    assert tree(overlay) == {"/d": None, "/d/ok": b"ok"}
    for path in ("/d/.wh.z", "/d/.wh..wh..opq", "/.wh..wh..work"):
        assert not overlay.exists(path)
        with pytest.raises(fs.errors.ResourceNotFound):
            overlay.getinfo(path)


# -- any FS is a layer -------------------------------------------------------

LAYER_CONTENT: dict[str, bytes | None] = {
    "/docs": None,
    "/docs/a.txt": b"alpha",
    "/docs/sub": None,
    "/docs/sub/b.txt": b"beta",
    "/top.txt": b"top",
    "/gone": None,
    "/gone/c.txt": b"gamma",
}


def _tar_layer(tmp_path) -> TarFS:
    path = tmp_path / "layer.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in sorted(LAYER_CONTENT.items()):
            info = tarfile.TarInfo(name.lstrip("/"))
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return TarFS(str(path))


def _osfs_layer(tmp_path) -> OSFS:
    root = tmp_path / "osfs"
    root.mkdir()
    layer = OSFS(str(root))
    fill(layer, LAYER_CONTENT)
    return layer


def _subfs_layer(tmp_path) -> FS:
    outer = MemoryFS()
    outer.makedir("/inside")
    fill(outer.opendir("/inside"), LAYER_CONTENT)
    outer.writebytes("/outside.txt", b"not part of the layer")
    return outer.opendir("/inside")


def _overlay_layer(tmp_path) -> FS:
    bottom = memory_layer({**LAYER_CONTENT, "/docs/a.txt": b"old", "/extra": b"removed"})
    inner_upper = MemoryFS()
    inner = OverlayFS(inner_upper, [bottom], auto_close=False)
    inner.writebytes("/docs/a.txt", b"alpha")
    inner.remove("/extra")
    return inner


LOWER_KINDS = {
    "memoryfs": lambda tmp_path: memory_layer(LAYER_CONTENT),
    "osfs": _osfs_layer,
    "tempfs": lambda tmp_path: _fill_temp(TempFS()),
    "zipfs": lambda tmp_path: zip_layer(LAYER_CONTENT),
    "tarfs": _tar_layer,
    "subfs": _subfs_layer,
    "overlayfs": _overlay_layer,
}


def _fill_temp(layer: TempFS) -> TempFS:
    fill(layer, LAYER_CONTENT)
    return layer


UPPER_KINDS = {
    "memoryfs": lambda: MemoryFS(),
    "tempfs": lambda: TempFS(),
    "subfs": lambda: _sub_upper(),
}


def _sub_upper() -> FS:
    outer = MemoryFS()
    outer.makedir("/up")
    return outer.opendir("/up")


@pytest.mark.parametrize("upper_kind", sorted(UPPER_KINDS))
@pytest.mark.parametrize("lower_kind", sorted(LOWER_KINDS))
def test_any_fs_works_as_a_layer(tmp_path, lower_kind, upper_kind):
    lower = LOWER_KINDS[lower_kind](tmp_path)
    plain = memory_layer(LAYER_CONTENT)
    assert tree(lower) == tree(plain)
    hashes = LowerHashes(lower)
    upper = UPPER_KINDS[upper_kind]()
    overlay = OverlayFS(upper, [lower], auto_close=False)
    overlay.appendbytes("/docs/a.txt", b"+")
    overlay.writebytes("/docs/sub/new.txt", b"new")
    overlay.remove("/top.txt")
    overlay.removetree("/gone")
    overlay.makedir("/gone")
    overlay.movedir("/docs/sub", "/moved", create=True)
    overlay.move("/docs/a.txt", "/a.txt")
    expected = {
        "/a.txt": b"alpha+",
        "/docs": None,
        "/gone": None,
        "/moved": None,
        "/moved/b.txt": b"beta",
        "/moved/new.txt": b"new",
    }
    assert tree(overlay) == expected
    overlay.close()
    reopened = OverlayFS(upper, [lower], auto_close=False)
    assert tree(reopened) == expected
    reopened.close()
    hashes.check()
    upper.close()
    lower.close()


# -- setgid directories ------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another group needs root")
@pytest.mark.parametrize("layout", ["marker", "kernel"])
def test_setgid_directories_pass_their_group_on_as_in_the_kernel(tmp_path, layout):
    """New entries in a setgid directory (copied up first) take its group; directories its bit."""
    import stat as stat_module

    from ..support.kernel import KernelMount, kernel_overlay_or_skip

    kernel_overlay_or_skip()

    def make(root: Path) -> dict[str, str]:
        dirs = {name: str(root / name) for name in ("lower", "upper", "work", "merged")}
        for path in dirs.values():
            os.makedirs(path)
        os.makedirs(os.path.join(dirs["lower"], "sg", "inner"))
        for path in ("sg", "sg/inner"):
            os.chown(os.path.join(dirs["lower"], path), 0, 1234)
            os.chmod(os.path.join(dirs["lower"], path), 0o2775)
        return dirs

    def shown(root: str) -> dict[str, tuple[int, int]]:
        found = {}
        for rel in ("sg", "sg/d", "sg/f", "sg/inner/d", "sg/d/deeper", "sg/d/g"):
            st = os.lstat(os.path.join(root, rel))
            found[rel] = (stat_module.S_IMODE(st.st_mode), st.st_gid)
        return found

    kernel_dirs = make(tmp_path / "kernel")
    with KernelMount([kernel_dirs["lower"]], kernel_dirs["upper"], kernel_dirs["work"],
                     kernel_dirs["merged"]) as merged:
        old = os.umask(0o022)
        try:
            os.mkdir(os.path.join(merged, "sg", "d"))
            open(os.path.join(merged, "sg", "f"), "wb").close()
            os.mkdir(os.path.join(merged, "sg", "inner", "d"))
            os.mkdir(os.path.join(merged, "sg", "d", "deeper"))
            open(os.path.join(merged, "sg", "d", "g"), "wb").close()
        finally:
            os.umask(old)
        expected = shown(merged)
    ours = make(tmp_path / "ours")
    if layout == "kernel":
        overlay = OverlayFS.from_dirs([ours["lower"]], ours["upper"], ours["work"])
    else:
        overlay = OverlayFS(OSFS(ours["upper"]), [OSFS(ours["lower"])])
    with overlay:
        overlay.makedir("/sg/d")
        overlay.create("/sg/f")
        overlay.makedir("/sg/inner/d")
        overlay.makedir("/sg/d/deeper")
        overlay.create("/sg/d/g")
    assert expected["sg/d"] == (0o2755, 1234)
    assert shown(ours["upper"]) == expected
