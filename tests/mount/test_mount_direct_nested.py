"""The mount's direct reads find the bytes of a nested overlay's lower file.

Regression: ``mount.direct.data_syspath`` looked the data layer up in
``OverlayFS.lowers`` (the layers as given) by a number that counts the
flattened layers, and raised ``IndexError`` for a file of a nested
overlay's lower.
"""

from __future__ import annotations

import os
import pathlib

from fs.osfs import OSFS

from unionfs_lib import OverlayFS
from unionfs_lib.mount import direct


def test_data_syspath_of_a_nested_overlays_lower_file(tmp_path: pathlib.Path) -> None:
    for name in ("u1", "l1", "u2"):
        os.mkdir(tmp_path / name)
    (tmp_path / "l1" / "f").write_text("x")
    inner = OverlayFS(OSFS(str(tmp_path / "u1")), [OSFS(str(tmp_path / "l1"))])
    with OverlayFS(OSFS(str(tmp_path / "u2")), [inner]) as overlay:
        assert direct.data_syspath(overlay, "/f") == (2, str(tmp_path / "l1" / "f"))
