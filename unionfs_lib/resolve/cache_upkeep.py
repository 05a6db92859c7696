"""Cache upkeep: keeping the resolver's caches right after changes.

Lower layers are read-only, so what is read from them stays true; the
overlay's own changes update the caches in place, name by name
(:meth:`CacheUpkeep.refresh`), so a change costs the same in any
directory; :meth:`CacheUpkeep.invalidate` and :meth:`CacheUpkeep.clear`
drop them after changes the overlay did not make. Each of the three gives
the resolver a new :attr:`~unionfs_lib.resolve.resolver.Resolver.generation`.
"""

from __future__ import annotations

import bisect
import itertools
import typing

import attrs
from fs.base import FS

from ..host.layer_io import folds_case
from ..model.paths import is_same_or_below, join_path, split_path
from ..model.records import UPPER, Candidate, DirListing, LayerRef, MergedDir, Node
from .merged_table import MergedTable
from .merging import merge_listings, name_listing

if typing.TYPE_CHECKING:
    from ..stores.whiteout_store import WhiteoutStore
    from .caches import LRUCache, UpperPathIndex
    from .link_index import LinkIndex

#: Source of :attr:`Resolver.generation` values, shared by every resolver so
#: that a resolver built to replace another never repeats one of its values.
_GENERATIONS = itertools.count(1)


class CacheUpkeep:
    """The cache upkeep of a :class:`~unionfs_lib.resolve.resolver.Resolver`.

    A part of the resolver (it holds no state of its own): it updates or
    drops what the resolver's caches hold, and moves its generation on.
    """

    if typing.TYPE_CHECKING:  # what the part uses of the resolver
        layers: tuple[FS | None, ...]
        store: WhiteoutStore
        generation: int
        _listings: LRUCache[tuple[int, str], DirListing]
        _dirs: LRUCache[tuple[int, str], MergedDir]
        _flags: LRUCache[tuple[int, str], tuple[bool, str | None]]
        _memo: LRUCache[tuple[int, str], typing.Any]
        _links: LinkIndex
        _readers: dict[int, FS]
        _below: UpperPathIndex

        def listing(self, ref: LayerRef) -> DirListing:
            """See :meth:`Resolver.listing`."""

        def dir_node(self, path: str, scope: int = UPPER) -> Node | None:
            """See :meth:`Resolver.dir_node`."""

    else:
        __slots__ = ()  # no state of its own: the resolver's slots hold it

    def refresh(
        self, path: str, subtree: bool = False, now: DirListing | None = None
    ) -> None:
        """Bring the caches up to date after the overlay itself changed upper ``path``.

        The overlay calls this after it created, removed, whited out, renamed
        or copied up the entry at ``path``, or changed its markers. Only what
        depends on that entry is touched, so the cost does not grow with the
        size of its directory: the store reads ``path``'s name alone again
        (a few calls on the upper), which updates the parent's cached upper
        listing and merged child table in place, sorted names included; what
        was cached for ``path`` itself (with ``subtree``, also below it) is
        forgotten. A directory that was just copied up keeps its merged
        table, since an empty upper directory adds nothing to it.

        ``now`` is what the upper holds about the name (a listing of that
        name alone, as the store's ``read_name`` gives it), for a caller that
        knows it exactly: it is then not read back.

        A change can also change the type of a cached upper symbolic link
        elsewhere (its target appeared, went or changed type): those links
        are checked again afterwards (see :mod:`unionfs_lib.resolve.link_index`).

        Changes the overlay did not make itself need :meth:`invalidate` or
        :meth:`clear`.
        """
        self.generation = next(_GENERATIONS)
        if path == "/":
            self.invalidate(path, subtree)
            return
        self._refresh_path(path, subtree, now)
        self._recheck_links(path)

    def made_file(self, path: str) -> DirListing:
        """Return what the upper holds about ``path``'s name once the overlay made a file there.

        The overlay has just made a new regular file at ``path`` (a name it
        saw free), wrote no identity record for it, and dropped or replaced
        any whiteout at the name (:func:`~unionfs_lib.ops.dir_ops.finish_create`):
        the upper then holds a file at the name, no whiteout, and the record
        and generation it held before, which the cached upper listing of the
        parent holds when there is one (without one no cache keeps them).
        What :meth:`refresh` is given as ``now``, instead of reading the name
        back (one ``lstat`` and two attribute reads on a kernel-format upper).
        """
        parent, name = split_path(path)
        listing = self._listings.get((UPPER, parent))
        records = {}
        if listing is not None and name in listing.records:
            records[name] = listing.records[name]
        return DirListing(entries={name: False}, records=records)

    def _refresh_path(self, path: str, subtree: bool, now: DirListing | None) -> None:
        """Update the caches for upper ``path`` itself (see :meth:`refresh`)."""
        previous = self._dirs.get((UPPER, path))
        self._forget(path, subtree)
        parent, name = split_path(path)
        if not self._refresh_name(parent, name, now):
            self._forget(parent)
            return
        if previous is not None and not subtree:
            self._keep_table_after_copy_up(path, previous)

    def _forget(self, path: str, subtree: bool = False) -> None:
        """Drop what is cached for upper ``path`` itself (and, with ``subtree``, below it).

        The paths below come from the index of cached upper paths, so the cost
        is proportional to what is cached below ``path``, not to the caches.
        """
        paths = [path, *self._below.pop_subtree(path)] if subtree else [path]
        for cache in (self._listings, self._flags, self._dirs):
            for below in paths:
                cache.discard((UPPER, below))
        self._links.forget(paths)

    def _recheck_links(self, changed_path: str) -> None:
        """Bring cached upper links up to date after a change at ``changed_path``.

        A link whose target's type changed is read again by name; what is
        cached below a link to a directory, and below its target, is read
        again when the change lies below either (one name's change seen
        under the other), and so is the target of a link changed itself.
        One ``stat`` per cached upper link, none without links; see
        :mod:`unionfs_lib.resolve.link_index`.
        """
        upper = self.layers[UPPER]
        if not self._links or upper is None:
            return
        check = self._links.check(upper, self._cached_type, changed_path)
        for parent, name in check.changed:
            self._forget(join_path(parent, name), subtree=True)
            if not self._refresh_name(parent, name):
                self._forget(parent)
        for view in check.stale_views:
            self._forget(view, subtree=True)
        for alias in check.aliases:
            self._forget(alias, subtree=True)
            if alias != "/" and not self._refresh_name(*split_path(alias)):
                self._forget(split_path(alias)[0])

    def is_known_link(self, path: str) -> bool:
        """Tell whether upper ``path`` is a symbolic link of a cached upper listing."""
        return self._links.holds(*split_path(path))

    def _cached_type(self, parent: str, name: str) -> bool | None:
        """Return the type the caches hold for upper entry ``name`` of ``parent`` (or ``None``)."""
        listing = self._listings.get((UPPER, parent))
        if listing is not None:
            return listing.entries.get(name)
        merged = self._dirs.get((UPPER, parent))
        if merged is None or merged.children is None:
            return None
        candidate = merged.children.get(name)
        if candidate is None or candidate.refs[0].layer != UPPER:
            return None
        return candidate.is_dir

    def _refresh_name(self, parent: str, name: str, now: DirListing | None = None) -> bool:
        """Read ``name`` of upper directory ``parent`` again and update the caches of ``parent``.

        Returns ``False`` when that cannot be done name by name (a
        case-insensitive upper, where names fold together): the caller then
        forgets ``parent``'s caches instead.
        """
        upper = self.layers[UPPER]
        key = (UPPER, parent)
        listing = self._listings.get(key)
        merged = self._dirs.get(key)
        if upper is None or (listing is None and (merged is None or merged.children is None)):
            return True
        if folds_case(upper):
            return False
        found = now if now is not None else self.store.read_name(upper, parent, name)
        self._links.note_name(parent, name, name in found.links)
        if listing is not None:
            self._update_listing(key, listing, name, found)
        if merged is not None and merged.children is not None:
            self._update_table(key, merged, name, found)
        return True

    def _update_listing(
        self, key: tuple[int, str], listing: DirListing, name: str, found: DirListing
    ) -> None:
        """Make cached upper ``listing`` say about ``name`` what ``found`` says."""
        entries = listing.entries
        assert isinstance(entries, dict)  # upper listings are read without info: dicts
        _copy_key(found.entries, entries, name)
        _copy_key(found.records, listing.records, name)
        if name in found.vacated:  # generations only grow: a listing without one keeps it
            listing.vacated[name] = found.vacated[name]
        hidden = name in found.whiteouts
        if hidden != (name in listing.whiteouts):
            whiteouts = listing.whiteouts
            if not isinstance(whiteouts, set):
                whiteouts = set(whiteouts)  # once per cached listing; then in place
                listing = attrs.evolve(listing, whiteouts=whiteouts)
            if hidden:
                whiteouts.add(name)
            else:
                whiteouts.discard(name)
        self._listings.put(key, listing, listing.weight)

    def _update_table(
        self, key: tuple[int, str], merged: MergedDir, name: str, found: DirListing
    ) -> None:
        """Merge ``name`` again in cached table ``merged``, the upper saying ``found``.

        The lower listings are cached already (the table was merged from
        them); each contributes what it holds about ``name`` alone. A file
        in the upper, on top, hides everything beneath it: its candidate
        needs no lower listing (the answer :func:`merge_listings` gives).
        """
        top = merged.node.refs[0]
        if top.layer == UPPER and found.entries.get(name) is False and found.infos is None:
            candidate: Candidate | None = Candidate(
                False, [LayerRef(UPPER, join_path(top.path, name))], None
            )
        else:
            pairs = [
                (ref, found if ref.layer == UPPER else name_listing(self.listing(ref), name))
                for ref in merged.node.refs
            ]
            candidate = merge_listings(pairs).get(name)
        children = merged.children
        assert children is not None
        names = merged.names
        if names is not None and type(children) is MergedTable and children.shares(names):
            names = merged.names = list(names)  # the columns' own list stays as read
        merged.in_name_order = None  # rebuilt when next asked
        if candidate is None:
            if children.pop(name, None) is not None and names is not None:
                index = bisect.bisect_left(names, name)
                if index < len(names) and names[index] == name:
                    del names[index]
        else:
            if name not in children and names is not None:
                bisect.insort(names, name)
            children[name] = candidate
        self._dirs.put(key, merged, 1 + len(children))

    def _keep_table_after_copy_up(self, path: str, previous: MergedDir) -> None:
        """Keep the merged table of a directory that was just copied up.

        The new upper directory is empty and unmarked, so it adds nothing to
        the merge: the table built from the lower layers still holds, and only
        the directory's node (now with its upper entry) is new. The new
        directory is listed before its node is resolved, when its parent's
        cached listing shows it: its flags then come from that listing, not
        from two more calls on the upper (for each ancestor a copy-up makes).
        """
        if previous.children is None or previous.node.in_upper:
            return
        if self._cached_type(*split_path(path)) and _adds_entries(
            self.listing(LayerRef(UPPER, path))
        ):
            return
        node = self.dir_node(path)
        if node is None or not node.in_upper or node.refs[1:] != previous.node.refs:
            return
        if node.lower_view != previous.node.lower_view:
            return
        if _adds_entries(self.listing(node.top)):
            return
        merged = self._dirs.get((UPPER, path))
        if merged is None or merged.node is not node:
            return
        merged.children, merged.names = previous.children, previous.names
        merged.in_name_order = previous.in_name_order
        self._dirs.put((UPPER, path), merged, 1 + len(previous.children))

    def may_hide(self, path: str) -> bool:
        """Tell whether the upper may hold a whiteout at ``path``.

        ``False`` only when the parent's upper listing is cached and has none
        there: the caller can skip removing a whiteout that is not there.
        """
        parent, name = split_path(path)
        listing = self._listings.get((UPPER, parent))
        return listing is None or name in listing.whiteouts

    def invalidate(self, path: str, subtree: bool = False) -> None:
        """Forget what was cached about upper ``path`` and its parent.

        With ``subtree`` everything cached below ``path`` goes too (used when
        a directory is removed, renamed, or made opaque).
        """
        self.generation = next(_GENERATIONS)
        parent, _ = split_path(path)
        for target in {path, parent}:
            self._listings.discard((UPPER, target))
            self._flags.discard((UPPER, target))
            self._dirs.discard((UPPER, target))
        self._links.forget({path, parent})
        if subtree:
            self._links.forget_below(path)
        if subtree and path != "/":
            self._listings.discard_where(
                lambda key: key[0] == UPPER and is_same_or_below(key[1], path)
            )
            self._flags.discard_where(
                lambda key: key[0] == UPPER and is_same_or_below(key[1], path)
            )
            self._dirs.discard_where(
                lambda key: key[0] == UPPER and is_same_or_below(key[1], path)
            )
        elif subtree:
            self.clear(upper_only=True)
        self._recheck_links(path)

    def clear(self, upper_only: bool = False) -> None:
        """Forget cached state: the upper's only, or everything (lowers changed)."""
        self.generation = next(_GENERATIONS)
        self._below.clear()
        self._memo.clear()
        self._links.clear()
        if not upper_only:
            self._readers.clear()
            self._listings.clear()
            self._dirs.clear()
            self._flags.clear()
            return
        self._flags.discard_where(lambda key: key[0] == UPPER)
        self._listings.discard_where(lambda key: key[0] == UPPER)
        self._dirs.discard_where(lambda key: key[0] == UPPER)



def _adds_entries(listing: DirListing) -> bool:
    """Tell whether an upper directory's ``listing`` adds anything to a merge beneath it."""
    return bool(
        listing.entries or listing.whiteouts or listing.opaque or listing.redirect is not None
    )


def _copy_key(
    source: typing.Mapping[str, typing.Any], target: dict[str, typing.Any], key: str
) -> None:
    """Make ``target[key]`` what ``source`` holds at ``key`` (or drop it)."""
    if key in source:
        target[key] = source[key]
    else:
        target.pop(key, None)


__all__ = ["CacheUpkeep"]
