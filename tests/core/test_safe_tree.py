"""unionfs_lib.host.safe_tree: removal, clearing, moving and walking that never follow a link."""

from __future__ import annotations

import os

import fs.errors
import pytest
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS
from fs.wrapfs import WrapFS

from unionfs_lib.errors import EscapesLayer, LinkInPath
from unionfs_lib.host import safe_tree
from unionfs_lib.host.workdir import WORK_PATH, UpperDirFS

from ..support.attack_layers import HiddenSysPaths
from ..support.deep_paths import fd_makedirs, fd_write
from ..support.victim import Victim


@pytest.fixture
def outside(tmp_path):
    """A populated directory that no call may change."""
    found = Victim(str(tmp_path / "outside")).populate()
    yield found
    found.assert_unchanged()


def _tree(root, links_to: str | None = None) -> None:
    """``d/f``, ``d/e/g``, ``d/e/h/i`` (and ``d/e/l`` -> ``links_to``)."""
    for rel in ("d/f", "d/e/g", "d/e/h/i"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rel.encode())
    if links_to is not None:
        os.symlink(links_to, root / "d" / "e" / "l")


def test_remove_tree_unlinks_links_and_removes_everything(tmp_path, outside):
    base = tmp_path / "layer"
    _tree(base, outside.path)
    with OSFS(str(base)) as layer:
        safe_tree.remove_tree(layer, "/d")
        assert layer.listdir("/") == []


def test_a_link_at_the_path_itself_is_unlinked(tmp_path, outside):
    base = tmp_path / "layer"
    base.mkdir()
    os.symlink(outside.path, base / "l")
    with OSFS(str(base)) as layer:
        safe_tree.remove_tree(layer, "/l")
        assert not os.path.lexists(base / "l")


def test_a_link_on_the_way_is_refused_with_nothing_removed(tmp_path, outside):
    base = tmp_path / "layer"
    base.mkdir()
    os.symlink(outside.path, base / "l")
    with OSFS(str(base)) as layer:
        for call in (safe_tree.remove_tree, safe_tree.remove_entry, safe_tree.clear_dir):
            with pytest.raises(LinkInPath) as raised:
                call(layer, "/l/sub")
            assert isinstance(raised.value, EscapesLayer)
        with pytest.raises(LinkInPath):
            safe_tree.clear_dir(layer, "/l")
        with pytest.raises(LinkInPath):
            safe_tree.remove_entry(layer, "/l/keep.txt")


def test_errors_are_fs_errors(tmp_path):
    base = tmp_path / "layer"
    _tree(base)
    with OSFS(str(base)) as layer:
        with pytest.raises(fs.errors.DirectoryExpected):
            safe_tree.remove_tree(layer, "/d/f")
        with pytest.raises(fs.errors.ResourceNotFound):
            safe_tree.remove_tree(layer, "/missing")
        with pytest.raises(fs.errors.ResourceNotFound):
            safe_tree.remove_entry(layer, "/missing/deeper")
        with pytest.raises(fs.errors.DirectoryExpected):
            safe_tree.remove_entry(layer, "/d/f/below")
        with pytest.raises(fs.errors.RemoveRootError):
            safe_tree.remove_entry(layer, "/")
        safe_tree.remove_entry(layer, "/d/f")
        assert not layer.exists("/d/f")


def test_clear_dir_keeps_the_directory(tmp_path, outside):
    base = tmp_path / "layer"
    _tree(base, outside.path)
    with OSFS(str(base)) as layer:
        safe_tree.clear_dir(layer, "/d")
        assert layer.listdir("/d") == []
        safe_tree.clear_dir(layer, "/")
        assert layer.listdir("/") == []


def test_any_depth_with_few_descriptors(tmp_path):
    """A chain far past PATH_MAX and the descriptor limit is removed, without recursion."""
    base = tmp_path / "layer"
    base.mkdir()
    depth = 3000
    fd_makedirs(str(base), ["d"] * depth)
    fd_write(str(base), ["d"] * depth, "leaf", b"leaf")
    before = len(os.listdir("/proc/self/fd"))
    with OSFS(str(base)) as layer:
        safe_tree.remove_tree(layer, "/d")
    assert os.listdir(base) == []
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_directory_swapped_for_a_link_during_the_walk(tmp_path, outside, monkeypatch):
    """Listed as a directory, replaced by a link before it is entered: the link is unlinked."""
    base = tmp_path / "layer"
    _tree(base)
    original = safe_tree._unlink_files
    swapped: list[bool] = []

    def swap_then_list(fd: int) -> list[str]:
        found = original(fd)
        if "h" in found and not swapped:
            os.rename(base / "d" / "e" / "h", tmp_path / "h-moved")
            os.symlink(outside.path, "h", dir_fd=fd)
            swapped.append(True)
        return found

    monkeypatch.setattr(safe_tree, "_unlink_files", swap_then_list)
    with OSFS(str(base)) as layer:
        safe_tree.remove_tree(layer, "/d")
    assert swapped and not os.path.lexists(base / "d")


def test_a_directory_moved_away_during_the_walk_stops_it(tmp_path, monkeypatch):
    """The walk climbs back through ``..`` only to the directory it came down from."""
    base = tmp_path / "layer"
    _tree(base)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_bytes(b"keep")
    original = safe_tree._unlink_files

    def move_then_list(fd: int) -> list[str]:
        found = original(fd)
        if (base / "d" / "e" / "h").is_dir() and os.path.samestat(
            os.fstat(fd), os.stat(base / "d" / "e" / "h")
        ):
            os.rename(base / "d" / "e" / "h", elsewhere / "h")
        return found

    monkeypatch.setattr(safe_tree, "_unlink_files", move_then_list)
    with OSFS(str(base)) as layer:
        with pytest.raises(fs.errors.OperationFailed, match="moved"):
            safe_tree.remove_tree(layer, "/d")
    assert (elsewhere / "precious").read_bytes() == b"keep"


def test_layers_without_os_paths_decide_by_the_link_namespace(tmp_path, outside):
    base = tmp_path / "layer"
    _tree(base, outside.path)
    os.symlink(outside.path, base / "top")
    layer = HiddenSysPaths(OSFS(str(base)))
    assert safe_tree.entry_kind(layer, "/top") == safe_tree.LINK
    assert safe_tree.readlink(layer, "/top") == outside.path
    safe_tree.remove_tree(layer, "/top")
    safe_tree.remove_tree(layer, "/d")
    assert os.listdir(base) == []


def test_move_tree_without_os_paths_copies_and_removes(tmp_path):
    layer = WrapFS(MemoryFS())  # no OS paths, and not a MemoryFS itself: the copying walk
    layer.makedirs("/a/b/c")
    layer.writebytes("/a/b/c/f", b"f")
    layer.writebytes("/a/g", b"g")
    safe_tree.move_tree(layer, "/a", "/z")
    assert not layer.exists("/a")
    assert layer.readbytes("/z/b/c/f") == b"f" and layer.readbytes("/z/g") == b"g"


def test_move_tree_refuses_a_link_it_cannot_make_before_copying(tmp_path, outside):
    base = tmp_path / "layer"
    _tree(base, outside.path)
    layer = HiddenSysPaths(OSFS(str(base)))
    with pytest.raises(fs.errors.Unsupported, match="/d/e/l"):
        safe_tree.move_tree(layer, "/d", "/z")
    assert sorted(os.listdir(base)) == ["d"]


def test_move_tree_with_os_paths_moves_a_link_as_a_link(tmp_path, outside):
    base = tmp_path / "layer"
    _tree(base, outside.path)
    with OSFS(str(base)) as layer:
        safe_tree.move_tree(layer, "/d", "/z")
        assert os.readlink(base / "z" / "e" / "l") == outside.path
        os.symlink(outside.path, base / "l")
        with pytest.raises(LinkInPath):
            safe_tree.move_tree(layer, "/z", "/l/z")
        assert (base / "z").is_dir()


def test_memory_layers_move_and_remove_in_one_step():
    layer = MemoryFS()
    layer.makedirs("/a/b")
    layer.writebytes("/a/b/f", b"f")
    safe_tree.move_tree(layer, "/a", "/z")
    assert layer.readbytes("/z/b/f") == b"f"
    safe_tree.remove_tree(layer, "/z")
    assert layer.listdir("/") == []


@pytest.mark.parametrize("squatter", ["link", "dangling", "file", "dir"])
def test_make_real_dir(tmp_path, outside, squatter):
    parent = tmp_path / "parent"
    parent.mkdir()
    if squatter == "link":
        os.symlink(outside.path, parent / "work")
    elif squatter == "dangling":
        os.symlink(outside.join("planted"), parent / "work")
    elif squatter == "file":
        (parent / "work").write_bytes(b"x")
    else:
        (parent / "work").mkdir()
        (parent / "work" / "kept").write_bytes(b"k")
    safe_tree.make_real_dir(str(parent), "work")
    assert (parent / "work").is_dir() and not (parent / "work").is_symlink()
    assert os.listdir(parent / "work") == (["kept"] if squatter == "dir" else [])


def test_walk_entries_reports_links_without_entering_them(tmp_path, outside):
    base = tmp_path / "layer"
    _tree(base, outside.path)
    for layer in (OSFS(str(base)), HiddenSysPaths(OSFS(str(base)))):
        found = list(safe_tree.walk_entries(layer, "/d"))
        assert found.index(("/d/e", safe_tree.DIR, None)) < found.index(
            ("/d/e/g", safe_tree.FILE, None)
        )
        assert sorted(found) == [
            ("/d/e", safe_tree.DIR, None),
            ("/d/e/g", safe_tree.FILE, None),
            ("/d/e/h", safe_tree.DIR, None),
            ("/d/e/h/i", safe_tree.FILE, None),
            ("/d/e/l", safe_tree.LINK, outside.path),
            ("/d/f", safe_tree.FILE, None),
        ]


def test_check_no_link_above(tmp_path, outside):
    base = tmp_path / "layer"
    _tree(base)
    os.symlink(outside.path, base / "d" / "out")
    with OSFS(str(base)) as layer:
        checked: set[str] = set()
        safe_tree.check_no_link_above(layer, "/d/e/h/new", checked)
        assert checked == {"/d", "/d/e", "/d/e/h"}
        safe_tree.check_no_link_above(layer, "/d/out")  # the last name may be a link
        safe_tree.check_no_link_above(layer, "/d/f/below/deeper")  # below a file: nothing entered
        safe_tree.check_no_link_above(layer, "/missing/a/b")
        with pytest.raises(LinkInPath, match="/d/out"):
            safe_tree.check_no_link_above(layer, "/d/out/keep.txt")


def test_the_kernel_work_area_is_resolved_from_the_workdir(tmp_path, outside):
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    with UpperDirFS(str(upper), str(work)) as layer:
        layer.makedirs(WORK_PATH + "/t/e")
        os.symlink(outside.path, work / "work" / "t" / "e" / "l")
        safe_tree.remove_tree(layer, WORK_PATH + "/t")
        assert os.listdir(work / "work") == []
