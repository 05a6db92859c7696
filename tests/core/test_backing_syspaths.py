"""The façade tells front ends the OS paths of the entries backing overlay paths.

``OverlayFS.which(path)`` gives a :class:`~unionfs_lib.layers.lifecycle.Backing`
whose ``syspath`` is the entry's OS path and ``data_syspath()`` its bytes' OS
path (``None`` on layers without OS paths); ``OverlayFS.upper_syspath``
gives a path's OS path in the upper. The FUSE mount uses them instead of
host helpers (#23 step 3).
"""

from __future__ import annotations

import os
import pathlib

from fs.memoryfs import MemoryFS
from fs.osfs import OSFS

from unionfs_lib import OverlayFS


def make_dirs(root: pathlib.Path, *names: str) -> list[str]:
    """Make the directories ``names`` under ``root``; return their OS paths."""
    paths = [str(root / name) for name in names]
    for path in paths:
        os.mkdir(path)
    return paths


def test_backing_gives_the_os_paths_of_a_lower_file(tmp_path: pathlib.Path) -> None:
    upper, lower = make_dirs(tmp_path, "upper", "lower")
    pathlib.Path(lower, "f").write_text("x")
    with OverlayFS(OSFS(upper), [OSFS(lower)]) as overlay:
        backing = overlay.which("/f")
        assert backing.syspath == os.path.join(lower, "f")
        assert backing.data_syspath() == os.path.join(lower, "f")


def test_backing_has_no_os_path_on_a_memory_layer() -> None:
    lower = MemoryFS()
    lower.writetext("/f", "x")
    with OverlayFS(MemoryFS(), [lower]) as overlay:
        backing = overlay.which("/f")
        assert backing.syspath is None
        assert backing.data_syspath() is None
        assert overlay.upper_syspath("/f") is None


def test_upper_syspath_names_the_upper_path_without_copying_up(tmp_path: pathlib.Path) -> None:
    upper, lower = make_dirs(tmp_path, "upper", "lower")
    pathlib.Path(lower, "f").write_text("x")
    with OverlayFS(OSFS(upper), [OSFS(lower)]) as overlay:
        assert overlay.upper_syspath("/f") == os.path.join(upper, "f")
        assert not os.path.exists(os.path.join(upper, "f"))
    with OverlayFS(None, [OSFS(lower)]) as read_only:
        assert read_only.upper_syspath("/f") is None


def test_backing_of_a_nested_overlays_lower_file(tmp_path: pathlib.Path) -> None:
    """Layer numbers count the flattened layers: the data layer is the nested lower."""
    inner_upper, inner_lower, upper = make_dirs(tmp_path, "u1", "l1", "u2")
    pathlib.Path(inner_lower, "f").write_text("x")
    inner = OverlayFS(OSFS(inner_upper), [OSFS(inner_lower)])
    with OverlayFS(OSFS(upper), [inner]) as overlay:
        backing = overlay.which("/f")
        assert backing.data_index == 2
        assert backing.data_syspath() == os.path.join(inner_lower, "f")
