"""Cold listings of MemoryFS lowers read the layer's entries: the same infos, no ``Info`` each."""

from __future__ import annotations

import typing

import pytest
from fs.memoryfs import MemoryFS
from hypothesis import given, settings
from hypothesis import strategies as st

from unionfs_lib import OverlayFS
from unionfs_lib.host.memory_scan import memory_dir_details

_CHARACTERS = st.characters(exclude_categories=["Cs"], exclude_characters="/\\\0")
_NAMES = st.text(_CHARACTERS, min_size=1, max_size=5).filter(
    lambda name: name not in (".", "..") and not name.startswith(".wh.")
)


def _lower(files: dict[str, bytes], dirs: list[str]) -> MemoryFS:
    layer = MemoryFS()
    layer.makedir("/d")
    for name in dirs:
        layer.makedir(f"/d/{name}", recreate=True)
    for name, data in files.items():
        if not layer.exists(f"/d/{name}"):
            layer.writebytes(f"/d/{name}", data)
    return layer


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(_NAMES, st.binary(max_size=40), max_size=8), st.lists(_NAMES, max_size=4))
def test_the_overlay_gives_the_infos_the_layer_would(
    files: dict[str, bytes], dirs: list[str]
) -> None:
    """Names, kinds and every ``details`` value equal the layer's own ``getinfo``."""
    lower = _lower(files, dirs)
    overlay = OverlayFS(MemoryFS(), [lower])
    assert sorted(overlay.listdir("/d")) == sorted(lower.listdir("/d"))
    for name in lower.listdir("/d"):
        path = f"/d/{name}"
        assert overlay.getinfo(path, ["details"]).raw == lower.getinfo(path, ["details"]).raw
        assert overlay.isdir(path) == lower.isdir(path)


def test_the_raw_infos_equal_those_of_the_layers_scandir() -> None:
    lower = _lower({"f": b"abc", "g": b""}, ["sub"])
    expected = [info.raw for info in lower.scandir("/d", namespaces=["details"])]
    assert memory_dir_details(lower, "/d") == expected


@pytest.mark.unguarded
def test_a_cold_listing_of_a_memory_lower_calls_no_scandir(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lower's entries are read directly: its ``scandir`` is never called."""
    lower = _lower({"f": b"abc"}, ["sub"])
    overlay = OverlayFS(MemoryFS(), [lower])

    def refuse(*args: typing.Any, **kwargs: typing.Any) -> typing.NoReturn:
        raise AssertionError("scandir called")

    monkeypatch.setattr(lower, "scandir", refuse)
    assert overlay.listdir("/d") == ["f", "sub"]
    assert overlay.getinfo("/d/f", ["details"]).size == 3


class _CountingMemoryFS(MemoryFS):
    """A MemoryFS subclass: it may list its own way, so it is listed through ``scandir``."""

    scans = 0

    def scandir(self, *args: typing.Any, **kwargs: typing.Any) -> typing.Iterator[typing.Any]:
        type(self).scans += 1
        return super().scandir(*args, **kwargs)


def test_subclasses_and_missing_directories_go_through_the_layer() -> None:
    lower = _CountingMemoryFS()
    lower.makedir("/d")
    lower.writebytes("/d/f", b"x")
    assert memory_dir_details(lower, "/d") is None
    assert OverlayFS(MemoryFS(), [lower]).listdir("/d") == ["f"]
    assert _CountingMemoryFS.scans > 0
    plain = _lower({"f": b""}, [])
    assert memory_dir_details(plain, "/nowhere") is None
    assert memory_dir_details(plain, "/d/f") is None
    plain.close()
    assert memory_dir_details(plain, "/d") is None
