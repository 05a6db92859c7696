"""The fsspec info of each path asked through ``OverlayFileSystem.info``.

``info`` through the overlay takes the overlay's lock, checks the path,
resolves it and builds its info: a few microseconds, more than fsspec's local
filesystem takes for a ``stat``. What the answer is made of is kept per path,
tagged with the overlay's :attr:`~unionfs_lib.overlay.OverlayFS.generation`
(which changes with every change the overlay makes, and with
``invalidate()``), in the front end's one cache (:mod:`.kept`), as the
listings of :mod:`unionfs_lib.fsspec.listings` are:

* an entry only lower layers provide cannot change while the generation does
  not, so its finished info dict is kept (and copied for each caller);
* an entry the upper holds may grow through an open handle or get new times
  without any change to its directory, so only *where* to ask is kept: the
  upper's own ``getinfo`` answers on every call (the overlay's, for a
  metadata-only copy-up whose size comes from the lower data).
"""

from __future__ import annotations

import typing

import fs.errors

from .kept import KeptAnswers, KeptView
from .listings import DETAILS, entry_info, is_plain

if typing.TYPE_CHECKING:
    from ..overlay import OverlayFS

#: How many paths' infos are kept before the cache starts over.
MAX_PATHS = 65536


class InfoCache(KeptView):
    """fsspec info dicts of overlay paths, valid for one overlay generation.

    Arguments:
        overlay: the overlay whose entries are described.
        kept: the front end's one cache, where the answers are kept.
        max_paths: how many paths to keep before starting over.

    """

    def __init__(
        self, overlay: OverlayFS, kept: KeptAnswers | None = None, max_paths: int = MAX_PATHS
    ) -> None:
        """Start empty; see the class docstring."""
        super().__init__(overlay, kept, max_paths)
        #: path -> (generation, the kept dict or ``None`` to ask the upper, the path)
        self._entries: dict[str, tuple[int, dict[str, typing.Any] | None, str]] = self._kept.infos

    def __len__(self) -> int:
        """Return how many paths are kept (some possibly of an older generation)."""
        return len(self._entries)

    def get(self, key: str) -> dict[str, typing.Any] | None:
        """Return a new info dict for ``key`` as kept, or ``None`` to ask the overlay.

        ``None`` also when the overlay changed since, is closed, or the upper
        could not answer (the overlay then reports it in its own words).
        """
        kept = self._entries.get(key)
        overlay = self._overlay
        if kept is None or kept[0] != overlay.generation or overlay.isclosed():
            return None
        if kept[1] is not None:
            return dict(kept[1])
        upper = overlay.upper
        if upper is None:
            return None
        try:
            return entry_info(kept[2], upper.getinfo(kept[2], DETAILS))
        except fs.errors.FSError:
            return None

    def load(self, key: str, path: str) -> dict[str, typing.Any]:
        """Return the info of ``path`` from the overlay, and keep what it is made of under ``key``.

        Raises:
            fs.errors.FSError: as ``OverlayFS.getinfo`` does.

        """
        overlay = self._overlay
        generation = overlay.generation
        found = entry_info(path, overlay.getinfo(path, DETAILS))
        backing = overlay.which(path)
        if overlay.generation == generation and is_plain(backing):  # nothing changed meanwhile
            answer = None if backing.index == 0 else dict(found)
            self._kept.keep(self._entries, key, generation, (generation, answer, path), self._max)
        return found

    def clear(self) -> None:
        """Forget every kept answer (of every kind: the front end keeps one cache)."""
        self._kept.clear()
