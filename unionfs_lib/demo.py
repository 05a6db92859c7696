"""Demo: sandbox writes over a read-only zip of sample files, then keep or drop them.

Run with ``python -m unionfs_lib.demo`` (or ``python3 tasks.py demo``). It
writes, deletes and renames through an overlay (a MemoryFS upper over the
zip), prints the merged tree beside the untouched lower layer and the upper
that holds the changes, asks the overlay what changed (``changes()``, and
``diff()`` as a patch), commits the changes into a copy of the lower, and
finally discards them from the sandbox.
"""

from __future__ import annotations

import contextlib
import io
import sys
import typing
from importlib import resources

import fs.copy
from fs.base import FS
from fs.memoryfs import MemoryFS
from fs.zipfs import ZipFS

from .overlay import OverlayFS


def _tree(title: str, layer: FS, out: typing.TextIO) -> None:
    out.write(f"\n== {title}\n")
    buffer = io.StringIO()
    layer.tree(file=buffer, with_color=False)
    out.write(buffer.getvalue() or "(empty)\n")


def main(out: typing.TextIO = sys.stdout) -> None:
    """Run the demo, printing to ``out``."""
    sample = resources.files("unionfs_lib").joinpath("data/sample.zip").read_bytes()
    lower = ZipFS(io.BytesIO(sample))
    upper = MemoryFS()
    with contextlib.closing(OverlayFS(upper, [lower])) as overlay:
        overlay.appendtext("/docs/guide.txt", "An edit that lives in the upper layer.\n")
        overlay.writetext("/docs/new.txt", "A file created through the overlay.\n")
        overlay.remove("/docs/old-notes.txt")
        overlay.movedir("/src", "/lib", create=True)
        overlay.move("/README.txt", "/README.md")
        _tree("merged view (OverlayFS)", overlay, out)
        out.write("\n/docs/guide.txt through the overlay:\n")
        out.write(overlay.readtext("/docs/guide.txt"))
        _tree("lower layer (sample.zip, untouched)", lower, out)
        out.write("\n/docs/guide.txt in the lower:\n")
        out.write(lower.readtext("/docs/guide.txt"))
        _tree("upper layer (the changes, with whiteouts and a redirect)", upper, out)
        out.write("\n== what changed (overlay.changes())\n")
        for change in overlay.changes():
            out.write(change.line() + "\n")
        out.write("\n== the same as a patch (overlay.diff(), for git apply)\n")
        out.write(overlay.diff("/docs"))
        kept = MemoryFS()
        fs.copy.copy_fs(lower, kept)
        overlay.commit(kept)
        _tree("a copy of the lower after overlay.commit(copy)", kept, out)
        overlay.discard()
        out.write("\n== after overlay.discard(): the sandbox shows the lower again\n")
        out.write(f"/README.txt is back: {overlay.exists('/README.txt')}; ")
        out.write(f"the upper holds {len(upper.listdir('/'))} entries\n")




if __name__ == "__main__":
    main()
