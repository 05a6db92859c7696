"""The per-call paths of reads and listings: what they ask of the layers."""

from __future__ import annotations

import os
import typing

import fs.errors
import pytest
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS

from unionfs_lib import OverlayFS
from unionfs_lib.errors import EscapesLayer

from .helpers import CountingFS


def _os_layers(tmp_path: typing.Any) -> tuple[OSFS, OSFS]:
    (tmp_path / "upper").mkdir()
    lower_root = tmp_path / "lower"
    (lower_root / "d").mkdir(parents=True)
    (lower_root / "d" / "plain.txt").write_bytes(b"plain")
    (lower_root / "d" / "empty.txt").write_bytes(b"")
    os.symlink("plain.txt", lower_root / "d" / "inside-link")
    (tmp_path / "outside.txt").write_bytes(b"secret")
    os.symlink(tmp_path / "outside.txt", lower_root / "d" / "escaping-link")
    return OSFS(str(tmp_path / "upper")), OSFS(str(lower_root))


def test_os_layer_reads_give_the_layers_bytes_and_refuse_escaping_links(
    tmp_path: typing.Any,
) -> None:
    upper, lower = _os_layers(tmp_path)
    overlay = OverlayFS(upper, [lower])
    assert overlay.readbytes("/d/plain.txt") == b"plain"
    assert overlay.readbytes("/d/empty.txt") == b""
    assert overlay.readbytes("/d/inside-link") == b"plain"  # a link inside: read through
    with pytest.raises(EscapesLayer):
        overlay.readbytes("/d/escaping-link")
    overlay.writebytes("/d/new.txt", b"upper bytes")
    assert overlay.readbytes("/d/new.txt") == b"upper bytes"
    overlay.close()


def test_a_file_gone_behind_the_overlays_back_is_not_found(tmp_path: typing.Any) -> None:
    upper, lower = _os_layers(tmp_path)
    overlay = OverlayFS(upper, [lower])
    overlay.writebytes("/d/new.txt", b"x")
    os.remove(upper.getsyspath("/d/new.txt"))
    with pytest.raises(fs.errors.ResourceNotFound):
        overlay.readbytes("/d/new.txt")
    overlay.close()


def test_a_directory_read_as_a_file_is_refused(tmp_path: typing.Any) -> None:
    upper, lower = _os_layers(tmp_path)
    overlay = OverlayFS(upper, [lower])
    with pytest.raises(fs.errors.FileExpected):
        overlay.readbytes("/d")
    overlay.close()


def test_upper_getinfo_is_the_uppers_answer() -> None:
    upper = MemoryFS()
    upper.makedir("/d")
    upper.writebytes("/d/f.txt", b"abc")
    overlay = OverlayFS(upper, [MemoryFS()])
    for namespaces in (None, ["details"], ["basic", "details"]):
        assert overlay.getinfo("/d/f.txt", namespaces).raw == upper.getinfo(
            "/d/f.txt", namespaces
        ).raw
    assert overlay.getinfo("/d/f.txt", ["overlay"]).get("overlay", "layer") == 0
    overlay.close()


def test_a_small_directory_is_iterated_from_the_cache_after_the_first_time() -> None:
    lower = MemoryFS()
    lower.makedir("/d")
    for index in range(50):
        lower.writebytes(f"/d/f{index:02d}", b"x")
    counted = CountingFS(lower)
    overlay = OverlayFS(MemoryFS(), [counted])
    first = [info.name for _, info in overlay.iterdir("/d")]
    counted.calls.clear()
    again = [(info.name, info.is_dir) for _, info in overlay.iterdir("/d")]
    assert first == sorted(lower.listdir("/d"))
    assert again == [(name, False) for name in first]
    assert counted.calls["scandir"] == counted.calls["getinfo"] == 0
    overlay.close()


def test_iterating_a_small_directory_asks_no_info_per_entry() -> None:
    lower = MemoryFS()
    lower.makedir("/d")
    for index in range(50):
        lower.writebytes(f"/d/f{index:02d}", b"x")
    counted = CountingFS(lower)
    overlay = OverlayFS(MemoryFS(), [counted])
    sizes = {info.name: info.size for _, info in overlay.iterdir("/d", namespaces=["details"])}
    assert sizes == {name: 1 for name in lower.listdir("/d")}
    assert counted.calls["getinfo"] == 0  # details came with the listing
    overlay.close()
