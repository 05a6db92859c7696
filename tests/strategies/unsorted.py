"""A directory iterator in Linux overlayfs's own order, with positional cookies.

:class:`LayerOrderIterator` is written against
:class:`unionfs_lib.ops.strategies.DirIteratorStrategy` alone. Where the default
iterator sorts names and derives each cookie from a name, this one lists a
merged directory as overlayfs's ``readdir`` does: the upper's entries first,
in the upper's own listing order, then each lower's entries not already
seen, top-most lower first, without sorting names. The merged child table
of the lookup (``sb.resolver.children``) keeps each layer's listing order
(names a change adds come last), so grouping its names by the layer that
holds them, stably, gives that order.

A cookie names a position, not a name: ``lo:<layer>:<count>`` means "the
first ``count`` entries that layer ``layer`` contributes are done". That is
the kernel's idea of a directory offset in a merged directory (a position in
its cached list), kept small enough to need no state between calls.
"""

from __future__ import annotations

import typing

import attrs

from unionfs_lib.model.records import Batch, Node
from unionfs_lib.ops.strategies import OverlayContext

COOKIE_PREFIX = "lo:"
DEFAULT_BATCH_SIZE = 256


@attrs.frozen
class LayerPosition:
    """A resume point: how many of one layer's entries were returned.

    Attributes:
        layer: the layer number (0 the upper, 1..N the lowers) being listed.
        done: how many entries that layer contributes were returned already.
    """

    layer: int
    done: int

    def encode(self) -> str:
        """Return the cookie for this position."""
        return f"{COOKIE_PREFIX}{self.layer}:{self.done}"

    @classmethod
    def decode(cls, cookie: str) -> LayerPosition:
        """Parse a cookie; raise ``ValueError`` if it is not one of ours."""
        if not isinstance(cookie, str) or not cookie.startswith(COOKIE_PREFIX):
            raise ValueError(f"not a directory cookie: {cookie!r}")
        layer, separator, done = cookie[len(COOKIE_PREFIX) :].partition(":")
        if not (separator and layer.isdigit() and done.isdigit()):
            raise ValueError(f"not a directory cookie: {cookie!r}")
        return cls(int(layer), int(done))

    def is_after(self, layer: int, index: int) -> bool:
        """Tell whether entry ``index`` of ``layer``'s contribution is still to come."""
        return layer > self.layer or (layer == self.layer and index >= self.done)


@attrs.frozen
class LayerOrderIterator:
    """Overlayfs's order (upper first, then each lower's new names), positional cookies.

    Guarantees, while the directory does not change: every visible name once,
    the same order for :meth:`listdir`, :meth:`page` and :meth:`next_batch`,
    and cookies that resume exactly, across calls and across reopening, as
    long as each layer lists its directory in the same order each time
    (true of MemoryFS, zip and tar layers, and of an unchanged OS directory).

    Under concurrent change it guarantees less than the default iterator,
    which resumes by name. A cookie counts entries within one layer's
    contribution, so a change that adds or removes names of that
    contribution shifts the count: an entry may then be skipped or returned
    twice. In particular, while the upper's entries are being returned any
    create or remove in the directory may do that, and a lower entry copied
    up, created over or removed during the iteration may be missed or
    repeated. Changes to other layers' contributions (say, a new upper-only
    name while the lowers' entries are being returned) do not disturb it.
    What always holds: every batch advances, so an iteration ends; only
    names visible when a batch is read are returned; a malformed cookie
    raises ``ValueError``; a cookie past the end simply ends the iteration.

    Attributes:
        batch_size: entries per batch; nothing is kept between batches (the
            cookie is the whole state), so memory does not grow with the
            number of iterations.
    """

    batch_size: int = attrs.field(default=DEFAULT_BATCH_SIZE, validator=attrs.validators.ge(1))

    def listdir(self, sb: OverlayContext, node: Node) -> list[str]:
        """Return the visible names of ``node``: the upper's first, then each lower's."""
        return [name for _, _, name in _layer_order(sb, node)]

    def page(self, sb: OverlayContext, node: Node, start: int, end: int) -> list[str]:
        """Return names ``start`` to ``end`` (exclusive) of :meth:`listdir`."""
        return self.listdir(sb, node)[start:end]

    def next_batch(self, sb: OverlayContext, node: Node, cookie: str | None) -> Batch:
        """Return the next entries of ``node`` after the position ``cookie`` names.

        Raises ``ValueError`` for a string that is not one of this iterator's
        cookies.
        """
        start = None if cookie is None else LayerPosition.decode(cookie)
        pending = [
            (layer, index, name)
            for layer, index, name in _layer_order(sb, node)
            if start is None or start.is_after(layer, index)
        ]
        taken = pending[: self.batch_size]
        if not taken:
            return Batch([], True, None)
        entries: list[tuple[str, Node]] = []
        for layer, index, name in taken:
            child = sb.resolver.child(node, name)
            if child is not None:
                entries.append((LayerPosition(layer, index + 1).encode(), child))
        if len(pending) <= self.batch_size:
            return Batch(entries, True, None)
        last_layer, last_index, _ = taken[-1]
        return Batch(entries, False, LayerPosition(last_layer, last_index + 1).encode())


def _layer_order(sb: OverlayContext, node: Node) -> typing.Iterator[tuple[int, int, str]]:
    """Yield ``(layer, index, name)`` for each visible name of ``node`` in listing order.

    A name's layer is the top-most layer holding it; its index counts the
    names that layer contributed before it.
    """
    counts: dict[int, int] = {}
    children = sb.resolver.children(node).items()
    by_layer = sorted(children, key=lambda item: item[1].refs[0].layer)  # stable
    for name, candidate in by_layer:
        layer = candidate.refs[0].layer
        index = counts.get(layer, 0)
        counts[layer] = index + 1
        yield layer, index, name


__all__ = ["LayerOrderIterator", "LayerPosition"]
