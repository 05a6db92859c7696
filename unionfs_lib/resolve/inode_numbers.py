"""Inode numbers that survive copy-up, rename and reopening.

This is the overlay's ``inode.c`` and the part of ``util.c`` that handles
origins. Every overlay entry has an ``ino`` that stays the same when the entry
is copied up, renamed, or the overlay is closed and reopened (the pattern
getinfo, open-and-write, getinfo sees one number), in the spirit of overlayfs
``xino``:

* an entry still in a lower layer takes a number derived from its layer index
  and its path in that layer; a merged or redirected directory takes the number
  of its top-most lower entry, which neither copy-up nor a redirected rename
  changes;
* an entry created in the upper takes a number derived from its upper path;
* where that derivation would change (a file copied up, an upper entry renamed)
  the number is written down in an :class:`EntryRecord` kept in the upper beside
  the entry (``.wh..wh..rec.<name>`` with :class:`MarkerWhiteouts`), which moves
  with the entry when it is renamed;
* a path whose derived number may live on elsewhere is *vacated*: an upper
  entry renamed away from it or a file given a second name takes its number
  along (in a record), and an upper directory renamed, removed or discarded
  may leave numbers derived from paths beneath it (recorded by the rename,
  or kept apart by generations beneath it); the store counts, beside the
  name, how many times it was vacated (its generation,
  ``.wh..wh..vac.<name>`` with :class:`MarkerWhiteouts`). A
  record-less upper entry derives its number from its :func:`ino_key`: its
  path with a NUL and the generation after each vacated name on the way, so a new
  entry at a vacated path (or under a vacated directory) never takes a number
  a live entry holds. Generations only grow, and are read with the upper
  listing the lookup reads anyway: entries at never-vacated paths derive from
  their path alone, as before.

The mapping is thus distributed over the upper's directories, read with the
directory listings the lookup reads anyway, and held only in the bounded
listing cache. Lookups of entries that were never copied up or renamed find no
record in their (cached) upper listing and never read one: the listing itself
is the fast negative check the 2017 linux-unionfs thread asks for, with no
separate database to consult, size or rebuild.

A record also carries ``data``: for a metadata-only copy-up (``setinfo`` on a
lower file, as overlayfs ``metacopy=on``) the upper holds an empty placeholder
with the new metadata, and the record says which lower entry still holds the
bytes until the first write copies them up.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import typing

import attrs
import fs.errors
from fs.base import FS

from ..host.layer_io import syspaths
from ..host.posix import read_pin, write_pin
from ..model.records import UPPER, EntryRecord, LayerRef, Node

log = logging.getLogger(__name__)

_INO_MASK = (1 << 63) - 1


#: Derived numbers :func:`derived_ino` remembers (a pure function of its
#: arguments: nothing to invalidate); a listing asks again for every entry.
DERIVED_INO_MEMO = 1 << 16


@functools.lru_cache(maxsize=DERIVED_INO_MEMO)
def derived_ino(layer: int, path: str) -> int:
    """Return the inode number derived from a layer index and a layer path.

    The last :data:`DERIVED_INO_MEMO` answers are remembered: the number
    depends on the two arguments alone, and a directory listing asks for
    every entry's number each time it is listed.
    """
    digest = hashlib.blake2b(f"{layer}:{path}".encode("utf-8", "surrogatepass"), digest_size=8)
    return (int.from_bytes(digest.digest(), "big") & _INO_MASK) or 1


def ino_key(parent: Node, path: str, generation: int) -> str | None:
    """Return what the number of upper entry ``path`` in ``parent`` derives from.

    ``None`` (the common case) means ``path`` itself: neither the name nor a
    directory on the way was ever vacated. Otherwise the parent's key, then
    the name, then a NUL and the generation if the name was vacated. A NUL is
    in no path, so keys never meet paths or each other.
    """
    if parent.ino_key is None and generation == 0:
        return None
    base = parent.ino_key if parent.ino_key is not None else parent.path
    key = base.rstrip("/") + "/" + path.rpartition("/")[2]
    return key if generation == 0 else f"{key}\0{generation}"


@attrs.frozen
class InodeNumbers:
    """Computes overlay inode numbers and rewrites ``stat`` info to match.

    Attributes:
        dev: the overlay's device number, reported as ``st_dev`` of every entry.
    """

    dev: int

    @classmethod
    def for_upper(cls, upper: typing.Any) -> InodeNumbers:
        """Use the upper's own device number where it has one (OSFS)."""
        try:
            return cls(os.stat(upper.getsyspath("/")).st_dev)
        except (fs.errors.NoSysPath, AttributeError, OSError):
            return cls(derived_ino(0, "<overlay device>") & 0xFFFFFFFF)

    def ino(self, node: Node) -> int:
        """Return the inode number of ``node``."""
        if node.record is not None:
            return node.record.ino
        basis = self.basis(node)
        if basis.layer == UPPER and node.ino_key is not None:
            return derived_ino(UPPER, node.ino_key)
        return derived_ino(basis.layer, basis.path)

    def basis(self, node: Node) -> LayerRef:
        """Return the layer entry a record-less node's number derives from."""
        if node.is_dir:
            for ref in node.refs:
                if ref.layer != UPPER:
                    return ref
        return node.top

    def origin(self, node: Node) -> int | None:
        """Return the lower layer a copied-up entry came from, or ``None``."""
        if node.record is not None:
            return node.record.origin
        if node.in_upper and node.is_dir:
            for ref in node.refs:
                if ref.layer != UPPER:
                    return ref.layer
        return None

    def needs_record_to_move(self, node: Node) -> bool:
        """Tell whether renaming upper entry ``node`` would change its number."""
        return node.record is None and self.basis(node).layer == UPPER

    def moved_record(self, node: Node) -> EntryRecord | None:
        """Return the record a renamed upper entry needs at its new name, if any."""
        if node.record is not None:
            return node.record
        if self.needs_record_to_move(node):
            return EntryRecord(self.ino(node))
        return None

    def copy_up_record(self, node: Node, metacopy: bool = False) -> EntryRecord:
        """Return the record for a lower file being copied up (fully or metadata-only)."""
        top = node.data_ref
        origin = node.record.origin if node.record is not None else node.top.layer
        data = (top.layer, top.path) if metacopy else None
        return EntryRecord(self.ino(node), origin, data)

    def keep(self, records: bool, upper: FS, node: Node, at: str) -> None:
        """Let ``node`` keep its number as the upper entry at ``at`` (Linux's ``ovl_set_origin``).

        A store that keeps identity records (``records``) keeps the number
        in its record; for one that does not (the kernel format) the number
        ``node`` shows now is pinned on the upper entry at ``at`` itself
        (:func:`~unionfs_lib.host.posix.write_pin`), and every later rename
        carries it along. The copy-up engine calls this on the work-area copy
        before renaming it into place, and the directory operations on an
        upper entry about to be renamed; an entry already pinned keeps its
        pin. Best effort where ``upper`` has no OS paths or refuses extended
        attributes (a symbolic link in the ``user`` namespace): the entry
        then takes the number its new place gives.
        """
        if records:
            return
        found = syspaths(upper, at)
        if found is None:
            return
        pinned = None
        if node.in_upper:
            source = found if at == node.path else syspaths(upper, node.path)
            pinned = None if source is None else read_pin(source[0])
            if pinned is not None and at == node.path:
                return
        write_pin(found[0], self.ino(node) if pinned is None else pinned)

    def namespace(self, node: Node) -> dict[str, typing.Any]:
        """Return the ``overlay`` info namespace of ``node``."""
        return {
            "ino": self.ino(node),
            "layer": node.top.layer,
            "origin": self.origin(node),
            "metacopy": node.is_metacopy,
        }

    def rewrite_stat(
        self, node: Node, stat: typing.Mapping[str, typing.Any]
    ) -> dict[str, typing.Any]:
        """Return ``stat`` with the overlay's ``st_ino`` and ``st_dev``."""
        return {**stat, "st_ino": self.ino(node), "st_dev": self.dev}


__all__ = ["InodeNumbers", "derived_ino", "ino_key"]
