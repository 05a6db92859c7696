"""Trees for the conformance suites: layers filled from a dict, snapshotted, compared.

The suites of :mod:`unionfs_lib.testing` describe a layer as a mapping of
absolute paths to bytes (a file) or ``None`` (a directory), build it with
:func:`fill`, and check "the lowers were never written" by comparing a
:func:`snapshot` taken before with one taken after.
"""

from __future__ import annotations

import typing

import fs.errors
from fs.base import FS

#: A layer's content: absolute path -> bytes (a file) or ``None`` (a directory).
Tree = typing.Dict[str, typing.Optional[bytes]]

#: What :func:`snapshot` records of one entry: its bytes (or ``None``), and its modified time.
Snapshot = typing.Dict[str, typing.Tuple[typing.Optional[bytes], typing.Optional[float]]]


def fill(layer: FS, entries: typing.Mapping[str, bytes | None]) -> None:
    """Write ``entries`` (path -> bytes, or ``None`` for a directory) into ``layer``."""
    for path, data in sorted(entries.items()):
        if data is None:
            layer.makedirs(path, recreate=True)
        else:
            layer.makedirs(path.rsplit("/", 1)[0] or "/", recreate=True)
            layer.writebytes(path, data)


def tree(layer: FS, path: str = "/") -> Tree:
    """Return every entry below ``path`` mapped to its bytes, or ``None`` for a directory."""
    found: Tree = {}
    for entry, info in layer.walk.info(path):
        found[entry] = None if info.is_dir else layer.readbytes(entry)
    return found


def snapshot(layer: FS) -> Snapshot:
    """Record every entry of ``layer``: its bytes (``None`` for a directory) and modified time.

    Entries that cannot be read as files (a device node, say) are recorded
    without bytes. Two snapshots compare equal when nothing was written.
    """
    found: Snapshot = {}
    for path, info in layer.walk.info("/", namespaces=["details"]):
        data = None
        if not info.is_dir:
            try:
                data = layer.readbytes(path)
            except fs.errors.FSError:
                data = None
        found[path] = (data, info.modified.timestamp() if info.modified else None)
    return found


__all__ = ["Snapshot", "Tree", "fill", "snapshot", "tree"]
