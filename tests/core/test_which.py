"""OverlayFS.which: the layer index, layer FS and layer path backing a path."""

from __future__ import annotations

import fs.errors
import pytest
from fs.memoryfs import MemoryFS

from unionfs_lib import OverlayFS
from unionfs_lib.layers.lifecycle import Backing

from ..support.layers import memory_layer


@pytest.fixture
def overlay():
    top = memory_layer({"/d": None, "/d/top": b"top", "/shadow": b"top shadow", "/dir": None})
    bottom = memory_layer(
        {
            "/d": None,
            "/d/bottom": b"bottom",
            "/shadow": b"bottom shadow",
            "/dir": None,
            "/dir/sub": None,
            "/dir/sub/deep": b"deep",
        }
    )
    return OverlayFS(MemoryFS(), [top, bottom])


def test_layers_are_numbered_as_the_overlay_namespace(overlay):
    overlay.writetext("/d/upper", "u")
    for path, expected in [("/d/upper", 0), ("/d/top", 1), ("/shadow", 1), ("/d/bottom", 2)]:
        backing = overlay.which(path)
        assert backing.index == expected
        assert overlay.getinfo(path, ["overlay"]).raw["overlay"]["layer"] == expected
        index, layer, layer_path = backing
        assert layer is (overlay.upper if index == 0 else overlay.lowers[index - 1])
        assert layer_path == path
        assert layer.readtext(layer_path) == overlay.readtext(path)


def test_directories_report_their_top_layer(overlay):
    assert overlay.which("/d").index == 1
    assert overlay.which("/dir/sub").index == 2
    assert overlay.which("/").index == 0
    overlay.writetext("/dir/sub/new", "n")
    assert overlay.which("/dir/sub").index == 0


def test_copy_up_moves_the_backing_to_the_upper(overlay):
    assert overlay.which("/d/bottom").index == 2
    overlay.appendtext("/d/bottom", "+")
    assert tuple(overlay.which("/d/bottom"))[0] == 0


def test_redirects_are_followed(overlay):
    overlay.movedir("/dir", "/renamed", create=True)
    backing = overlay.which("/renamed/sub/deep")
    assert isinstance(backing, Backing)
    assert (backing.index, backing.path) == (2, "/dir/sub/deep")
    assert backing.layer.readtext(backing.path) == "deep"
    assert overlay.which("/renamed").index == 0


def test_missing_and_hidden_paths_raise_resource_not_found(overlay):
    with pytest.raises(fs.errors.ResourceNotFound):
        overlay.which("/nope")
    overlay.remove("/d/top")
    with pytest.raises(fs.errors.ResourceNotFound):
        overlay.which("/d/top")
    with pytest.raises(fs.errors.ResourceNotFound):
        overlay.which("/shadow/below-a-file")


def test_read_only_overlay(overlay):
    read_only = OverlayFS(None, list(overlay.lowers), auto_close=False)
    assert read_only.which("/").index == 1
    assert read_only.which("/d/bottom").index == 2
