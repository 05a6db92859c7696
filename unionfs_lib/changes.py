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
from .posix import is_symlink
from .probe import NameProbe
from .superblock import OverlaySuper, overlay_super
from .util import components

ADDED, DELETED, MODIFIED = "added", "deleted", "modified"

#: The one-letter code of each kind, as ``git status --short`` prints them.
KIND_CODES = {ADDED: "A", DELETED: "D", MODIFIED: "M"}


@attrs.frozen
class Change:
    """One difference between the merged view and the lowers' view.

    Attributes:
        path: the overlay path that changed.
        kind: ``"added"``, ``"deleted"`` or ``"modified"``.
        is_dir: whether the entry is a directory (its new type for an added
            or modified entry, its old one for a deleted entry).
        source: for a directory renamed by redirect, the lower path its
            content came from; else ``None``.

    """

    path: str
    kind: str = attrs.field(validator=attrs.validators.in_(KIND_CODES))
    is_dir: bool
    source: str | None = None

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
        """Return the change as a JSON-serialisable dictionary."""
        return attrs.asdict(self)


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
                self.found.append(Change(lower.path, DELETED, lower.is_dir))
            return []
        if lower is None:
            self._add_tree(merged)
            return []
        if merged.is_dir != lower.is_dir:
            self.found.append(Change(merged.path, MODIFIED, merged.is_dir))
            if merged.is_dir and not self._is_link(merged):
                self._add_children(merged)
            return []
        if merged.refs == lower.refs:
            return []  # the same layer entries back both views
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

    def _add_tree(self, node: Node) -> None:
        """Record ``node`` and everything visible beneath it as added."""
        self.found.append(Change(node.path, ADDED, node.is_dir, self._source(node)))
        if node.is_dir and not self._is_link(node):
            self._add_children(node)

    def _is_link(self, node: Node) -> bool:
        """Tell whether ``node`` is a symbolic link: data, never walked into."""
        return is_symlink(self.sb.layer(node.top.layer), node.top.path)

    def _add_children(self, node: Node) -> None:
        """Record everything visible beneath directory ``node`` as added."""
        for child in self.probe.walk(node, UPPER, enter=lambda found: not self._is_link(found)):
            self.found.append(Change(child.path, ADDED, child.is_dir, self._source(child)))

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


def permissions_mode(layer: FS, path: str) -> int | None:
    """Return the permission bits of ``path`` in ``layer``, or ``None`` if it keeps none."""
    info = layer.getinfo(path, namespaces=["access"])
    if not info.has_namespace("access"):
        return None
    permissions = info.permissions
    return permissions.mode if permissions is not None else None

