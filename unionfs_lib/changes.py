"""Changesets: what the overlay's merged view changed against the lowers' view.

:func:`changes` compares two views of the same overlay: the merged view
(what ``FS`` shows) and the view of the lower layers alone (what it
showed before anything was written). Each difference is one :class:`Change`:

* ``added``: visible now, not in the lowers' view. Everything beneath an
  added directory is listed too; a directory renamed by redirect is added
  at its new path, with ``source`` set to the lower path it came from;
* ``deleted``: in the lowers' view and not visible now; only the top-most
  deleted path is listed;
* ``modified``: a file in both views that the upper holds (it was written,
  truncated, replaced or its metadata set through the overlay) or that a
  renamed directory now takes from another lower path, an entry whose type
  changed, or a directory in both views whose permissions differ.
  Directory times are not compared: every change inside a directory touches
  them.

A symbolic link is data, as in ``git``: an entry of its own whose content is
its stored target (:attr:`Change.link_target`), never followed, whatever it
points to (a file, a directory, nothing, or outside every layer). A link to a
directory is no directory here: nothing beneath it is listed. A link whose
target changed is modified; a link that replaced a file or a directory, or
was replaced by one, is a type change (``modified``).

The walk follows the upper, not the lowers: it reads the upper's
directories and markers through the whiteout store, and asks the lowers
about one name at a time (:class:`~unionfs_lib.probe.NameProbe`) to classify
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

from .entry import UPPER, Node
from .posix import link_target
from .probe import NameProbe
from .superblock import OverlaySuper, overlay_super
from .util import components

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


def changes(overlay: FS, path: str = "/") -> list[Change]:
    """Return the changes at and beneath ``path``, sorted by path.

    Raises ``ResourceNotFound`` when neither view shows anything at ``path``.
    A read-only overlay has no changes.
    """
    with overlay_super(overlay).lock:
        _path = overlay.validatepath(path)
        sb = overlay_super(overlay)
        if sb.upper is None:
            return []
        walk = ChangeWalk(sb, sb.upper, NameProbe(sb.resolver))
        if not walk.classify(_path):
            raise fs.errors.ResourceNotFound(path)
        return sorted(walk.found, key=lambda change: sort_key(change.path))


@attrs.define
class ChangeWalk:
    """Collects the changes of one overlay, following its upper layer."""

    sb: OverlaySuper
    upper: FS
    probe: NameProbe
    found: list[Change] = attrs.field(factory=list)

    def classify(self, path: str) -> bool:
        """Collect the changes at and beneath ``path``; ``False`` if neither view has it."""
        merged = self.probe.lookup(path, UPPER)
        lower = self.probe.lookup(path, 1)
        if merged is None and lower is None:
            return False
        pending = [(merged, lower)]
        while pending:
            merged, lower = pending.pop()
            pending.extend(self._compare(merged, lower))
        return True

    def _compare(
        self, merged: Node | None, lower: Node | None
    ) -> list[tuple[Node | None, Node | None]]:
        """Record how one entry differs; return the children still to compare."""
        if merged is None:
            if lower is not None:
                old_link = node_link(self.sb, lower)
                is_dir = lower.is_dir and old_link is None
                self.found.append(Change(lower.path, DELETED, is_dir, link_target=old_link))
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
            if merged.is_dir:
                self._add_children(merged)
            return []
        if not merged.is_dir:
            if merged.in_upper or merged.top != lower.top:
                self.found.append(Change(merged.path, MODIFIED, False))
            return []
        if self._permissions_differ(merged, lower):
            self.found.append(Change(merged.path, MODIFIED, True))
        return [
            (self.probe.child(merged, name, UPPER), self.probe.child(lower, name, 1))
            for name in sorted(self._names_to_compare(merged, lower))
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
        if is_dir:
            self._add_children(node)

    def _add_children(self, node: Node) -> None:
        """Record everything visible beneath directory ``node`` as added (links not entered)."""
        for child, link in walk_entries(self.sb, self.probe, node, UPPER):
            is_dir = child.is_dir and link is None
            source = self._source(child) if is_dir else None
            self.found.append(Change(child.path, ADDED, is_dir, source, link))

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

    As :meth:`NameProbe.walk <unionfs_lib.probe.NameProbe.walk>` (each
    directory's children, then theirs), but a symbolic link, even to a
    directory, is yielded with its target and never entered.
    """
    pending = [node]
    while pending:
        parent = pending.pop()
        below: list[Node] = []
        for name in probe.children(parent):
            child = probe.child(parent, name, scope)
            if child is None:
                continue
            link = node_link(sb, child)
            yield child, link
            if child.is_dir and link is None:
                below.append(child)
        pending.extend(reversed(below))


def permissions_mode(layer: FS, path: str) -> int | None:
    """Return the permission bits of ``path`` in ``layer``, or ``None`` if it keeps none."""
    info = layer.getinfo(path, namespaces=["access"])
    if not info.has_namespace("access"):
        return None
    permissions = info.permissions
    return permissions.mode if permissions is not None else None

