"""Changesets: changes() against walks of both views, diff() through git apply, threads, cost."""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import shutil
import subprocess
import tempfile
import threading
import typing
from pathlib import Path

import fs.errors
import pytest
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS
from fs.wrapfs import WrapFS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unionfs_lib import OverlayFS
from unionfs_lib.changesets.changes import Change
from unionfs_lib.model.records import DirListing
from unionfs_lib.stores.kernel_whiteouts import KernelWhiteouts

from ..support.changesets import (
    LAYOUTS,
    LOWER_FILES,
    as_tuples,
    expected_changes,
    file_tree,
    make_lower,
    merged_files,
    open_overlay,
    os_leaves,
    overlay_leaves,
    scripted_changes,
)
from ..support.generated_fs import GeneratedFS


def test_scripted_changes_match_a_walk_of_both_views(tmp_path, layout):
    lower = make_lower(tmp_path / "lower")
    with open_overlay(tmp_path / "upper", lower, layout) as overlay:
        scripted_changes(overlay)
        found = overlay.changes(detailed=True)
        assert as_tuples(found) == expected_changes(overlay, OSFS(str(lower)))
        lines = [change.line() for change in found]
        assert "R /move -> /moved" in lines
        assert "D /move" in lines and "D /gone" in lines
        assert "A /renamed/sub/q.txt" in lines  # one record per entry
        lines = [change.line() for change in overlay.changes()]
        assert "R /move -> /moved" in lines and "M /moved/m.txt" in lines
        assert "R /pure -> /renamed" in lines and "D /gone" in lines
        assert "D /move" not in lines and "D /pure" not in lines  # one line per rename
        assert not [line for line in lines if line.startswith(("A /moved/", "A /renamed/"))]
        assert "M /swap" in lines and "A /swap/inside.txt" in lines
        assert "D /tree/t1.txt" in lines and "A /tree/t2.txt" in lines
        assert not any(line.startswith("D /gone/") for line in lines)  # top-most only


def test_changes_below_a_path_and_bad_paths(tmp_path):
    lower = make_lower(tmp_path / "lower")
    with open_overlay(tmp_path / "upper", lower, "markers") as overlay:
        scripted_changes(overlay)
        assert [change.path for change in overlay.changes("/a")] == [
            "/a/b/new.txt", "/a/x.txt"
        ]
        assert overlay.changes("/keep") == []
        assert [change.kind for change in overlay.changes("/gone/sub")] == ["deleted"]
        with pytest.raises(fs.errors.ResourceNotFound):
            overlay.changes("/no/such/path")
        with pytest.raises(fs.errors.IllegalBackReference):
            overlay.changes("/../x")
    assert OverlayFS(None, [OSFS(str(lower))]).changes() == []


def test_change_records_are_frozen_and_validated():
    change = Change("/x", "added", False)
    with pytest.raises(AttributeError):
        change.kind = "deleted"  # type: ignore[misc]
    with pytest.raises(ValueError):
        Change("/x", "renamed", False)
    assert change.as_dict() == {"path": "/x", "kind": "added", "is_dir": False, "source": None}


NAMES = [f"n{index}" for index in range(6)]


def apply_random_op(overlay: OverlayFS, op: str, pick: int, counter: itertools.count) -> None:
    """Apply one operation chosen by ``op`` to a visible entry chosen by ``pick``."""
    dirs = sorted(overlay.walk.dirs("/")) + ["/"]
    files = sorted(overlay.walk.files("/"))
    directory = dirs[pick % len(dirs)]
    fresh = f"{directory.rstrip('/')}/new{next(counter)}"
    token = f"token {next(counter)}\n"
    if op == "write":
        overlay.writetext(files[pick % len(files)] if files and pick % 2 else fresh, token)
    elif op == "append" and files:
        overlay.appendtext(files[pick % len(files)], token)
    elif op == "remove" and files:
        overlay.remove(files[pick % len(files)])
    elif op == "removetree" and directory != "/":
        overlay.removetree(directory)
    elif op == "makedir":
        overlay.makedir(fresh)
    elif op == "recreate" and directory != "/":
        overlay.removetree(directory)
        overlay.makedir(directory)
    elif op == "movedir" and directory != "/":
        overlay.movedir(directory, f"/moved{next(counter)}", create=True)
    elif op == "move" and files:
        overlay.move(files[pick % len(files)], f"/moved{next(counter)}.txt")
    elif op == "touch" and files:
        stamp = 1_000_000 + next(counter)
        overlay.setinfo(files[pick % len(files)], {"details": {"modified": stamp}})
    elif op == "moveover" and directory != "/":
        hidden = sorted(
            path for path in LOWER_DIRS
            if not overlay.exists(path) and overlay.isdir(os.path.dirname(path))
            and not (path + "/").startswith(directory + "/")
        )
        if hidden:
            overlay.movedir(directory, hidden[pick % len(hidden)], create=True)
    elif op == "chmod" and directory != "/":
        overlay.setinfo(directory, {"access": {"permissions": ["u_r", "u_w", "u_x"]}})


OPS = ["write", "append", "remove", "removetree", "makedir", "recreate", "movedir", "move",
       "touch", "chmod", "moveover", "moveover"]
#: Every directory of the lower, so a directory can be renamed over a removed one.
LOWER_DIRS = sorted(
    {"/" + "/".join(name.split("/")[:depth]) for name in LOWER_FILES
     for depth in range(1, name.count("/") + 1)}
)


@pytest.mark.parametrize("layout", LAYOUTS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 1000)), max_size=12))
def test_random_changes_match_a_walk_of_both_views_and_apply_and_commit(layout, steps):
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        lower = make_lower(root / "lower")
        with open_overlay(root / "upper", lower, layout) as overlay:
            counter = itertools.count()
            for op, pick in steps:
                apply_random_op(overlay, op, pick, counter)
            found = overlay.changes(detailed=True)
            assert as_tuples(found) == expected_changes(overlay, OSFS(str(lower)))
            assert_condensed(overlay, found)
            patched = root / "patched"
            shutil.copytree(lower, patched)
            patch = overlay.diff()
            if patch:  # git apply refuses an empty patch
                git_apply(patch, patched)
            assert file_tree(patched) == merged_files(overlay)
            committed = root / "committed"
            shutil.copytree(lower, committed)
            overlay.commit(OSFS(str(committed)))
            assert set(OSFS(str(committed)).walk.dirs()) == set(overlay.walk.dirs())
            assert file_tree(committed) == merged_files(overlay)


# -- diff ---------------------------------------------------------------------------


def git_apply(patch: str, directory: Path) -> None:
    """Apply ``patch`` in ``directory`` with ``git apply`` (no repository needed)."""
    subprocess.run(
        ["git", "apply", "--whitespace=nowarn", "-"],
        input=patch.encode(), cwd=directory, check=True, capture_output=True,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_apply_of_the_diff_gives_the_merged_files(tmp_path, layout):
    lower = make_lower(tmp_path / "lower")
    with open_overlay(tmp_path / "upper", lower, layout) as overlay:
        scripted_changes(overlay)
        overlay.writetext("/a/b/deep/d.txt", "lower d\nno newline, still none")
        overlay.writetext("/crlf.txt", "one\r\ntwo\r\n")
        patch = overlay.diff()
        copy = tmp_path / "copy"
        shutil.copytree(lower, copy)
        git_apply(patch, copy)
        assert file_tree(copy) == merged_files(overlay)


@pytest.mark.skipif(shutil.which("patch") is None, reason="needs patch")
def test_patch_p1_accepts_the_diff(tmp_path):
    lower = make_lower(tmp_path / "lower")
    with open_overlay(tmp_path / "upper", lower, "markers") as overlay:
        overlay.appendtext("/a/x.txt", "appended\n")
        overlay.remove("/keep/k.txt")
        overlay.writetext("/a/new.txt", "new\n")
        copy = tmp_path / "copy"
        shutil.copytree(lower, copy)
        subprocess.run(["patch", "-p1", "-s"], input=overlay.diff().encode(), cwd=copy, check=True)
        assert file_tree(copy) == merged_files(overlay)


def test_diff_names_binary_files_without_dumping_them(tmp_path):
    lower = make_lower(tmp_path / "lower")
    with open_overlay(tmp_path / "upper", lower, "markers") as overlay:
        overlay.writebytes("/blob.bin", b"\0\1\2" * 1000)
        overlay.writebytes("/a/x.txt", b"\xff\xfe not utf-8")
        patch = overlay.diff()
        assert "Binary files /dev/null and b/blob.bin differ" in patch
        assert "Binary files a/a/x.txt and b/a/x.txt differ" in patch
        assert "\0" not in patch and len(patch) < 500
        assert overlay.diff("/keep") == ""


def test_diff_of_metadata_only_change_is_empty_and_headers_use_dev_null(tmp_path):
    lower = make_lower(tmp_path / "lower")
    with open_overlay(tmp_path / "upper", lower, "markers") as overlay:
        overlay.setinfo("/top.txt", {"details": {"modified": 12345}})
        assert [change.line() for change in overlay.changes()] == ["M /top.txt"]
        assert overlay.diff() == ""
        overlay.remove("/top.txt")
        assert overlay.diff().splitlines()[:4] == [
            "diff --git a/top.txt b/top.txt", "deleted file mode 100644",
            "--- a/top.txt", "+++ /dev/null",
        ]


# -- cost -----------------------------------------------------------------------------


class ReadableGeneratedFS(GeneratedFS):
    """The streaming generated lower, with readable (tiny) files."""

    def openbin(self, path, mode="r", buffering=-1, **options):
        if "r" not in mode or "+" in mode:
            raise fs.errors.ResourceReadOnly(path)
        self.getinfo(path)
        return io.BytesIO(path.encode())


class CountingFS(WrapFS):
    """Counts the lower entries a caller touches: one per name asked, one per entry listed."""

    def __init__(self, wrapped):
        super().__init__(wrapped)
        self.touched = 0

    def getinfo(self, path, namespaces=None):
        self.touched += 1
        return super().getinfo(path, namespaces)

    def exists(self, path):
        self.touched += 1
        return super().exists(path)

    def isdir(self, path):
        self.touched += 1
        return super().isdir(path)

    def openbin(self, path, mode="r", buffering=-1, **options):
        self.touched += 1
        return super().openbin(path, mode, buffering, **options)

    def listdir(self, path):
        names = super().listdir(path)
        self.touched += len(names)
        return names

    def scandir(self, path, namespaces=None, page=None):
        for info in super().scandir(path, namespaces, page):
            self.touched += 1
            yield info


def test_ten_changes_over_a_huge_lower_touch_a_few_dozen_lower_entries():
    touched = [f"/big/e{index * 1000:09d}" for index in range(4)]
    removed = [f"/big/e{index * 1000 + 7:09d}" for index in range(3)]
    # The upper is written through an overlay over just the lower files the
    # changes touch (listing 100,000 entries at every write would only slow
    # the test down); the same upper then goes over the whole generated lower.
    sample = MemoryFS()
    sample.makedir("/big")
    for path in touched + removed:
        sample.writebytes(path, path.encode())
    upper = MemoryFS()
    with OverlayFS(upper, [sample], auto_close=False) as writer:
        for path in touched:
            writer.writetext(path, "changed")
        for path in removed:
            writer.remove(path)
        for index in range(3):
            writer.writetext(f"/big/new{index}", "added")
    lower = CountingFS(ReadableGeneratedFS(100_000))
    overlay = OverlayFS(upper, [lower])
    found = overlay.changes()
    assert [change.code for change in found].count("M") == 4
    assert [change.code for change in found].count("D") == 3
    assert [change.code for change in found].count("A") == 3
    assert lower.touched <= 60, lower.touched


# -- threads --------------------------------------------------------------------------


def test_changes_while_other_threads_write_see_whole_records(tmp_path):
    lower = make_lower(tmp_path / "lower")
    overlay = open_overlay(tmp_path / "upper", lower, "markers")
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            for round_ in itertools.count():
                if stop.is_set():
                    return
                path = f"/keep/t{index}"
                overlay.makedir(path)
                overlay.removedir(path)
                overlay.writetext(path, f"round {round_}\n")
                overlay.remove(path)
                with contextlib.suppress(fs.errors.ResourceNotFound):
                    overlay.remove("/top.txt")  # another writer may have removed it first
                overlay.writetext("/top.txt", "back\n")
        except BaseException as error:  # noqa: B036 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(3)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(40):
            found = overlay.changes()
            assert [change.path for change in found] == sorted(
                {change.path for change in found}, key=lambda path: path.split("/")
            )
            for change in found:
                if change.path.startswith("/keep/t"):
                    assert change.kind == "added", change
                if change.path == "/top.txt":
                    assert (change.kind, change.is_dir) in {("modified", False), ("deleted", False)}
            overlay.diff()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors, errors
    assert as_tuples(overlay.changes(detailed=True)) == expected_changes(overlay, OSFS(str(lower)))
    overlay.close()


def test_kernel_store_reads_names_without_listing(tmp_path):
    lower = make_lower(tmp_path / "lower")
    with open_overlay(tmp_path / "upper", lower, "kernel") as overlay:
        assert isinstance(overlay.whiteouts, KernelWhiteouts)
        overlay.remove("/top.txt")
        store, upper = overlay.whiteouts, overlay.upper
        assert upper is not None
        assert store.read_name(upper, "/", "top.txt").whiteouts == {"top.txt"}
        assert store.read_name(upper, "/", "nothing") == DirListing(entries={})


def test_a_directory_renamed_over_a_removed_one_is_compared_entry_by_entry(tmp_path, layout):
    lower = make_lower(tmp_path / "lower", {
        "old/differs.txt": b"from old\n", "old/only-old.txt": b"o\n",
        "new/differs.txt": b"from new\n", "new/only-new.txt": b"n\n",
    })
    with open_overlay(tmp_path / "upper", lower, layout) as overlay:
        overlay.removetree("/new")
        overlay.movedir("/old", "/new", create=True)
        found = overlay.changes()
        assert found == overlay.changes(detailed=True)  # no R: /new was in the lowers
        assert as_tuples(found) == expected_changes(overlay, OSFS(str(lower)))
        assert [change.line() for change in found] == [
            "M /new/differs.txt", "D /new/only-new.txt", "A /new/only-old.txt", "D /old"
        ]
        target = tmp_path / "target"
        shutil.copytree(lower, target)
        overlay.commit(OSFS(str(target)))
        assert file_tree(target) == merged_files(overlay)


def test_a_directory_whose_mode_changed_deletes_none_of_its_files_in_the_diff(tmp_path, layout):
    lower = make_lower(tmp_path / "lower")
    with open_overlay(tmp_path / "upper", lower, layout) as overlay:
        overlay.setinfo("/a", {"access": {"permissions": ["u_r", "u_w", "u_x"]}})
        assert as_tuples(overlay.changes()) == [("/a", "modified", True)]
        assert overlay.diff() == ""


# -- symbolic links: data, diffed and exported as links, never followed ----------------


def link_lower(root: Path) -> Path:
    """The usual lower, with links: to a file, to a directory, dangling, and one to retype."""
    lower = make_lower(root)
    os.symlink("top.txt", lower / "to-top")
    os.symlink("a", lower / "to-a")
    os.symlink("keep/k.txt", lower / "to-file-later")
    os.symlink("nowhere", lower / "dangling")
    os.symlink("m.txt", lower / "move" / "m-link")
    os.symlink("../../a", lower / "move" / "inner" / "to-dir")
    return lower


def patch_p1(patch: str, directory: Path) -> None:
    """Apply ``patch`` in ``directory`` with GNU ``patch -p1`` (quietly, failing loudly)."""
    subprocess.run(
        ["patch", "-p1", "-s", "-f"], input=patch.encode(), cwd=directory, check=True,
        capture_output=True,
    )


def section(patch: str, path: str) -> list[str]:
    """The lines of every ``diff --git`` section of ``patch`` about ``path`` (no leading slash)."""
    found: list[str] = []
    keep = False
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            keep = line == f"diff --git a/{path} b/{path}"
        if keep:
            found.append(line)
    return found


def test_an_added_link_is_a_change_and_a_git_link_in_the_diff(tmp_path, layout):
    lower = make_lower(tmp_path / "lower")
    with open_overlay(tmp_path / "upper", lower, layout) as overlay:
        overlay.symlink("top.txt", "/link")
        overlay.symlink("a", "/to-dir")  # a link to a directory: its content is no change
        overlay.symlink("/no/such/file", "/dangling")
        overlay.makedir("/fresh")
        overlay.symlink("../keep", "/fresh/up")
        found = overlay.changes()
        assert [(c.line(), c.is_dir, c.link_target) for c in found] == [
            ("A /dangling", False, "/no/such/file"),
            ("A /fresh", True, None),
            ("A /fresh/up", False, "../keep"),
            ("A /link", False, "top.txt"),
            ("A /to-dir", False, "a"),
        ]
        assert found[0].as_dict() == {
            "path": "/dangling", "kind": "added", "is_dir": False, "source": None,
            "link_target": "/no/such/file",
        }
        patch = overlay.diff()
        assert section(patch, "link") == [
            "diff --git a/link b/link",
            "new file mode 120000",
            "--- /dev/null",
            "+++ b/link",
            "@@ -0,0 +1 @@",
            "+top.txt",
            "\\ No newline at end of file",
        ]
        assert "lower x" not in patch and "lower top" not in patch  # nothing read through
        copy = tmp_path / "copy"
        shutil.copytree(lower, copy)
        git_apply(patch, copy)
        assert os_leaves(copy) == overlay_leaves(overlay)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_changed_removed_and_retyped_links_diff_as_git_does(tmp_path, layout):
    lower = link_lower(tmp_path / "lower")
    with open_overlay(tmp_path / "upper", lower, layout) as overlay:
        overlay.remove("/to-top")
        overlay.symlink("a/x.txt", "/to-top")  # a new target
        overlay.remove("/dangling")  # a removed link
        overlay.remove("/to-file-later")
        overlay.writetext("/to-file-later", "a file now\n")  # link -> file
        overlay.remove("/top.txt")
        overlay.symlink("keep/k.txt", "/top.txt")  # file -> link
        overlay.removetree("/gone")
        overlay.symlink("keep", "/gone")  # directory -> link
        overlay.remove("/to-a")
        overlay.makedir("/to-a")  # link -> directory
        overlay.writetext("/to-a/inside.txt", "inside\n")
        found = {change.path: change for change in overlay.changes()}
        assert (found["/to-top"].kind, found["/to-top"].link_target) == ("modified", "a/x.txt")
        assert (found["/dangling"].kind, found["/dangling"].is_dir) == ("deleted", False)
        assert found["/dangling"].link_target == "nowhere"
        assert (found["/to-file-later"].kind, found["/to-file-later"].link_target) == (
            "modified", None
        )
        assert (found["/top.txt"].kind, found["/top.txt"].link_target) == (
            "modified", "keep/k.txt"
        )
        assert (found["/gone"].kind, found["/gone"].is_dir) == ("modified", False)
        assert (found["/to-a"].kind, found["/to-a"].is_dir) == ("modified", True)
        assert found["/to-a/inside.txt"].kind == "added"
        assert "/to-a/x.txt" not in found  # the lower link's target is not listed beneath it
        patch = overlay.diff()
        assert section(patch, "dangling") == [
            "diff --git a/dangling b/dangling",
            "deleted file mode 120000",
            "--- a/dangling",
            "+++ /dev/null",
            "@@ -1 +0,0 @@",
            "-nowhere",
            "\\ No newline at end of file",
        ]
        assert section(patch, "to-top")[1:] == [
            "--- a/to-top", "+++ b/to-top", "@@ -1 +1 @@",
            "-top.txt", "\\ No newline at end of file",
            "+a/x.txt", "\\ No newline at end of file",
        ]
        retyped = section(patch, "top.txt")
        assert retyped[1] == "deleted file mode 100644" and "new file mode 120000" in retyped
        copy = tmp_path / "copy"
        shutil.copytree(lower, copy, symlinks=True)
        git_apply(patch, copy)
        assert os_leaves(copy) == overlay_leaves(overlay)


@pytest.mark.skipif(shutil.which("patch") is None, reason="needs patch")
def test_patch_p1_adds_removes_and_retypes_links(tmp_path, layout):
    """What GNU patch can do with links: it refuses to change a link's target in place."""
    lower = link_lower(tmp_path / "lower")
    with open_overlay(tmp_path / "upper", lower, layout) as overlay:
        overlay.symlink("a/b", "/fresh-link")
        overlay.remove("/dangling")
        overlay.remove("/to-file-later")
        overlay.writetext("/to-file-later", "a file now\n")
        overlay.remove("/top.txt")
        overlay.symlink("keep/k.txt", "/top.txt")
        copy = tmp_path / "copy"
        shutil.copytree(lower, copy, symlinks=True)
        patch_p1(overlay.diff(), copy)
        assert os_leaves(copy) == overlay_leaves(overlay)


def test_a_link_is_exported_as_a_link_member(tmp_path, layout):
    import tarfile

    lower = link_lower(tmp_path / "lower")
    with open_overlay(tmp_path / "upper", lower, layout) as overlay:
        overlay.symlink("top.txt", "/link")
        overlay.symlink("a", "/to-dir")
        overlay.makedir("/fresh")
        overlay.symlink("../keep", "/fresh/up")
        overlay.remove("/to-top")
        overlay.symlink("a/x.txt", "/to-top")
        overlay.movedir("/move", "/moved", create=True)  # its link is exported in the new place
        out = tmp_path / "layer.tar"
        overlay.export_layer(str(out))
        patch = overlay.diff()
    with tarfile.open(out) as archive:
        members = {member.name: member for member in archive.getmembers()}
    links = {name: member.linkname for name, member in members.items() if member.issym()}
    assert links == {"link": "top.txt", "to-dir": "a", "fresh/up": "../keep", "to-top": "a/x.txt",
                     "moved/m-link": "m.txt", "moved/inner/to-dir": "../../a"}
    assert not [name for name in members if name.startswith(("to-dir/", "fresh/up/"))]
    assert "moved/.wh..wh..opq" in members  # renamed by redirect: expanded from the merged view
    assert not [name for name in members if name.startswith("moved/inner/to-dir/")]
    assert section(patch, "moved/m-link")[1] == "new file mode 120000"
    assert section(patch, "move/inner/to-dir")[1] == "deleted file mode 120000"


# -- a renamed directory is one change (issue 22) --------------------------------


def _beneath(path: str, parents: typing.Iterable[str]) -> bool:
    """Tell whether ``path`` lies strictly beneath one of ``parents``."""
    return any(path.startswith(parent.rstrip("/") + "/") for parent in parents)


def assert_condensed(overlay: OverlayFS, detailed: list[Change]) -> None:
    """Check ``changes()`` against the per-entry records ``detailed``.

    Outside renamed directories both agree record for record, but for the
    old paths of renamed directories, which the condensed form leaves out;
    ``changes(P)`` of a renamed directory ``P`` is the part of ``changes()``
    at and beneath ``P`` (and the deletions there of directories renamed out
    of ``P``, which only the whole listing knows went elsewhere).
    """
    condensed = overlay.changes()
    renamed = {change.path: change.source for change in condensed if change.source}
    sources = {source for source in renamed.values() if source is not None}
    expected = [
        change for change in detailed
        if not _beneath(change.path, renamed)
        and not (change.kind == "deleted"
                 and (change.path in sources or _beneath(change.path, sources)))
    ]
    assert [c for c in condensed if not _beneath(c.path, renamed)] == expected
    for path in renamed:
        below = [c for c in condensed if c.path == path or _beneath(c.path, [path])]
        part = overlay.changes(path)
        # a deletion that a rename outside ``path`` took elsewhere shows in the part only
        assert all(c.kind == "deleted" for c in part if c not in below), path
        assert [c for c in part if c in below] == below, path


#: A directory of 10,000 files, to rename.
BIG_FILES = {
    **{f"big/f{index:05}.txt": b"x\n" for index in range(10_000)},
    "big/sub/deep.txt": b"deep\n",
}
#: Directories to rename, and to change inside.
RENAME_FILES = {
    "big/sub/deep.txt": b"deep\n",
    "small/keep.txt": b"keep\n",
    "small/edit.txt": b"before\n",
    "small/gone.txt": b"gone\n",
    "small/inner/n.txt": b"n\n",
    "small/dropped/d.txt": b"d\n",
    "pure/p.txt": b"p\n",
    "other.txt": b"other\n",
}


@pytest.fixture(scope="module")
def big_lower(tmp_path_factory):
    """A lower with a 10,000-file directory (made once: it is slow)."""
    return make_lower(tmp_path_factory.mktemp("rename") / "lower", BIG_FILES)


def test_a_directory_rename_is_one_line_however_many_files(tmp_path, layout, big_lower):
    with open_overlay(tmp_path / "upper", big_lower, layout) as overlay:
        overlay.movedir("/big", "/huge", create=True)
        assert [change.line() for change in overlay.changes()] == ["R /big -> /huge"]
        assert overlay.changes("/huge") == overlay.changes()
        assert overlay.changes("/huge/f00001.txt") == []
        assert overlay.changes("/huge/sub") == []
        detailed = overlay.changes(detailed=True)
        assert len(detailed) == 10_000 + 4  # D /big, A /huge, A /huge/sub, and every file
        assert detailed[0].line() == "D /big"


def test_a_directory_made_again_at_a_renamed_ones_old_path_lists_no_moved_file(
    tmp_path, layout
):
    lower = make_lower(tmp_path / "lower", {"src/a.txt": b"a\n", "src/b.txt": b"b\n"})
    with open_overlay(tmp_path / "upper", lower, layout) as overlay:
        overlay.movedir("/src", "/lib", create=True)
        overlay.makedir("/src")
        overlay.writetext("/src/new.txt", "new\n")
        lines = [change.line() for change in overlay.changes()]
        assert lines == ["R /src -> /lib", "A /src/new.txt"]
        assert_condensed(overlay, overlay.changes(detailed=True))
        target = tmp_path / "target"
        shutil.copytree(lower, target)
        overlay.commit(OSFS(str(target)))
        assert file_tree(target) == merged_files(overlay)


def test_changes_inside_a_renamed_directory_are_listed_under_the_new_name(tmp_path, layout):
    rename_lower = make_lower(tmp_path / "lower", RENAME_FILES)
    with open_overlay(tmp_path / "upper", rename_lower, layout) as overlay:
        overlay.movedir("/pure", "/pure2", create=True)
        overlay.movedir("/small", "/renamed", create=True)
        overlay.writetext("/renamed/edit.txt", "after\n")
        overlay.writetext("/renamed/added.txt", "added\n")
        overlay.remove("/renamed/gone.txt")
        overlay.removetree("/renamed/dropped")
        overlay.movedir("/renamed/inner", "/renamed/inner2", create=True)
        overlay.makedir("/fresh")
        overlay.movedir("/big/sub", "/fresh/sub", create=True)
        lines = [change.line() for change in overlay.changes()]
        assert lines == [  # no "D /big/sub": its rename says where it went
            "A /fresh",
            "R /big/sub -> /fresh/sub",
            "R /pure -> /pure2",
            "R /small -> /renamed",
            "A /renamed/added.txt",
            "D /renamed/dropped",
            "M /renamed/edit.txt",
            "D /renamed/gone.txt",
            "R /small/inner -> /renamed/inner2",
        ]
        assert [c.line() for c in overlay.changes("/renamed/edit.txt")] == ["M /renamed/edit.txt"]
        assert overlay.changes("/renamed/keep.txt") == []
        detailed = overlay.changes(detailed=True)
        assert_condensed(overlay, detailed)
        assert "D /small" in [change.line() for change in detailed]
        # commit and diff still see every entry: the same trees as before
        target = tmp_path / "target"
        shutil.copytree(rename_lower, target)
        overlay.commit(OSFS(str(target)))
        assert file_tree(target) == merged_files(overlay)
        patched = tmp_path / "patched"
        shutil.copytree(rename_lower, patched)
        git_apply(overlay.diff(), patched)
        assert file_tree(patched) == merged_files(overlay)
