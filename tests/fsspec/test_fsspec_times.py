"""``FSSpecFS.setinfo`` sets times where the fsspec filesystem keeps them, and only there."""

from __future__ import annotations

import os

import fs.errors
import fsspec
import pytest
from fs.osfs import OSFS

from unionfs_lib import OverlayFS
from unionfs_lib.fsspec import FSSpecFS

from ..support.fsspec_layers import memory_prefix

ACCESSED = 1_000_000.0
MODIFIED = 2_000_000.0


@pytest.fixture
def local(tmp_path):
    """A writable FSSpecFS over a fresh directory of fsspec's local filesystem."""
    return FSSpecFS(fsspec.filesystem("file"), str(tmp_path))


def test_local_keeps_modified_and_accessed(local, tmp_path):
    local.writebytes("/file", b"data")
    local.setinfo("/file", {"details": {"accessed": ACCESSED, "modified": MODIFIED}})
    status = os.stat(tmp_path / "file")
    assert (status.st_atime, status.st_mtime) == (ACCESSED, MODIFIED)
    info = local.getinfo("/file", ["details"])
    assert info.raw["details"]["modified"] == MODIFIED
    assert info.is_writeable("details", "modified")
    assert not info.is_writeable("details", "accessed"), "fsspec's info does not report atime"


def test_local_sets_one_time_and_keeps_the_other(local, tmp_path):
    local.makedir("/dir")
    os.utime(tmp_path / "dir", (ACCESSED, MODIFIED))
    local.setinfo("/dir", {"details": {"modified": MODIFIED + 1}})
    status = os.stat(tmp_path / "dir")
    assert (status.st_atime, status.st_mtime) == (ACCESSED, MODIFIED + 1)
    local.setinfo("/dir", {"details": {"accessed": ACCESSED + 1}})
    status = os.stat(tmp_path / "dir")
    assert (status.st_atime, status.st_mtime) == (ACCESSED + 1, MODIFIED + 1)


def test_a_filesystem_without_times_ignores_them():
    memory = fsspec.filesystem("memory")
    prefix = memory_prefix()
    memory.pipe(f"{prefix}/file", b"data")
    layer = FSSpecFS(memory, prefix)
    before = layer.getinfo("/file", ["details"]).raw
    layer.setinfo("/file", {"details": {"modified": MODIFIED}, "access": {"user": "x"}})
    after = layer.getinfo("/file", ["details"])
    assert after.raw == before
    assert not after.is_writeable("details", "modified")


def test_setinfo_errors(local):
    with pytest.raises(fs.errors.ResourceNotFound):
        local.setinfo("/missing", {"details": {"modified": MODIFIED}})
    local.writebytes("/file", b"")
    read_only = FSSpecFS(local.filesystem, local.root, read_only=True)
    with pytest.raises(fs.errors.ResourceReadOnly):
        read_only.setinfo("/file", {"details": {"modified": MODIFIED}})
    assert not read_only.getinfo("/file", ["details"]).is_writeable("details", "modified")


def test_an_overlay_sets_times_on_a_local_fsspec_upper(tmp_path):
    (tmp_path / "lower").mkdir()
    (tmp_path / "upper").mkdir()
    (tmp_path / "lower" / "file").write_bytes(b"lower")
    upper = FSSpecFS(fsspec.filesystem("file"), str(tmp_path / "upper"))
    with OverlayFS(upper, [OSFS(str(tmp_path / "lower"))]) as overlay:
        overlay.setinfo("/file", {"details": {"modified": MODIFIED}})  # copies up
        assert overlay.getinfo("/file", ["details"]).raw["details"]["modified"] == MODIFIED
    assert os.stat(tmp_path / "upper" / "file").st_mtime == MODIFIED
    assert os.stat(tmp_path / "lower" / "file").st_mtime != MODIFIED
