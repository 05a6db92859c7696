"""Helpers for the fsspec tests: layers on fsspec's memory and local filesystems."""

from __future__ import annotations

import uuid

import fsspec

from unionfs_lib.fsspec import FSSpecFS

from .layers import fill

#: Names fsspec's abstract test-suite creates at its root.
ABSTRACT_SUITE_NAMES = ["source", "target", "src", "newdir", "subdir", "file", "dummy"]


def hidden_entries(names: list[str]) -> dict[str, bytes | None]:
    """Lower entries at every name, files and trees alternately."""
    entries: dict[str, bytes | None] = {}
    for index, name in enumerate(names):
        if index % 2:
            entries[f"/{name}"] = b"lower file " + name.encode()
        else:
            entries[f"/{name}"] = None
            entries[f"/{name}/subdir"] = None
            entries[f"/{name}/subdir/nestedfile"] = b"lower nested of " + name.encode()
            entries[f"/{name}/file1"] = b"lower file1 of " + name.encode()
    return entries


def whiteouts_for(names: list[str]) -> dict[str, bytes | None]:
    """Whiteout markers (the default ``.wh.<name>`` store) hiding every name."""
    return {f"/.wh.{name}": b"" for name in names}


def memory_prefix() -> str:
    """Return a fresh directory of fsspec's (process-wide) memory filesystem."""
    return f"/unionfs-test-{uuid.uuid4().hex}"


def fsspec_memory_layer(prefix: str, entries: dict[str, bytes | None]) -> FSSpecFS:
    """Fill ``prefix`` of fsspec's memory filesystem and return it as a read-only layer."""
    memory = fsspec.filesystem("memory")
    memory.makedirs(prefix, exist_ok=True)
    writer = FSSpecFS(memory, prefix)
    fill(writer, entries)
    return FSSpecFS(memory, prefix, read_only=True)


def local_layer(root: str, entries: dict[str, bytes | None]) -> FSSpecFS:
    """Fill directory ``root`` through fsspec's local filesystem; return it read-only."""
    local = fsspec.filesystem("file")
    local.makedirs(root, exist_ok=True)
    fill(FSSpecFS(local, root), entries)
    return FSSpecFS(local, root, read_only=True)
