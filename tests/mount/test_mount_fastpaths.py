"""The mount's fast paths: ``readdirplus`` records, descriptors kept in the FUSE ``fh``.

Through a real mount where the kernel is involved; on the operations object
itself (no FUSE) where the property is about what the daemon answers.
"""

from __future__ import annotations

import itertools
import os
import stat

import pytest

from unionfs_lib.mount.operations import OverlayOperations
from unionfs_lib.overlay import OverlayFS

from ..support.mounting import fuse_or_skip

LOWER = {
    "/d": None,
    "/d/lower.txt": b"lower bytes",
    "/d/sub": None,
    "/d/sub/deep": b"deep",
    "/top.txt": b"0123456789",
}


@pytest.fixture
def lower(unchanged_lowers):
    return unchanged_lowers.make(LOWER, {"/d/lower.txt": 0o640}, {"/d/link": "lower.txt"})


def serve(lower: str, tmp_path, **options) -> OverlayOperations:
    """Return the daemon's operations over a kernel-format overlay, without FUSE."""
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    (upper / "d").mkdir()
    (upper / "d" / "upper.txt").write_bytes(b"upper bytes")
    return OverlayOperations(OverlayFS.from_dirs([lower], str(upper), str(work), **options))


@pytest.fixture(params=["by name", "streamed"])
def operations(request, lower, tmp_path):
    """The operations; "streamed": a lookup cache too small to list ``/d`` by name."""
    options = {"cache_entries": 8} if request.param == "streamed" else {}
    served = serve(lower, tmp_path, **options)
    yield served
    served.destroy("/")


def listed(operations: OverlayOperations, path: str, *, plus: bool) -> dict[str, dict]:
    """Return the ``readdir`` records of ``path`` by name."""
    number = operations.opendir(path)
    try:
        return {name: found for name, found, _ in operations.readdir_entries(0, number, plus=plus)}
    finally:
        operations.releasedir(path, number)


def test_readdirplus_records_are_the_getattr_records(operations):
    entries = listed(operations, "/d", plus=True)
    assert set(entries) == {".", "..", "lower.txt", "upper.txt", "sub", "link"}
    for name in ("lower.txt", "upper.txt", "sub", "link"):
        assert entries[name] == operations.getattr(f"/d/{name}"), name
    assert stat.S_ISLNK(entries["link"]["st_mode"])
    assert stat.S_IMODE(entries["lower.txt"]["st_mode"]) == 0o640


def test_plus_and_plain_requests_continue_one_listing(operations):
    """The kernel may switch between readdirplus and readdir on one open directory."""
    number = operations.opendir("/d")
    try:
        first = list(itertools.islice(operations.readdir_entries(0, number, plus=True), 4))
        rest = list(operations.readdir_entries(first[-1][2], number, plus=False))
    finally:
        operations.releasedir("/d", number)
    names = [entry[0] for entry in first + rest]
    assert names == [".", "..", "link", "lower.txt", "sub", "upper.txt"]


def test_plain_readdir_records_carry_only_type_and_inode(operations):
    entries = listed(operations, "/d", plus=False)
    for name in ("lower.txt", "upper.txt", "sub"):
        assert set(entries[name]) == {"st_mode", "st_ino"}
        assert entries[name]["st_ino"] == operations.getattr(f"/d/{name}")["st_ino"]


def test_plain_listing_builds_no_info_per_entry(operations, monkeypatch):
    """A plain listing takes numbers from ``OverlayFS.iterdir_numbers``: no ``Info`` per entry."""
    from unionfs_lib.ops import info_ops

    calls: list[tuple] = []
    monkeypatch.setattr(info_ops, "node_info", counted(info_ops.node_info, calls))
    entries = listed(operations, "/d", plus=False)
    calls.clear()  # "." and ".." are looked up; the entries are not
    entries = listed(operations, "/d", plus=False)
    assert len(entries) == 6
    assert [args for args in calls if args[1].path.startswith("/d/")] == []


def test_plain_listing_numbers_follow_changes_made_in_process(operations):
    """No number is kept between listings: a change through the overlay shows at once."""
    overlay = operations.overlay
    before = listed(operations, "/d", plus=False)
    overlay.appendbytes("/d/lower.txt", b"+")  # copy-up
    overlay.move("/d/upper.txt", "/d/renamed.txt")
    overlay.remove("/d/link")  # a whiteout
    overlay.hardlink("/d/lower.txt", "/d/second")
    after = listed(operations, "/d", plus=False)
    assert set(after) == {".", "..", "lower.txt", "renamed.txt", "second", "sub"}
    assert after["lower.txt"]["st_ino"] == before["lower.txt"]["st_ino"]
    assert after["renamed.txt"]["st_ino"] == before["upper.txt"]["st_ino"]
    for name in ("lower.txt", "renamed.txt", "second", "sub"):
        assert after[name]["st_ino"] == operations.getattr(f"/d/{name}")["st_ino"], name


def _filled(operations: OverlayOperations, path: str, flags: int) -> list[tuple]:
    """Run the daemon's ``readdir_fuse_3`` with a filler that notes what libfuse would get."""
    import ctypes

    import mfusepy

    from unionfs_lib.mount import daemon

    got = []

    def filler(buf, name, record, offset, fill):
        found = record.contents
        got.append((name.decode(), found.st_mode, found.st_ino, found.st_size, fill))
        return 0

    number = operations.opendir(path)
    handler = type("Handler", (), {"operations": operations, "encoding": "utf-8",
                                   "errors": "surrogateescape"})()
    opened = mfusepy.fuse_file_info(fh=number)
    try:
        daemon._fuse_class().readdir_fuse_3(
            handler, path.encode(), None, mfusepy.fuse_fill_dir_t(filler), 0,
            ctypes.pointer(opened), flags,
        )
    finally:
        operations.releasedir(path, number)
    return got


def test_plain_entries_are_filled_without_a_stat_record(operations, monkeypatch):
    """The daemon sets a plain entry's type and number only (``fill_stat`` is not called)."""
    from unionfs_lib.mount import daemon

    plus = _filled(operations, "/d", daemon.FUSE_READDIR_PLUS)
    calls: list[tuple] = []
    monkeypatch.setattr(daemon, "fill_stat", counted(daemon.fill_stat, calls))
    plain = _filled(operations, "/d", 0)
    assert calls == []
    assert [entry[:3] for entry in plain] == [
        (name, stat.S_IFDIR if stat.S_ISDIR(mode) or name in ".." else 0, ino)
        for name, mode, ino, _, _ in plus
    ]
    assert {entry[4] for entry in plain} == {0}
    described = {entry[0]: entry for entry in plus if entry[4] == daemon.FUSE_FILL_DIR_PLUS}
    assert described["lower.txt"][3] == len(b"lower bytes")


def test_readers_keep_a_descriptor_and_follow_a_copy_up(operations):
    reader = operations.open("/top.txt", os.O_RDONLY)
    assert operations._files[reader].fd is not None, "no descriptor kept for a lower file"
    assert operations.read("/top.txt", 4, 2, reader) == b"2345"
    writer = operations.open("/top.txt", os.O_WRONLY)
    operations.write("/top.txt", b"AB", 2, writer)  # copies the file up
    assert operations.read("/top.txt", 4, 2, reader) == b"AB45"
    operations.release("/top.txt", writer)
    operations.release("/top.txt", reader)
    assert operations.overlay.which("/top.txt").index == 0


def test_upper_files_are_written_through_their_descriptor(operations):
    number = operations.open("/d/upper.txt", os.O_RDWR)
    assert operations._files[number].fd is not None
    operations.write("/d/upper.txt", b"UP", 0, number)
    operations.write("/d/upper.txt", b"!", 20, number)  # past the end: a hole
    operations.release("/d/upper.txt", number)
    assert operations.overlay.readbytes("/d/upper.txt") == b"UPper bytes" + b"\0" * 9 + b"!"
    appending = operations.open("/d/upper.txt", os.O_WRONLY | os.O_APPEND)
    operations.write("/d/upper.txt", b"end", 0, appending)
    operations.release("/d/upper.txt", appending)
    assert operations.overlay.readbytes("/d/upper.txt").endswith(b"!end")
    truncating = operations.open("/d/upper.txt", os.O_WRONLY | os.O_TRUNC)
    operations.release("/d/upper.txt", truncating)
    assert operations.overlay.readbytes("/d/upper.txt") == b""


def test_a_listing_gives_the_kernel_every_entry_attributes(overlay_mount, lower, tmp_path):
    """After ``readdir`` the kernel answers ``lstat`` from the readdirplus records.

    The upper file grows behind the mount's back after the listing: a
    ``lstat`` that reached the daemon would see the new size.
    """
    fuse_or_skip()
    upper = tmp_path / "upper-dir"
    (upper / "d").mkdir(parents=True)
    (upper / "d" / "upper.txt").write_bytes(b"12345")
    root = overlay_mount(lower, upper=str(upper))
    assert sorted(os.listdir(root / "d")) == ["link", "lower.txt", "sub", "upper.txt"]
    (upper / "d" / "upper.txt").write_bytes(b"1234567890")
    assert os.lstat(root / "d" / "upper.txt").st_size == 5
    assert os.lstat(root / "d" / "lower.txt").st_size == len(b"lower bytes")


def test_reads_and_writes_through_the_mount(overlay_mount, lower):
    fuse_or_skip()
    root = overlay_mount(lower)
    with open(root / "top.txt", "rb", buffering=0) as reading:
        assert reading.read(3) == b"012"
        with open(root / "top.txt", "r+b") as writing:
            writing.seek(5)
            writing.write(b"xy")
        assert reading.read() == b"34xy789"
    with open(root / "d" / "new", "wb") as created:
        created.write(b"a" * 300_000)
    with open(root / "d" / "new", "ab") as appending:
        appending.write(b"tail")
    data = (root / "d" / "new").read_bytes()
    assert data == b"a" * 300_000 + b"tail"
    with open(root / "d" / "new", "r+b") as patching:
        os.pwrite(patching.fileno(), b"MID", 150_000)
    assert (root / "d" / "new").read_bytes()[149_999:150_004] == b"aMIDa"
    assert (root / "d" / "sub" / "deep").read_bytes() == b"deep"


def counted(function, calls: list[tuple]):
    """Return ``function``, noting the arguments of each call in ``calls``."""

    def noted(*args):
        calls.append(args)
        return function(*args)

    return noted
