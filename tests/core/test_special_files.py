"""Special files (FIFOs, Unix domain sockets, device nodes) through the API (issue #21).

``OverlayFS.mknod`` makes them in the upper as any new entry is made;
copy-up recreates a lower one as a node (never reading it: a FIFO would
block); listings, ``getinfo``, rename, remove, hard links, ``changes()``,
``diff()`` and ``commit()`` handle them. Every test runs on OS directories
(special files need OS paths); device nodes need root.
"""

from __future__ import annotations

import os
import stat
import subprocess

import fs.errors
import pytest
from fs.enums import ResourceType
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS

from unionfs_lib.errors import ReservedName
from unionfs_lib.overlay import OverlayFS
from unionfs_lib.stores.marker_whiteouts import MarkerWhiteouts

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="device nodes need root")


@pytest.fixture(params=["kernel", "marker"])
def dirs(request, tmp_path):
    """Lower (with a FIFO, a socket node and a file), upper and work directories."""
    lower, upper, work = (tmp_path / name for name in ("lower", "upper", "work"))
    for directory in (lower, upper, work):
        directory.mkdir()
    os.mkfifo(lower / "fifo", 0o640)
    os.mknod(lower / "sock", stat.S_IFSOCK | 0o600)
    (lower / "file").write_bytes(b"data")
    (lower / "d").mkdir()
    os.mkfifo(lower / "d" / "pipe")
    os.utime(lower / "fifo", ns=(1_000_000_000, 2_000_000_000))
    yield request.param, lower, upper, work


def open_overlay(kind, lower, upper, work):
    if kind == "kernel":
        return OverlayFS.from_dirs([str(lower)], str(upper), str(work))
    return OverlayFS.from_dirs([str(lower)], str(upper), str(work), whiteouts=MarkerWhiteouts())


def test_mknod_makes_fifos_and_sockets_shown_with_their_type(dirs):
    kind, lower, upper, work = dirs
    with open_overlay(kind, lower, upper, work) as overlay:
        overlay.mknod("/new-fifo", stat.S_IFIFO | 0o600)
        overlay.mknod("/d/new-sock", stat.S_IFSOCK | 0o644)
        assert stat.S_ISFIFO(os.lstat(upper / "new-fifo").st_mode)
        assert stat.S_ISSOCK(os.lstat(upper / "d" / "new-sock").st_mode)
        assert overlay.gettype("/new-fifo") == ResourceType.fifo
        assert overlay.gettype("/d/new-sock") == ResourceType.socket
        assert overlay.gettype("/fifo") == ResourceType.fifo
        kinds = {info.name: info.type for info in overlay.scandir("/", ["details"])}
        assert kinds["new-fifo"] == ResourceType.fifo
        assert kinds["sock"] == ResourceType.socket
        with pytest.raises(fs.errors.DestinationExists):
            overlay.mknod("/fifo", stat.S_IFIFO | 0o600)
        with pytest.raises(fs.errors.ResourceNotFound):
            overlay.mknod("/nowhere/fifo", stat.S_IFIFO | 0o600)
        with pytest.raises(ValueError):
            overlay.mknod("/dir", stat.S_IFDIR | 0o755)


def test_mknod_replaces_a_removed_lower_entry_and_refuses_reserved_names(dirs):
    kind, lower, upper, work = dirs
    with open_overlay(kind, lower, upper, work) as overlay:
        overlay.remove("/file")
        overlay.mknod("/file", stat.S_IFIFO | 0o600)
        assert overlay.gettype("/file") == ResourceType.fifo
        assert overlay.listdir("/").count("file") == 1
        overlay.remove("/file")
        assert not overlay.exists("/file")
        if kind == "marker":
            with pytest.raises(ReservedName):
                overlay.mknod("/.wh.x", stat.S_IFIFO | 0o600)
    with open_overlay(kind, lower, upper, work) as overlay:
        assert not overlay.exists("/file")


def test_copy_up_recreates_a_lower_fifo_without_reading_it(dirs):
    kind, lower, upper, work = dirs
    with open_overlay(kind, lower, upper, work) as overlay:
        overlay.setinfo("/fifo", {"details": {"modified": 5.0}})  # blocks if read
        found = os.lstat(upper / "fifo")
        assert stat.S_ISFIFO(found.st_mode) and stat.S_IMODE(found.st_mode) == 0o640
        assert found.st_mtime == 5.0
        overlay.move("/d/pipe", "/pipe")  # a rename copies up too
        assert stat.S_ISFIFO(os.lstat(upper / "pipe").st_mode)
        assert overlay.gettype("/pipe") == ResourceType.fifo
        assert not overlay.exists("/d/pipe")
        overlay.move("/sock", "/d/sock")
        assert overlay.gettype("/d/sock") == ResourceType.socket
    assert stat.S_ISFIFO(os.lstat(lower / "fifo").st_mode)


def test_hard_link_of_a_fifo_is_one_node(dirs):
    kind, lower, upper, work = dirs
    with open_overlay(kind, lower, upper, work) as overlay:
        overlay.hardlink("/fifo", "/fifo2")
        assert os.lstat(upper / "fifo").st_ino == os.lstat(upper / "fifo2").st_ino
        assert overlay.gettype("/fifo2") == ResourceType.fifo


@needs_root
def test_device_nodes_keep_their_numbers_and_00_is_refused(dirs):
    kind, lower, upper, work = dirs
    os.mknod(lower / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    with open_overlay(kind, lower, upper, work) as overlay:
        overlay.mknod("/blk", stat.S_IFBLK | 0o600, os.makedev(7, 200))
        info = overlay.getinfo("/blk", ["details", "stat"])
        assert info.type == ResourceType.block_special_file
        assert info.raw["stat"]["st_rdev"] == os.makedev(7, 200)
        with pytest.raises(fs.errors.OperationFailed) as caught:
            overlay.mknod("/white", stat.S_IFCHR | 0o600, os.makedev(0, 0))
        assert isinstance(caught.value.exc, OSError)
        assert caught.value.exc.errno == 1  # EPERM, as the kernel overlay
        assert not overlay.exists("/white")
        overlay.setinfo("/null", {"details": {"modified": 7.0}})
        found = os.lstat(upper / "null")
        assert stat.S_ISCHR(found.st_mode) and found.st_rdev == os.makedev(1, 3)
        assert overlay.gettype("/null") == ResourceType.character


def test_mknod_needs_os_paths():
    with OverlayFS(MemoryFS(), [MemoryFS()]) as overlay:
        with pytest.raises(fs.errors.Unsupported):
            overlay.mknod("/fifo", stat.S_IFIFO | 0o600)


def test_changes_diff_and_commit_handle_special_files(dirs, tmp_path):
    kind, lower, upper, work = dirs
    with open_overlay(kind, lower, upper, work) as overlay:
        overlay.mknod("/new-fifo", stat.S_IFIFO | 0o600)
        overlay.setinfo("/fifo", {"details": {"modified": 5.0}})
        overlay.remove("/sock")
        found = {change.path: change.code for change in overlay.changes()}
        assert found == {"/new-fifo": "A", "/fifo": "M", "/sock": "D"}
        patch = overlay.diff()  # never opens a FIFO
        assert "# special file not diffed (fifo): new-fifo" in patch
        assert "diff --git" not in patch
        target = tmp_path / "target"
        subprocess.run(["cp", "-a", str(lower), str(target)], check=True)
        with OSFS(str(target)) as committed:
            overlay.commit(committed)
        assert stat.S_ISFIFO(os.lstat(target / "new-fifo").st_mode)
        assert stat.S_ISFIFO(os.lstat(target / "fifo").st_mode)
        assert not os.path.lexists(target / "sock")


def test_a_special_file_diff_is_accepted_by_git_apply(dirs, tmp_path):
    kind, lower, upper, work = dirs
    with open_overlay(kind, lower, upper, work) as overlay:
        overlay.mknod("/new-fifo", stat.S_IFIFO | 0o600)
        with overlay.openbin("/text", "w") as handle:
            handle.write(b"hello\n")
        patch = overlay.diff()
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (tmp_path / "p.diff").write_text(patch)
    subprocess.run(["git", "apply", str(tmp_path / "p.diff")], cwd=repo, check=True)
    assert (repo / "text").read_bytes() == b"hello\n"
