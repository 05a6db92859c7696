"""Writes through the mount reach layer files from libfuse's buffer (``write_buf``).

The mount is served by a thread of this process, so the test can count the
Python-level ``write`` calls: a write to an upper file never takes that way
(the data goes from libfuse's buffer to the descriptor); ``O_APPEND`` and
files without a descriptor of their own still do, with the same bytes.
With FUSE passthrough (libfuse 3.17 or later, :mod:`.passthrough`) the
kernel writes an upper file itself, ``O_APPEND`` included.
"""

from __future__ import annotations

import os

from fs.memoryfs import MemoryFS

from unionfs_lib.mount import operations
from unionfs_lib.mount.capabilities import passthrough_refusal

from ..support.mounting import fill_os_dir, fuse_or_skip


def _count_writes(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = operations.OverlayOperations.write

    def counted(self, path, data, offset, fh):
        calls.append(len(data))
        return original(self, path, data, offset, fh)

    monkeypatch.setattr(operations.OverlayOperations, "write", counted)
    return calls


def test_writes_to_an_upper_file_skip_python_bytes(overlay_mount, tmp_path, monkeypatch):
    fuse_or_skip()
    calls = _count_writes(monkeypatch)
    lower = tmp_path / "lower"
    fill_os_dir(str(lower), {"/a": b"lower"})
    root = overlay_mount(str(lower))
    payload = os.urandom(3 << 20)
    with open(root / "big", "wb") as handle:
        handle.write(payload)
    with open(root / "big", "r+b") as handle:
        handle.seek(1 << 20)
        handle.write(b"middle")
    expected = payload[: 1 << 20] + b"middle" + payload[(1 << 20) + 6:]
    assert (root / "big").read_bytes() == expected
    assert calls == []
    with open(root / "big", "ab") as handle:  # O_APPEND takes the write way
        handle.write(b"tail")
    assert (root / "big").read_bytes() == expected + b"tail"
    assert calls == ([] if passthrough_refusal() is None else [4])


def test_files_without_descriptors_get_the_gathered_bytes(overlay_mount, monkeypatch):
    fuse_or_skip()
    calls = _count_writes(monkeypatch)
    lower = MemoryFS()
    lower.writebytes("/a", b"memory")
    root = overlay_mount([lower], upper=MemoryFS())
    payload = os.urandom(300_000)
    with open(root / "a", "r+b") as handle:
        handle.write(payload)
    assert (root / "a").read_bytes() == payload
    assert sum(calls) == len(payload)


def _count_reads(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = operations.OverlayOperations.read

    def counted(self, path, size, offset, fh):
        calls.append(size)
        return original(self, path, size, offset, fh)

    monkeypatch.setattr(operations.OverlayOperations, "read", counted)
    return calls


def test_reads_of_layer_files_are_answered_from_their_descriptors(
    overlay_mount, tmp_path, monkeypatch
):
    """libfuse reads the reply from the layer file (``read_buf``): no Python bytes per read."""
    fuse_or_skip()
    calls = _count_reads(monkeypatch)
    lower = tmp_path / "lower"
    payload = os.urandom((2 << 20) + 12345)
    fill_os_dir(str(lower), {"/big": payload, "/empty": b""})
    root = overlay_mount(str(lower))
    assert (root / "big").read_bytes() == payload
    with open(root / "big", "rb") as handle:
        handle.seek(len(payload) - 100)
        assert handle.read(1000) == payload[-100:]  # a read across the end stops there
        assert handle.read(10) == b""
    assert (root / "empty").read_bytes() == b""
    with open(root / "big", "r+b") as handle:  # copied up: the upper file's descriptor
        handle.write(b"head")
    assert (root / "big").read_bytes() == b"head" + payload[4:]
    assert calls == []


def test_reads_of_files_without_descriptors_hand_over_bytes(overlay_mount, monkeypatch):
    fuse_or_skip()
    calls = _count_reads(monkeypatch)
    lower = MemoryFS()
    payload = os.urandom(300_000)
    lower.writebytes("/a", payload)
    root = overlay_mount([lower], upper=MemoryFS())
    assert (root / "a").read_bytes() == payload
    assert sum(calls) >= len(payload)
