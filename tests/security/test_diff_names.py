"""Hostile file names in ``diff()``: no name can add a line to the patch.

The attacker is code inside the sandbox: it names the files it writes,
removes and links, and someone later reviews ``unionfs-lib diff`` and applies
it with ``git apply`` or ``patch -p1``. A name holding a newline followed by
a header (``+++ b/target.txt``) or a whole hunk would, written as it is, make
the tools patch another file: one the sandbox never touched, or one through
the tree's link to a directory outside it (the victim, next to the tree).

Every name is quoted as ``git`` quotes it, so the patch applied to a copy
of the lower gives exactly the overlay's merged view (files and links), and
nothing outside the copy changes: the victim and the directory around it.
The headers are compared, line for line, with ``git diff``'s own for the
same changes made in a repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import typing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unionfs_lib import OverlayFS
from unionfs_lib.changesets.patch import quote_name

from ..support.changesets import open_overlay, os_leaves, overlay_leaves
from ..support.victim import Victim

#: Names an attacker gives its files (each is also a path: ``/`` makes directories).
HOSTILE = {
    "hunk-for-another-file": "evil\n--- a/target.txt\n+++ b/target.txt\n"
    "@@ -1 +1 @@\n-target\n+pwned\n",
    "hunk-through-a-link-to-the-victim": "evil\n--- a/victim/keep.txt\n+++ b/victim/keep.txt\n"
    "@@ -1 +1 @@\n-keep me\n+pwned\n",
    "fake-plus-header": "x\n+++ b/victim",
    "fake-diff-header": "y\ndiff --git a/target.txt b/target.txt\ndeleted file mode 100644",
    "fake-dev-null": "z\n--- /dev/null",
    "tab": "ta\tb",
    "quote": 'q"uote',
    "leading-quote": '"lead',
    "backslash": "back\\slash",
    "leading-space": " lead",
    "leading-dash": "-dash",
    "trailing-space": "trail ",
    "space-b-slash": "sp b/ace",
    "unicode": "ünïcødé ☃",
    "carriage-return": "cr\r",
    "control-bytes": "bell\a\b\v\f\x01\x1b\x7f",
    "not-utf-8": "latin-\udce9",
}

#: Names ``git diff`` itself writes differently: we quote a trailing space for GNU patch.
QUOTED_FOR_PATCH = {"trailing-space"}

TARGET = b"target\n"


def make_lower(root: Path, victim: Victim, name: str) -> Path:
    """A lower holding ``name`` twice, a file to hijack, and links to the victim (kept)."""
    files = {f"mod/{name}": b"old\n", f"del/{name}": b"gone\n", "target.txt": TARGET}
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    os.symlink(victim.path, root / "victim")
    os.symlink(os.path.relpath(victim.path, root), root / "near")
    return root


def attack(overlay: OverlayFS, name: str, binary: bool = False) -> None:
    """What the sandboxed code does: change, remove, add and link files named ``name``."""
    overlay.appendtext(f"/mod/{name}", "new\n")
    overlay.remove(f"/del/{name}")
    for directory in ("add", "lnk", "bin"):
        parent = os.path.dirname(f"/{directory}/{name}")
        overlay.makedirs(parent, recreate=True)
    overlay.writetext(f"/add/{name}", "added\n")
    overlay.symlink(link_target(name), f"/lnk/{name}")
    if binary:
        overlay.writebytes(f"/bin/{name}", b"\0\1\2")


def link_target(name: str) -> str:
    """The attacker's link target: the name itself, where it is text."""
    try:
        os.fsencode(name).decode("utf-8")
    except UnicodeDecodeError:
        return "plain"
    return name


@pytest.fixture(params=sorted(HOSTILE))
def hostile(request: pytest.FixtureRequest) -> str:
    """One hostile name."""
    return typing.cast(str, HOSTILE[request.param])


@pytest.fixture(params=["markers", "kernel"])
def layout(request: pytest.FixtureRequest) -> str:
    """The upper's format."""
    return typing.cast(str, request.param)


def apply(tool: str, patch: str, directory: Path) -> subprocess.CompletedProcess[bytes]:
    """Run ``git apply`` or ``patch -p1`` on ``patch`` in ``directory``."""
    argv = ["git", "apply", "-"] if tool == "git" else ["patch", "-p1", "-f", "-s"]
    return subprocess.run(argv, input=patch.encode("utf-8"), cwd=directory, capture_output=True)


@pytest.mark.parametrize("tool", ["git", "patch"])
def test_a_hostile_name_patches_only_itself(
    tmp_path: Path, victim: Victim, hostile: str, layout: str, tool: str
) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"needs {tool}")
    lower = make_lower(tmp_path / "lower", victim, hostile)
    around = sorted(os.listdir(os.path.dirname(victim.path)))
    with open_overlay(tmp_path / "upper", lower, layout) as overlay:
        attack(overlay, hostile)
        patch = overlay.diff()
        headers = [line for line in patch.split("\n") if line.startswith("diff --git ")]
        assert len(headers) == 4  # mod, del, add, lnk: no name adds a section
        copy = tmp_path / "copy"
        shutil.copytree(lower, copy, symlinks=True)
        done = apply(tool, patch, copy)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        assert os_leaves(copy) == overlay_leaves(overlay)
    assert (copy / "target.txt").read_bytes() == TARGET
    assert sorted(os.listdir(os.path.dirname(victim.path))) == around


def git(repo: Path, *argv: str) -> bytes:
    """Run a git command in ``repo``; return its output."""
    config = ["-c", "core.quotePath=true", "-c", "user.name=t", "-c", "user.email=t@t",
              "-c", "core.autocrlf=false", "-c", "diff.noprefix=false"]
    done = subprocess.run(["git", *config, *argv], cwd=repo, capture_output=True, check=True)
    return done.stdout


def sections(patch: str) -> list[str]:
    """The ``diff --git`` sections of a patch, sorted (git and we order names differently)."""
    found: list[str] = []
    for line in re.split("(?<=\n)", patch):
        if line.startswith("diff --git "):
            found.append("")
        if not line.startswith("index "):
            found[-1] += line
    return sorted(found)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_headers_are_the_ones_git_writes(tmp_path: Path, victim: Victim, hostile: str) -> None:
    lower = make_lower(tmp_path / "lower", victim, hostile)
    repo = tmp_path / "repo"
    shutil.copytree(lower, repo, symlinks=True)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "lower")
    with open_overlay(tmp_path / "upper", lower, "markers") as overlay:
        attack(overlay, hostile, binary=True)
        ours = overlay.diff()
        for path, leaf in overlay_leaves(overlay).items():  # the same changes, made by hand
            target = repo / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.is_symlink() and not target.exists():
                if leaf[0] == "link":
                    os.symlink(leaf[1], target)
                else:
                    target.write_bytes(typing.cast(bytes, leaf[1]))
            elif leaf[0] == "file":
                target.write_bytes(typing.cast(bytes, leaf[1]))
    (repo / "del" / hostile).unlink()
    git(repo, "add", "-A")
    theirs = git(repo, "diff", "--cached", "--no-renames").decode("utf-8")
    if hostile in (HOSTILE[key] for key in QUOTED_FOR_PATCH):
        theirs = re.sub(f"([ab]/[a-z]+/{re.escape(hostile)})", r'"\1"', theirs)
    assert sections(ours) == sections(theirs)


def c_unquote(quoted: str) -> bytes:
    """Read a name as ``git apply`` reads it: a C-quoted string, or the text as it is."""
    if not quoted.startswith('"'):
        return quoted.encode("ascii")
    assert quoted.endswith('"') and len(quoted) >= 2
    escapes = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}
    body, found, index = quoted[1:-1], bytearray(), 0
    while index < len(body):
        char = body[index]
        assert char != '"', "an unescaped quote ends the name early"
        if char != "\\":
            found.append(ord(char))
            index += 1
        elif body[index + 1] in escapes:
            found.append(escapes[body[index + 1]])
            index += 2
        else:
            found.append(int(body[index + 1 : index + 4], 8))
            index += 4
    return bytes(found)


@settings(max_examples=300, deadline=None)
@given(name=st.text(st.characters(blacklist_characters="/\0", blacklist_categories=["Cs"]),
                    min_size=1)
       | st.binary(min_size=1).filter(lambda raw: b"/" not in raw and b"\0" not in raw)
       .map(os.fsdecode))
def test_a_quoted_name_is_one_printable_line_that_reads_back(name: str) -> None:
    quoted = quote_name("b/", name)
    assert all(" " <= char <= "~" for char in quoted), quoted  # printable ASCII: one line
    assert c_unquote(quoted) == os.fsencode("b/" + name)
    assert quoted.startswith('"') or not quoted.endswith(" ")


def test_a_name_no_os_could_hold_is_quoted_too() -> None:
    """A lone surrogate (a MemoryFS may hold one; hypothesis found it) is quoted, not an error."""
    quoted = quote_name("b/", "\udd00x")
    assert quoted.startswith('"') and all(" " <= char <= "~" for char in quoted)
