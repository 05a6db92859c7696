"""Overlay paths: pure helpers on canonical ``/``-rooted path strings.

No I/O and no layers: joining, splitting and comparing the canonical paths
the overlay keys everything by (the part of the overlay's ``util.c`` that
works on names alone).
"""

from __future__ import annotations

from fs.path import abspath, normpath


def canonical(path: str) -> str:
    """Return ``path`` as an absolute, normalised overlay path (``/`` rooted)."""
    return abspath(normpath(path))


def join_path(base: str, name: str) -> str:
    """Join a directory path and one name without renormalising."""
    return base + name if base.endswith("/") else base + "/" + name


def split_path(path: str) -> tuple[str, str]:
    """Split a canonical path into ``(parent, name)``; the root gives ``("/", "")``."""
    if path == "/":
        return "/", ""
    parent, _, name = path.rpartition("/")
    return (parent or "/"), name


def components(path: str) -> list[str]:
    """Return the names along a canonical path, root excluded."""
    return [part for part in path.split("/") if part]


def is_same_or_below(path: str, ancestor: str) -> bool:
    """Tell whether canonical ``path`` is ``ancestor`` or lies beneath it."""
    if ancestor == "/":
        return True
    return path == ancestor or path.startswith(ancestor + "/")


__all__ = ["canonical", "components", "is_same_or_below", "join_path", "split_path"]
