"""Write the fixtures of ``tests/test_old_descriptions.py`` (run once, with the release to freeze).

    PYTHONPATH=$PWD python tests/data/old_descriptions/generate.py

For each whiteout store (``marker``: :class:`MarkerWhiteouts`; ``kernel``:
:class:`KernelWhiteouts`, which needs root for ``trusted.overlay.*``) it builds
an overlay in :data:`ROOT` over one OS-directory lower, removes a lower file
(a whiteout) and renames a merged lower directory (a redirect), then writes:

* ``<store>.json``: the description (``OverlayFS.describe()``) and the
  ``overlay://`` URL (``OverlayFS.fs_url``), as the release wrote them;
* ``<store>.tree.json``: the lower and upper directories as data (see
  :func:`dump_tree`), since git cannot hold device nodes or extended
  attributes, and the merged view the overlay showed.

The files name the layers under :data:`ROOT`; the test replaces that prefix
with its own directory. Every entry of the lower gets the time :data:`MTIME`
so that its ``tree`` fingerprint is the same when the test rebuilds it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import sys
import typing
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Where the layers lived when the fixtures were written (replaced by the test).
ROOT = "/tmp/unionfs-old-descriptions"
#: The time of every lower entry (its ``tree`` fingerprint hashes times).
MTIME = 1_600_000_000
#: The lower layer: path -> bytes, or ``None`` for a directory.
LOWER: dict[str, bytes | None] = {
    "/keep.txt": b"kept",
    "/gone.txt": b"removed through the overlay: a whiteout",
    "/src": None,
    "/src/pkg": None,
    "/src/pkg/mod.py": b"mod",
    "/src/pkg/deep": None,
    "/src/pkg/deep/x.py": b"x",
    "/src/main.py": b"main",
}


def fill_lower(root: str) -> None:
    """Create :data:`LOWER` under ``root``, every entry timed :data:`MTIME`."""
    for path, data in LOWER.items():
        target = root + path
        if data is None:
            os.makedirs(target, exist_ok=True)
        else:
            Path(target).write_bytes(data)
    for path in sorted(LOWER, key=len, reverse=True):
        os.utime(root + path, (MTIME, MTIME))
    os.utime(root, (MTIME, MTIME))


def _text(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def dump_tree(root: str) -> dict[str, dict[str, typing.Any]]:
    """Return every entry below ``root``: type, data (base64), device, extended attributes."""
    found: dict[str, dict[str, typing.Any]] = {}
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            full = os.path.join(directory, name)
            st = os.lstat(full)
            entry: dict[str, typing.Any] = {}
            if stat.S_ISDIR(st.st_mode):
                entry["type"] = "dir"
            elif stat.S_ISREG(st.st_mode):
                entry["type"] = "file"
                entry["data"] = _text(Path(full).read_bytes())
            elif stat.S_ISCHR(st.st_mode):
                entry["type"] = "chr"
                entry["rdev"] = [os.major(st.st_rdev), os.minor(st.st_rdev)]
            elif stat.S_ISLNK(st.st_mode):
                entry["type"] = "symlink"
                entry["target"] = os.readlink(full)
            else:
                raise ValueError(f"cannot dump {full}")
            names = sorted(os.listxattr(full, follow_symlinks=False))
            if names:
                entry["xattrs"] = {
                    key: _text(os.getxattr(full, key, follow_symlinks=False)) for key in names
                }
            found["/" + os.path.relpath(full, root)] = entry
    return found


def merged_view(overlay: typing.Any) -> dict[str, str | None]:
    """Return the overlay's tree: path -> data (base64) or ``None`` for a directory."""
    view: dict[str, str | None] = {}
    for path, info in overlay.walk.info("/"):
        view[path] = None if info.is_dir else _text(overlay.readbytes(path))
    return dict(sorted(view.items()))


def write(store: str) -> None:
    """Build, change, describe and dump the overlay of ``store`` (``marker`` or ``kernel``)."""
    from unionfs_lib import OverlayFS

    base = f"{ROOT}/{store}"
    shutil.rmtree(base, ignore_errors=True)
    for name in ("lower", "upper", "work"):
        os.makedirs(f"{base}/{name}")
    fill_lower(f"{base}/lower")
    if store == "kernel":
        overlay = OverlayFS.from_dirs([f"{base}/lower"], f"{base}/upper", f"{base}/work")
    else:
        from fs.osfs import OSFS

        overlay = OverlayFS(OSFS(f"{base}/upper"), [OSFS(f"{base}/lower")])
    with overlay:
        overlay.remove("/gone.txt")
        overlay.movedir("/src/pkg", "/pkg", create=True)
        overlay.writebytes("/pkg/new.py", b"new")
        described = overlay.describe()
        url = overlay.fs_url
        view = merged_view(overlay)
    (HERE / f"{store}.json").write_text(
        json.dumps({"description": described, "url": url}, indent=2, sort_keys=True) + "\n"
    )
    trees = {
        "root": ROOT,
        "mtime": MTIME,
        "lower": dump_tree(f"{base}/lower"),
        "upper": dump_tree(f"{base}/upper"),
        "view": view,
    }
    (HERE / f"{store}.tree.json").write_text(json.dumps(trees, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    for which in sys.argv[1:] or ["marker", "kernel"]:
        write(which)
