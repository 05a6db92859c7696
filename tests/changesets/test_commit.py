"""commit() and discard(): crash safety, refusal, open handles, and the round trip."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import typing
from pathlib import Path

import fs.errors
import pytest
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS

from unionfs_lib import OverlayFS
from unionfs_lib.changesets.commit import COMMIT_AREA
from unionfs_lib.errors import CannotDiscard, CommitConflict, ReservedName

from ..support import summary
from ..support.changesets import make_lower, open_overlay, scripted_changes
from ..support.crash import run_child


def tree(root: Path) -> dict[str, str]:
    """Relative path -> ``dir`` or the SHA-256 of a file, for every entry under ``root``."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = "/" + str(path.relative_to(root))
        found[relative] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def raw_tree(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` as it is on disk: type, bytes, extended attributes."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = os.lstat(path)
        data = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else None
        names = sorted(os.listxattr(path, follow_symlinks=False))
        attrs = [(name, os.getxattr(path, name, follow_symlinks=False)) for name in names]
        found[str(path.relative_to(root))] = (stat.S_IFMT(st.st_mode), data, attrs)
    return found


def overlay_tree(overlay: OverlayFS) -> dict[str, str]:
    """The same mapping for the merged view of an overlay."""
    found = {}
    for path, info in overlay.walk.info("/"):
        found[path] = "dir" if info.is_dir else hashlib.sha256(overlay.readbytes(path)).hexdigest()
    return found


def copy_dir(source: Path, target: Path) -> Path:
    """Copy a directory exactly, replacing ``target``."""
    if target.exists():
        shutil.rmtree(target)
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    return target



@pytest.fixture
def sandbox(tmp_path, layout):
    """A lower directory and an upper holding :func:`scripted_changes`."""
    lower = make_lower(tmp_path / "lower")
    upper = tmp_path / "upper"
    with open_overlay(upper, lower, layout) as overlay:
        scripted_changes(overlay)
        new = overlay_tree(overlay)
    return {"lower": lower, "upper": upper, "layout": layout, "new": new, "old": tree(lower)}


def test_commit_into_the_lower_then_discard_and_invalidate_keeps_the_view(sandbox):
    lower, upper = sandbox["lower"], sandbox["upper"]
    with open_overlay(upper, lower, sandbox["layout"]) as overlay:
        before = overlay_tree(overlay)
        # /renamed's three entries go in its one rename
        expected = len(overlay.changes(detailed=True)) - 3
        assert overlay.commit(OSFS(str(lower))) == expected
        overlay.discard()
        overlay.invalidate()
        assert overlay_tree(overlay) == before == sandbox["new"]
        assert overlay.changes() == []
    assert list(upper.iterdir()) == []
    assert tree(lower) == sandbox["new"]


def test_commit_of_chosen_paths_only(sandbox, tmp_path):
    target = copy_dir(sandbox["lower"], tmp_path / "target")
    with open_overlay(sandbox["upper"], sandbox["lower"], sandbox["layout"]) as overlay:
        overlay.commit(OSFS(str(target)), ["/a", "/fresh/dir"])
    after = tree(target)
    assert after["/a/b/new.txt"] == sandbox["new"]["/a/b/new.txt"]
    assert after["/a/x.txt"] == sandbox["new"]["/a/x.txt"]
    assert after["/fresh/dir/f.txt"] == sandbox["new"]["/fresh/dir/f.txt"]
    assert "/gone" in after and after["/top.txt"] == sandbox["old"]["/top.txt"]


def test_commit_reports_progress_and_leaves_no_work_area(sandbox, tmp_path):
    target = copy_dir(sandbox["lower"], tmp_path / "target")
    events: list[typing.Any] = []
    with open_overlay(sandbox["upper"], sandbox["lower"], sandbox["layout"]) as overlay:
        count = overlay.commit(OSFS(str(target)), progress=events.append)
    assert [event.done for event in events] == list(range(1, count + 1))
    assert {event.operation for event in events} == {"commit"}
    assert not (target / COMMIT_AREA.lstrip("/")).exists()
    assert tree(target) == sandbox["new"]


def test_commit_into_a_memoryfs(sandbox):
    target = MemoryFS()
    with open_overlay(sandbox["upper"], sandbox["lower"], sandbox["layout"]) as overlay:
        OverlayFS(None, [OSFS(str(sandbox["lower"]))]).squash(target)
        overlay.commit(target)
        assert overlay_tree(OverlayFS(None, [target])) == sandbox["new"]


def _replace_dir_by_file(target: Path) -> None:
    shutil.rmtree(target / "keep")
    (target / "keep").write_text("x")


@pytest.mark.parametrize(
    "meddle",
    [
        lambda target: (target / "a" / "x.txt").write_text("someone else\n"),
        lambda target: (target / "a" / "b" / "new.txt").write_text("someone else\n"),
        lambda target: (target / "gone" / "sub" / "extra.txt").write_text("keep me\n"),
        _replace_dir_by_file,
    ],
    ids=["modified", "added", "deleted-subtree", "type"],
)
def test_commit_refuses_a_changed_target_and_writes_nothing(sandbox, tmp_path, meddle):
    target = copy_dir(sandbox["lower"], tmp_path / "target")
    meddle(target)
    before = tree(target)
    with open_overlay(sandbox["upper"], sandbox["lower"], sandbox["layout"]) as overlay:
        overlay.writetext("/keep/k.txt", "changed through the overlay\n")
        upper_before = raw_tree(sandbox["upper"])
        with pytest.raises(CommitConflict):
            overlay.commit(OSFS(str(target)))
    assert tree(target) == before
    assert raw_tree(sandbox["upper"]) == upper_before


@pytest.mark.parametrize("into", ["copy", "lower"])
def test_commit_after_a_sigkill_at_any_step_leaves_entries_old_or_new(sandbox, tmp_path, into):
    lower, upper, layout = sandbox["lower"], sandbox["upper"], sandbox["layout"]
    old, new = sandbox["old"], sandbox["new"]
    pristine = copy_dir(lower, tmp_path / "pristine")
    target = lower if into == "lower" else tmp_path / "target"
    upper_before = raw_tree(upper)

    def do_commit(overlay: OverlayFS) -> None:
        with OSFS(str(target)) as opened:
            overlay.commit(opened)

    def reset() -> None:
        copy_dir(pristine, lower)
        if into == "copy":
            copy_dir(pristine, target)

    reset()
    killed, steps = run_child(upper, lower, do_commit, options={"layout": layout})
    assert not killed and steps > 10
    assert tree(target) == new
    stride = max(1, steps // 30)
    area = "/" + COMMIT_AREA.lstrip("/")
    for kill_at in range(0, steps, stride):
        reset()
        killed, _ = run_child(upper, lower, do_commit, kill_at=kill_at, options={"layout": layout})
        assert killed
        summary.count("commit crash tests: SIGKILLed commits checked")
        seen = tree(target)
        for path in (set(seen) | set(old) | set(new)) - {area}:
            if not path.startswith(area + "/"):
                assert seen.get(path) in (old.get(path), new.get(path)), (kill_at, path)
        run_child(upper, lower, do_commit, options={"layout": layout})
        assert tree(target) == new, kill_at
    assert raw_tree(upper) == upper_before


def test_a_plain_directory_rename_is_committed_as_one_rename(sandbox, tmp_path):
    target = copy_dir(sandbox["lower"], tmp_path / "target")
    plain = os.stat(target / "pure" / "sub" / "q.txt").st_ino
    edited = os.stat(target / "move" / "inner" / "n.txt").st_ino
    with open_overlay(sandbox["upper"], sandbox["lower"], sandbox["layout"]) as overlay:
        overlay.commit(OSFS(str(target)))
    assert os.stat(target / "renamed" / "sub" / "q.txt").st_ino == plain
    assert os.stat(target / "moved" / "inner" / "n.txt").st_ino != edited
    assert tree(target) == sandbox["new"]


# -- discard ----------------------------------------------------------------------------


def test_discard_refuses_paths_with_open_handles(sandbox):
    with open_overlay(sandbox["upper"], sandbox["lower"], sandbox["layout"]) as overlay:
        upper_file = overlay.openbin("/a/x.txt", "r+")
        lower_file = overlay.open("/keep/k.txt", "r")
        for path in ("/a/x.txt", "/a", "/keep", None):
            with pytest.raises(fs.errors.ResourceLocked):
                overlay.discard(None if path is None else [path])
        assert overlay.readtext("/a/x.txt").endswith("appended\n")
        overlay.discard(["/gone"])
        assert overlay.isdir("/gone/sub")
        upper_file.close()
        overlay.discard(["/a"])
        assert overlay.readtext("/a/x.txt") == "lower x\nsecond line\n"
        lower_file.close()
        overlay.discard()
        assert overlay.changes() == []


def test_discard_chosen_paths_reverts_only_them(sandbox):
    with open_overlay(sandbox["upper"], sandbox["lower"], sandbox["layout"]) as overlay:
        overlay.discard(["/top.txt", "/moved", "/move", "/swap"])
        assert overlay.readtext("/top.txt") == "lower top\n"
        assert not overlay.exists("/moved") and overlay.isdir("/move/inner")
        assert overlay.isfile("/swap")
        lines = {change.line() for change in overlay.changes()}
        assert lines == {
            "A /a/b/new.txt", "M /a/x.txt", "D /gone", "A /fresh", "A /fresh/dir",
            "A /fresh/dir/f.txt", "D /tree/t1.txt", "A /tree/t2.txt", "R /pure -> /renamed",
        }


def test_discard_bad_input(sandbox, tmp_path):
    with open_overlay(sandbox["upper"], sandbox["lower"], sandbox["layout"]) as overlay:
        with pytest.raises(CannotDiscard):
            overlay.discard(["/tree/t1.txt"])  # /tree is opaque: discard /tree itself
        with pytest.raises(fs.errors.ResourceNotFound):
            overlay.discard(["/no/such"])
        with pytest.raises(fs.errors.IllegalBackReference):
            overlay.discard(["/../etc"])
        if sandbox["layout"] == "markers":
            with pytest.raises(ReservedName):
                overlay.discard(["/.wh..wh..work"])
        assert overlay_tree(overlay) == sandbox["new"]
    with pytest.raises(fs.errors.ResourceReadOnly):
        OverlayFS(None, [OSFS(str(sandbox["lower"]))]).discard()
