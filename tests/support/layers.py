"""Helpers that build lower layers and check that they were never written."""

from __future__ import annotations

import hashlib
import io
import zipfile

from fs.base import FS
from fs.memoryfs import MemoryFS
from fs.zipfs import ZipFS

#: Top-level names the PyFilesystem2 test suite uses; the shadowing
#: configurations put lower entries at each so every test runs over whiteouts.
SUITE_NAMES = [
    "a", "ab", "abc", "b", "bananas", "bar", "bar.txt", "barbar", "barbaz", "baz", "baz2",
    "bin", "birthday.txt", "c", "dir", "dir1", "dir2", "doesnotexist", "egg", "empty",
    "file.bin", "folder", "foo", "foo.bin", "foo.py", "foo.pyc", "foo.txt", "foo1", "foo2",
    "foo3", "foobar", "foofoo", "foofoo.txt", "földér", "hashme.txt", "hello.bin", "iter.bin",
    "iter.txt", "link", "new.txt", "newfoo", "nodir", "notadir", "nothing", "one", "spam",
    "test.bin", "test.txt", "test2.txt", "text", "top.txt", "unicode", "world", "yolk",
    "☣.txt", "☭.txt",
]


def shadow_entries(flip: bool = False) -> dict[str, bytes | None]:
    """Return path -> bytes (file) or None (directory) for a shadowing lower.

    Alternate names are files and directory trees; ``flip`` swaps the choice,
    so two layers built with different ``flip`` disagree on every type.
    """
    entries: dict[str, bytes | None] = {}
    for index, name in enumerate(SUITE_NAMES):
        as_dir = (index % 2 == 0) != flip
        if as_dir:
            entries[f"/{name}"] = None
            entries[f"/{name}/bar"] = None
            entries[f"/{name}/bar/egg"] = b"lower egg of " + name.encode()
            entries[f"/{name}/test.txt"] = b"lower test of " + name.encode()
        else:
            entries[f"/{name}"] = b"lower file " + name.encode()
    return entries


def memory_layer(entries: dict[str, bytes | None]) -> MemoryFS:
    """Build a MemoryFS holding ``entries``."""
    layer = MemoryFS()
    fill(layer, entries)
    return layer


def fill(layer: FS, entries: dict[str, bytes | None]) -> None:
    """Write ``entries`` (path -> bytes or None for a directory) into ``layer``."""
    for path, data in sorted(entries.items()):
        if data is None:
            layer.makedirs(path, recreate=True)
        else:
            layer.writebytes(path, data)


def zip_bytes(entries: dict[str, bytes | None]) -> bytes:
    """Return a zip archive holding ``entries``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in sorted(entries.items()):
            name = path.lstrip("/")
            if data is None:
                archive.writestr(name + "/", b"")
            else:
                archive.writestr(name, data)
    return buffer.getvalue()


def zip_layer(entries: dict[str, bytes | None]) -> ZipFS:
    """Open an in-memory zip of ``entries`` as a read-only ZipFS."""
    return ZipFS(io.BytesIO(zip_bytes(entries)))


def content_hash(layer: FS) -> str:
    """Hash every path, type and file content of ``layer``."""
    digest = hashlib.sha256()
    for path, info in sorted(
        (path, info) for path, info in layer.walk.info("/", namespaces=["details"])
    ):
        digest.update(path.encode("utf-8", "surrogateescape"))
        if info.is_dir:
            digest.update(b"/")
        else:
            digest.update(layer.readbytes(path))
    return digest.hexdigest()


def remove_visible(overlay: FS, names: list[str]) -> None:
    """Remove each top-level name through the overlay (leaving whiteouts)."""
    for name in names:
        path = "/" + name
        if overlay.isdir(path):
            overlay.removetree(path)
        elif overlay.exists(path):
            overlay.remove(path)
