"""Finished fsspec listings of merged directories, kept for ``OverlayFileSystem.ls``.

``OverlayFileSystem.ls`` turns the overlay's merged directory into fsspec info
dicts, which costs a few microseconds per entry: the overlay resolves every
child and builds its info. The result is kept per directory, tagged with the
overlay's :attr:`~unionfs_lib.overlay.OverlayFS.generation`, which changes with
every change the overlay makes (and with ``invalidate()``), in the front
end's one cache (:mod:`.kept`); a listing of another generation is never used.

What a kept listing may not hold is the info of an entry the upper holds: an
upper file grows through an open handle, and its times change, without any
change to its directory. Those entries (usually few: the ones written through
the overlay) are read again from the upper on every call; everything a lower
layer provides cannot change while the lowers do not, so it is served as kept.
Each call returns new dicts, as fsspec's memory and local filesystems do: a
caller may change what it was given.
"""

from __future__ import annotations

import typing

import attrs
import fs.errors
from fs.info import Info

from .kept import KeptAnswers, KeptView

if typing.TYPE_CHECKING:
    from .. import Backing
    from ..overlay import OverlayFS

#: How many directories' listings are kept before the cache starts over.
MAX_DIRECTORIES = 4096
#: The info namespaces a listing needs.
DETAILS = ("details",)
#: The namespaces a listing asks for: also which layer holds each entry.
_LISTED = ("details", "overlay")


def is_plain(backing: Backing) -> bool:
    """Tell whether the entry ``backing`` describes holds its own bytes (no metadata-only copy)."""
    return (backing.data_index, backing.data_path) == (backing.index, backing.path)


def entry_info(path: str, info: Info) -> dict[str, typing.Any]:
    """Return the fsspec info dict of the overlay entry at ``path``."""
    raw = info.raw
    details: typing.Mapping[str, typing.Any] = raw.get("details") or {}
    is_dir = bool(raw["basic"]["is_dir"])
    return {
        "name": path,
        "size": 0 if is_dir else int(details.get("size") or 0),
        "type": "directory" if is_dir else "file",
        "mtime": details.get("modified"),
        "created": details.get("created"),
    }


@attrs.frozen
class UpperEntry:
    """An entry of a kept listing that the upper holds: its info is read on each call.

    Attributes:
        index: its position in the listing.
        path: its overlay path (the same path in the upper).
        plain: the upper alone answers for it (``False`` for a metadata-only
            copy-up, whose size comes from the lower data: the overlay answers).

    """

    index: int
    path: str
    plain: bool


@attrs.frozen
class KeptListing:
    """One directory's finished listing, sorted by name, for one overlay generation."""

    generation: int
    entries: tuple[dict[str, typing.Any], ...]
    names: tuple[str, ...]
    upper_entries: tuple[UpperEntry, ...]

    def detailed(self) -> list[dict[str, typing.Any]]:
        """Return new dicts of the kept entries (upper entries as they were kept)."""
        return [dict(entry) for entry in self.entries]


class ListingCache(KeptView):
    """fsspec listings of merged directories, valid for one overlay generation.

    Arguments:
        overlay: the overlay whose directories are listed.
        kept: the front end's one cache, where the listings are kept.
        max_directories: how many listings to keep before starting over.

    """

    def __init__(
        self,
        overlay: OverlayFS,
        kept: KeptAnswers | None = None,
        max_directories: int = MAX_DIRECTORIES,
    ) -> None:
        """Start empty; see the class docstring."""
        super().__init__(overlay, kept, max_directories)
        self._entries: dict[str, KeptListing] = self._kept.listings

    def __len__(self) -> int:
        """Return how many directories are kept (some possibly of an older generation)."""
        return len(self._entries)

    def get(self, path: str, detail: bool) -> list[typing.Any] | None:
        """Return the listing of ``path`` as :meth:`load` would, or ``None`` if not kept.

        ``None`` also when the overlay changed since, is closed, or an upper
        entry could not be read again (the overlay then lists it afresh).
        """
        kept = self._entries.get(path)
        if kept is None or kept.generation != self._overlay.generation:
            return None
        if self._overlay.isclosed():
            return None
        if not detail:
            return list(kept.names)
        entries = kept.detailed()
        try:
            for upper_entry in kept.upper_entries:
                entries[upper_entry.index] = self._upper_info(upper_entry)
        except fs.errors.FSError:
            return None
        return entries

    def _upper_info(self, upper_entry: UpperEntry) -> dict[str, typing.Any]:
        """Return the current fsspec info of an entry the upper holds."""
        path = upper_entry.path
        upper = self._overlay.upper
        if upper_entry.plain and upper is not None:  # what the overlay's own info would ask
            return entry_info(path, upper.getinfo(path, DETAILS))
        return entry_info(path, self._overlay.getinfo(path, DETAILS))

    def load(self, path: str) -> KeptListing:
        """List directory ``path`` through the overlay, keep the listing and return it.

        Raises:
            fs.errors.FSError: as ``OverlayFS.scandir`` does
                (``DirectoryExpected`` for a file).

        """
        overlay = self._overlay
        generation = overlay.generation
        entries, upper_entries = [], []
        listed = sorted(overlay.scandir(path, _LISTED), key=lambda info: info.name)
        for index, info in enumerate(listed):
            entry = entry_info(f"{path}/{info.name}", info)
            entries.append(entry)
            found = info.raw["overlay"]
            if found["layer"] == 0:
                upper_entries.append(UpperEntry(index, entry["name"], not found["metacopy"]))
        kept = KeptListing(
            generation,
            tuple(entries),
            tuple(entry["name"] for entry in entries),
            tuple(upper_entries),
        )
        if overlay.generation == generation:  # nothing changed while it was listed
            self._kept.keep(self._entries, path, generation, kept, self._max)
        return kept

    def clear(self) -> None:
        """Forget every kept listing (of every kind: the front end keeps one cache)."""
        self._kept.clear()
