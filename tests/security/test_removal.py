"""Removal never follows a link out of the upper: removetree, discard, whiteouts, the CLI.

Each attack is made as the attacker makes it: code inside the sandbox links a
directory it may not touch into a directory it may remove (``ov.symlink``),
or someone with write access to the upper directory (a user of the mount)
lays the link there before the overlay is opened. The victim directory lies
outside every layer and must stay byte-for-byte as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys

import fs.errors
import pytest
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS
from fs.tempfs import TempFS

from unionfs_lib import OverlayFS

from ..support.attack_layers import KINDS, HiddenSysPaths, layers
from ..support.victim import Victim


def _link_text(victim: Victim, directory: str, how: str) -> str:
    """The target of a link in OS directory ``directory`` that leads to the victim."""
    if how == "absolute":
        return victim.path
    if how == "relative":
        return os.path.relpath(victim.path, directory)
    # One level deeper: wrong where the link is made, right once its directory
    # has been renamed into the work area (``.wh..wh..work/NAME``, ``workdir/work/NAME``).
    return os.path.relpath(victim.path, os.path.join(directory, "deeper"))


@pytest.mark.parametrize("how", ["absolute", "relative", "relative-from-work-area"])
@pytest.mark.parametrize("kind", KINDS)
def test_removetree_of_a_directory_holding_a_link_to_the_victim(tmp_path, victim, kind, how):
    found = layers(tmp_path, kind)
    with found.open() as overlay:
        overlay.makedir("/d")
        overlay.symlink(_link_text(victim, os.path.join(found.upper, "d"), how), "/d/l")
        overlay.removetree("/d")
        assert not overlay.exists("/d")
    assert not os.path.lexists(os.path.join(found.upper, "d"))


@pytest.mark.parametrize("kind", KINDS)
def test_removetree_of_the_root_with_links_to_the_victim(tmp_path, victim, kind):
    found = layers(tmp_path, kind)
    with found.open() as overlay:
        overlay.symlink(victim.path, "/top")
        overlay.makedirs("/d/e")
        overlay.symlink(victim.path, "/d/e/deep")
        overlay.removetree("/")
        assert overlay.listdir("/") == []


@pytest.mark.parametrize("kind", KINDS)
def test_removing_the_link_itself_removes_only_the_link(tmp_path, victim, kind):
    found = layers(tmp_path, kind)
    with found.open() as overlay:
        overlay.symlink(victim.path, "/l")
        overlay.remove("/l")
        assert not overlay.exists("/l")


@pytest.mark.parametrize("paths", [None, ["/d"]], ids=["everything", "one-path"])
@pytest.mark.parametrize("kind", KINDS)
def test_discard_of_a_directory_holding_a_link(tmp_path, victim, kind, paths):
    found = layers(tmp_path, kind)
    with found.open() as overlay:
        overlay.makedir("/d")
        overlay.symlink(victim.path, "/d/l")
        overlay.discard(paths)
        assert not overlay.exists("/d")


@pytest.mark.parametrize("paths", [None, ["/l"]], ids=["everything", "one-path"])
@pytest.mark.parametrize("kind", KINDS)
def test_discard_of_a_link_to_the_victim(tmp_path, victim, kind, paths):
    found = layers(tmp_path, kind)
    with found.open() as overlay:
        overlay.symlink(victim.path, "/l")
        overlay.discard(paths)
        assert not overlay.exists("/l")
    assert not os.path.lexists(os.path.join(found.upper, "l"))


@pytest.mark.parametrize("kind", KINDS)
def test_a_link_laid_in_the_upper_before_opening(tmp_path, victim, kind):
    found = layers(tmp_path, kind)
    os.makedirs(os.path.join(found.upper, "d"))
    os.symlink(victim.path, os.path.join(found.upper, "d", "l"))
    with found.open() as overlay:
        overlay.removetree("/d")
    assert os.listdir(found.upper) in ([], [".wh..wh..work"])


def test_a_link_named_as_a_whiteout_marker(tmp_path, victim):
    found = layers(tmp_path, "markers")
    with open(os.path.join(found.lower, "x"), "wb") as handle:
        handle.write(b"lower x")
    os.symlink(victim.path, os.path.join(found.upper, ".wh.x"))
    with found.open() as overlay:
        assert not overlay.exists("/x")
        overlay.writebytes("/x", b"new")
        assert overlay.readbytes("/x") == b"new"
    assert not os.path.lexists(os.path.join(found.upper, ".wh.x"))


def test_a_link_named_as_a_whiteout_marker_inside_a_removed_directory(tmp_path, victim):
    found = layers(tmp_path, "markers")
    os.makedirs(os.path.join(found.lower, "d"))
    with open(os.path.join(found.lower, "d", "x"), "wb") as handle:
        handle.write(b"lower x")
    os.makedirs(os.path.join(found.upper, "d"))
    os.symlink(victim.path, os.path.join(found.upper, "d", ".wh.x"))
    with found.open() as overlay:
        overlay.removetree("/d")
        assert not overlay.exists("/d")


def test_tempfs_upper(victim):
    with TempFS() as upper, OverlayFS(upper, [MemoryFS()], auto_close=False) as overlay:
        overlay.makedirs("/d/e")
        overlay.symlink(victim.path, "/d/e/l")
        overlay.removetree("/d")
        overlay.makedir("/again")
        overlay.symlink(victim.path, "/again/l")
        overlay.discard()
        assert upper.listdir("/") in ([], [".wh..wh..work"])


def test_memory_upper_over_a_lower_holding_a_link_out(tmp_path, victim):
    lower = tmp_path / "lower"
    (lower / "d").mkdir(parents=True)
    os.symlink(victim.path, lower / "d" / "l")
    with OverlayFS(MemoryFS(), [OSFS(str(lower))]) as overlay:
        try:
            overlay.copy_up_tree("/d")
        except fs.errors.FSError:
            pass  # a link out of the lower is refused; the victim is what matters
        overlay.removetree("/d")
        overlay.discard()
    assert os.readlink(lower / "d" / "l") == victim.path


def test_upper_without_os_paths_over_local_files(tmp_path, victim):
    upper = tmp_path / "upper"
    (upper / "d").mkdir(parents=True)
    os.symlink(victim.path, upper / "d" / "l")
    with OverlayFS(HiddenSysPaths(OSFS(str(upper))), [MemoryFS()]) as overlay:
        try:
            overlay.removetree("/d")
        except fs.errors.FSError:
            pass  # refusing is fine; following the link is not
    (upper / "e").mkdir()
    os.symlink(victim.path, upper / "e" / "l")
    with OverlayFS(HiddenSysPaths(OSFS(str(upper))), [MemoryFS()]) as overlay:
        overlay.discard()


def test_cli_discard_after_a_user_made_a_link(tmp_path, victim):
    """A user of the mount links the victim into the upper; root later runs ``discard``."""
    found = layers(tmp_path, "markers")
    with found.open() as overlay:
        overlay.writebytes("/note.txt", b"mine")
        url = overlay.describe(fingerprints="none")["url"]
    os.makedirs(os.path.join(found.upper, "d"))
    os.symlink(victim.path, os.path.join(found.upper, "d", "l"))  # through the mount: ln -s
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run(
        [sys.executable, "-m", "unionfs_lib", "discard", url],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 0, result.stderr
    assert os.listdir(found.upper) in ([], [".wh..wh..work"])


@pytest.mark.parametrize("kind", KINDS)
def test_discard_of_a_path_beneath_a_link(tmp_path, victim, kind):
    """``discard(["/l/keep.txt"])`` must not remove the victim's file through link ``/l``."""
    found = layers(tmp_path, kind)
    with found.open() as overlay:
        overlay.symlink(victim.path, "/l")
        for name in ("keep.txt", "sub"):
            with pytest.raises(fs.errors.FSError):
                overlay.discard([f"/l/{name}"])
        assert overlay.islink("/l")


def test_cli_discard_after_a_link_made_through_the_mount(tmp_path, victim):
    """Through a real FUSE mount a user runs ``ln -s``; after unmounting, ``discard`` runs."""
    from ..support.mounting import DaemonMount, fuse_or_skip, mount_options

    fuse_or_skip()
    found = layers(tmp_path, "kernel")
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    with DaemonMount(mount_options([found.lower], found.upper, found.workdir), str(mountpoint)):
        os.makedirs(mountpoint / "d" / "e")
        os.symlink(victim.path, mountpoint / "d" / "e" / "l")
        os.symlink(victim.path, mountpoint / "top")
    assert os.readlink(os.path.join(found.upper, "d", "e", "l")) == victim.path
    with found.open() as overlay:
        url = overlay.describe(fingerprints="none")["url"]
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run(
        [sys.executable, "-m", "unionfs_lib", "discard", url],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 0, result.stderr
    assert os.listdir(found.upper) == []
