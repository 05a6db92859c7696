"""Shared whiteouts never make an outside file one more name in the upper.

A whiteout of the marker store is a hard link of the last empty marker the
process wrote in that upper (:func:`unionfs_lib.host.posix.write_empty_marker`).
If that marker's directory is swapped for a link to a directory outside
every layer, holding an empty file of the same name, or the marker itself
for another empty file, the next whiteout must not link that other file:
its link count and change time would change (something outside the layers
touched), and the upper would hold a name of it.
"""

from __future__ import annotations

import os
import pathlib

from fs.osfs import OSFS

from unionfs_lib import OverlayFS


def _layers(tmp_path: pathlib.Path) -> tuple[str, str]:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for folder in ("d", "e"):
        (lower / folder).mkdir(parents=True)
        (lower / folder / "q").write_bytes(b"lower")
        (lower / folder / "r").write_bytes(b"lower")
    upper.mkdir()
    return str(lower), str(upper)


def test_a_swapped_marker_directory_is_never_linked_out_of_the_upper(tmp_path):
    lower, upper = _layers(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".wh.q").write_bytes(b"")
    with OverlayFS(OSFS(upper), [OSFS(lower)]) as overlay:
        overlay.remove("/e/q")  # the marker the next whiteouts would link
        os.rename(os.path.join(upper, "e"), os.path.join(upper, "e-moved"))
        os.symlink(str(outside), os.path.join(upper, "e"))
        overlay.remove("/d/r")
    assert os.lstat(outside / ".wh.q").st_nlink == 1, "an outside file got a name in the upper"
    assert os.lstat(os.path.join(upper, "d", ".wh.r")).st_ino != os.lstat(outside / ".wh.q").st_ino


def test_a_marker_replaced_by_another_empty_file_is_not_linked(tmp_path):
    lower, upper = _layers(tmp_path)
    with OverlayFS(OSFS(upper), [OSFS(lower)]) as overlay:
        overlay.remove("/e/q")
        marker = os.path.join(upper, "e", ".wh.q")
        os.rename(marker, marker + "-kept")  # kept: its inode number is not reused
        with open(marker, "wb"):
            pass  # another empty file, another inode, at the remembered name
        planted = os.lstat(marker).st_ino
        overlay.remove("/d/r")
        assert os.lstat(os.path.join(upper, "d", ".wh.r")).st_ino != planted
