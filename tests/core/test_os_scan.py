"""Cold listings of OSFS lowers read ``os.scandir``: the infos of ``OSFS.scandir``, no ``Info``."""

from __future__ import annotations

import os
import pathlib
import typing

import pytest
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS
from fs.tempfs import TempFS

from unionfs_lib import OverlayFS
from unionfs_lib.host.os_scan import DETAILS_KEYS, lists_as_osfs, os_dir_details
from unionfs_lib.model.listing_columns import ColumnsBuilder


def _lower(root: pathlib.Path) -> OSFS:
    (root / "d" / "sub").mkdir(parents=True)
    (root / "d" / "f").write_bytes(b"abc")
    (root / "d" / "g").write_bytes(b"")
    os.symlink("sub", root / "d" / "link_to_dir")
    os.symlink("f", root / "d" / "link_to_file")
    return OSFS(str(root))


def _as_raw(entry: tuple[str, bool, tuple[object, ...]]) -> dict[str, typing.Any]:
    name, is_dir, values = entry
    return {"basic": {"name": name, "is_dir": is_dir}, "details": dict(zip(DETAILS_KEYS, values))}


def test_the_values_equal_those_of_the_layers_scandir(tmp_path: pathlib.Path) -> None:
    """Names, kinds (a link to a directory is one, as ``OSFS`` says) and details, key order too."""
    lower = _lower(tmp_path)
    expected = [info.raw for info in lower.scandir("/d", namespaces=["details"])]
    found = os_dir_details(lower, "/d")
    assert found is not None
    raws = [_as_raw(entry) for entry in found]
    assert raws == expected
    assert [list(raw["details"]) for raw in raws] == [list(raw["details"]) for raw in expected]


def test_the_overlay_gives_the_infos_the_layer_would(tmp_path: pathlib.Path) -> None:
    lower = _lower(tmp_path)
    overlay = OverlayFS(MemoryFS(), [lower])
    assert sorted(overlay.listdir("/d")) == sorted(lower.listdir("/d"))
    for name in lower.listdir("/d"):
        path = f"/d/{name}"
        assert overlay.getinfo(path, ["details"]).raw == lower.getinfo(path, ["details"]).raw
    overlay.close()


def test_an_entry_that_does_not_pack_keeps_its_own_write_list(tmp_path: pathlib.Path) -> None:
    """The ``_write`` list shared by the values is copied when an entry is kept as an ``Info``."""
    builder = ColumnsBuilder()
    shared = ["accessed", "modified"]
    values = (shared, 1.0, 2.0, 1 << 70, 2, None, 3.0)  # a size too large to pack
    assert builder.add_details_values([("big", False, values)], DETAILS_KEYS, ".wh.") == []
    info = builder.build().info_at(0)
    assert info is not None and info.size == 1 << 70
    assert info.raw["details"]["_write"] == shared
    assert info.raw["details"]["_write"] is not shared


@pytest.mark.unguarded
def test_a_cold_listing_of_an_os_lower_calls_no_scandir(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lower's directory is read with ``os.scandir``: its ``scandir`` is never called."""
    lower = _lower(tmp_path)
    overlay = OverlayFS(MemoryFS(), [lower])

    def refuse(*args: typing.Any, **kwargs: typing.Any) -> typing.NoReturn:
        raise AssertionError("scandir called")

    monkeypatch.setattr(lower, "scandir", refuse)
    assert overlay.listdir("/d") == ["f", "g", "link_to_dir", "link_to_file", "sub"]
    assert overlay.getinfo("/d/f", ["details"]).size == 3


class _CountingOSFS(OSFS):
    """An OSFS subclass with a ``scandir`` of its own: it is listed through it."""

    scans = 0

    def scandir(self, *args: typing.Any, **kwargs: typing.Any) -> typing.Iterator[typing.Any]:
        type(self).scans += 1
        return super().scandir(*args, **kwargs)


def test_subclasses_errors_and_closed_layers_go_through_the_layer(tmp_path: pathlib.Path) -> None:
    _lower(tmp_path)
    lower = _CountingOSFS(str(tmp_path))
    assert not lists_as_osfs(lower)
    assert os_dir_details(lower, "/d") is None
    assert OverlayFS(MemoryFS(), [lower]).listdir("/d")
    assert _CountingOSFS.scans > 0
    with TempFS() as temp:
        assert lists_as_osfs(temp)
    assert not lists_as_osfs(MemoryFS())
    plain = OSFS(str(tmp_path))
    assert os_dir_details(plain, "/nowhere") is None
    assert os_dir_details(plain, "/d/f") is None
    os.symlink("nowhere", tmp_path / "d" / "dangling")  # OSFS.scandir fails on it: so do we
    assert os_dir_details(plain, "/d") is None
    plain.close()
    assert os_dir_details(plain, "/") is None
