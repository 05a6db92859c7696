"""Overlay layouts over an OS lower with links, modes, owners and attributes.

Shared by the tests of links, permissions and extended attributes: a TempFS
upper and an OSFS upper over an OSFS lower (marker whiteouts), and
directories opened like ``mount -t overlay`` (``OverlayFS.from_dirs``).
"""

from __future__ import annotations

import os
import typing
from pathlib import Path

import pytest
from fs.osfs import OSFS
from fs.tempfs import TempFS

from unionfs_lib import OverlayFS

from .helpers import os_tree

LINK_LAYOUTS = ["tempfs", "osfs", "kernel"]
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="giving files to another owner needs root")
#: The owner the lower file is given (as root) so that copy-up must keep it.
OTHER = (1234, 2345)


def make_link_lower(root: Path) -> None:
    """A lower with a file (mode, owner, attribute, old times), links and directories."""
    (root / "d").mkdir(parents=True)
    (root / "e").mkdir()
    (root / "e" / "x").write_bytes(b"e/x")
    data = root / "d" / "f"
    data.write_bytes(b"lower data")
    data.chmod(0o640)
    os.setxattr(data, "user.color", b"blue")
    os.setxattr(data, "user.unionfs.ino", b"7")  # private: never shown
    if ROOT:
        os.chown(data, *OTHER)
        os.chown(root / "e", *OTHER)
    os.utime(data, ns=(1_000_000_000_000_000_000, 1_100_000_000_000_000_000))
    os.symlink("f", root / "d" / "l")
    os.symlink("nowhere", root / "d" / "dangling")
    os.symlink("../e", root / "d" / "to_dir")
    os.utime(root / "d" / "l", ns=(1_200_000_000_000_000_000,) * 2, follow_symlinks=False)


def link_snapshot(root: Path) -> dict[str, typing.Any]:
    """Everything a write could change in an OS tree: content, links, modes, owners, xattrs."""
    found: dict[str, typing.Any] = {"tree": os_tree(root)}
    for path in sorted(root.rglob("*")):
        st = os.lstat(path)
        link = os.readlink(path) if path.is_symlink() else None
        names = [] if link is not None else sorted(os.listxattr(path))
        found[str(path)] = (
            st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_nlink, link,
            {name: os.getxattr(path, name) for name in names},
        )
    return found


class Layout:
    """One overlay layout over an OS lower directory, reopenable."""

    def __init__(self, kind: str, base: Path) -> None:
        self.kind, self.base = kind, base
        self.lower, self.upper, self.work = base / "lower", base / "upper", base / "work"
        for path in (self.upper, self.work):
            path.mkdir()
        make_link_lower(self.lower)
        self.before = link_snapshot(self.lower)
        self._temp: TempFS | None = TempFS() if kind == "tempfs" else None

    def open(self) -> OverlayFS:
        """Open (or reopen) the overlay on the same upper."""
        if self.kind == "kernel":
            return OverlayFS.from_dirs([str(self.lower)], str(self.upper), str(self.work))
        upper = self._temp if self._temp is not None else OSFS(str(self.upper))
        return OverlayFS(upper, [OSFS(str(self.lower))], auto_close=self.kind != "tempfs")

    def upper_path(self, path: str) -> str:
        """Return the OS path of ``path`` in the upper."""
        root = self._temp.getsyspath("/") if self._temp is not None else str(self.upper)
        return os.path.join(root, path.lstrip("/"))

    def close(self) -> None:
        """Close the TempFS upper."""
        if self._temp is not None:
            self._temp.close()


def layout_checked(kind: str, base: Path) -> typing.Iterator[Layout]:
    """Yield a layout of ``kind`` (for a fixture); its lower must be unchanged at the end."""
    if kind == "kernel" and not ROOT:
        pytest.skip("the kernel format's trusted.overlay.* attributes need root")
    made = Layout(kind, base)
    yield made
    made.close()
    assert link_snapshot(made.lower) == made.before


