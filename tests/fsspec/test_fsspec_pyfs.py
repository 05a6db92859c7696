"""FSSpecFS specifics beyond PyFilesystem2's suite: errors, read-only, upload at close, rename."""

from __future__ import annotations

import errno
import os

import fs.errors
import fsspec
import pytest

from unionfs_lib.fsspec import FSSpecFS
from unionfs_lib.fsspec.errors import to_builtin, to_fs_error

from ..support.fsspec_layers import memory_prefix


@pytest.fixture
def layer():
    prefix = memory_prefix()
    memory = fsspec.filesystem("memory")
    memory.pipe(f"{prefix}/dir/file.txt", b"content")
    yield FSSpecFS(memory, prefix)
    memory.rm(prefix, recursive=True)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda f: f.readbytes("/missing"), fs.errors.ResourceNotFound),
        (lambda f: f.readbytes("/dir"), fs.errors.FileExpected),
        (lambda f: f.listdir("/dir/file.txt"), fs.errors.DirectoryExpected),
        (lambda f: f.getinfo("/dir/file.txt/below"), fs.errors.ResourceNotFound),
        (lambda f: f.openbin("/dir", "r"), fs.errors.FileExpected),
        (lambda f: f.openbin("/dir/file.txt", "x"), fs.errors.FileExists),
        (lambda f: f.makedir("/dir"), fs.errors.DirectoryExists),
        (lambda f: f.makedir("/no/such"), fs.errors.ResourceNotFound),
        (lambda f: f.removedir("/dir"), fs.errors.DirectoryNotEmpty),
        (lambda f: f.removedir("/"), fs.errors.RemoveRootError),
        (lambda f: f.remove("/dir"), fs.errors.FileExpected),
        (lambda f: f.move("/dir/file.txt", "/dir"), fs.errors.DestinationExists),
    ],
)
def test_pyfilesystem_errors(layer, call, error):
    with pytest.raises(error):
        call(layer)


def test_read_only_refuses_every_write(layer):
    read_only = FSSpecFS(layer.filesystem, layer.root, read_only=True)
    for write in (
        lambda: read_only.writebytes("/new", b""),
        lambda: read_only.openbin("/dir/file.txt", "r+"),
        lambda: read_only.makedir("/d"),
        lambda: read_only.remove("/dir/file.txt"),
        lambda: read_only.removedir("/dir"),
        lambda: read_only.removetree("/dir"),
        lambda: read_only.setinfo("/dir/file.txt", {}),
        lambda: read_only.move("/dir/file.txt", "/moved"),
    ):
        with pytest.raises(fs.errors.ResourceReadOnly):
            write()
    assert read_only.getmeta()["read_only"] is True
    assert layer.readbytes("/dir/file.txt") == b"content"


def test_writes_are_uploaded_when_the_file_is_closed(layer):
    full = f"{layer.root}/dir/new.bin"
    with layer.openbin("/dir/new.bin", "w") as handle:
        handle.write(b"abc")
        assert layer.filesystem.cat_file(full) == b"", "created empty at open"
    assert layer.filesystem.cat_file(full) == b"abc"
    with layer.openbin("/dir/new.bin", "r+") as handle:
        handle.seek(1)
        handle.write(b"X")
    assert layer.filesystem.cat_file(full) == b"aXc"


def test_move_is_one_rename_on_a_local_directory(tmp_path):
    layer = FSSpecFS(fsspec.filesystem("file"), str(tmp_path))
    layer.writebytes("/a.txt", b"a")
    inode = os.stat(tmp_path / "a.txt").st_ino
    layer.move("/a.txt", "/b.txt")
    assert os.stat(tmp_path / "b.txt").st_ino == inode
    assert layer.listdir("/") == ["b.txt"]


def test_error_mapping_both_ways():
    assert isinstance(to_fs_error(FileNotFoundError(2, "x"), "/p"), fs.errors.ResourceNotFound)
    assert isinstance(to_fs_error(IsADirectoryError(21, "x"), "/p"), fs.errors.FileExpected)
    assert isinstance(to_fs_error(NotADirectoryError(20, "x"), "/p"), fs.errors.DirectoryExpected)
    assert isinstance(to_fs_error(PermissionError(13, "x"), "/p"), fs.errors.PermissionDenied)
    assert isinstance(to_fs_error(OSError(errno.ENOTEMPTY, "x"), "/p"), fs.errors.DirectoryNotEmpty)
    assert isinstance(to_builtin(fs.errors.ResourceReadOnly("/p"), "/p"), PermissionError)
    assert isinstance(to_builtin(fs.errors.DirectoryExists("/p"), "/p"), FileExistsError)
    assert isinstance(to_builtin(fs.errors.Unsupported(), "/p"), NotImplementedError)
    not_empty = to_builtin(fs.errors.DirectoryNotEmpty("/p"), "/p")
    assert isinstance(not_empty, OSError) and not_empty.errno == errno.ENOTEMPTY


def test_a_rewritten_file_is_never_seen_half_written(layer):
    """Each ``write`` to the memory store's file checks that no reader sees it meanwhile.

    fsspec's memory store shows a file opened for writing at once, so a reader
    could read it (``cat_file`` takes a buffer export that a concurrent write
    cannot resize). A file the spool kept in memory is stored whole, in one
    ``pipe_file`` call; only a larger one is streamed.
    """
    memory = layer.filesystem
    full = f"{layer.root}/dir/file.txt"
    seen: list[bytes] = []
    original_open = memory._open

    def watched_open(path, mode="rb", **kwargs):
        opened = original_open(path, mode, **kwargs)
        if "w" in mode:
            original_write = opened.write

            def write(data):
                seen.append(memory.cat_file(path))  # what a reader would get now
                return original_write(data)

            opened.write = write
        return opened

    memory._open = watched_open
    try:
        layer.writebytes("/dir/file.txt", b"new content")
        assert memory.cat_file(full) == b"new content"
        assert seen == [], "the small file was written in place, visible meanwhile"
        large = b"x" * ((8 << 20) + 1)
        layer.writebytes("/dir/large.bin", large)
        assert memory.cat_file(f"{layer.root}/dir/large.bin") == large
        assert seen, "a file larger than the in-memory spool is streamed"
    finally:
        del memory._open
