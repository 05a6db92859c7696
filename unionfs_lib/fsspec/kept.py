"""The one cache of the fsspec front end: answers kept for one overlay generation.

``OverlayFileSystem`` keeps, per overlay, three kinds of answers: the info of
a path (:mod:`.infos`), the finished listing of a directory (:mod:`.listings`)
and where the bytes of a file live (:mod:`.reads`). All three are valid for
one value of :attr:`OverlayFS.generation <unionfs_lib.overlay.OverlayFS.generation>`,
which changes with every change the overlay makes (and with
``invalidate()``); they are kept here, in one :class:`KeptAnswers` with one
generation, one lock and one ``clear``: the first answer of a newer
generation drops every older one, of every kind, at once.
"""

from __future__ import annotations

import threading
import typing

if typing.TYPE_CHECKING:
    from ..overlay import OverlayFS

_Value = typing.TypeVar("_Value")


class KeptAnswers:
    """Answers about one overlay, by kind and key, valid for one overlay generation.

    Each kind is a plain ``dict`` (:attr:`infos`, :attr:`listings`,
    :attr:`reads`) whose values carry the generation they were made for as
    their first item (or ``generation`` attribute), so a hot path may read it
    without a call: a value of another generation than the overlay's is never
    used. Only :meth:`keep` and :meth:`clear` change the tables.
    """

    def __init__(self) -> None:
        """Start empty."""
        #: path -> (generation, info dict or ``None`` to ask the upper, path): :mod:`.infos`
        self.infos: dict[str, typing.Any] = {}
        #: directory -> :class:`~unionfs_lib.fsspec.listings.KeptListing`
        self.listings: dict[str, typing.Any] = {}
        #: path -> (generation, read call, layer path): :mod:`.reads`
        self.reads: dict[str, typing.Any] = {}
        self._generation = -1
        self._lock = threading.Lock()

    def keep(
        self, table: dict[str, _Value], key: str, generation: int, value: _Value, limit: int
    ) -> None:
        """Keep ``value``, made for ``generation``, under ``key`` in ``table`` (one of the kinds).

        An answer older than one already kept is stale and dropped; the first
        of a newer generation empties every table. A table holding ``limit``
        answers starts over.
        """
        with self._lock:
            if generation < self._generation:
                return  # the overlay changed while this was asked: it is stale already
            if generation > self._generation:
                self._clear()
                self._generation = generation
            if len(table) >= limit:
                table.clear()
            table[key] = value

    def clear(self) -> None:
        """Forget every kept answer, of every kind."""
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        """Empty every table (under the lock)."""
        self.infos.clear()
        self.listings.clear()
        self.reads.clear()


class KeptView:
    """One kind of the answers a :class:`KeptAnswers` keeps about one overlay.

    The common start of :class:`~unionfs_lib.fsspec.infos.InfoCache`,
    :class:`~unionfs_lib.fsspec.listings.ListingCache` and
    :class:`~unionfs_lib.fsspec.reads.ReadCache`.

    Arguments:
        overlay: the overlay the answers are about.
        kept: the front end's one cache, where the answers are kept (a new
            one of its own if ``None``).
        limit: how many answers of this kind to keep before starting over.

    """

    def __init__(self, overlay: OverlayFS, kept: KeptAnswers | None, limit: int) -> None:
        """Start empty; see the class docstring."""
        self._overlay = overlay
        self._kept = KeptAnswers() if kept is None else kept
        self._max = limit
