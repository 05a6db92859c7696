"""The lookup's caches: bounded LRU maps, and an index of the upper paths they hold.

:class:`LRUCache` keeps items within a weight budget (a directory listing
weighs its entry count). :class:`IndexedCache` is one keyed by
``(layer, path)`` that records its upper paths in an :class:`UpperPathIndex`,
so that the lookup can forget everything cached below an upper directory at
the cost of what is cached there, not of the whole cache.
"""

from __future__ import annotations

import collections
import typing

from ..model.records import UPPER

K = typing.TypeVar("K")
V = typing.TypeVar("V")


class LRUCache(typing.Generic[K, V]):
    """A mapping that forgets its least recently used items past a weight budget.

    Each item has a weight (1 by default; a directory listing weighs its entry
    count) and the cache keeps the total at or below ``budget``. An item heavier
    than the whole budget is simply not kept. Not thread-safe by itself: the
    overlay calls it under its own lock.
    """

    def __init__(self, budget: int) -> None:
        """Create an empty cache that holds at most ``budget`` units of weight."""
        self.budget = budget
        self._items: collections.OrderedDict[K, tuple[V, int]] = collections.OrderedDict()
        self._weight = 0

    def get(self, key: K) -> V | None:
        """Return the item for ``key`` (marking it recently used) or ``None``."""
        found = self._items.get(key)
        if found is None:
            return None
        self._items.move_to_end(key)
        return found[0]

    def put(self, key: K, value: V, weight: int = 1) -> None:
        """Store ``value`` under ``key``, evicting old items to stay in budget."""
        self.discard(key)
        if weight > self.budget:
            return
        self._items[key] = (value, weight)
        self._weight += weight
        while self._weight > self.budget:
            _, (_, old_weight) = self._items.popitem(last=False)
            self._weight -= old_weight

    def __contains__(self, key: object) -> bool:
        """Tell whether ``key`` is cached, without marking it recently used."""
        return key in self._items

    def discard(self, key: K) -> None:
        """Forget ``key`` if it is cached."""
        found = self._items.pop(key, None)
        if found is not None:
            self._weight -= found[1]

    def discard_where(self, predicate: typing.Callable[[K], bool]) -> None:
        """Forget every key for which ``predicate`` is true."""
        for key in [key for key in self._items if predicate(key)]:
            self.discard(key)

    def clear(self) -> None:
        """Forget everything."""
        self._items.clear()
        self._weight = 0

    def keys(self) -> list[K]:
        """Return the keys held now, least recently used first."""
        return list(self._items)

    @property
    def weight(self) -> int:
        """Total weight of the items held now."""
        return self._weight

    def __len__(self) -> int:
        """Return the number of items held."""
        return len(self._items)


class UpperPathIndex:
    """The upper paths cached by a resolver, grouped by parent directory.

    It lets a subtree be forgotten at the cost of what is cached inside it.
    It may still name paths the caches evicted since (forgetting those does
    nothing); it is rebuilt from the caches' keys when it grows past four
    times their number, so its size stays bounded.
    """

    def __init__(self) -> None:
        """Create an empty index; :attr:`caches` is set by the owner."""
        self.caches: tuple[LRUCache[tuple[int, str], typing.Any], ...] = ()
        self._children: dict[str, set[str]] = {}
        self._size = 0

    def add(self, path: str) -> None:
        """Record upper ``path`` (and its ancestors, up to one already recorded)."""
        added = False
        while path != "/":
            parent = path.rpartition("/")[0] or "/"
            siblings = self._children.setdefault(parent, set())
            if path in siblings:
                break
            siblings.add(path)
            self._size += 1
            added = True
            path = parent
        if added and self._size > 4 * sum(len(cache) for cache in self.caches) + 1024:
            self._rebuild()

    def pop_subtree(self, path: str) -> list[str]:
        """Forget and return every recorded path below ``path``."""
        found: list[str] = []
        stack = [path]
        while stack:
            children = self._children.pop(stack.pop(), set())
            self._size -= len(children)
            found.extend(children)
            stack.extend(children)
        if path != "/":
            siblings = self._children.get(path.rpartition("/")[0] or "/")
            if siblings is not None and path in siblings:
                siblings.discard(path)
                self._size -= 1
        return found

    def clear(self) -> None:
        """Forget every path."""
        self._children.clear()
        self._size = 0

    def _rebuild(self) -> None:
        """Index the upper keys the caches hold now, and nothing else."""
        self.clear()
        for cache in self.caches:
            for layer, path in cache.keys():
                if layer == UPPER:
                    self.add(path)


class IndexedCache(LRUCache[tuple[int, str], V]):
    """An :class:`LRUCache` keyed by ``(layer, path)`` that records upper paths in an index."""

    def __init__(self, budget: int, index: UpperPathIndex) -> None:
        """Create an empty cache of ``budget`` that records its upper keys in ``index``."""
        super().__init__(budget)
        self._index = index

    def put(self, key: tuple[int, str], value: V, weight: int = 1) -> None:
        """Store ``value`` and record an upper ``key``'s path in the index."""
        super().put(key, value, weight)
        if key[0] == UPPER:
            self._index.add(key[1])


__all__ = ["IndexedCache", "LRUCache", "UpperPathIndex"]
