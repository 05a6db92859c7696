"""The ``overlay_mount`` fixture as a test author meets it: no side effects, a review.

A mount served by a thread of the test process must leave the process as it
found it (libfuse changes the working directory of the thread that mounts);
and like ``overlay_sandbox`` the fixture tells what a test changed:
``.changes()``, ``.diff()`` and an ``overlay changes`` section when it fails.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from fs.memoryfs import MemoryFS

from unionfs_lib import OverlayFS
from unionfs_lib.mount.availability import fuse_refusal
from unionfs_lib.mount.daemon import mount_in_thread
from unionfs_lib.mount.pytest_plugin import MountPoint

from ..support.mounting import fuse_or_skip
from ..support.pytester import TREE_FIXTURE, fill_sample_tree, run_written_tests


def test_the_fuse_probe_keeps_the_working_directory(tmp_path, monkeypatch):
    fuse_or_skip()
    monkeypatch.chdir(tmp_path)
    fuse_refusal.cache_clear()
    try:
        assert fuse_refusal() is None
    finally:
        fuse_refusal.cache_clear()
    assert os.getcwd() == str(tmp_path)


def test_a_thread_mount_keeps_the_working_directory(tmp_path, monkeypatch):
    fuse_or_skip()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mnt").mkdir()
    lower = MemoryFS()
    lower.writetext("/f", "lower")
    mounted = mount_in_thread(OverlayFS(MemoryFS(), [lower]), "mnt")
    try:
        assert os.getcwd() == str(tmp_path)
        assert Path("mnt/f").read_text() == "lower"  # a relative path still works
    finally:
        mounted.unmount()
    assert os.getcwd() == str(tmp_path)


HEADER = """
import os
import subprocess
import sys
from pathlib import Path

import pytest

""" + TREE_FIXTURE


def run_pytest(tmp_path: Path, name: str, body: str) -> subprocess.CompletedProcess[str]:
    """Write a test file and run pytest on it in a fresh process (in ``tmp_path``)."""
    return run_written_tests(tmp_path, name, HEADER, body, timeout=180)


def test_relative_paths_work_during_and_after_a_mount(tmp_path):
    fuse_or_skip()
    (tmp_path / "data.txt").write_text("here\n")
    result = run_pytest(tmp_path, "test_cwd.py", '''
        def test_mounting(overlay_mount, tree):
            start = os.getcwd()
            root = overlay_mount(tree)
            assert os.getcwd() == start
            assert Path("data.txt").read_text() == "here\\n"
            assert (root / "b.txt").read_text() == "b\\n"

        def test_later(tmp_path):
            assert Path("data.txt").read_text() == "here\\n"
    ''')
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_the_mount_point_reviews_the_changes(overlay_mount, tmp_path):
    """``overlay_mount`` returns a ``pathlib.Path`` with ``changes()`` and ``diff()``."""
    fuse_or_skip()
    lower = tmp_path / "lower"
    fill_sample_tree(lower)
    root = overlay_mount(lower)
    assert isinstance(root, MountPoint) and isinstance(root, Path)
    assert root == Path(os.fspath(root))
    assert root.changes() == [] and root.diff() == ""
    with open(root / "b.txt", "a") as handle:
        handle.write("more\n")
    (root / "new.txt").write_text("new\n")
    for name in os.listdir(root / "logs"):
        os.unlink(root / "logs" / name)
    os.rmdir(root / "logs")
    assert [change.line() for change in root.changes()] == ["M /b.txt", "D /logs", "A /new.txt"]
    assert "+more" in root.diff() and "+new" in root.diff()
    docs = root / "docs"
    assert isinstance(docs, MountPoint) and docs.changes() == []  # a path below reviews its subtree
    (docs / "a.txt").write_text("A\n")
    assert [change.line() for change in docs.changes()] == ["M /docs/a.txt"]
    assert (lower / "docs" / "a.txt").read_text() == "a\n"
    with pytest.raises(ValueError, match="not inside the mount"):
        root.parent.changes()


def test_a_failing_test_reports_what_it_changed_through_the_mount(tmp_path):
    fuse_or_skip()
    result = run_pytest(tmp_path, "test_review.py", '''
        def test_broken_cleanup(overlay_mount, tree):
            root = overlay_mount(tree)
            (root / "new.txt").write_text("new\\n")
            with open(root / "b.txt", "a") as handle:
                handle.write("more\\n")
            subprocess.run(["rm", "-r", str(root / "logs")], check=True)
            os.rename(root / "docs", root / "manual")
            assert (root / "logs").exists(), "cleanup removed the logs"

        def test_passing(overlay_mount, tree):
            root = overlay_mount(tree)
            (root / "other.txt").write_text("x")
    ''')
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout
    assert "cleanup removed the logs" in result.stdout
    assert result.stdout.count("overlay changes") == 1, result.stdout
    section = result.stdout.split("overlay changes", 1)[1]
    for line in ("M /b.txt", "D /logs", "A /new.txt", "R /docs -> /manual"):
        assert line in section, result.stdout
    assert "other.txt" not in section
