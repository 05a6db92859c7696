"""Demo: a writable MemoryFS overlaid on a read-only zip of sample files.

Run with ``python -m unionfs_lib.demo`` (or ``python3 tasks.py demo``). It
writes, deletes and renames through the overlay, then prints the merged tree
beside the untouched lower layer and the changes held by the upper.
"""

from __future__ import annotations

import io
import sys
import typing
from importlib import resources

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
    with OverlayFS(upper, [lower]) as overlay:
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




if __name__ == "__main__":
    main()
