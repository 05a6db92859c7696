"""Inode numbers that survive copy-up, rename and reopen; open handles; lazy copy-up."""

from __future__ import annotations

import errno
import os
import tarfile
import typing
from pathlib import Path

import fs.errors
import pytest
from fs.base import FS
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unionfs_lib import OverlayFS
from unionfs_lib.mount.daemon import mount_in_thread

from ..strategies.sidecar import SidecarWhiteouts
from ..support.helpers import CountingFS
from ..support.layers import content_hash, memory_layer
from ..support.link_layouts import LINK_LAYOUTS, Layout, layout_checked
from ..support.mounting import fuse_or_skip


def lower_tree():
    return memory_layer(
        {
            "/dir": None,
            "/dir/file.txt": b"lower data",
            "/dir/sub": None,
            "/dir/sub/deep.txt": b"deep",
            "/big.bin": b"x" * (1 << 20),
            "/top.txt": b"top",
        }
    )


def ino(overlay, path):
    return overlay.getinfo(path, namespaces=["overlay"]).raw["overlay"]["ino"]


def test_overlay_namespace_fields():
    lower = lower_tree()
    overlay = OverlayFS(MemoryFS(), [lower])
    overlay.writetext("/new.txt", "upper")
    lower_ns = overlay.getinfo("/top.txt", ["overlay"]).raw["overlay"]
    assert lower_ns["layer"] == 1 and lower_ns["origin"] is None
    upper_ns = overlay.getinfo("/new.txt", ["overlay"]).raw["overlay"]
    assert upper_ns["layer"] == 0 and upper_ns["origin"] is None
    overlay.appendtext("/top.txt", "!")
    copied = overlay.getinfo("/top.txt", ["overlay"]).raw["overlay"]
    assert copied["layer"] == 0 and copied["origin"] == 1
    assert copied["ino"] == lower_ns["ino"]


def test_ino_unchanged_by_copy_up_rename_and_reopen(tmp_path):
    lower = lower_tree()
    upper_dir = tmp_path / "upper"
    upper_dir.mkdir()
    overlay = OverlayFS(OSFS(str(upper_dir)), [lower], auto_close=False)
    overlay.writetext("/native.txt", "made in the upper")
    overlay.makedir("/native-dir")
    overlay.writetext("/native-dir/child.txt", "child")
    paths = ["/dir", "/dir/file.txt", "/dir/sub", "/dir/sub/deep.txt", "/native.txt",
             "/native-dir", "/native-dir/child.txt", "/top.txt"]
    before = {path: ino(overlay, path) for path in paths}
    assert len(set(before.values())) == len(before), "inode numbers must be unique"

    with overlay.open("/dir/file.txt", "r+") as handle:
        assert ino(overlay, "/dir/file.txt") == before["/dir/file.txt"]
        handle.write("LOWER")
    assert ino(overlay, "/dir/file.txt") == before["/dir/file.txt"]

    overlay.move("/top.txt", "/moved-top.txt")
    overlay.move("/native.txt", "/dir/native-moved.txt")
    overlay.movedir("/dir", "/renamed", create=True)
    overlay.movedir("/native-dir", "/renamed/native-dir", create=True)
    after = {
        "/dir": ino(overlay, "/renamed"),
        "/dir/file.txt": ino(overlay, "/renamed/file.txt"),
        "/dir/sub": ino(overlay, "/renamed/sub"),
        "/dir/sub/deep.txt": ino(overlay, "/renamed/sub/deep.txt"),
        "/native.txt": ino(overlay, "/renamed/native-moved.txt"),
        "/native-dir": ino(overlay, "/renamed/native-dir"),
        "/native-dir/child.txt": ino(overlay, "/renamed/native-dir/child.txt"),
        "/top.txt": ino(overlay, "/moved-top.txt"),
    }
    assert after == before
    overlay.close()

    reopened = OverlayFS(OSFS(str(upper_dir)), [lower], auto_close=False)
    again = {
        "/dir": ino(reopened, "/renamed"),
        "/dir/file.txt": ino(reopened, "/renamed/file.txt"),
        "/dir/sub/deep.txt": ino(reopened, "/renamed/sub/deep.txt"),
        "/native-dir/child.txt": ino(reopened, "/renamed/native-dir/child.txt"),
        "/top.txt": ino(reopened, "/moved-top.txt"),
    }
    assert again == {key: before[key] for key in again}


def test_stat_namespace_follows_overlay_ino(tmp_path):
    (tmp_path / "lower").mkdir()
    (tmp_path / "upper").mkdir()
    (tmp_path / "lower" / "f.txt").write_text("data")
    overlay = OverlayFS(OSFS(str(tmp_path / "upper")), [OSFS(str(tmp_path / "lower"))])
    before = overlay.getinfo("/f.txt", ["stat", "overlay"])
    overlay.appendtext("/f.txt", " more")
    after = overlay.getinfo("/f.txt", ["stat", "overlay"])
    assert before.raw["stat"]["st_ino"] == after.raw["stat"]["st_ino"]
    assert after.raw["stat"]["st_ino"] == after.raw["overlay"]["ino"]
    assert before.raw["stat"]["st_dev"] == after.raw["stat"]["st_dev"]
    assert os.stat(tmp_path / "upper" / "f.txt").st_ino != after.raw["stat"]["st_ino"]


def test_records_are_only_kept_for_copied_up_or_renamed_entries():
    lower = lower_tree()
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower])
    overlay.writetext("/fresh.txt", "x")
    overlay.makedir("/fresh-dir")
    assert not [p for p in upper.walk.files() if ".wh..wh..rec." in p]
    overlay.appendtext("/top.txt", "!")
    records = [p for p in upper.walk.files() if ".wh..wh..rec." in p]
    assert records == ["/.wh..wh..rec.top.txt"]


def test_read_handle_sees_data_written_after_copy_up():
    lower = lower_tree()
    overlay = OverlayFS(MemoryFS(), [lower])
    reader = overlay.openbin("/dir/file.txt", "r")
    assert reader.read(5) == b"lower"
    with overlay.openbin("/dir/file.txt", "r+") as writer:
        writer.write(b"UPPER-DATA")
    # position is kept (5); the rest now comes from the upper copy
    assert reader.read() == b"-DATA"
    reader.seek(0)
    assert reader.read() == b"UPPER-DATA"
    reader.close()
    assert lower.readbytes("/dir/file.txt") == b"lower data"


@pytest.mark.parametrize("replace", ["openbin-w", "writebytes", "upload", "writetext"])
@pytest.mark.parametrize("upper_kind", ["memory", "os"])
def test_read_handle_sees_a_lower_file_replaced_through_the_overlay(tmp_path, replace, upper_kind):
    """As on a Linux overlay mount: open for read, replace with O_TRUNC, read again."""
    import io

    lower = lower_tree()
    upper: FS
    if upper_kind == "memory":
        upper = MemoryFS()
    else:
        (tmp_path / "upper").mkdir()
        upper = OSFS(str(tmp_path / "upper"))
    overlay = OverlayFS(upper, [lower])
    reader = overlay.openbin("/dir/file.txt", "r")
    assert reader.read(2) == b"lo"
    if replace == "openbin-w":
        with overlay.openbin("/dir/file.txt", "w") as writer:
            writer.write(b"NEW-DATA")
    elif replace == "writebytes":
        overlay.writebytes("/dir/file.txt", b"NEW-DATA")
    elif replace == "upload":
        overlay.upload("/dir/file.txt", io.BytesIO(b"NEW-DATA"))
    else:
        overlay.writetext("/dir/file.txt", "NEW-DATA")
    reader.seek(0)
    assert reader.read() == b"NEW-DATA"
    reader.close()
    assert lower.readbytes("/dir/file.txt") == b"lower data"
    overlay.close()


def test_open_for_writing_without_writing_leaves_upper_untouched():
    lower = lower_tree()
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower])
    for mode in ("r+", "a", "a+", "r+b", "ab"):
        with overlay.open("/dir/file.txt", mode) as handle:
            if "+" in mode or "r" in mode:
                handle.seek(0)
                handle.read()
    assert not upper.exists("/dir/file.txt")
    assert not upper.exists("/dir")
    with overlay.open("/dir/file.txt", "a") as handle:
        handle.write("!")
    assert upper.readtext("/dir/file.txt") == "lower data!"


def test_truncate_copies_at_most_n_bytes():
    lower = CountingFS(lower_tree())
    overlay = OverlayFS(MemoryFS(), [lower])
    with overlay.openbin("/big.bin", "r+") as handle:
        handle.truncate(10)
    assert lower.bytes_read <= 10
    assert overlay.readbytes("/big.bin") == b"x" * 10


def test_open_w_copies_no_data():
    lower = CountingFS(lower_tree())
    overlay = OverlayFS(MemoryFS(), [lower])
    before = ino(overlay, "/big.bin")
    with overlay.openbin("/big.bin", "w") as handle:
        handle.write(b"new")
    assert lower.bytes_read == 0
    assert overlay.readbytes("/big.bin") == b"new"
    assert ino(overlay, "/big.bin") == before


def test_setinfo_is_a_metadata_only_copy_up():
    lower = CountingFS(lower_tree())
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower])
    overlay.setinfo("/big.bin", {"details": {"modified": 1234567890.0}})
    assert lower.bytes_read == 0
    assert upper.getsize("/big.bin") == 0
    info = overlay.getinfo("/big.bin", ["details", "overlay"])
    assert info.modified is not None and info.modified.timestamp() == 1234567890.0
    assert info.size == 1 << 20
    assert info.raw["overlay"]["metacopy"] is True
    assert overlay.readbytes("/big.bin") == b"x" * (1 << 20)
    with overlay.openbin("/big.bin", "r+") as handle:
        handle.seek(0)
        handle.write(b"Y")
    data = overlay.readbytes("/big.bin")
    assert data[:2] == b"Yx" and len(data) == 1 << 20
    assert overlay.getinfo("/big.bin", ["overlay"]).raw["overlay"]["metacopy"] is False


def test_metacopy_survives_rename_and_reopen():
    lower = lower_tree()
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower], auto_close=False)
    overlay.setinfo("/dir/file.txt", {"details": {"modified": 1000.0}})
    overlay.move("/dir/file.txt", "/elsewhere.txt")
    assert overlay.readtext("/elsewhere.txt") == "lower data"
    overlay.close()
    reopened = OverlayFS(upper, [lower], auto_close=False)
    assert reopened.readtext("/elsewhere.txt") == "lower data"
    assert not reopened.exists("/dir/file.txt")


def test_copy_up_streams_with_flat_memory(tmp_path):
    import tracemalloc

    peaks = []
    for size in (16 << 20, 128 << 20):
        lower_dir = tmp_path / f"lower{size}"
        upper_dir = tmp_path / f"upper{size}"
        lower_dir.mkdir()
        upper_dir.mkdir()
        with open(lower_dir / "big", "wb") as handle:
            handle.truncate(size)  # sparse: cheap to create, real bytes to read
        overlay = OverlayFS(OSFS(str(upper_dir)), [OSFS(str(lower_dir))])
        tracemalloc.start()
        with overlay.openbin("/big", "r+") as handle:
            handle.write(b"!")
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert overlay.getsize("/big") == size
        overlay.close()
    assert peaks[1] < 4 * (1 << 20), peaks
    assert peaks[1] < peaks[0] * 1.5 + (256 << 10), peaks


def test_lowers_unchanged_by_identity_operations():
    lower = lower_tree()
    before = content_hash(lower)
    overlay = OverlayFS(MemoryFS(), [lower])
    overlay.setinfo("/top.txt", {"details": {"modified": 5.0}})
    overlay.movedir("/dir", "/d2", create=True)
    overlay.appendtext("/d2/file.txt", "x")
    assert content_hash(lower) == before


def test_reading_a_removed_file_through_a_deferred_handle_fails_cleanly():
    lower = lower_tree()
    overlay = OverlayFS(MemoryFS(), [lower])
    handle = overlay.openbin("/top.txt", "r+")
    overlay.remove("/top.txt")
    with pytest.raises(fs.errors.ResourceNotFound):
        handle.write(b"x")
    handle.close()
    assert lower.readbytes("/top.txt") == b"top"


@pytest.mark.skipif(
    not os.environ.get("UNIONFS_BIG_COPY_UP"),
    reason="2 GiB copy-up takes ~25 s; run with UNIONFS_BIG_COPY_UP=1",
)
def test_copy_up_of_2_gib_keeps_peak_memory_flat(tmp_path):
    import tracemalloc

    (tmp_path / "lower").mkdir()
    (tmp_path / "upper").mkdir()
    with open(tmp_path / "lower" / "big", "wb") as handle:
        handle.truncate(2 << 30)
    overlay = OverlayFS(OSFS(str(tmp_path / "upper")), [OSFS(str(tmp_path / "lower"))])
    tracemalloc.start()
    with overlay.openbin("/big", "r+") as handle:
        handle.write(b"!")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert overlay.getsize("/big") == 2 << 30
    assert peak < 4 * (1 << 20), peak


def test_a_handle_that_copies_its_file_up_opens_the_upper_copy_once():
    """The handle making the copy-up does not also hear it (it used to open twice)."""
    from ..support.helpers import CountingFS

    lower = lower_tree()
    upper = CountingFS(MemoryFS())
    overlay = OverlayFS(upper, [lower])
    with overlay.openbin("/dir/file.txt", "a") as handle:
        opened = upper.opens
        handle.write(b"!")
        # the copy-up writes the work-area copy, then the handle opens the result once
        assert upper.opens - opened == 2
    assert overlay.readbytes("/dir/file.txt") == b"lower data!"


def test_writes_through_a_copied_up_handle_honour_unbuffered_mode(tmp_path):
    """With ``buffering=0`` a write is visible at once, as on the layer itself."""
    (tmp_path / "lower").mkdir()
    (tmp_path / "upper").mkdir()
    (tmp_path / "lower" / "f").write_bytes(b"lower data")
    overlay = OverlayFS(OSFS(str(tmp_path / "upper")), [OSFS(str(tmp_path / "lower"))])
    with overlay.openbin("/f", "r+", buffering=0) as handle:
        handle.write(b"UP")
        assert overlay.readbytes("/f") == b"UPwer data"
        handle.write(b"!")
        assert overlay.readbytes("/f") == b"UP!er data"
    overlay.close()


def test_a_new_file_where_one_was_renamed_from_gets_a_number_of_its_own():
    overlay = OverlayFS(MemoryFS(), [MemoryFS()])
    overlay.writebytes("/n", b"")
    overlay.move("/n", "/f")
    overlay.writebytes("/n", b"")
    assert ino(overlay, "/n") != ino(overlay, "/f")


# -- a new entry at a vacated path gets a number of its own ------------------


@pytest.fixture(params=["memory", "sidecar", *LINK_LAYOUTS])
def reopenable(
    request: pytest.FixtureRequest, tmp_path: Path
) -> typing.Iterator[Reopenable]:
    """An overlay over an upper that outlives it: every whiteout store, reopenable."""
    if request.param in ("memory", "sidecar"):
        upper, lower = MemoryFS(), memory_layer({"/d": None, "/d/f": b"lower data"})
        store = SidecarWhiteouts() if request.param == "sidecar" else None
        yield lambda: OverlayFS(upper, [lower], auto_close=False, whiteouts=store)
        return
    yield from (layout.open for layout in layout_checked(request.param, tmp_path))


Reopenable = typing.Callable[[], OverlayFS]


def numbers(overlay: OverlayFS, *paths: str) -> dict[str, int]:
    return {path: ino(overlay, path) for path in paths}


def assert_distinct(found: dict[str, int]) -> None:
    assert len(set(found.values())) == len(found), found


def keeps_records(overlay: OverlayFS) -> bool:
    """Whether a rename through the Python API keeps the number (the kernel format pins none)."""
    return bool(overlay.whiteouts.keeps_records)


def test_a_chain_of_renames_from_one_path_gives_every_entry_its_own_number(reopenable):
    overlay = reopenable()
    overlay.writebytes("/n", b"1")
    first = ino(overlay, "/n")
    overlay.move("/n", "/f")
    overlay.writebytes("/n", b"2")
    second = ino(overlay, "/n")
    overlay.move("/n", "/g")
    overlay.writebytes("/n", b"3")
    before = numbers(overlay, "/f", "/g", "/n")
    assert_distinct(before)
    if keeps_records(overlay):
        assert (before["/f"], before["/g"]) == (first, second)
    overlay.close()

    overlay = reopenable()
    assert numbers(overlay, "/f", "/g", "/n") == before
    overlay.writebytes("/m", b"")
    overlay.move("/n", "/h")
    overlay.writebytes("/n", b"4")
    after = numbers(overlay, "/f", "/g", "/h", "/n", "/m")
    assert_distinct(after)
    overlay.close()

    overlay = reopenable()
    assert numbers(overlay, "/f", "/g", "/h", "/n", "/m") == after
    assert {"f", "g", "h", "m", "n"} <= set(overlay.listdir("/"))
    overlay.close()


def test_a_path_vacated_before_a_reopen_still_gives_a_number_of_its_own(reopenable):
    overlay = reopenable()
    overlay.writebytes("/n", b"")
    overlay.move("/n", "/f")
    overlay.close()
    overlay = reopenable()
    overlay.writebytes("/n", b"")
    assert_distinct(numbers(overlay, "/n", "/f"))
    overlay.close()


def test_rename_over_a_refilled_path_keeps_numbers_unique(reopenable):
    overlay = reopenable()
    overlay.writebytes("/n", b"")
    overlay.move("/n", "/f")
    overlay.writebytes("/n", b"")  # replaced below
    overlay.writebytes("/a", b"")
    overlay.move("/a", "/n", overwrite=True)
    overlay.move("/n", "/g")
    overlay.writebytes("/n", b"")
    overlay.writebytes("/a", b"")
    found = numbers(overlay, "/f", "/g", "/n", "/a")
    assert_distinct(found)
    overlay.close()
    overlay = reopenable()
    assert numbers(overlay, "/f", "/g", "/n", "/a") == found
    overlay.close()


def test_entries_under_a_renamed_or_removed_directory_leave_their_paths_free(reopenable):
    overlay = reopenable()
    overlay.makedirs("/p/sub")
    overlay.writebytes("/p/sub/x", b"")
    overlay.movedir("/p", "/q", create=True)
    overlay.makedirs("/p/sub")
    overlay.writebytes("/p/sub/x", b"")
    overlay.makedir("/r")
    overlay.writebytes("/r/x", b"")
    overlay.move("/r/x", "/y")
    overlay.removetree("/r")
    overlay.makedir("/r")
    overlay.writebytes("/r/x", b"")
    overlay.makedirs("/s/deep")
    overlay.writebytes("/s/deep/x", b"")
    overlay.move("/s/deep/x", "/z")
    overlay.removetree("/s")  # vacated two levels beneath
    overlay.makedirs("/s/deep")
    overlay.writebytes("/s/deep/x", b"")
    overlay.writebytes("/d/new", b"")  # in a directory the lower holds too
    overlay.movedir("/d", "/merged", create=True)
    overlay.makedir("/d")
    overlay.writebytes("/d/new", b"")
    found = numbers(
        overlay, "/q", "/q/sub", "/q/sub/x", "/p", "/p/sub", "/p/sub/x", "/y", "/r/x",
        "/z", "/s/deep/x", "/merged/new", "/d/new",
    )
    assert_distinct(found)
    overlay.close()
    overlay = reopenable()
    assert numbers(overlay, *found) == found
    overlay.close()


def test_a_discarded_directory_leaves_the_paths_beneath_it_free(reopenable):
    overlay = reopenable()
    overlay.makedir("/p")
    overlay.writebytes("/p/x", b"")
    overlay.move("/p/x", "/y")
    overlay.discard(["/p"])
    overlay.makedir("/p")
    overlay.writebytes("/p/x", b"")
    assert_distinct(numbers(overlay, "/p/x", "/y"))
    overlay.close()


def test_a_vacated_path_shows_in_no_listing_and_blocks_nothing(reopenable):
    overlay = reopenable()
    overlay.makedir("/p")
    overlay.writebytes("/p/n", b"")
    overlay.move("/p/n", "/p/f")
    assert overlay.listdir("/p") == ["f"]
    assert not overlay.exists("/p/n")
    overlay.writebytes("/p/n", b"again")
    overlay.remove("/p/n")
    overlay.makedir("/p/n")
    overlay.removedir("/p/n")
    assert overlay.listdir("/p") == ["f"]
    changed = [change.path for change in overlay.changes() if change.path != "/"]
    assert changed == ["/p", "/p/f"]  # the root's own metadata may differ from the lower's
    overlay.close()
    overlay = reopenable()
    assert overlay.listdir("/p") == ["f"]
    overlay.close()


def test_a_file_given_a_second_name_then_removed_leaves_its_path_free(tmp_path):
    layout = Layout("osfs", tmp_path)
    overlay = layout.open()
    overlay.writebytes("/n", b"")
    number = ino(overlay, "/n")
    overlay.hardlink("/n", "/m")
    overlay.remove("/n")
    overlay.writebytes("/n", b"")
    assert ino(overlay, "/m") == number != ino(overlay, "/n")
    overlay.close()


def test_looking_up_an_entry_at_a_vacated_path_reads_nothing_more():
    """The generation comes with the upper listing: lookups make no extra calls."""
    upper = CountingFS(MemoryFS())
    overlay = OverlayFS(upper, [MemoryFS()])
    overlay.writebytes("/n", b"")
    overlay.move("/n", "/f")
    overlay.writebytes("/n", b"")
    overlay.invalidate()
    ino(overlay, "/f")  # reads the root's upper listing once
    upper.calls.clear()
    for _ in range(3):
        ino(overlay, "/n")
        ino(overlay, "/f")
    assert upper.calls["scandir"] == upper.calls["readbytes"] == 0


def test_through_the_mount_a_new_file_at_a_vacated_path_has_its_own_st_ino(reopenable, tmp_path):
    fuse_or_skip()
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    mounted = mount_in_thread(reopenable(), mountpoint)
    try:
        os.rename(mountpoint / "d" / "f", mountpoint / "moved")
        (mountpoint / "n").write_bytes(b"")
        os.rename(mountpoint / "n", mountpoint / "f")
        (mountpoint / "n").write_bytes(b"")
        names = ["f", "n", "moved"]
        try:
            os.link(mountpoint / "n", mountpoint / "m")
        except OSError as error:  # a memory upper has no hard links
            assert error.errno == errno.EOPNOTSUPP
        else:
            os.unlink(mountpoint / "n")
            (mountpoint / "n").write_bytes(b"")
            names.append("m")
        found = {name: os.stat(mountpoint / name).st_ino for name in names}
        assert_distinct(found)
    finally:
        mounted.unmount()
    mounted = mount_in_thread(reopenable(), mountpoint)
    try:
        assert {name: os.stat(mountpoint / name).st_ino for name in found} == found
    finally:
        mounted.unmount()


# -- random renames, removals and reopens: numbers stay unique --------------

IDENTITY_PATHS = ["/p", "/q", "/x", "/y", "/p/x", "/p/y", "/q/x"]
identity_steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["write", "makedir", "remove", "removetree"]),
                  st.sampled_from(IDENTITY_PATHS)),
        st.tuples(st.sampled_from(["move", "movedir"]), st.sampled_from(IDENTITY_PATHS),
                  st.sampled_from(IDENTITY_PATHS)),
        st.tuples(st.just("reopen")),
    ),
    max_size=14,
)


class IdentityModel:
    """Which entry stands at each path: a token per entry, kept by renames."""

    def __init__(self) -> None:
        self.tokens: dict[str, int] = {}
        self.made = 0

    def new(self, path: str) -> None:
        self.made += 1
        self.tokens[path] = self.made

    def drop(self, path: str) -> None:
        for held in [p for p in self.tokens if p == path or p.startswith(path + "/")]:
            del self.tokens[held]

    def move(self, src: str, dst: str) -> None:
        self.drop(dst)
        for held in [p for p in self.tokens if p == src or p.startswith(src + "/")]:
            self.tokens[dst + held[len(src):]] = self.tokens.pop(held)


def apply_identity_step(overlay: OverlayFS, model: IdentityModel, step: tuple[str, ...]) -> None:
    """Apply one step to the overlay, and to the model if the overlay took it."""
    kind, *paths = step
    path = paths[0]
    try:
        if kind == "write":
            existed = overlay.isfile(path)
            overlay.writebytes(path, b"data")
            if not existed:
                model.new(path)
        elif kind == "makedir":
            overlay.makedir(path)
            model.new(path)
        elif kind == "remove":
            overlay.remove(path)
            model.drop(path)
        elif kind == "removetree":
            overlay.removetree(path)
            model.drop(path)
        elif kind == "move":
            overlay.move(path, paths[1], overwrite=True)
            if path != paths[1]:
                model.move(path, paths[1])
        elif kind == "movedir" and not overlay.exists(paths[1]):
            overlay.movedir(path, paths[1], create=True)
            model.move(path, paths[1])
    except fs.errors.FSError:
        pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(store=st.sampled_from(["marker", "sidecar"]), sequence=identity_steps)
def test_random_renames_and_reopens_keep_every_number_unique_and_stable(store, sequence):
    upper = MemoryFS()
    whiteouts = SidecarWhiteouts() if store == "sidecar" else None

    def reopen() -> OverlayFS:
        return OverlayFS(upper, [memory_layer({"/q": None, "/q/x": b"lower"})],
                         auto_close=False, whiteouts=whiteouts)

    overlay = reopen()
    model = IdentityModel()
    model.new("/q")
    model.new("/q/x")
    numbers_of_tokens: dict[int, int] = {}
    for step in sequence:
        if step[0] == "reopen":
            overlay.close()
            overlay = reopen()
        else:
            apply_identity_step(overlay, model, step)
        shown = {path: ino(overlay, path) for path in overlay.walk.files()}
        shown.update({path: ino(overlay, path) for path in overlay.walk.dirs()})
        assert set(shown) == set(model.tokens), step
        assert_distinct(shown)
        for path, token in model.tokens.items():
            assert numbers_of_tokens.setdefault(token, shown[path]) == shown[path], (step, path)
    overlay.close()


def test_commit_and_export_carry_no_generations(tmp_path):
    lower = memory_layer({"/d": None, "/d/f": b"lower data"})
    target = MemoryFS()
    target.makedir("/d")
    target.writebytes("/d/f", b"lower data")
    overlay = OverlayFS(MemoryFS(), [lower])
    overlay.makedir("/p")
    overlay.writebytes("/p/n", b"1")
    overlay.move("/p/n", "/p/f")
    overlay.writebytes("/p/n", b"2")
    assert overlay.upper is not None and overlay.upper.exists("/p/.wh..wh..vac.n")
    overlay.commit(target)
    assert sorted(target.walk.files()) == ["/d/f", "/p/f", "/p/n"]
    archive = tmp_path / "layer.tar"
    overlay.export_layer(str(archive))
    with tarfile.open(archive) as layer:
        assert not [name for name in layer.getnames() if ".wh..wh." in name]


# -- identity kept by the copy-up engine itself, in the kernel format ----------------


def kernel_dirs(tmp_path: Path) -> tuple[str, str, str]:
    """Return (lower, upper, work) directories with a small lower tree."""
    lower, upper, work = (tmp_path / name for name in ("lower", "upper", "work"))
    for folder in (lower / "dir" / "sub", upper, work):
        folder.mkdir(parents=True)
    (lower / "top.txt").write_text("top")
    (lower / "dir" / "file.txt").write_text("lower data")
    (lower / "dir" / "sub" / "deep.txt").write_text("deep")
    (lower / "meta.txt").write_text("metadata only")
    return str(lower), str(upper), str(work)


def stat_ino(overlay: OverlayFS, path: str) -> int:
    number = typing.cast(int, overlay.getinfo(path, namespaces=["stat"]).raw["stat"]["st_ino"])
    assert number == ino(overlay, path)
    return number


def test_kernel_format_keeps_numbers_through_copy_up_rename_and_reopen(tmp_path):
    lower, upper, work = kernel_dirs(tmp_path)
    overlay = OverlayFS.from_dirs([lower], upper, work)
    overlay.writetext("/native.txt", "made in the upper")
    overlay.makedir("/native-dir")
    overlay.writetext("/native-dir/child.txt", "child")
    paths = ["/top.txt", "/dir/file.txt", "/dir/sub/deep.txt", "/meta.txt", "/native.txt",
             "/native-dir/child.txt"]
    before = {path: stat_ino(overlay, path) for path in paths}
    with overlay.open("/dir/file.txt", "r+") as handle:
        handle.write("LOWER")
    overlay.appendtext("/top.txt", "!")
    overlay.setinfo("/meta.txt", {"details": {"modified": 1_000_000.0}})
    overlay.move("/top.txt", "/moved-top.txt")
    overlay.move("/native.txt", "/dir/native-moved.txt")
    overlay.movedir("/native-dir", "/dir/native-dir", create=True)
    renamed = {
        "/top.txt": "/moved-top.txt",
        "/dir/file.txt": "/dir/file.txt",
        "/dir/sub/deep.txt": "/dir/sub/deep.txt",
        "/meta.txt": "/meta.txt",
        "/native.txt": "/dir/native-moved.txt",
        "/native-dir/child.txt": "/dir/native-dir/child.txt",
    }
    after = {old: stat_ino(overlay, new) for old, new in renamed.items()}
    assert after == before
    overlay.close()
    with OverlayFS.from_dirs([lower], upper, work) as reopened:
        again = {old: stat_ino(reopened, new) for old, new in renamed.items()}
    assert again == before


def test_kernel_format_keeps_the_number_of_a_lower_file_opened_for_truncation(tmp_path):
    lower, upper, work = kernel_dirs(tmp_path)
    with OverlayFS.from_dirs([lower], upper, work) as overlay:
        before = {path: stat_ino(overlay, path) for path in ("/top.txt", "/dir/file.txt")}
        with overlay.open("/top.txt", "w") as handle:
            handle.write("replaced")
        overlay.writebytes("/dir/file.txt", b"rewritten")
        after = {path: stat_ino(overlay, path) for path in before}
    assert after == before
    with OverlayFS.from_dirs([lower], upper, work) as reopened:
        assert {path: stat_ino(reopened, path) for path in before} == before
        assert reopened.readtext("/top.txt") == "replaced"
