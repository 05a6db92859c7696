"""Regressions found by the benchmarks, and nested-overlay flattening."""

from __future__ import annotations

from fs.osfs import OSFS
from fs.tempfs import TempFS

from unionfs_lib import OverlayFS


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
