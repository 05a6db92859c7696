"""Names on a case-insensitive upper: refuse what would silently merge two entries.

The overlay compares names exactly, as Linux overlayfs does: ``README`` and
``readme`` are two entries, and so are the NFC and NFD spellings of ``café``.
An upper that folds case (``getmeta()["case_insensitive"]``: NTFS, APFS, a
case-insensitive wrapper) would store such a pair under one name, so a second
write would overwrite the first entry, or removing a whiteout would drop
another name's whiteout and bring a deleted lower entry back.

On such an upper the overlay therefore refuses, with
:class:`~unionfs_lib.errors.NameCollision` (a ``DestinationExists``):

* to create (write, ``makedir``, ``move``/``movedir`` to) a name that differs
  only by case from a visible name or a whiteout in the same directory;
* to copy up an entry whose name differs only by case from an entry already in
  the upper directory (two lower names that fold together: the first can be
  copied up, the second is refused instead of overwriting it).

On a case-sensitive upper (the usual case) nothing is checked.
"""

from __future__ import annotations

import typing

from ..errors import NameCollision, literal
from ..host.layer_io import folds_case
from ..model.paths import split_path
from ..model.records import UPPER, LayerRef

if typing.TYPE_CHECKING:
    from .strategies import OverlayContext

def check_new_name(sb: OverlayContext, path: str) -> None:
    """Refuse to create ``path`` if its name folds onto a different visible or hidden name."""
    if not folds_case(sb.upper):
        return
    parent_path, name = split_path(path)
    parent = sb.resolver.dir_node(parent_path)
    if parent is None:
        return
    others = set(sb.resolver.children(parent))
    if parent.in_upper:
        listing = sb.resolver.listing(LayerRef(UPPER, parent.top.path))
        others |= set(listing.entries) | set(listing.whiteouts)
    _refuse_fold(path, name, others)


def check_copy_up(sb: OverlayContext, path: str) -> None:
    """Refuse to copy up to ``path`` if the upper holds a different name folding onto it."""
    if not folds_case(sb.upper):
        return
    parent_path, name = split_path(path)
    parent = sb.resolver.dir_node(parent_path)
    if parent is None or not parent.in_upper:
        return
    listing = sb.resolver.listing(LayerRef(UPPER, parent.top.path))
    _refuse_fold(path, name, set(listing.entries))


def _refuse_fold(path: str, name: str, others: typing.Iterable[str]) -> None:
    folded = name.casefold()
    for other in others:
        if other != name and other.casefold() == folded:
            message = f"'{path}' differs only by case from '{other}' on a case-insensitive upper"
            raise NameCollision(path, msg=literal(message))


__all__ = ["check_copy_up", "check_new_name", "folds_case"]
