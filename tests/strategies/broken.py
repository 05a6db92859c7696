"""Deliberately broken strategies: each conformance suite must fail on one of them.

Each breaks one promise of its protocol in a way a plausible implementation
could, and ``tests/strategies/test_suites_catch_bugs.py`` checks that the
suite of :mod:`unionfs_lib.testing` notices:

* :class:`ForgetfulOpaqueStore` keeps opaque flags in memory, not in the
  upper: they are lost when the overlay is reopened;
* :class:`InPlaceCopyUp` streams a file straight to its final name, so a
  copy-up that fails half-way leaves a half file visible;
* :class:`TelldirTableIterator` hands out numbered cookies and keeps a table
  from number to name, as a naive ``telldir`` does: the table grows with every
  seek and is gone after reopening;
* :class:`PositionalIterator` uses positions in the sorted listing as cookies:
  a name created before the position shifts the rest, and one comes twice.
"""

from __future__ import annotations

import typing

import attrs
from fs.base import FS

from unionfs_lib import DirIterator, MarkerWhiteouts
from unionfs_lib.model.records import Batch, DirListing, Node, ScanItem, ScanKind
from unionfs_lib.ops.strategies import OverlayContext

from .chunked import ChunkedCopyUp, parent_of


@attrs.frozen
class ForgetfulOpaqueStore(MarkerWhiteouts):
    """Marker whiteouts whose opaque flags live in this object, not in the upper (a bug)."""

    opaque: set[str] = attrs.field(factory=set, eq=False, repr=False)

    def set_opaque(self, upper: FS, path: str) -> None:
        """Remember the flag in memory only."""
        self.opaque.add(path)

    def _is_opaque(self, layer: FS, path: str) -> bool:
        """Tell whether this object remembers ``path`` as opaque (in any layer: a second bug)."""
        return path in self.opaque

    def dir_flags(self, layer: FS, path: str) -> tuple[bool, str | None]:
        """Answer the opaque flag from memory."""
        opaque, redirect = super().dir_flags(layer, path)
        return opaque or self._is_opaque(layer, path), redirect

    def read_dir(self, layer: FS, path: str, with_info: bool) -> DirListing:
        """Read the directory, the opaque flag from memory."""
        listing = super().read_dir(layer, path, with_info)
        return attrs.evolve(listing, opaque=listing.opaque or self._is_opaque(layer, path))

    def scan_dir(self, layer: FS, path: str, with_info: bool) -> typing.Iterator[ScanItem]:
        """Scan the directory, the opaque flag from memory."""
        yield from super().scan_dir(layer, path, with_info)
        if self._is_opaque(layer, path):
            yield ScanItem(ScanKind.OPAQUE, ".wh..wh..opq")


@attrs.frozen
class InPlaceCopyUp(ChunkedCopyUp):
    """A chunked copy-up that writes straight to the final name: not atomic (a bug)."""

    def copy_up(
        self,
        sb: OverlayContext,
        node: Node,
        dest: str | None = None,
        length: int | None = None,
    ) -> None:
        """Copy the data into place chunk by chunk, then tell the lookup."""
        target = node.path if dest is None else dest
        upper = sb.writable_upper(target)
        record = sb.inodes.copy_up_record(node).dump()
        self.ensure_dir(sb, parent_of(target))
        sb.store.set_record(upper, target, record)
        self._copy_data(sb, node, upper, target, length)  # half a file if this fails
        sb.resolver.invalidate(target)
        sb.notify_copied_up(target)


@attrs.frozen
class TelldirTableIterator:
    """The default order, but cookies are numbers kept in a table in memory (a bug)."""

    table: dict[str, str] = attrs.field(factory=dict, eq=False, repr=False)
    inner: DirIterator = DirIterator(batch_size=4)

    def listdir(self, sb: OverlayContext, node: Node) -> list[str]:
        """List as the default iterator does."""
        return self.inner.listdir(sb, node)

    def page(self, sb: OverlayContext, node: Node, start: int, end: int) -> list[str]:
        """Page as the default iterator does."""
        return self.inner.page(sb, node, start, end)

    def next_batch(self, sb: OverlayContext, node: Node, cookie: str | None) -> Batch:
        """Translate the numbered cookies to the default ones through the table."""
        if cookie is not None:
            if cookie not in self.table:
                raise ValueError(f"not a directory cookie: {cookie!r}")
            cookie = self.table[cookie]
        batch = self.inner.next_batch(sb, node, cookie)
        entries = [(self._number(found), child) for found, child in batch.entries]
        resume = None if batch.resume is None else self._number(batch.resume)
        return Batch(entries, batch.done, resume)

    def _number(self, cookie: str) -> str:
        """Give ``cookie`` a new number in the table (a naive telldir)."""
        number = f"t{len(self.table)}"
        self.table[number] = cookie
        return number


@attrs.frozen
class PositionalIterator:
    """Sorted names, and the position in the sorted listing as the cookie (a bug under change)."""

    def listdir(self, sb: OverlayContext, node: Node) -> list[str]:
        """Return the visible names, sorted."""
        return sorted(sb.resolver.children(node))

    def page(self, sb: OverlayContext, node: Node, start: int, end: int) -> list[str]:
        """Return names ``start`` to ``end`` of the sorted listing."""
        return self.listdir(sb, node)[start:end]

    def next_batch(self, sb: OverlayContext, node: Node, cookie: str | None) -> Batch:
        """Return up to four entries after position ``cookie``."""
        if cookie is not None and not (cookie.startswith("p:") and cookie[2:].isdigit()):
            raise ValueError(f"not a directory cookie: {cookie!r}")
        start = 0 if cookie is None else int(cookie[2:])
        names = self.listdir(sb, node)
        taken = names[start : start + 4]
        entries = []
        for offset, name in enumerate(taken, start=start + 1):
            child = sb.resolver.child(node, name)
            if child is not None:
                entries.append((f"p:{offset}", child))
        done = start + len(taken) >= len(names)
        return Batch(entries, done, None if done else f"p:{start + len(taken)}")


__all__ = [
    "ForgetfulOpaqueStore",
    "InPlaceCopyUp",
    "PositionalIterator",
    "TelldirTableIterator",
]
