"""Copy-up data between OS layers goes through the kernel; elsewhere it is streamed."""

from __future__ import annotations

import os
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS

from unionfs_lib import CopyUpEngine, OverlayFS
from unionfs_lib.host.datacopy import copy_data


def _payload(size: int) -> bytes:
    return bytes(range(256)) * (size // 256) + b"x" * (size % 256)


@pytest.fixture
def os_layers(tmp_path: Path) -> tuple[OSFS, OSFS]:
    (tmp_path / "lower").mkdir()
    (tmp_path / "upper").mkdir()
    return OSFS(str(tmp_path / "lower")), OSFS(str(tmp_path / "upper"))


def test_os_layers_copy_in_the_kernel(os_layers: tuple[OSFS, OSFS]) -> None:
    lower, upper = os_layers
    lower.writebytes("/f", _payload(3 << 20))
    how = copy_data(lower, "/f", upper, "/g", None, chunk_size=7)
    assert how in ("clone", "copy_file_range")
    assert upper.readbytes("/g") == lower.readbytes("/f")


def test_a_length_limit_copies_exactly_that_much(os_layers: tuple[OSFS, OSFS]) -> None:
    lower, upper = os_layers
    lower.writebytes("/f", _payload(100_000))
    assert copy_data(lower, "/f", upper, "/g", 12_345, chunk_size=7) == "copy_file_range"
    assert upper.readbytes("/g") == _payload(100_000)[:12_345]
    assert copy_data(lower, "/f", upper, "/h", 0, chunk_size=7) == "copy_file_range"
    assert upper.readbytes("/h") == b""


def test_layers_without_os_paths_are_streamed(os_layers: tuple[OSFS, OSFS]) -> None:
    lower, upper = os_layers
    memory = MemoryFS()
    memory.writebytes("/f", _payload(10_000))
    assert copy_data(memory, "/f", upper, "/g", None, chunk_size=7) == "stream"
    assert copy_data(memory, "/f", upper, "/h", 1000, chunk_size=7) == "stream"
    assert upper.readbytes("/g") == _payload(10_000)
    assert upper.readbytes("/h") == _payload(10_000)[:1000]
    lower.writebytes("/f", b"data")
    assert copy_data(lower, "/f", upper, "/k", None, 7, kernel=False) == "stream"


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no tmpfs at /dev/shm to copy across")
def test_across_filesystems_it_still_copies(tmp_path: Path) -> None:
    """tmpfs to the test directory's filesystem: the kernel copies or we stream."""
    with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
        lower = OSFS(shm)
        (tmp_path / "upper").mkdir()
        upper = OSFS(str(tmp_path / "upper"))
        lower.writebytes("/f", _payload(1 << 20))
        copy_data(lower, "/f", upper, "/g", None, chunk_size=4096)
        assert upper.readbytes("/g") == lower.readbytes("/f")


@pytest.mark.parametrize("kernel_copy", [True, False])
def test_copy_up_between_os_layers_keeps_memory_flat(
    os_layers: tuple[OSFS, OSFS], kernel_copy: bool
) -> None:
    lower, upper = os_layers
    size = 32 << 20
    with lower.openbin("/big", "w") as handle:
        for _ in range(size // (1 << 20)):
            handle.write(_payload(1 << 20))
    overlay = OverlayFS(upper, [lower], copy_up=CopyUpEngine(kernel_copy=kernel_copy))
    tracemalloc.start()
    overlay.appendbytes("/big", b"!")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < (4 << 20 if not kernel_copy else 1 << 20)
    assert upper.getsize("/big") == size + 1
    with upper.openbin("/big") as copied, lower.openbin("/big") as original:
        while True:
            chunk = original.read(1 << 20)
            assert copied.read(len(chunk)) == chunk
            if not chunk:
                break
    assert upper.readbytes("/big")[-1:] == b"!"
    overlay.close()
