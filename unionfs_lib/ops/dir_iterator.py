"""Readdir: merged directory listings and iteration with stable cookies.

This is the overlay's ``readdir.c``. A merged directory lists every visible
name once, in sorted order: sorted order is what makes cookies stable. The
cookie of an entry is derived from its name alone, so resuming after a cookie
means "the first visible name sorting after this one". That holds across
calls, across reopening the overlay and under concurrent change (an entry
present throughout is returned exactly once, no name ever twice); it needs no
per-cookie state, so no sequence of create/remove/seek can make the overlay
hold more memory (the telldir/seekdir denial of service of the LSF 2008
stacking notes).

Iteration is done in batches of at most :attr:`DirIterator.batch_size` names.
A directory whose merged table is cached is served from it. Any other is
streamed: each layer's directory is scanned once per batch, keeping only the
``batch_size`` smallest names after the cookie in a bounded heap, so the
memory an iteration needs is ``O(batch_size * layers)`` whatever the size of
the directory. After the first batch, a directory small enough for the lookup
cache (``Resolver.cacheable_entries``) is merged once and served from the
cache; a larger one stays streamed, at the price of one scan of each layer per
batch (``O(n^2 / batch_size)`` entries read for ``n`` entries).
"""

from __future__ import annotations

import bisect
import heapq
import typing

import attrs
from fs.base import FS

from ..model.packed_info import pack_info
from ..model.records import (
    ENTRY,
    RECORD,
    UPPER,
    VACATED,
    WHITEOUT,
    Batch,
    Candidate,
    DirListing,
    LayerRef,
    Node,
)
from ..model.validators import flag, whole_number
from ..resolve.merging import merge_listings
from ..stores.whiteout_store import WhiteoutStore

if typing.TYPE_CHECKING:
    from .strategies import OverlayContext

COOKIE_PREFIX = "n:"
DEFAULT_BATCH_SIZE = 4096
#: The smallest ``batch_size`` accepted.
MIN_BATCH_SIZE = 4
#: The largest ``batch_size`` accepted: a batch's entries are held in memory.
MAX_BATCH_SIZE = 1 << 20
_RELEVANT = frozenset({ENTRY, WHITEOUT, RECORD, VACATED})


def make_cookie(name: str) -> str:
    """Return the cookie of the entry called ``name``."""
    return COOKIE_PREFIX + name


def cookie_name(cookie: str) -> str:
    """Return the name a cookie stands for; raise ``ValueError`` if it is not one."""
    if not isinstance(cookie, str) or not cookie.startswith(COOKIE_PREFIX):
        raise ValueError(f"not a directory cookie: {cookie!r}")
    return cookie[len(COOKIE_PREFIX) :]


@attrs.frozen
class _NameBatch:
    """A batch in names: entries, completion and the largest name considered."""

    entries: list[tuple[str, Node]]
    done: bool
    resume_after: str | None


@attrs.frozen
class DirIterator:
    """The default directory iterator: sorted names, name-derived cookies.

    Attributes:
        batch_size: names per batch, from 4 to :data:`MAX_BATCH_SIZE`;
            bounds iteration memory.
        use_cache: serve directories whose merged table is cached from it;
            with ``False`` every batch is streamed from the layers.
    """

    batch_size: int = attrs.field(
        default=DEFAULT_BATCH_SIZE, validator=whole_number(MIN_BATCH_SIZE, MAX_BATCH_SIZE)
    )
    use_cache: bool = attrs.field(default=True, validator=flag)

    def listdir(self, sb: OverlayContext, node: Node) -> list[str]:
        """Return the visible names of directory ``node``, sorted."""
        return list(sb.resolver.names(node))

    def page(self, sb: OverlayContext, node: Node, start: int, end: int) -> list[str]:
        """Return names ``start`` to ``end`` (exclusive) of the sorted listing."""
        return sb.resolver.names(node)[start:end]

    def next_batch(self, sb: OverlayContext, node: Node, cookie: str | None) -> Batch:
        """Return the next visible entries of ``node`` whose names sort after ``cookie``'s.

        Raises ``ValueError`` for a string that is not one of this iterator's
        cookies.
        """
        after = None if cookie is None else cookie_name(cookie)
        found = self._batch_after(sb, node, after)
        resume = found.resume_after
        return Batch(
            [(make_cookie(name), child) for name, child in found.entries],
            found.done,
            None if resume is None else make_cookie(resume),
        )

    def _batch_after(self, sb: OverlayContext, node: Node, after: str | None) -> _NameBatch:
        """Return the next visible entries of ``node`` whose names sort after ``after``."""
        cached = sb.resolver.cached_names(node) if self.use_cache else None
        if cached is None:
            window = self._stream_window(sb, node, after)
            if not self.use_cache or window.scanned > sb.resolver.cacheable_entries:
                return self._resolve_window(sb, node, window)
            # small enough for the cache: merged once (with the lowers' info
            # from the same scan), then every batch is served from it
            cached = sb.resolver.names(node)
        start = 0 if after is None else bisect.bisect_right(cached, after)
        names = cached[start : start + self.batch_size]
        children = sb.resolver.children(node)
        in_order = sb.resolver.children_in_name_order(node, build=True)
        candidates = in_order[start : start + len(names)] if len(in_order) == len(cached) else ()
        entries = []
        for index, name in enumerate(names):
            candidate = candidates[index] if candidates else children.get(name)
            # a lower file's node, once built, is kept in the table: no lookup
            child = candidate.node if candidate is not None else None
            if child is None:
                child = sb.resolver.child(node, name)
            if child is not None:
                entries.append((name, child))
        resume = names[-1] if names else after
        return _NameBatch(entries, start + len(names) >= len(cached), resume)

    def _stream_batch(
        self, sb: OverlayContext, node: Node, after: str | None
    ) -> tuple[_NameBatch, int]:
        """Scan every layer once, keeping a bounded window of the smallest names.

        Returns the batch and how many items the scan saw in all layers.
        """
        window = self._stream_window(sb, node, after)
        return self._resolve_window(sb, node, window), window.scanned

    def _stream_window(self, sb: OverlayContext, node: Node, after: str | None) -> _Window:
        """Scan every layer once into a merged window of the smallest names after ``after``."""
        windows: list[tuple[LayerRef, FS, list[tuple[str, str, bool]]]] = []
        bound: str | None = None
        counter = _Counter()
        for ref in node.refs:
            layer = sb.layer(ref.layer)
            scan = _items_after(sb.store, layer, ref.path, after, counter)
            smallest = heapq.nsmallest(self.batch_size, scan)
            if len(smallest) == self.batch_size:
                last = smallest[-1][0]
                bound = last if bound is None else min(bound, last)
            windows.append((ref, layer, smallest))
        pairs = []
        records: dict[str, bytes] = {}
        generations: dict[str, int] = {}
        resume = after
        for ref, layer, items in windows:
            inside = [item for item in items if bound is None or item[0] < bound]
            if inside and (resume is None or inside[-1][0] > resume):
                resume = inside[-1][0]
            pairs.append((ref, _window_listing(inside)))
            if ref.layer == UPPER:
                names = [name for name, kind, _ in inside if kind == RECORD]
                records = _read_records(sb.store, layer, ref.path, names)
                vacated = [name for name, kind, _ in inside if kind == VACATED]
                generations = _read_vacancies(sb.store, layer, ref.path, vacated)
        merged = merge_listings(pairs)
        return _Window(merged, records, bound is None, resume, counter.count, generations)

    def _resolve_window(self, sb: OverlayContext, node: Node, window: _Window) -> _NameBatch:
        """Resolve the names of a streamed window into a batch (one ``getinfo`` per lower entry)."""
        merged, records = window.merged, window.records
        entries = []
        for name in sorted(merged):
            candidate = merged[name]
            top = candidate.refs[0]
            if top.layer != UPPER:
                candidate.info = pack_info(sb.layer(top.layer).getinfo(top.path, ["details"]))
            generation = 0
            if top.layer == UPPER:
                record = sb.resolver.parse_record(records.get(name))
                generation = window.generations.get(name, 0)
            else:
                record = sb.resolver.lower_record(candidate)
            child = sb.resolver.resolve(node, name, candidate, record, generation)
            entries.append((name, child))
        return _NameBatch(entries, window.done, window.resume_after)


@attrs.frozen
class _Window:
    """One streamed window of a directory, merged but not resolved yet."""

    merged: dict[str, Candidate]
    records: dict[str, bytes]
    done: bool
    resume_after: str | None
    #: how many items the scan saw in all layers
    scanned: int
    #: the generations of the upper's vacated names in the window
    generations: dict[str, int] = attrs.field(factory=dict)


class _Counter:
    """Counts the items a streaming scan saw."""

    def __init__(self) -> None:
        self.count = 0


def _items_after(
    store: WhiteoutStore, layer: FS, path: str, after: str | None, counter: _Counter
) -> typing.Iterator[tuple[str, str, bool]]:
    """Yield ``(name, kind, is_dir)`` for the items of a layer directory after ``after``."""
    for item in store.scan_dir(layer, path, with_info=False):
        counter.count += 1
        if item.kind in _RELEVANT and (after is None or item.name > after):
            yield (item.name, item.kind, item.is_dir)


def _read_records(
    store: WhiteoutStore, layer: FS, path: str, names: list[str]
) -> dict[str, bytes]:
    """Read the records of ``names`` (none to read costs nothing)."""
    return store.read_records(layer, path, names) if names else {}


def _read_vacancies(
    store: WhiteoutStore, layer: FS, path: str, names: list[str]
) -> dict[str, int]:
    """Read the generations of vacated ``names`` (none to read costs nothing)."""
    read = getattr(store, "read_vacancies", None)
    return read(layer, path, names) if names and read is not None else {}


def _window_listing(items: list[tuple[str, str, bool]]) -> DirListing:
    """Build a partial listing from the scanned items inside a batch's window."""
    entries = {name: is_dir for name, kind, is_dir in items if kind == ENTRY}
    whiteouts = frozenset(name for name, kind, _ in items if kind == WHITEOUT)
    return DirListing(entries, None, whiteouts)
