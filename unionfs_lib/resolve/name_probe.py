"""Name-by-name lookups: resolve one path without listing any directory.

The :class:`~unionfs_lib.resolve.resolver.Resolver` resolves a path by merging the
full listings of every directory on the way, which is the right trade for
browsing but reads a whole lower directory to answer for one name in it. A
:class:`NameProbe` answers the same question by asking each layer about the
one name only (the store's ``read_name``), following the
same rules: a whiteout or a non-directory stops a merge, an opaque directory
stops the layers beneath it, a redirect continues at its target. Its cost
is a handful of calls per layer per path component, whatever the size of the
directories, which is what :mod:`unionfs_lib.changesets.changes` needs to classify the
upper's entries against lowers of any size.

It reads the layers directly and caches nothing of its own (the opaque and
redirect flags come from the resolver's cache, which the overlay keeps
current), so it must run under the overlay's lock.
"""

from __future__ import annotations

import typing

import attrs
import fs.errors
from fs.base import FS

from ..model.paths import components, join_path, split_path
from ..model.records import ENTRY, UPPER, WHITEOUT, LayerRef, Node, ScanItem
from ..stores.whiteout_store import WhiteoutStore
from .merging import merge_listings
from .resolver import Resolver, merge_stack


def name_item(
    store: WhiteoutStore, layer: FS, parent: str, name: str, with_info: bool
) -> ScanItem | None:
    """Return what ``layer`` holds at ``name`` of ``parent``: an entry, a whiteout, or ``None``.

    A real entry wins over a whiteout beside it (as in a merge of listings).
    """
    found = store.read_name(layer, parent, name, with_info)
    if name in found.entries:
        info = found.infos.get(name) if found.infos is not None else None
        return ScanItem(ENTRY, name, found.entries[name], info)
    return ScanItem(WHITEOUT, name) if name in found.whiteouts else None


@attrs.define
class NameProbe:
    """Resolves single paths of an overlay's layers, name by name.

    ``scope`` arguments mean what they mean to the resolver: 0 for the
    overlay's merged view, 1 for the view of the lowers alone.
    """

    resolver: Resolver

    @property
    def store(self) -> WhiteoutStore:
        """The whiteout store the layers are read with."""
        return self.resolver.store

    def root(self, scope: int = UPPER) -> Node:
        """Return the merged root directory seen from layer ``scope`` down."""
        refs: list[LayerRef] = []
        for index in range(scope, len(self.resolver.layers)):
            if self.resolver.layers[index] is None:
                continue
            ref = LayerRef(index, "/")
            refs.append(ref)
            if self.resolver.flags(ref)[0]:
                break
        return Node("/", True, tuple(refs), "/" if scope == UPPER else None)

    def lookup(self, path: str, scope: int = UPPER) -> Node | None:
        """Return the node visible at canonical ``path``, or ``None``."""
        node: Node | None = self.root(scope)
        for name in components(path):
            if node is None or not node.is_dir:
                return None
            node = self.child(node, name, scope)
        return node

    def child(self, parent: Node, name: str, scope: int = UPPER) -> Node | None:
        """Resolve ``name`` inside directory ``parent`` (a node from this probe)."""
        path = join_path(parent.path, name)
        refs: list[LayerRef] = []
        first: ScanItem | None = None
        for ref in parent.refs:
            if ref.layer < scope:
                continue
            layer = self.resolver.reader(ref.layer)
            if layer is None:
                continue
            child_path = join_path(ref.path, name)
            try:
                item = name_item(self.store, layer, ref.path, name, ref.layer != UPPER)
            except fs.errors.ResourceNotFound:
                item = None
            if item is None:
                continue
            if item.kind != ENTRY:
                break
            if first is None:
                first = item
            elif not item.is_dir:
                break
            refs.append(LayerRef(ref.layer, child_path))
            if not item.is_dir:
                break
        if first is None:
            return None
        info = first.info if refs[0].layer != UPPER else None
        if not first.is_dir:
            return Node(path, False, (refs[0],), None, info)
        return self._resolve_dir(parent, path, refs, info)

    def _resolve_dir(
        self, parent: Node, path: str, candidates: list[LayerRef], info: typing.Any
    ) -> Node:
        """Build a directory node: stop at an opaque layer, follow a redirect."""

        def find_dir(found: str, scope: int) -> Node | None:
            node = self.lookup(found, scope)
            return node if node is not None and node.is_dir else None

        name = split_path(path)[1]
        refs, view = merge_stack(self.resolver.flags, find_dir, parent, name, candidates)
        return Node(path, True, tuple(refs), view, info if refs[0].layer != UPPER else None)

    def children(self, node: Node) -> list[str]:
        """Return the visible names of directory ``node``, sorted (its layers' listings, merged)."""
        resolver = self.resolver
        return sorted(merge_listings((ref, resolver.listing(ref)) for ref in node.refs))

    def walk(
        self,
        node: Node,
        scope: int = UPPER,
        enter: typing.Callable[[Node], bool] | None = None,
    ) -> typing.Iterator[Node]:
        """Yield every node beneath directory ``node`` (each directory's children, then theirs).

        ``enter``, if given, decides which directories are walked into (a
        directory it refuses, such as a symbolic link, is yielded alone).
        """
        pending = [node]
        while pending:
            parent = pending.pop()
            below: list[Node] = []
            for name in self.children(parent):
                child = self.child(parent, name, scope)
                if child is not None:
                    yield child
                    if child.is_dir and (enter is None or enter(child)):
                        below.append(child)
            pending.extend(reversed(below))
