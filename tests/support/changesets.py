"""Helpers of the changeset tests: real layers on disk, and the changes found by brute force.

:func:`expected_changes` is the independent ground truth: it walks the whole
merged view and the whole lower directory and compares them entry by entry,
without looking at the upper or its markers.
"""

from __future__ import annotations

import hashlib
import os
import typing
from pathlib import Path

import pytest
from fs.base import FS
from fs.osfs import OSFS

from unionfs_lib import OverlayFS
from unionfs_lib.errors import KernelFormatUnsupported

LAYOUTS = ["markers", "kernel"]

LOWER_FILES: dict[str, bytes] = {
    "a/x.txt": b"lower x\nsecond line\n",
    "a/b/c.txt": b"lower c\n",
    "a/b/deep/d.txt": b"lower d\nno newline",
    "keep/k.txt": b"lower k\n",
    "gone/sub/z.txt": b"lower z\n",
    "gone/y.txt": b"lower y\n",
    "move/m.txt": b"lower m\n",
    "move/inner/n.txt": b"lower n\n",
    "top.txt": b"lower top\n",
    "swap": b"a file that becomes a directory\n",
    "tree/t1.txt": b"lower t1\n",
    "pure/p.txt": b"lower p\n",
    "pure/sub/q.txt": b"lower q\n",
}


def make_lower(root: Path, files: typing.Mapping[str, bytes] = LOWER_FILES) -> Path:
    """Write ``files`` (relative path -> bytes) under ``root``; return ``root``."""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def open_overlay(upper: Path, lower: Path, layout: str) -> OverlayFS:
    """Open an overlay over the directory ``lower``: OCI markers, or the kernel layout."""
    if layout == "kernel":
        work = Path(str(upper) + ".work")
        upper.mkdir(exist_ok=True)
        work.mkdir(exist_ok=True)
        try:
            return OverlayFS.from_dirs([str(lower)], str(upper), str(work))
        except KernelFormatUnsupported as error:
            pytest.skip(f"the kernel format is refused here: {error}")
    upper.mkdir(exist_ok=True)
    return OverlayFS(OSFS(str(upper)), [OSFS(str(lower))])


def entry_state(layer: FS, path: str, info: typing.Any) -> tuple[typing.Any, ...]:
    """What the ground truth compares of one entry: type, permissions, content, time."""
    mode = info.permissions.mode if info.has_namespace("access") and info.permissions else None
    if info.is_dir:
        return ("dir", mode)
    digest = hashlib.sha256(layer.readbytes(path)).hexdigest()
    return ("file", mode, digest, info.raw.get("details", {}).get("modified"))


def view(layer: FS) -> dict[str, tuple[typing.Any, ...]]:
    """Every entry of ``layer`` mapped to its :func:`entry_state`."""
    return {
        path: entry_state(layer, path, info)
        for path, info in layer.walk.info("/", namespaces=["details", "access"])
    }


def parent_of(path: str) -> str:
    """The parent of a canonical path."""
    return os.path.dirname(path) or "/"


def expected_changes(merged: FS, lower: FS) -> list[tuple[str, str, bool]]:
    """The changes found by walking both whole views: ``(path, kind, is_dir)`` sorted.

    A file counts as modified when its bytes, permissions or modified time
    differ (the tests change each copied-up file in one of those ways).
    """
    new, old = view(merged), view(lower)
    found = []
    for path in set(new) | set(old):
        now, before = new.get(path), old.get(path)
        if before is None:
            found.append((path, "added", now[0] == "dir"))  # type: ignore[index]
        elif now is None:
            parent = parent_of(path)
            if parent == "/" or (new.get(parent, ("",))[0] == "dir" and parent in old):
                found.append((path, "deleted", before[0] == "dir"))
        elif now[0] != before[0]:
            found.append((path, "modified", now[0] == "dir"))
        elif now != before:
            found.append((path, "modified", now[0] == "dir"))
    return sorted(found, key=lambda item: item[0].split("/"))


def as_tuples(changes: typing.Iterable[typing.Any]) -> list[tuple[str, str, bool]]:
    """Reduce ``Change`` records to ``(path, kind, is_dir)``."""
    return [(change.path, change.kind, change.is_dir) for change in changes]


def file_tree(root: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file under the directory ``root``."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def merged_files(overlay: FS) -> dict[str, bytes]:
    """Relative path -> bytes of every file of an FS."""
    return {path.lstrip("/"): overlay.readbytes(path) for path in overlay.walk.files()}


#: What a tree holds at one path, links as links: ``("file", bytes)`` or ``("link", target)``.
Leaf = tuple[str, typing.Union[bytes, str]]


def os_leaves(root: Path) -> dict[str, Leaf]:
    """Relative path -> file bytes or link target of every non-directory under ``root``.

    Nothing is followed: a link is its stored target, whatever it points to.
    """
    found: dict[str, Leaf] = {}
    pending = [root]
    while pending:
        directory = pending.pop()
        for entry in os.scandir(directory):
            rel = os.path.relpath(entry.path, root)
            if entry.is_symlink():
                found[rel] = ("link", os.readlink(entry.path))
            elif entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
            else:
                found[rel] = ("file", Path(entry.path).read_bytes())
    return found


def overlay_leaves(overlay: OverlayFS) -> dict[str, Leaf]:
    """What :func:`os_leaves` gives, for the merged view of ``overlay`` (links never followed)."""
    found: dict[str, Leaf] = {}
    pending = ["/"]
    while pending:
        directory = pending.pop()
        for name in overlay.listdir(directory):
            path = f"{directory.rstrip('/')}/{name}"
            if overlay.islink(path):
                found[path.lstrip("/")] = ("link", overlay.readlink(path))
            elif overlay.isdir(path):
                pending.append(path)
            else:
                found[path.lstrip("/")] = ("file", overlay.readbytes(path))
    return found


def scripted_changes(overlay: OverlayFS) -> None:
    """One of every kind of change: writes, appends, removals, renames, type changes."""
    overlay.appendtext("/a/x.txt", "appended\n")
    overlay.writetext("/a/b/new.txt", "brand new\n")
    overlay.writetext("/top.txt", "rewritten top\n")
    overlay.removetree("/gone")
    overlay.movedir("/move", "/moved", create=True)
    overlay.writetext("/moved/m.txt", "changed after the rename\n")
    overlay.remove("/swap")
    overlay.makedir("/swap")
    overlay.writetext("/swap/inside.txt", "inside\n")
    overlay.removetree("/tree")
    overlay.makedir("/tree")
    overlay.writetext("/tree/t2.txt", "a new t2\n")
    overlay.makedirs("/fresh/dir")
    overlay.writetext("/fresh/dir/f.txt", "fresh\n")
    overlay.movedir("/pure", "/renamed", create=True)
