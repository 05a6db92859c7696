"""Cached lower entries are kept packed: memory per entry, and the info they give back."""

from __future__ import annotations

import gc
import os
import tracemalloc
import typing
import zipfile

import pytest
from fs.base import FS
from fs.info import Info
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS
from fs.zipfs import ReadZipFS
from hypothesis import given
from hypothesis import strategies as st

from unionfs_lib import OverlayFS
from unionfs_lib.model.packed_info import PackedInfo, pack_info

DIRS, PER_DIR = 20, 500
#: Bytes per cached lower entry (listing and merged table together). A full
#: ``Info`` per entry took about 1,300-1,900, packed about 500; in columns,
#: with the listing serving as the table, 40-130.
BYTES_PER_ENTRY_BOUND = 200


def _names() -> typing.Iterator[str]:
    for d in range(DIRS):
        for i in range(PER_DIR):
            yield f"d{d:02d}/file-{i:05d}.txt"


def _memory_lower(tmp_path: typing.Any) -> FS:
    lower = MemoryFS()
    for d in range(DIRS):
        lower.makedir(f"/d{d:02d}")
    for name in _names():
        lower.writebytes("/" + name, b"x")
    return lower


def _os_lower(tmp_path: typing.Any) -> FS:
    root = tmp_path / "lower"
    for d in range(DIRS):
        (root / f"d{d:02d}").mkdir(parents=True)
    for name in _names():
        (root / name).write_bytes(b"x")
    return OSFS(str(root))


def _zip_lower(tmp_path: typing.Any) -> FS:
    path = os.path.join(str(tmp_path), "lower.zip")
    with zipfile.ZipFile(path, "w") as archive:
        for name in _names():
            archive.writestr(name, b"x")
    return ReadZipFS(path)


def _bytes_per_cached_entry(lower: FS) -> float:
    """Walk every directory of ``lower`` through an overlay; traced bytes kept per entry."""
    for d in range(DIRS):  # the layer's own lazily built state is not the caches'
        lower.listdir(f"/d{d:02d}")
    overlay = OverlayFS(MemoryFS(), [lower], auto_close=False)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for d in range(DIRS):
            for _ in overlay.scandir(f"/d{d:02d}"):
                pass
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert overlay.getinfo("/d00/file-00000.txt", ["details"]).size == 1
    overlay.close()
    lower.close()
    return kept / (DIRS * PER_DIR)


@pytest.mark.parametrize("make_lower", [_memory_lower, _os_lower, _zip_lower])
def test_a_cached_lower_entry_takes_few_bytes(
    tmp_path: typing.Any, make_lower: typing.Callable[[typing.Any], FS]
) -> None:
    assert _bytes_per_cached_entry(make_lower(tmp_path)) <= BYTES_PER_ENTRY_BOUND


@pytest.mark.parametrize("make_lower", [_memory_lower, _os_lower, _zip_lower])
def test_packed_entries_report_what_the_layer_reports(
    tmp_path: typing.Any, make_lower: typing.Callable[[typing.Any], FS]
) -> None:
    lower = make_lower(tmp_path)
    overlay = OverlayFS(MemoryFS(), [lower], auto_close=False)
    listed = {info.name: info.raw for info in overlay.scandir("/d03", ["details"])}
    direct = {info.name: info.raw for info in lower.scandir("/d03", ["details"])}
    assert listed == direct
    path = "/d03/file-00007.txt"
    assert overlay.getinfo(path, ["details"]).raw == lower.getinfo(path, ["details"]).raw
    assert overlay.getinfo(path).raw == lower.getinfo(path).raw
    assert overlay.getinfo(path, ["details"]).modified == lower.getinfo(path, ["details"]).modified
    overlay.close()
    lower.close()


def test_the_listing_cache_holds_packed_info() -> None:
    lower = MemoryFS()
    lower.writebytes("/a.txt", b"abc")
    overlay = OverlayFS(MemoryFS(), [lower])
    node = overlay._sb.resolver.lookup("/a.txt")
    assert node is not None
    assert isinstance(node.info, PackedInfo)
    assert node.info.size == 3 and not node.info.is_dir and node.info.name == "a.txt"
    overlay.close()


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.lists(st.text(max_size=3), max_size=3),
)


@given(
    name=st.text(min_size=1, max_size=10),
    is_dir=st.booleans(),
    details=st.dictionaries(st.sampled_from(["size", "type", "modified", "_write", "x"]), _VALUES),
)
def test_packing_keeps_every_value(name: str, is_dir: bool, details: dict[str, typing.Any]) -> None:
    info = Info({"basic": {"name": name, "is_dir": is_dir}, "details": details})
    packed = pack_info(info)
    assert packed.raw == info.raw
    assert packed.name == name and packed.is_dir == is_dir
    assert packed == info


def test_info_with_other_namespaces_is_kept_as_it_is() -> None:
    info = Info({"basic": {"name": "a", "is_dir": False}, "access": {"user": "x"}})
    assert pack_info(info) is info
