"""Links leading out of every layer are data: listed, diffed and exported, never followed.

The attacker makes symbolic links to the victim (a directory outside every
layer): from code inside the sandbox (``OverlayFS.symlink``), laid in the
upper before the overlay is opened, or found in a lower that the sandbox then
removes or replaces. ``changes()``, ``diff()`` and ``export_layer()`` must
all work (one such link used to make each of them fail entirely), show each
link as a link with its target, list nothing beneath a link to a directory,
and never read the victim: none of its bytes, nor its names, appear in the
patch or the layer tarball. Applying the patch with ``git apply`` next to the
victim makes the links in the copy and leaves the victim unchanged.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import typing
from pathlib import Path

import pytest

from unionfs_lib import OverlayFS

from ..support.changesets import make_lower, open_overlay, os_leaves, overlay_leaves
from ..support.victim import Victim


@pytest.fixture(params=["markers", "kernel"])
def layout(request: pytest.FixtureRequest) -> str:
    """The upper's format."""
    return typing.cast(str, request.param)


def victim_words(victim: Victim) -> list[bytes]:
    """What reading the victim would leak: its secret, its contents, the names inside it."""
    return [victim.secret.strip(), b"keep me", b"inner", b"int main", b"leaf.bin", b"deeper"]


def assert_nothing_of_the_victim(data: bytes, victim: Victim) -> None:
    """Fail if ``data`` holds anything read from inside the victim."""
    leaked = [word for word in victim_words(victim) if word in data]
    assert not leaked, f"the victim was read: {leaked}"


def export(overlay: OverlayFS) -> tuple[bytes, dict[str, tarfile.TarInfo]]:
    """Export the overlay's layer; return the tarball and its members by name."""
    out = io.BytesIO()
    overlay.export_layer(out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as archive:
        members = {member.name: member for member in archive.getmembers()}
    return out.getvalue(), members


def check_links(
    overlay: OverlayFS, victim: Victim, expected: dict[str, str], tmp_path: Path, lower: Path
) -> None:
    """changes/diff/export show exactly ``expected`` (path -> target) as links, nothing beneath."""
    found = {change.path: change for change in overlay.changes()}
    for path, target in expected.items():
        assert found[path].link_target == target and not found[path].is_dir
    assert not [path for path in found for link in expected if path.startswith(link + "/")]
    patch = overlay.diff()
    for path, target in expected.items():
        assert f"diff --git a{path} b{path}\nnew file mode 120000\n" in patch
        assert f"\n+{target}\n\\ No newline at end of file\n" in patch
    assert_nothing_of_the_victim(patch.encode(), victim)
    data, members = export(overlay)
    for path, target in expected.items():
        member = members[path.lstrip("/")]
        assert member.issym() and member.linkname == target
    assert not [name for name in members for link in expected
                if name.startswith(link.lstrip("/") + "/")]
    assert_nothing_of_the_victim(data, victim)
    if shutil.which("git") is not None:
        copy = tmp_path / "copy"  # a sibling of the victim's directory's parent's children
        shutil.copytree(lower, copy, symlinks=True)
        subprocess.run(["git", "apply", "-"], input=patch.encode(), cwd=copy, check=True,
                       capture_output=True)
        assert os_leaves(copy) == overlay_leaves(overlay)


def test_links_made_in_the_sandbox(tmp_path: Path, victim: Victim, layout: str) -> None:
    lower = make_lower(tmp_path / "lower")
    upper = tmp_path / "upper"
    with open_overlay(upper, lower, layout) as overlay:
        expected = {
            "/to-secret": victim.join("secret.txt"),
            "/to-victim": victim.path,
            "/relative": os.path.relpath(victim.join("sub"), upper),
            "/keep/dangling": victim.join("no", "such", "file"),
            "/fresh/nested/up": "../" * 8 + victim.path.lstrip("/"),
        }
        overlay.makedirs("/fresh/nested")
        for path, target in expected.items():
            overlay.symlink(target, path)
        check_links(overlay, victim, expected, tmp_path, lower)


def test_links_laid_in_the_upper_before_opening(
    tmp_path: Path, victim: Victim, layout: str
) -> None:
    lower = make_lower(tmp_path / "lower")
    upper = tmp_path / "upper"
    (upper / "planted" / "within").mkdir(parents=True)
    os.symlink(victim.path, upper / "planted" / "victim-dir")
    os.symlink(victim.join("secret.txt"), upper / "planted" / "within" / "secret")
    os.symlink(victim.join("sub"), upper / "a")  # over the lower's directory /a
    with open_overlay(upper, lower, layout) as overlay:
        expected = {
            "/a": victim.join("sub"),
            "/planted/within/secret": victim.join("secret.txt"),
            "/planted/victim-dir": victim.path,
        }
        check_links(overlay, victim, expected, tmp_path, lower)


def test_lower_links_to_the_victim_removed_or_replaced(
    tmp_path: Path, victim: Victim, layout: str
) -> None:
    lower = make_lower(tmp_path / "lower")
    os.symlink(victim.join("secret.txt"), lower / "secret-link")
    os.symlink(victim.path, lower / "victim-link")
    os.symlink(victim.join("sub"), lower / "keep" / "sub-link")
    os.symlink(victim.join("main.c"), lower / "retyped")
    with open_overlay(tmp_path / "upper", lower, layout) as overlay:
        overlay.remove("/secret-link")
        overlay.remove("/victim-link")
        overlay.makedir("/victim-link")  # a directory where the link to the victim was
        overlay.writetext("/victim-link/mine.txt", "mine\n")
        overlay.removetree("/keep")
        overlay.remove("/retyped")
        overlay.writetext("/retyped", "a file now\n")
        found = {change.path: change for change in overlay.changes()}
        assert (found["/secret-link"].kind, found["/secret-link"].link_target) == (
            "deleted", victim.join("secret.txt"))
        assert (found["/victim-link"].kind, found["/victim-link"].is_dir) == ("modified", True)
        assert found["/victim-link/mine.txt"].kind == "added"
        assert (found["/retyped"].kind, found["/retyped"].link_target) == ("modified", None)
        patch = overlay.diff()
        assert "diff --git a/keep/sub-link b/keep/sub-link\ndeleted file mode 120000\n" in patch
        assert f"\n-{victim.join('sub')}\n\\ No newline at end of file\n" in patch
        assert_nothing_of_the_victim(patch.encode(), victim)
        data, members = export(overlay)
        assert_nothing_of_the_victim(data, victim)
        assert ".wh.secret-link" in members and "victim-link/mine.txt" in members
        if shutil.which("git") is not None:
            copy = tmp_path / "copy"
            shutil.copytree(lower, copy, symlinks=True)
            subprocess.run(["git", "apply", "-"], input=patch.encode(), cwd=copy, check=True,
                           capture_output=True)
            assert os_leaves(copy) == overlay_leaves(overlay)
