"""Regressions found by the benchmarks, and nested-overlay flattening."""

from __future__ import annotations

import sys
import typing

import attrs
import pytest
from fs.base import FS
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS
from fs.tempfs import TempFS
from fs.wrap import WrapReadOnly

from unionfs_lib import MarkerWhiteouts, OverlayFS

from ..support.helpers import tree


@attrs.frozen
class _OtherStore(MarkerWhiteouts):
    """A store that compares unequal to the default one."""

    flavour: str = "other"


def test_write_through_a_lower_backed_osfs_handle_closes_cleanly() -> None:
    # Found by the copy-up benchmark: closing an OverlayFile whose copy-up
    # switched it to an OSFS handle flushed the already closed handle.
    with TempFS() as lower_dir, TempFS() as upper_dir:
        lower = OSFS(lower_dir.getsyspath("/"))
        lower.writebytes("/f.bin", b"hello")
        overlay = OverlayFS(OSFS(upper_dir.getsyspath("/")), [lower])
        with overlay.openbin("/f.bin", "r+b") as handle:
            handle.write(b"J")
        assert overlay.readbytes("/f.bin") == b"Jello"
        assert lower.readbytes("/f.bin") == b"hello"
        overlay.close()


# -- nested overlays are flattened ---------------------------------------------


def _inner_overlay() -> OverlayFS:
    """An overlay whose upper holds every kind of marker the store writes."""
    bottom = MemoryFS()
    for path in ("/keep", "/gone", "/opaque", "/old", "/old/sub"):
        bottom.makedir(path)
    bottom.writebytes("/keep/a.txt", b"bottom a")
    bottom.writebytes("/keep/b.txt", b"bottom b")
    bottom.writebytes("/gone/x.txt", b"x")
    bottom.writebytes("/opaque/hidden.txt", b"hidden")
    bottom.writebytes("/old/sub/deep.txt", b"deep")
    bottom.writebytes("/meta.bin", b"metadata-only copy-up keeps me below")
    middle = MemoryFS()
    middle.makedir("/keep")
    middle.writebytes("/keep/b.txt", b"middle b")
    inner = OverlayFS(MemoryFS(), [middle, bottom])
    inner.remove("/keep/a.txt")  # whiteout
    inner.removetree("/gone")  # whiteout of a directory
    inner.removetree("/opaque")
    inner.makedir("/opaque")  # opaque directory
    inner.writebytes("/opaque/new.txt", b"new")
    inner.movedir("/old", "/renamed", create=True)  # redirect
    inner.setinfo("/meta.bin", {"details": {"modified": 1_000_000}})  # metadata-only
    return inner


def test_nested_overlay_is_flattened_and_shows_the_same_view() -> None:
    inner = _inner_overlay()
    assert inner.getinfo("/meta.bin", ["overlay"]).raw["overlay"]["metacopy"]
    flat = OverlayFS(MemoryFS(), [inner])
    reference = OverlayFS(MemoryFS(), [WrapReadOnly(inner)])  # not flattenable
    assert flat.lowers == (inner,)  # as given...
    assert len(flat._sb.lowers) == 3 and inner not in flat._sb.lowers  # ...but read flat
    assert len(reference._sb.lowers) == 1
    expected = tree(inner)
    assert expected["/meta.bin"] == b"metadata-only copy-up keeps me below"
    assert "/keep/a.txt" not in expected and "/gone" not in expected
    assert tree(flat) == tree(reference) == expected
    assert flat.getinfo("/meta.bin", ["details"]).size == len(expected["/meta.bin"] or b"")
    # The same changes through both outer overlays keep them equal.
    for outer in (flat, reference):
        outer.appendbytes("/meta.bin", b"!")  # copy-up of a lower metadata-only file
        outer.remove("/keep/b.txt")
        outer.movedir("/renamed", "/again", create=True)
        outer.writebytes("/opaque/new.txt", b"newer")
    assert tree(flat) == tree(reference)
    assert flat.readbytes("/meta.bin").endswith(b"below!")
    assert tree(inner) == expected  # the nested overlay (a lower here) is untouched


def test_overlay_nested_500_deep_works_at_the_default_recursion_limit() -> None:
    assert sys.getrecursionlimit() <= 1000
    base = MemoryFS()
    base.makedir("/data")
    base.writebytes("/data/bottom.txt", b"bottom")
    uppers = []
    current: FS = base
    for level in range(500):
        upper = MemoryFS()
        upper.makedir("/data")
        upper.writebytes(f"/data/level{level:03d}.txt", str(level).encode())
        if level % 7 == 0 and level:
            upper.writebytes(f"/data/.wh.level{level - 1:03d}.txt", b"")  # a whiteout
        uppers.append(upper)
        current = OverlayFS(upper, [current], auto_close=False)
    nested = typing.cast(OverlayFS, current)
    flat = OverlayFS(uppers[-1], [*reversed(uppers[:-1]), base], auto_close=False)
    assert len(nested._sb.lowers) == 500
    assert nested.readbytes("/data/bottom.txt") == b"bottom"
    assert nested.listdir("/data") == flat.listdir("/data")
    assert "level006.txt" not in nested.listdir("/data")
    assert "level007.txt" in nested.listdir("/data")
    assert tree(nested) == tree(flat)
    nested.writebytes("/data/bottom.txt", b"changed")  # copy-up through the top
    assert nested.readbytes("/data/bottom.txt") == b"changed"
    assert base.readbytes("/data/bottom.txt") == b"bottom"
    nested.close()


@pytest.mark.unguarded
def test_only_a_compatible_bottom_overlay_is_flattened() -> None:
    inner = OverlayFS(MemoryFS(), [MemoryFS()])
    other = MemoryFS()
    # (auto_close=False: a collected overlay closes its layers, and inner is reused)
    kept = OverlayFS(MemoryFS(), [inner, other], auto_close=False)
    assert kept._sb.lowers == (inner, other)
    kernel_like = OverlayFS(MemoryFS(), [inner], whiteouts=_OtherStore(), auto_close=False)
    assert kernel_like._sb.lowers == (inner,)
    flattened = OverlayFS(MemoryFS(), [other, inner], auto_close=False)
    assert flattened._sb.lowers == (other, *inner._sb.layers)
    assert flattened.lowers == (other, inner)


def test_closing_the_outer_overlay_closes_the_nested_one_as_an_object() -> None:
    layer = MemoryFS()
    inner = OverlayFS(MemoryFS(), [layer], auto_close=False)
    outer = OverlayFS(MemoryFS(), [inner])
    outer.close()
    assert inner.isclosed() and not layer.isclosed()  # inner decides about its layers
    owning = OverlayFS(MemoryFS(), [layer])
    OverlayFS(MemoryFS(), [owning]).close()
    assert owning.isclosed() and layer.isclosed()
    kept = OverlayFS(MemoryFS(), [MemoryFS()])
    OverlayFS(MemoryFS(), [kept], auto_close=False).close()
    assert not kept.isclosed()
