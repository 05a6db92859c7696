"""Unified diffs of an overlay's changes, in the form ``git apply`` and ``patch -p1`` take.

:func:`unified_diff` turns the file changes of :func:`~unionfs_lib.changes.changes`
into one patch against the lowers' view: ``a/...`` is what the lowers show,
``b/...`` the merged view, ``/dev/null`` the side where a file does not
exist. A deleted directory, or one replaced by a file, contributes the
deletion of each file beneath it, as ``git diff`` would show it. Files that
are not UTF-8 text (or hold a NUL byte) are named with ``Binary files ...
differ`` and not dumped. Directories themselves, and empty directories,
have no place in a unified diff.

Everything is read under the overlay's lock, so the patch is one consistent
snapshot even while other threads write.
"""

from __future__ import annotations

import difflib
import typing

import attrs
from fs.base import FS

from .changes import ADDED, DELETED, MODIFIED, Change, changes, sort_key
from .entry import Node
from .probe import NameProbe
from .superblock import overlay_super

DEV_NULL = "/dev/null"


@attrs.frozen
class FilePair:
    """One file of the patch: its path, and its bytes before and after (``None``: absent)."""

    path: str
    old: bytes | None
    new: bytes | None
    executable: bool = False


def unified_diff(overlay: FS, path: str = "/", *, context: int = 3) -> str:
    """Return the unified diff of the text files changed at and beneath ``path``."""
    with overlay_super(overlay).lock:
        pairs = file_pairs(overlay, changes(overlay, path))
    return "".join(render(pair, context) for pair in pairs)


def file_pairs(overlay: FS, found: typing.Iterable[Change]) -> list[FilePair]:
    """Turn changes into the file pairs of a patch (the caller holds the lock)."""
    probe = NameProbe(overlay_super(overlay).resolver)
    pairs: dict[str, FilePair] = {}
    for change in found:
        new = None
        if change.kind != DELETED and not change.is_dir:
            new = overlay.readbytes(change.path)
        old_node = None if change.kind == ADDED else probe.lookup(change.path, 1)
        if change.kind == MODIFIED and change.is_dir and old_node is not None and old_node.is_dir:
            continue  # a directory's own mode changed: its files are changes of their own
        for old_path, old in _old_files(overlay, probe, old_node):
            pairs[old_path] = FilePair(old_path, old, None)
        if new is not None:
            before = pairs.get(change.path)
            pairs[change.path] = FilePair(
                change.path, before.old if before else None, new, _executable(overlay, change.path)
            )
    return [pairs[key] for key in sorted(pairs, key=sort_key)]


def _old_files(
    overlay: FS, probe: NameProbe, node: Node | None
) -> typing.Iterator[tuple[str, bytes]]:
    """Yield ``(path, bytes)`` of the lower file ``node``, or of every file beneath it."""
    if node is None:
        return
    nodes = probe.walk(node, 1) if node.is_dir else iter([node])
    for found in nodes:
        if not found.is_dir:
            top = found.top
            yield found.path, overlay_super(overlay).layer(top.layer).readbytes(top.path)


def _executable(overlay: FS, path: str) -> bool:
    """Tell whether the merged file at ``path`` has an execute bit."""
    info = overlay.getinfo(path, namespaces=["access"])
    if not info.has_namespace("access") or info.permissions is None:
        return False
    return bool(info.permissions.mode & 0o111)


def as_text(data: bytes | None) -> str | None:
    """Decode file bytes as text, or return ``None`` for binary data."""
    if data is None:
        return ""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def split_lines(text: str) -> list[str]:
    r"""Split text at ``\n`` only, keeping the line ends (the last line may lack one)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def render(pair: FilePair, context: int = 3) -> str:
    """Return the ``diff --git`` section of one file pair."""
    if pair.old == pair.new:
        return ""  # metadata only: a unified diff cannot say it
    name = pair.path.lstrip("/")
    old_name = DEV_NULL if pair.old is None else f"a/{name}"
    new_name = DEV_NULL if pair.new is None else f"b/{name}"
    mode = "100755" if pair.executable else "100644"
    head = [f"diff --git a/{name} b/{name}\n"]
    if pair.old is None:
        head.append(f"new file mode {mode}\n")
    elif pair.new is None:
        head.append(f"deleted file mode {mode}\n")
    old_text, new_text = as_text(pair.old), as_text(pair.new)
    if old_text is None or new_text is None:
        head.append(f"Binary files {old_name} and {new_name} differ\n")
        return "".join(head)
    hunks = list(
        difflib.unified_diff(
            split_lines(old_text), split_lines(new_text), old_name, new_name, n=context
        )
    )
    if not hunks:
        return "".join(head)
    return "".join(head) + "".join(_mark_missing_newline(line) for line in hunks)


def _mark_missing_newline(line: str) -> str:
    r"""Add the ``\ No newline at end of file`` marker after a last line without one."""
    if line.endswith("\n"):
        return line
    return line + "\n\\ No newline at end of file\n"
