"""One overlay per layer set, shared by every ``OverlayFileSystem`` over it.

pandas, ``fsspec.open`` and dask build a new filesystem instance for every
call from ``storage_options``, while the caller may hold one too. Two
``OverlayFS`` objects over the same upper would each keep their own lookups
(where a file's bytes live, that a name is absent, a merged listing), so one
would answer old bytes or ``FileNotFoundError`` for what the other just wrote.
Every instance built from the same layer specs and overlay options therefore
serves the same :class:`Served`: one overlay and one set of the front end's
caches, all tagged with that overlay's generation.

fsspec's own instance cache cannot do this: it keys instances by thread as
well, and tells layer objects apart only by their ``repr``. Here a layer given
as a string or a mapping is told apart by its value, any other object (an FS,
an fsspec filesystem, a session in ``storage_options``) by its identity; the
shared entry holds those objects, so an identity is not reused while the
entry lives. The entry lives as long as some instance uses it; a closed
overlay is replaced by a new one. A new instance joining an overlay in use
makes it forget what it cached about the layers, so it sees changes made
behind the overlay's back, as an overlay of its own would have.
"""

from __future__ import annotations

import threading
import typing
import weakref

import attrs

from ..overlay import OverlayFS
from .infos import InfoCache
from .kept import KeptAnswers
from .listings import ListingCache
from .reads import ReadCache

#: A hashable description of layer specs and options.
Key = typing.Tuple[typing.Any, ...]


@attrs.define(eq=False, weakref_slot=True)
class Served:
    """An overlay and the front end's caches over it.

    Attributes:
        overlay: the overlay every instance of this layer set serves.
        listings: kept merged listings (:mod:`.listings`).
        reads: kept read locations (:mod:`.reads`).
        infos: kept info answers (:mod:`.infos`); all three keep their
            answers in one :class:`~unionfs_lib.fsspec.kept.KeptAnswers`.
        holds: the layer objects the key names by identity, kept alive.

    """

    overlay: OverlayFS
    listings: ListingCache
    reads: ReadCache
    infos: InfoCache
    holds: list[object] = attrs.field(factory=list)

    @classmethod
    def over(cls, overlay: OverlayFS, holds: list[object] | None = None) -> Served:
        """Return fresh caches over ``overlay``."""
        kept = KeptAnswers()
        return cls(
            overlay,
            ListingCache(overlay, kept),
            ReadCache(overlay, kept),
            InfoCache(overlay, kept),
            holds or [],
        )


def freeze(value: object, holds: list[object]) -> typing.Hashable:
    """Return a hashable stand-in for ``value``; note in ``holds`` what is named by identity."""
    if value is None or isinstance(value, (str, bytes, int, float, bool)):
        return (type(value).__name__, value)
    if isinstance(value, typing.Mapping):
        items = sorted((str(key), freeze(item, holds)) for key, item in value.items())
        return ("mapping", tuple(items))
    if isinstance(value, (list, tuple)):
        return ("sequence", tuple(freeze(item, holds) for item in value))
    holds.append(value)
    return ("object", id(value))


class SharedOverlays:
    """The :class:`Served` of each layer set in use (see the module docstring)."""

    def __init__(self) -> None:
        """Start with no layer set in use."""
        self._served: weakref.WeakValueDictionary[Key, Served] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Return how many layer sets are in use."""
        return len(self._served)

    def get(
        self,
        specs: tuple[object, ...],
        build: typing.Callable[[], OverlayFS],
    ) -> Served:
        """Return the :class:`Served` for ``specs``, calling ``build`` for a new overlay.

        An overlay already in use forgets what it cached about the layers
        (``invalidate``), so that a new instance sees them as they are now,
        as one with an overlay of its own would.
        """
        holds: list[object] = []
        key = typing.cast(Key, freeze(specs, holds))
        with self._lock:
            found = self._served.get(key)
            if found is not None and not found.overlay.isclosed():
                found.overlay.invalidate()
                return found
            served = Served.over(build(), holds)
            self._served[key] = served
            return served


#: The process's shared overlays.
SHARED = SharedOverlays()
