"""Commit never deletes or writes through a link in its target, and commits links as links.

The target is the directory the lower reads (the usual workflow) or a copy of
it, and it may hold links laid by whoever owns it: ``build/latest -> ../src``,
a link named like commit's temporary area, a directory replaced by a link to
somewhere else. Code in the sandbox, for its part, makes links of its own
(``o.symlink``), to files of its layers or to anywhere at all: they are data,
committed as links with the same target text, never followed.
"""

from __future__ import annotations

import os

import fs.errors
import pytest
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS

from unionfs_lib import OverlayFS
from unionfs_lib.changesets.commit import COMMIT_AREA

from ..support.victim import Victim, snapshot


def _write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def _project(root: str) -> str:
    """A small source tree: ``src/main.c``, ``build/out.o``, ``doc/readme``."""
    _write(os.path.join(root, "src", "main.c"), b"int main(void) { return 0; }\n")
    _write(os.path.join(root, "build", "out.o"), b"\x7fELF")
    _write(os.path.join(root, "doc", "readme"), b"read me\n")
    return root


def _overlay(tmp_path, lower: str) -> OverlayFS:
    upper = tmp_path / "upper"
    upper.mkdir(exist_ok=True)
    return OverlayFS(OSFS(str(upper)), [OSFS(lower)])


@pytest.mark.parametrize(
    "how", ["src-absolute", "src-relative", "victim-absolute", "victim-from-commit-area"]
)
def test_removing_a_directory_holding_a_link_to_another(tmp_path, victim, how):
    """``build/latest -> src``: committing the removal of ``/build`` removes the link only."""
    target = _project(str(tmp_path / "project"))
    build = os.path.join(target, "build")
    text = {
        "src-absolute": os.path.join(target, "src"),
        "src-relative": "../src",
        "victim-absolute": victim.path,
        # wrong where it is, right once /build is renamed to /.unionfs-commit/NAME
        "victim-from-commit-area": os.path.relpath(victim.path, os.path.join(build, "x")),
    }[how]
    os.symlink(text, os.path.join(build, "latest"))
    with _overlay(tmp_path, target) as overlay:
        overlay.removetree("/build")
        overlay.commit(OSFS(target))
    assert not os.path.lexists(build)
    with open(os.path.join(target, "src", "main.c"), "rb") as handle:
        assert handle.read() == b"int main(void) { return 0; }\n"


@pytest.mark.parametrize("dangling", [False, True], ids=["to-the-victim", "dangling"])
def test_a_link_named_like_the_commit_area(tmp_path, victim, dangling):
    target = _project(str(tmp_path / "project"))
    area = os.path.join(target, COMMIT_AREA.lstrip("/"))
    os.symlink(victim.join("planted") if dangling else victim.path, area)
    with _overlay(tmp_path, target) as overlay:
        overlay.writebytes("/doc/readme", b"new text\n")
        overlay.writebytes("/doc/new", b"new file\n")
        overlay.removetree("/build")
        overlay.commit(OSFS(target))
    assert not os.path.lexists(area)
    with open(os.path.join(target, "doc", "readme"), "rb") as handle:
        assert handle.read() == b"new text\n"


def _linked_target(tmp_path, victim: Victim, name: str) -> tuple[str, str]:
    """A lower with a real ``/out`` directory, and a target where ``/out`` links to the victim."""
    lower = str(tmp_path / "lower")
    _write(os.path.join(lower, name, "keep.txt"), b"keep me\n")  # the victim's bytes
    _write(os.path.join(lower, "other.txt"), b"other\n")
    target = str(tmp_path / "target")
    _write(os.path.join(target, "other.txt"), b"other\n")
    os.symlink(victim.path, os.path.join(target, name))
    return lower, target


@pytest.mark.parametrize("change", ["add", "modify", "delete", "chmod"])
def test_a_target_directory_that_is_a_link_elsewhere(tmp_path, victim, change):
    """The commit refuses, writing nothing, where it would descend through a link."""
    lower, target = _linked_target(tmp_path, victim, "out")
    before = snapshot(target)
    with _overlay(tmp_path, lower) as overlay:
        overlay.writebytes("/other.txt", b"changed too\n")  # a change that is fine alone
        if change == "add":
            overlay.writebytes("/out/new.txt", b"planted\n")
        elif change == "modify":
            overlay.writebytes("/out/keep.txt", b"overwritten\n")
        elif change == "delete":
            overlay.remove("/out/keep.txt")
        else:
            overlay.setinfo("/out", {"access": {"permissions": ["u_r", "u_w", "u_x"]}})
        with pytest.raises(fs.errors.FSError) as raised:
            overlay.commit(OSFS(target))
        assert "/out" in str(raised.value)
    assert snapshot(target) == before


def test_a_deeper_target_link_is_refused_too(tmp_path):
    lower = str(tmp_path / "lower")
    _write(os.path.join(lower, "a", "b", "c", "keep.txt"), b"keep me\n")
    elsewhere = Victim(str(tmp_path / "elsewhere")).populate()
    os.makedirs(elsewhere.join("c"))
    elsewhere.before = snapshot(elsewhere.path)
    target = str(tmp_path / "target")
    os.makedirs(os.path.join(target, "a"))
    os.symlink(elsewhere.path, os.path.join(target, "a", "b"))
    with _overlay(tmp_path, lower) as overlay:
        overlay.writebytes("/a/b/c/new.txt", b"planted\n")
        with pytest.raises(fs.errors.FSError, match="/a/b"):
            overlay.commit(OSFS(target))
    elsewhere.assert_unchanged()


# -- links made in the sandbox are committed as links ---------------------------


def test_an_added_relative_link_is_committed_as_a_link(tmp_path):
    target = _project(str(tmp_path / "project"))
    with _overlay(tmp_path, target) as overlay:
        overlay.symlink("main.c", "/src/link")
        overlay.symlink("../doc", "/src/docs")  # a link to a directory
        overlay.commit(OSFS(target))
    assert os.readlink(os.path.join(target, "src", "link")) == "main.c"
    assert os.readlink(os.path.join(target, "src", "docs")) == "../doc"
    assert os.listdir(os.path.join(target, "doc")) == ["readme"]


@pytest.mark.parametrize("what", ["directory", "file", "dangling"])
def test_a_link_pointing_outside_is_committed_as_a_link(tmp_path, victim, what):
    text = {
        "directory": victim.path,
        "file": victim.join("secret.txt"),
        "dangling": victim.join("planted"),
    }[what]
    target = _project(str(tmp_path / "project"))
    with _overlay(tmp_path, target) as overlay:
        overlay.symlink(text, "/escape")
        overlay.writebytes("/doc/new", b"new\n")
        assert overlay.commit(OSFS(target)) == 2
    assert os.readlink(os.path.join(target, "escape")) == text
    with open(os.path.join(target, "doc", "new"), "rb") as handle:
        assert handle.read() == b"new\n"


def test_a_link_replacing_a_file_and_a_directory(tmp_path, victim):
    target = _project(str(tmp_path / "project"))
    with _overlay(tmp_path, target) as overlay:
        overlay.remove("/doc/readme")
        overlay.symlink(victim.path, "/doc/readme")
        overlay.removetree("/build")
        overlay.symlink("../src", "/build")
        overlay.commit(OSFS(target))
        overlay.discard()
        overlay.invalidate()
        assert overlay.readlink("/build") == "../src"
    assert os.readlink(os.path.join(target, "doc", "readme")) == victim.path
    assert os.readlink(os.path.join(target, "build")) == "../src"


def test_a_target_without_links_refuses_before_writing(tmp_path):
    lower = _project(str(tmp_path / "project"))
    target = MemoryFS()
    target.makedirs("/src")
    target.writebytes("/src/main.c", b"int main(void) { return 0; }\n")
    with _overlay(tmp_path, lower) as overlay:
        overlay.writebytes("/src/a.c", b"a\n")
        overlay.symlink("main.c", "/src/link")
        with pytest.raises(fs.errors.Unsupported, match="/src/link"):
            overlay.commit(target)
    assert sorted(target.listdir("/src")) == ["main.c"]
    assert target.listdir("/") == ["src"]
