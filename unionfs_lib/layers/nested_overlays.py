"""Layer parameters: flattening nested overlays into one layer list.

Like ``lowerdir=`` parsing in Linux's ``params.c``, this turns what the
caller passed into the layer list the overlay works on. An ``OverlayFS``
given as the bottom-most lower of another contributes its own upper and
lowers instead of itself, so an overlay nested 500 deep is one overlay over
500 layers: lookups cost one cached step instead of 500 nested calls, and no
recursion limit is reached.

Flattening keeps the view identical when:

* the nested overlay is the *last* lower, so nothing lies beneath it (a
  whiteout or opaque directory in its upper hides only its own lowers, and a
  redirect there resolves against its own lowers, exactly as when flattened);
* it uses an equal whiteout store, so its upper's markers (whiteouts, opaque
  directories, redirects) mean the same when this overlay reads them;
* its metadata-only copy-ups are honoured: their records name data layers
  counted from the nested overlay's upper, which the resolver shifts by that
  layer's position (see :attr:`FlatLayers.record_layers`).

Anything else is kept as one opaque lower layer, read through its own
``OverlayFS`` methods. Ownership does not change: with ``auto_close`` the
outer overlay closes the nested overlay object (which closes its layers if
its own ``auto_close`` says so), never the borrowed layers directly.
"""

from __future__ import annotations

import typing

import attrs
from fs.base import FS

from ..ops.strategies import Strategies
from ..ops.superblock import OverlaySuper, superblock_of
from ..stores.whiteout_store import WhiteoutStore


@attrs.frozen
class FlatLayers:
    """The lower layers after flattening.

    Attributes:
        lowers: the layers the overlay reads, top-most first.
        given: the lowers as the caller gave them (what
            :attr:`OverlayFS.lowers <unionfs_lib.OverlayFS.lowers>` shows and
            ``describe`` records, so a round trip rebuilds the same nesting).
        nested: the nested overlays that were flattened (they stay the
            caller's objects; the outer overlay closes these, not their layers).
        borrowed: ``id()`` of every layer taken from a nested overlay.
        record_layers: ``id()`` of every layer that was a nested overlay's
            upper, whose metadata-only copy-up records count data layers from
            that layer's own position.

    """

    lowers: tuple[FS, ...]
    given: tuple[FS, ...] = ()
    nested: tuple[FS, ...] = ()
    borrowed: frozenset[int] = frozenset()
    record_layers: frozenset[int] = frozenset()


class LayeredFS(typing.Protocol):
    """What describing an overlay reads of it: its layers as given, and strategies.

    ``OverlayFS`` is one; the description code (:mod:`unionfs_lib.layers.description`,
    :mod:`unionfs_lib.layers.recorded_fingerprints`) is typed against this, not the class.
    """

    @property
    def upper(self) -> FS | None:
        """The writable upper layer, or ``None``."""

    @property
    def lowers(self) -> tuple[FS, ...]:
        """The lower layers as given, top-most first."""

    @property
    def whiteouts(self) -> WhiteoutStore:
        """The whiteout store."""

    @property
    def strategies(self) -> Strategies:
        """The three strategy objects."""


def nested_super(layer: FS, store: WhiteoutStore) -> OverlaySuper | None:
    """Return the superblock of ``layer`` if it is an overlay that can be flattened."""
    sb = superblock_of(layer)
    if sb is None or layer.isclosed():
        return None
    if sb.store != store:
        return None
    return sb


def flatten_lowers(lowers: typing.Sequence[FS], store: WhiteoutStore) -> FlatLayers:
    """Replace a flattenable overlay at the bottom of ``lowers`` by its layers.

    A nested overlay's own layer list is already flat (it was flattened when
    it was built), so one step suffices whatever the depth.
    """
    layers = tuple(lowers)
    if not layers:
        return FlatLayers(layers, layers)
    sb = nested_super(layers[-1], store)
    if sb is None:
        return FlatLayers(layers, layers)
    inner = typing.cast(typing.Any, layers[-1])
    inner_flat: FlatLayers = getattr(inner, "_flat", FlatLayers(sb.lowers))
    taken = tuple(layer for layer in (sb.upper, *sb.lowers) if layer is not None)
    records = set(inner_flat.record_layers)
    if sb.upper is not None:
        records.add(id(sb.upper))
    return FlatLayers(
        lowers=(*layers[:-1], *taken),
        given=layers,
        nested=(layers[-1],),
        borrowed=frozenset(id(layer) for layer in taken),
        record_layers=frozenset(records),
    )


__all__ = ["FlatLayers", "LayeredFS", "flatten_lowers", "nested_super"]
