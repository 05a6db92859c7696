"""Finished fsspec listings of directories that only lower layers hold.

``OverlayFileSystem.ls`` turns the overlay's merged directory into fsspec info
dicts, which costs about a microsecond per entry on every call. For a
directory that no upper entry touches the result cannot change while the
lowers do not (and the overlay assumes they do not), so it is kept, tagged
with the overlay's own merge of that directory (the child table of
:meth:`~unionfs_lib.lookup.Resolver.children`). Any change the overlay makes
in the directory (a create, a whiteout, a copy-up) makes the upper hold it and
drops the overlay's merge, and ``invalidate()`` drops every merge: either way
the tag no longer matches and the listing is rebuilt.
"""

from __future__ import annotations

import threading
import typing

import fs.errors

from ..entry import UPPER
from ..superblock import overlay_super

if typing.TYPE_CHECKING:
    from ..overlay import OverlayFS

#: How many directories' listings are kept before the cache starts over.
MAX_DIRECTORIES = 4096


class ListingCache:
    """fsspec listings of lower-only directories, valid while the overlay's merge is.

    Arguments:
        overlay: the overlay whose merges tag the listings.
        max_directories: how many listings to keep before starting over.

    """

    def __init__(self, overlay: OverlayFS, max_directories: int = MAX_DIRECTORIES) -> None:
        """Start empty; see the class docstring."""
        self._overlay = overlay
        self._max = max_directories
        self._entries: dict[str, tuple[object, list[dict[str, typing.Any]]]] = {}
        self._lock = threading.Lock()

    def token(self, path: str) -> object | None:
        """Return the overlay's current merge of ``path`` if only lowers hold it, else ``None``."""
        overlay = self._overlay
        sb = overlay_super(overlay)
        with sb.lock:
            try:
                canonical = overlay.validatepath(path)
                resolver = sb.resolver
                node = resolver.lookup(canonical)
            except (fs.errors.FSError, TypeError, ValueError):
                return None  # not cacheable; the listing call itself reports the error
            if node is None or not node.is_dir or not node.refs or node.refs[0].layer == UPPER:
                return None
            return resolver.children(node)

    def get(self, path: str) -> list[dict[str, typing.Any]] | None:
        """Return the kept listing of ``path`` if the overlay's merge is still the same."""
        kept = self._entries.get(path)
        if kept is None:
            return None
        token = self.token(path)
        if token is None or token is not kept[0]:
            with self._lock:
                self._entries.pop(path, None)
            return None
        return kept[1]

    def put(self, path: str, token: object | None, entries: list[dict[str, typing.Any]]) -> None:
        """Keep ``entries`` for ``path`` if ``token`` (from before the listing) still holds."""
        if token is None or self.token(path) is not token:
            return
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[path] = (token, entries)

    def clear(self) -> None:
        """Forget every kept listing."""
        with self._lock:
            self._entries.clear()
