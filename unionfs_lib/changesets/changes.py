"""Changesets: what the overlay's merged view changed against the lowers' view.

:func:`changes` compares two views of the same overlay: the merged view
(what ``FS`` shows) and the view of the lower layers alone (what it
showed before anything was written). Each difference is one :class:`Change`:

* ``added``: visible now, not in the lowers' view. Everything beneath an
  added directory is listed too; a directory renamed by redirect is added
  at its new path, with ``source`` set to the lower path it came from
  (its line is ``R old -> new``, see below);
* ``deleted``: in the lowers' view and not visible now; only the top-most
  deleted path is listed;
* ``modified``: a file in both views that the upper holds (it was written,
  truncated, replaced or its metadata set through the overlay) or that a
  renamed directory now takes from another lower path, an entry whose type
  changed, or a directory in both views whose permissions differ.
  Directory times are not compared: every change inside a directory touches
  them.

A renamed directory is one change, ``R old -> new``, however much it holds:
what changed inside it is compared with its old content and listed under
the new name (``M /new/edited.txt``, ``A /new/added.txt``, ``D
/new/removed.txt``), and its old path is not listed as deleted. That is
the form people read (``changes()``, the ``diff`` command, the pytest
report). ``changes(..., detailed=True)`` gives one record per entry
instead, the form :func:`~unionfs_lib.changesets.commit.commit` and
:func:`~unionfs_lib.changesets.patch.unified_diff` plan from: the renamed directory
added at its new path with everything beneath it, and its old path deleted.

A symbolic link is data, as in ``git``: an entry of its own whose content is
its stored target (:attr:`Change.link_target`), never followed, whatever it
points to (a file, a directory, nothing, or outside every layer). A link to a
directory is no directory here: nothing beneath it is listed. A link whose
target changed is modified; a link that replaced a file or a directory, or
was replaced by one, is a type change (``modified``).

The walk follows the upper, not the lowers: it reads the upper's
directories and markers through the whiteout store, and asks the lowers
about one name at a time (:class:`~unionfs_lib.resolve.name_probe.NameProbe`) to classify
each upper entry, so its cost grows with the number of changes, not with the
size of the lower layers. Only a directory that hides or replaces a lower
one wholesale (opaque, or renamed over one) has its lower side listed, and
an added directory's content is read in full, since all of it is listed.

The whole walk runs under the overlay's lock, so a concurrent writer's
change is seen wholly or not at all.
"""

from __future__ import annotations

import typing

import attrs
import fs.errors
from fs.base import FS

from ..host.posix import link_target
from ..model.paths import components, join_path
from ..model.records import UPPER, Node
from ..ops.superblock import OverlaySuper, overlay_super
from ..resolve.name_probe import NameProbe

ADDED, DELETED, MODIFIED = "added", "deleted", "modified"

#: The one-letter code of each kind, as ``git status --short`` prints them.
KIND_CODES = {ADDED: "A", DELETED: "D", MODIFIED: "M"}


@attrs.frozen(repr=False)
class Change:
    """One difference between the merged view and the lowers' view.

    Attributes:
        path: the overlay path that changed.
        kind: ``"added"``, ``"deleted"`` or ``"modified"``.
        is_dir: whether the entry is a directory (its new type for an added
            or modified entry, its old one for a deleted entry); ``False``
            for a symbolic link, even to a directory.
        source: for a directory renamed by redirect, the lower path its
            content came from; else ``None``.
        link_target: for a symbolic link (its new type for an added or
            modified entry, its old one for a deleted entry), its target as
            stored, never resolved; else ``None``. A modified entry with a
            target is a link now (its target changed, or it replaced a file
            or directory); one without is no link now (it may have replaced
            one).

    """

    path: str
    kind: str = attrs.field(validator=attrs.validators.in_(KIND_CODES))
    is_dir: bool
    source: str | None = None
    link_target: str | None = None

    @property
    def is_link(self) -> bool:
        """Whether the entry is a symbolic link (see :attr:`link_target`)."""
        return self.link_target is not None

    @property
    def code(self) -> str:
        """The one-letter code: ``A``, ``D`` or ``M``."""
        return KIND_CODES[self.kind]

    def line(self) -> str:
        """One line for people: ``A path``, ``M path``, ``D path`` or ``R old -> new``."""
        if self.source is not None:
            return f"R {self.source} -> {self.path}"
        return f"{self.code} {self.path}"

    def as_dict(self) -> dict[str, typing.Any]:
        """Return the change as a JSON-serialisable dictionary.

        ``link_target`` is there only for a link, so the records of other
        entries keep the keys they always had.
        """
        found = attrs.asdict(self)
        if self.link_target is None:
            del found["link_target"]
        return found

    def __repr__(self) -> str:
        """``Change(path=..., kind=..., is_dir=..., source=...)``, and the target of a link."""
        fields = f"path={self.path!r}, kind={self.kind!r}, is_dir={self.is_dir!r}"
        fields += f", source={self.source!r}"
        if self.link_target is not None:
            fields += f", link_target={self.link_target!r}"
        return f"Change({fields})"


def sort_key(path: str) -> tuple[str, ...]:
    """Order paths by their components, so a directory comes right before its content."""
    return tuple(components(path))


def changes(overlay: FS, path: str = "/", *, detailed: bool = False) -> list[Change]:
    """Return the changes at and beneath ``path``, sorted by path.

    A directory renamed by redirect is one change (``R old -> new``),
    followed by what changed inside it under its new name; with
    ``detailed`` it is one change per entry instead (the directory added
    with all it holds, its old path deleted), as commits and patches need.
    Beneath ``path`` the same changes are listed as for ``/``, except that a
    directory renamed from beneath ``path`` to elsewhere shows as deleted.
    Raises ``ResourceNotFound`` when neither view shows anything at ``path``.
    A read-only overlay has no changes.
    """
    with overlay_super(overlay).lock:
        _path = overlay.validatepath(path)
        sb = overlay_super(overlay)
        if sb.upper is None:
            return []
        walk = ChangeWalk(sb, sb.upper, NameProbe(sb.resolver), condense=not detailed)
        if not walk.classify(_path):
            raise fs.errors.ResourceNotFound(path)
        return sorted(walk.result(), key=lambda change: sort_key(change.path))


#: Two views of one entry still to compare: the merged node, the lower node, and the
#: path it is listed under (the merged view's path, also when only the lowers show it).
Pair = typing.Tuple[typing.Optional[Node], typing.Optional[Node], str]


@attrs.define
class ChangeWalk:
    """Collects the changes of one overlay, following its upper layer.

    With ``condense`` a directory renamed by redirect is one change, and its
    content is compared with the content at its source (see :func:`changes`).
    """

    sb: OverlaySuper
    upper: FS
    probe: NameProbe
    found: list[Change] = attrs.field(factory=list)
    condense: bool = False
    #: The lower path of each deletion listed under another path (inside a renamed directory).
    deleted_from: dict[str, str] = attrs.field(factory=dict)
    pending: list[Pair] = attrs.field(factory=list)

    def classify(self, path: str) -> bool:
        """Collect the changes at and beneath ``path``; ``False`` if neither view has it."""
        merged = self.probe.lookup(path, UPPER)
        lower = self.probe.lookup(path, 1)
        if merged is None and lower is None:
            return False
        if self.condense:
            lower = self._compared_lower(path)
        self.pending.append((merged, lower, path))
        while self.pending:
            self.pending.extend(self._compare(*self.pending.pop()))
        return True

    def result(self) -> list[Change]:
        """Return the changes found; condensed, without what renamed directories took away.

        That is a deletion at or beneath the old path of a renamed directory
        (its content shows at the new path), and a renamed directory's child
        that was itself renamed (its ``R`` line says where it went).
        """
        if not self.condense:
            return self.found
        sources = {change.source for change in self.found if change.source is not None}
        return [
            change for change in self.found
            if change.kind != DELETED or not self._moved_away(change.path, sources)
        ]

    def _moved_away(self, path: str, sources: set[str]) -> bool:
        """Tell whether the deletion listed at ``path`` is content a rename took elsewhere."""
        lower_path = self.deleted_from.get(path)
        if lower_path is not None:  # inside a renamed directory: only a renamed child
            return lower_path in sources
        return any(path == source or path.startswith(source + "/") for source in sources)

    def _compared_lower(self, path: str) -> Node | None:
        """Return the lower node the condensed walk from ``/`` compares ``path`` with.

        The same path in the lowers, except beneath a renamed directory, whose
        content is compared with the content at its source: ``changes(path)``
        then lists what ``changes()`` lists at and beneath ``path``.
        """
        merged = self.probe.lookup("/", UPPER)
        lower = self.probe.lookup("/", 1)
        for name in components(path):
            base = lower if lower is not None and lower.is_dir else None
            if base is not None and node_link(self.sb, base) is not None:
                base = None
            if lower is None and merged is not None:
                source = self._source(merged)
                found = self.probe.lookup(source, 1) if source is not None else None
                base = found if found is not None and found.is_dir else None
            merged = None if merged is None or not merged.is_dir else self.probe.child(
                merged, name, UPPER)
            lower = None if base is None else self.probe.child(base, name, 1)
        return lower

    def _compare(self, merged: Node | None, lower: Node | None, where: str) -> list[Pair]:
        """Record how one entry (listed as ``where``) differs; return the children to compare."""
        if merged is None:
            if lower is not None:
                old_link = node_link(self.sb, lower)
                is_dir = lower.is_dir and old_link is None
                self.found.append(Change(where, DELETED, is_dir, link_target=old_link))
                if where != lower.path:
                    self.deleted_from[where] = lower.path
            return []
        if lower is None:
            self._add_tree(merged, node_link(self.sb, merged))
            return []
        if merged.refs == lower.refs:
            return []  # the same layer entries back both views
        new_link, old_link = node_link(self.sb, merged), node_link(self.sb, lower)
        if new_link is not None or old_link is not None:
            self._compare_links(merged, lower, new_link, old_link)
            return []
        if merged.is_dir != lower.is_dir:
            self.found.append(Change(merged.path, MODIFIED, merged.is_dir))
            if merged.is_dir:  # a link on either side was compared above
                self._add_children(merged)
            return []
        if not merged.is_dir:
            if merged.in_upper or merged.top != lower.top:
                self.found.append(Change(merged.path, MODIFIED, False))
            return []
        if self._permissions_differ(merged, lower):
            self.found.append(Change(merged.path, MODIFIED, True))
        return self._child_pairs(merged, lower, self._names_to_compare(merged, lower))

    def _child_pairs(
        self, merged: Node, lower: Node, names: typing.Iterable[str]
    ) -> list[Pair]:
        """Return the pairs of children ``names`` of two directories, listed under ``merged``."""
        return [
            (self.probe.child(merged, name, UPPER), self.probe.child(lower, name, 1),
             join_path(merged.path, name))
            for name in sorted(names)
        ]

    def _compare_links(
        self, merged: Node, lower: Node, new_link: str | None, old_link: str | None
    ) -> None:
        """Record an entry that is a link in one view at least (never followed).

        A link in both views is modified when the upper holds it (a new
        target, or its metadata set), as a file is; a link that replaced a
        file or directory, or that one replaced, is a type change. Nothing
        beneath a link is compared: a new directory's content is all added.
        """
        if new_link is not None:
            if old_link is None or merged.in_upper or merged.top != lower.top:
                self.found.append(Change(merged.path, MODIFIED, False, link_target=new_link))
            return
        self.found.append(Change(merged.path, MODIFIED, merged.is_dir))
        if merged.is_dir:
            self._add_children(merged)

    def _names_to_compare(self, merged: Node, lower: Node) -> set[str]:
        """Names of a directory in both views that may differ between them.

        Where the lowers show through at the same path, only names the upper
        holds (entries or whiteouts) can differ; a directory that is opaque or
        shows another lower path is compared name for name in full.
        """
        if merged.in_upper and merged.lower_view == merged.path:
            listing = self.sb.store.read_dir(self.upper, merged.path, with_info=False)
            return set(listing.entries) | set(listing.whiteouts)
        return set(self._merged_names(merged)) | set(self._merged_names(lower))

    def _merged_names(self, node: Node) -> list[str]:
        """Return the visible names of directory ``node`` (its layers' listings, merged)."""
        return self.probe.children(node)

    def _add_tree(self, node: Node, link: str | None) -> None:
        """Record ``node`` (a link when ``link`` is set) and everything visible beneath it."""
        is_dir = node.is_dir and link is None
        source = self._source(node) if is_dir else None
        self.found.append(Change(node.path, ADDED, is_dir, source, link))
        if is_dir and not self._compare_renamed(node, source):
            self._add_children(node)

    def _add_children(self, node: Node) -> None:
        """Record everything visible beneath directory ``node`` as added (links not entered).

        Condensed, a renamed directory beneath it is one change, its content
        compared with its source's (:meth:`_compare_renamed`).
        """
        stack = [node]
        while stack:
            parent = stack.pop()
            below: list[Node] = []
            for name in self.probe.children(parent):
                child = self.probe.child(parent, name, UPPER)
                if child is None:
                    continue
                link = node_link(self.sb, child)
                is_dir = child.is_dir and link is None
                source = self._source(child) if is_dir else None
                self.found.append(Change(child.path, ADDED, is_dir, source, link))
                if is_dir and not self._compare_renamed(child, source):
                    below.append(child)
            stack.extend(reversed(below))

    def _compare_renamed(self, node: Node, source: str | None) -> bool:
        """Condensed: queue the content of directory ``node``, renamed from ``source``.

        Its children are compared with those the lowers show at ``source``.
        ``False`` (nothing queued) when not condensing, for a directory not
        renamed, or when the lowers show no directory at ``source``.
        """
        if not self.condense or source is None:
            return False
        old = self.probe.lookup(source, 1)
        if old is None or not old.is_dir:
            return False
        names = set(self._merged_names(node)) | set(self._merged_names(old))
        self.pending.extend(self._child_pairs(node, old, names))
        return True

    def _source(self, node: Node) -> str | None:
        """Return the lower path a directory renamed by redirect came from, else ``None``."""
        if not node.is_dir or not node.in_upper or node.lower_view is None:
            return None
        if len(node.refs) < 2 or self.sb.resolver.flags(node.top)[1] is None:
            return None
        return node.lower_view

    def _permissions_differ(self, merged: Node, lower: Node) -> bool:
        """Tell whether a directory's permissions differ between the views."""
        if merged.top == lower.top:
            return False
        old = permissions_mode(self.sb.layer(lower.top.layer), lower.top.path)
        new = permissions_mode(self.sb.layer(merged.top.layer), merged.top.path)
        return old is not None and new is not None and old != new


def node_link(sb: OverlaySuper, node: Node) -> str | None:
    """Return the stored target of ``node`` if the layer holding it has a symbolic link there.

    One ``readlink`` of the top entry, never following it; ``None`` for
    anything else, and for layers without OS paths (which hold no links).
    """
    top = node.top
    return link_target(sb.layer(top.layer), top.path)


def walk_entries(
    sb: OverlaySuper, probe: NameProbe, node: Node, scope: int = UPPER
) -> typing.Iterator[tuple[Node, str | None]]:
    """Yield ``(node, link target)`` of every entry beneath directory ``node``.

    :meth:`NameProbe.walk <unionfs_lib.resolve.name_probe.NameProbe.walk>`'s order (each
    directory's children, then theirs), but a symbolic link, even to a
    directory, is yielded with its target and never entered.
    """
    last_link: list[str | None] = [None]
    # The walk asks whether to enter a directory right after yielding it, so
    # the link target read for that node is the answer.
    for child in probe.walk(node, scope, enter=lambda _child: last_link[0] is None):
        last_link[0] = node_link(sb, child)
        yield child, last_link[0]


def permissions_mode(layer: FS, path: str) -> int | None:
    """Return the permission bits of ``path`` in ``layer``, or ``None`` if it keeps none."""
    info = layer.getinfo(path, namespaces=["access"])
    if not info.has_namespace("access"):
        return None
    permissions = info.permissions
    return permissions.mode if permissions is not None else None

