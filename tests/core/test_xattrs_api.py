"""Extended attributes through the Python API: get, set, list and remove.

Over the three layouts of ``tests/support/link_layouts.py`` (TempFS and OSFS
uppers with marker whiteouts, and the kernel format), with the lower checked
unchanged after every test.
"""

from __future__ import annotations

import os
from pathlib import Path

import fs.errors
import pytest
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS

from unionfs_lib import OverlayFS
from unionfs_lib.errors import NoSuchAttribute, PrivateAttribute
from unionfs_lib.mount.errno_map import errno_of

from ..support.link_layouts import Layout

PRIVATE = (
    "trusted.overlay.opaque", "user.overlay.redirect", "user.unionfs.ino", "trusted.unionfs.ino"
)



def test_attributes_are_read_from_the_layer_that_holds_the_entry(layout: Layout) -> None:
    with layout.open() as overlay:
        assert overlay.listxattr("/d/f") == ["user.color"]  # user.unionfs.ino is hidden
        assert overlay.getxattr("/d/f", "user.color") == b"blue"
        assert overlay.listxattr("/e/x") == []
        assert not os.path.lexists(layout.upper_path("/d/f"))  # reading copies nothing up


def test_setxattr_copies_up_and_keeps_the_lower_attributes(layout: Layout) -> None:
    with layout.open() as overlay:
        overlay.setxattr("/d/f", "user.size", b"big")
        assert sorted(overlay.listxattr("/d/f")) == ["user.color", "user.size"]
        assert os.getxattr(layout.upper_path("/d/f"), "user.size") == b"big"
        assert overlay.readtext("/d/f") == "lower data"
        overlay.setxattr("/e", "user.tag", b"dir")
        assert overlay.getxattr("/e", "user.tag") == b"dir"
    with layout.open() as overlay:
        assert overlay.getxattr("/d/f", "user.size") == b"big"
        assert overlay.getxattr("/e", "user.tag") == b"dir"
        assert overlay.getxattr("/d/f", "user.color") == b"blue"


def test_removexattr_removes_from_the_upper_copy_only(layout: Layout) -> None:
    with layout.open() as overlay:
        overlay.removexattr("/d/f", "user.color")
        assert overlay.listxattr("/d/f") == []
        with pytest.raises(NoSuchAttribute):
            overlay.getxattr("/d/f", "user.color")
    with layout.open() as overlay:
        assert overlay.listxattr("/d/f") == []


def test_a_missing_attribute_is_enodata_and_copies_nothing_up(layout: Layout) -> None:
    with layout.open() as overlay:
        with pytest.raises(NoSuchAttribute) as raised:
            overlay.getxattr("/e/x", "user.none")
        assert isinstance(raised.value, fs.errors.ResourceNotFound)
        assert errno_of(raised.value) == 61  # ENODATA, as the mount answers
        with pytest.raises(NoSuchAttribute):
            overlay.removexattr("/e/x", "user.none")
        assert not os.path.lexists(layout.upper_path("/e/x"))
        with pytest.raises(fs.errors.ResourceNotFound):
            overlay.getxattr("/e/missing", "user.none")


def test_create_and_replace_flags(layout: Layout) -> None:
    with layout.open() as overlay:
        with pytest.raises(fs.errors.DestinationExists):
            overlay.setxattr("/d/f", "user.color", b"red", os.XATTR_CREATE)
        with pytest.raises(NoSuchAttribute):
            overlay.setxattr("/d/f", "user.none", b"x", os.XATTR_REPLACE)
        overlay.setxattr("/d/f", "user.color", b"red", os.XATTR_REPLACE)
        overlay.setxattr("/d/f", "user.new", b"x", os.XATTR_CREATE)
        assert overlay.getxattr("/d/f", "user.color") == b"red"


def test_the_overlays_private_attributes_are_never_shown_nor_settable(layout: Layout) -> None:
    with layout.open() as overlay:
        overlay.remove("/e/x")
        overlay.makedir("/e/x")  # opaque: the kernel format marks it with an attribute
        overlay.movedir("/e", "/moved", create=True)  # a redirect attribute
        for path in ("/moved", "/moved/x", "/d/f"):
            assert not [name for name in overlay.listxattr(path) if "overlay" in name]
        for name in PRIVATE:
            with pytest.raises(NoSuchAttribute):
                overlay.getxattr("/d/f", name)
            with pytest.raises(PrivateAttribute):
                overlay.setxattr("/moved", name, b"y")
            with pytest.raises(PrivateAttribute):
                overlay.removexattr("/moved", name)
        assert overlay.listdir("/moved") == ["x"] and overlay.listdir("/moved/x") == []


def test_attributes_of_a_hard_link_are_shared(layout: Layout) -> None:
    with layout.open() as overlay:
        overlay.hardlink("/d/f", "/d/g")
        overlay.setxattr("/d/g", "user.shared", b"1")
        assert overlay.getxattr("/d/f", "user.shared") == b"1"


def test_layers_without_os_paths_raise_unsupported() -> None:
    lower = MemoryFS()
    lower.writetext("/f", "memory")
    with OverlayFS(MemoryFS(), [lower]) as overlay:
        for call in (
            lambda: overlay.getxattr("/f", "user.a"),
            lambda: overlay.listxattr("/f"),
            lambda: overlay.setxattr("/f", "user.a", b"1"),
            lambda: overlay.removexattr("/f", "user.a"),
        ):
            with pytest.raises(fs.errors.Unsupported, match="OS paths"):
                call()
        assert overlay.upper is not None and not overlay.upper.exists("/f")


def test_a_zip_lower_under_an_os_upper_is_unsupported_until_copied_up(tmp_path: Path) -> None:
    from fs.zipfs import ZipFS

    archive = str(tmp_path / "lower.zip")
    with ZipFS(archive, write=True) as writing:
        writing.writetext("/f", "zipped")
    (tmp_path / "upper").mkdir()
    with OverlayFS(OSFS(str(tmp_path / "upper")), [ZipFS(archive)]) as overlay:
        with pytest.raises(fs.errors.Unsupported):
            overlay.listxattr("/f")
        with pytest.raises(fs.errors.Unsupported):
            overlay.readlink("/f")
        assert not overlay.islink("/f")
        overlay.setxattr("/f", "user.a", b"1")  # written on the upper copy
        assert overlay.listxattr("/f") == ["user.a"]
        assert overlay.readtext("/f") == "zipped"


def test_a_read_only_overlay_reads_attributes_and_refuses_changes(layout: Layout) -> None:
    with OverlayFS(None, [OSFS(str(layout.lower))]) as overlay:
        assert overlay.getxattr("/d/f", "user.color") == b"blue"
        with pytest.raises(fs.errors.ResourceReadOnly):
            overlay.setxattr("/d/f", "user.a", b"1")
        with pytest.raises(fs.errors.ResourceReadOnly):
            overlay.removexattr("/d/f", "user.color")


def test_values_must_be_bytes_and_names_non_empty(layout: Layout) -> None:
    with layout.open() as overlay:
        with pytest.raises(TypeError):
            overlay.setxattr("/d/f", "user.a", "text")  # type: ignore[arg-type]
        with pytest.raises(fs.errors.OperationFailed):
            overlay.setxattr("/d/f", "", b"1")
