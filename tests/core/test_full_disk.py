"""A full or failing upper: a clear error, nothing changed, and working again once freed.

Two kinds of full upper:

* a real 1 MiB tmpfs mounted for the test (``mount -t tmpfs -o size=1m``;
  needs root, skipped with a loud reason where refused), where the kernel
  answers ``ENOSPC`` (``fs.errors.InsufficientStorage``);
* :class:`QuotaFS`, a wrapper that fails with ``InsufficientStorage`` once a
  byte budget is spent, so the failure can be put at any byte.

Each copy-up-inducing operation (append, write through ``r+``, ``setinfo``,
``move``, truncation) is tried when the upper has too little room: it must
raise ``InsufficientStorage``, and the overlay view, the upper (apart from an
empty work area) and the lowers must be exactly as before. Then space is freed
through the same overlay object and the same operation must succeed.
"""

from __future__ import annotations

import errno
import os
import subprocess
import typing

import fs.errors
import pytest
from fs.base import FS
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS

from unionfs_lib import OverlayFS
from unionfs_lib.ops.copy_up_engine import CopyUpEngine

from ..support.helpers import os_tree, tree
from ..support.layers import content_hash
from ..support.quota_fs import QuotaFS

WORK = "/.wh..wh..work"
KIB = 1024


def work_is_empty(upper: FS) -> bool:
    return not upper.isdir(WORK) or upper.listdir(WORK) == []


def fill_lower(lower: FS) -> None:
    lower.makedirs("/sub/dir")
    lower.writebytes("/big.bin", os.urandom(700 * KIB))
    lower.writebytes("/sub/dir/mid.bin", os.urandom(600 * KIB))
    lower.writebytes("/small.txt", b"small")


def append(overlay: OverlayFS) -> None:
    overlay.appendbytes("/big.bin", b"more")


def write_in_place(overlay: OverlayFS) -> None:
    with overlay.openbin("/sub/dir/mid.bin", "r+b") as handle:
        handle.seek(10)
        handle.write(b"patched")


def set_times(overlay: OverlayFS) -> None:
    overlay.setinfo("/sub/dir/mid.bin", {"details": {"modified": 1_000_000.0}})


def move(overlay: OverlayFS) -> None:
    overlay.move("/big.bin", "/sub/moved.bin")


def truncate(overlay: OverlayFS) -> None:
    with overlay.openbin("/big.bin", "r+b") as handle:
        handle.truncate(650 * KIB)


OPERATIONS = {
    "append": append,
    "write_in_place": write_in_place,
    "move": move,
    "truncate": truncate,
}


def check_setinfo_needs_no_space(overlay: OverlayFS, lower: FS) -> None:
    """``setinfo`` copies up metadata only: it works on a full upper, data untouched."""
    lower_hash = content_hash(lower)
    data = overlay.readbytes("/sub/dir/mid.bin")
    set_times(overlay)
    assert overlay.getinfo("/sub/dir/mid.bin", ["details"]).raw["details"]["modified"] == 1e6
    assert overlay.readbytes("/sub/dir/mid.bin") == data
    assert content_hash(lower) == lower_hash


def check_fails_cleanly_then_recovers(
    overlay: OverlayFS, lower: FS, op: typing.Callable[[OverlayFS], None],
    free: typing.Callable[[], None],
) -> None:
    upper = overlay.upper
    assert upper is not None
    view, upper_tree, lower_hash = tree(overlay), tree(upper, exclude=[WORK]), content_hash(lower)
    with pytest.raises(fs.errors.InsufficientStorage):
        op(overlay)
    assert tree(overlay) == view, "the overlay view changed after a failed copy-up"
    assert tree(upper, exclude=[WORK]) == upper_tree, "the upper changed after a failed copy-up"
    assert work_is_empty(upper), "a partial copy was left in the work area"
    assert content_hash(lower) == lower_hash
    free()
    op(overlay)
    assert work_is_empty(upper)
    assert content_hash(lower) == lower_hash
    if op is set_times:
        modified = overlay.getinfo("/sub/dir/mid.bin", ["details"]).modified
        assert modified is not None and modified.timestamp() == 1e6
    else:
        assert tree(overlay) != view


# -- a real full tmpfs ---------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path):
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        pytest.skip(
            f"SKIPPED LOUDLY: cannot mount a 1 MiB tmpfs (needs root): {result.stderr.strip()}"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.mark.parametrize("name", [*sorted(OPERATIONS), "setinfo"])
def test_full_tmpfs_upper(small_tmpfs, tmp_path, name):
    lower_dir = tmp_path / "lower"
    lower_dir.mkdir()
    lower = OSFS(str(lower_dir))
    fill_lower(lower)
    upper = OSFS(str(small_tmpfs))
    overlay = OverlayFS(upper, [lower], copy_up=CopyUpEngine(chunk_size=64 * KIB))
    overlay.remove("/small.txt")
    overlay.writebytes("/keep.txt", b"upper data")
    overlay.writebytes("/filler", os.urandom(500 * KIB))
    if name == "setinfo":
        check_setinfo_needs_no_space(overlay, lower)
    else:
        check_fails_cleanly_then_recovers(
            overlay, lower, OPERATIONS[name], lambda: overlay.remove("/filler")
        )
    assert overlay.readbytes("/keep.txt") == b"upper data"
    overlay.close()


def test_full_tmpfs_while_writing_a_new_file(small_tmpfs):
    """A plain write that does not fit fails as on the upper itself; nothing is lost.

    Data written through an open upper handle is the upper FS's business: OSFS
    handles raise ``OSError(ENOSPC)``, as they do without an overlay.
    """
    overlay = OverlayFS(OSFS(str(small_tmpfs)), [MemoryFS()])
    overlay.writebytes("/keep.txt", b"keep")
    with pytest.raises((fs.errors.InsufficientStorage, OSError)) as raised:
        overlay.writebytes("/huge", b"x" * (2 << 20))
    assert isinstance(raised.value, fs.errors.InsufficientStorage) or (
        isinstance(raised.value, OSError) and raised.value.errno == errno.ENOSPC
    )
    assert overlay.readbytes("/keep.txt") == b"keep"
    overlay.remove("/huge")
    overlay.writebytes("/fits", b"y" * (100 * KIB))
    overlay.close()


# -- a wrapper that fails after N bytes -------------------------------------------






@pytest.mark.parametrize("name", [*sorted(OPERATIONS), "setinfo"])
@pytest.mark.parametrize("budget", [0, 1, 64 * KIB, 600 * KIB - 1])
def test_quota_upper_fails_at_any_byte(name, budget):
    lower = MemoryFS()
    fill_lower(lower)
    upper = QuotaFS(MemoryFS(), budget=1 << 30)
    overlay = OverlayFS(upper, [lower], copy_up=CopyUpEngine(chunk_size=16 * KIB))
    overlay.remove("/small.txt")
    overlay.writebytes("/keep.txt", b"upper data")
    upper.budget = budget

    def free() -> None:
        upper.budget = 1 << 30

    if name != "setinfo":
        check_fails_cleanly_then_recovers(overlay, lower, OPERATIONS[name], free)
    elif budget < 64:  # not even room for the metadata copy-up's record
        check_fails_cleanly_then_recovers(overlay, lower, set_times, free)
    else:
        check_setinfo_needs_no_space(overlay, lower)
    assert overlay.readbytes("/keep.txt") == b"upper data"
    overlay.close()


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_full_tmpfs_kernel_layout(small_tmpfs, tmp_path, name):
    """The same over the kernel layout (from_dirs): upperdir and workdir on the full tmpfs."""
    lower_dir = tmp_path / "lower"
    lower_dir.mkdir()
    lower = OSFS(str(lower_dir))
    fill_lower(lower)
    upper_dir, work_dir = small_tmpfs / "upper", small_tmpfs / "work"
    upper_dir.mkdir()
    work_dir.mkdir()
    overlay = OverlayFS.from_dirs(
        [str(lower_dir)], str(upper_dir), str(work_dir),
        copy_up=CopyUpEngine(chunk_size=64 * KIB),
    )
    overlay.remove("/small.txt")
    overlay.writebytes("/keep.txt", b"upper data")
    overlay.writebytes("/filler", os.urandom(500 * KIB))

    def kernel_work_empty() -> bool:
        return os.listdir(work_dir / "work") == []

    view, upper_tree = tree(overlay), os_tree(upper_dir)
    with pytest.raises(fs.errors.InsufficientStorage):
        OPERATIONS[name](overlay)
    assert tree(overlay) == view
    assert os_tree(upper_dir) == upper_tree
    assert kernel_work_empty()
    overlay.remove("/filler")
    OPERATIONS[name](overlay)
    assert kernel_work_empty() and tree(overlay) != view
    assert overlay.readbytes("/keep.txt") == b"upper data"
    overlay.close()


# -- the errno a full upper gives, through the mount and the fsspec front end -----------


def _write_until_full(path: str) -> int:
    """Write 64 KiB blocks to ``path`` until a write fails; return its errno (0: never)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for _ in range(64):
            os.write(descriptor, b"x" * (64 * KIB))
    except OSError as error:
        return error.errno or 0
    finally:
        os.close(descriptor)
    return 0


def _check_enospc_through_mount(merged: str) -> None:
    assert _write_until_full(os.path.join(merged, "new.bin")) == errno.ENOSPC
    assert _write_until_full(os.path.join(merged, "big.bin")) == errno.ENOSPC  # a copy-up
    with pytest.raises(OSError) as raised:
        with open(os.path.join(merged, "sub", "dir", "mid.bin"), "r+b") as handle:
            handle.write(b"patched")
    assert raised.value.errno == errno.ENOSPC
    os.remove(os.path.join(merged, "new.bin"))  # room again: the same writes work
    with open(os.path.join(merged, "big.bin"), "ab") as handle:
        handle.write(b"more")


def test_a_full_upper_is_enospc_through_a_thread_mount(small_tmpfs, tmp_path, overlay_mount):
    from ..support.mounting import fuse_or_skip

    fuse_or_skip()
    lower_dir = tmp_path / "lower"
    lower_dir.mkdir()
    fill_lower(OSFS(str(lower_dir)))
    merged = overlay_mount(str(lower_dir), upper=OSFS(str(small_tmpfs)))
    _check_enospc_through_mount(str(merged))


def test_a_full_upper_is_enospc_through_the_daemon(small_tmpfs, tmp_path):
    from ..support.mounting import DaemonMount, fuse_or_skip, mount_options

    fuse_or_skip()
    lower_dir = tmp_path / "lower"
    lower_dir.mkdir()
    fill_lower(OSFS(str(lower_dir)))
    upper_dir, work_dir, merged = small_tmpfs / "upper", small_tmpfs / "work", tmp_path / "m"
    for directory in (upper_dir, work_dir, merged):
        directory.mkdir()
    options = mount_options([str(lower_dir)], str(upper_dir), str(work_dir))
    with DaemonMount(options, str(merged)):
        _check_enospc_through_mount(str(merged))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (fs.errors.InsufficientStorage("/f"), errno.ENOSPC),
        (fs.errors.OperationFailed("/f", exc=OSError(errno.EDQUOT, "quota")), errno.EDQUOT),
        # a wrapper around a layer that re-wraps its layer's error
        (fs.errors.OperationFailed(
            "/f", exc=fs.errors.InsufficientStorage("/f", exc=OSError(errno.EDQUOT, "quota"))
        ), errno.EDQUOT),
        (fs.errors.OperationFailed("/f", exc=fs.errors.InsufficientStorage("/f")), errno.ENOSPC),
    ],
)
def test_the_mount_answers_the_errno_the_upper_gave(error, expected):
    from unionfs_lib.mount.errno_map import errno_of

    assert errno_of(error) == expected


def test_an_errno_raised_from_an_os_error_is_kept():
    from unionfs_lib.mount.errno_map import errno_of

    try:
        try:
            raise OSError(errno.EDQUOT, "quota")
        except OSError as cause:
            raise fs.errors.OperationFailed("/f", msg="copy-up failed") from cause
    except fs.errors.OperationFailed as error:
        assert errno_of(error) == errno.EDQUOT


def test_a_full_upper_is_enospc_through_the_fsspec_front_end(small_tmpfs, tmp_path):
    from unionfs_lib.fsspec.filesystem import OverlayFileSystem

    lower_dir = tmp_path / "lower"
    lower_dir.mkdir()
    fill_lower(OSFS(str(lower_dir)))
    overlay = OverlayFS(OSFS(str(small_tmpfs)), [OSFS(str(lower_dir))])
    front = OverlayFileSystem(overlay=overlay)
    with pytest.raises(OSError) as raised:
        front.pipe_file("/huge.bin", b"x" * (2 << 20))
    assert raised.value.errno == errno.ENOSPC  # was EIO
    quota = QuotaFS(MemoryFS(), budget=10)
    front = OverlayFileSystem(overlay=OverlayFS(quota, [MemoryFS()]))
    with pytest.raises(OSError) as raised:
        front.pipe_file("/f", b"more than ten bytes")
    assert raised.value.errno == errno.ENOSPC
    overlay.close()


def test_a_full_fsspec_layer_is_insufficient_storage():
    from unionfs_lib.fsspec.errors import to_fs_error

    for number in (errno.ENOSPC, errno.EDQUOT):
        found = to_fs_error(OSError(number, "full {}"), "/f")
        assert isinstance(found, fs.errors.InsufficientStorage)
        assert isinstance(found.exc, OSError) and found.exc.errno == number
        assert "full {}" in str(found)
