"""The commit journal: the merged plan of a commit, kept until the commit is done.

A merged commit (:func:`unionfs_lib.changesets.merged_commit.commit_merged`)
first writes its whole plan (every :class:`Entry`, in the order it applies
them) as one JSON document, ``<journals>/.commits/<key>.json`` (a session
keeps it in its staging folder), where ``key`` names the set of forks
committed. Only then does it touch the target; when every entry is applied
it writes the document again, marked ``done``. A commit that finds its
journal resumes from it: it checks each entry against the target again
(done, still to do, or a conflict) and applies what is left. The document
is written in one piece (:func:`~unionfs_lib.host.layer_io.write_whole`):
on a file system by a rename over the old one, on an object store by one
upload, so a reader sees the old document or the new one.
"""

from __future__ import annotations

import hashlib
import json
import typing

import attrs
from fs.base import FS

from ..host.layer_io import write_whole
from .changes import Change

#: A state as the journal keeps it (JSON: lists, strings, ``None``).
State = typing.Any


@attrs.frozen
class Entry:
    """One step of a merged commit: the change, the fork holding it, and both target states.

    ``action`` is ``write``, ``makedir``, ``link``, ``metadata`` or
    ``remove``; ``old`` is the lowers' state at the path (its whole subtree
    for a deletion), ``new`` the fork's; ``phase`` orders the steps
    (writes, then deletions, then the old paths of renamed directories).
    """

    fork: str
    change: Change
    action: str
    old: State
    new: State
    phase: int
    deep: bool = False

    def as_json(self) -> dict[str, typing.Any]:
        """Return the entry as a JSON-serialisable dictionary."""
        return {
            "fork": self.fork, "change": attrs.asdict(self.change), "action": self.action,
            "old": self.old, "new": self.new, "phase": self.phase, "deep": self.deep,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: typing.Mapping[str, typing.Any]) -> Entry:
        """Rebuild an entry from :meth:`as_json`'s dictionary."""
        return cls(
            data["fork"], Change(**data["change"]), data["action"], data["old"], data["new"],
            data["phase"], data["deep"],
        )  # fmt: skip


def normal(state: typing.Any) -> State:
    """Return ``state`` with its tuples as lists, as JSON gives it back."""
    if isinstance(state, (tuple, list)):
        return [normal(item) for item in state]
    return state


#: The folder, beneath a journals' folder, that holds its commit journals.
JOURNALS = ".commits"


def journal_key(forks: typing.Iterable[str]) -> str:
    """Return the journal name of a commit of the forks named ``forks`` (order does not matter)."""
    names = "\n".join(sorted(set(forks)))
    return hashlib.sha256(names.encode()).hexdigest()[:32]


@attrs.define
class Journal:
    """The journal of one commit: its entries and whether the commit is done."""

    entries: list[Entry]
    forks: list[str]
    done: bool = False

    def dump(self) -> bytes:
        """Return the journal as JSON bytes."""
        data = {
            "version": 1, "done": self.done, "forks": self.forks,
            "entries": [entry.as_json() for entry in self.entries],
        }  # fmt: skip
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def load(cls, data: bytes) -> Journal:
        """Read a journal from :meth:`dump`'s bytes."""
        found = json.loads(data)
        entries = [Entry.from_json(entry) for entry in found["entries"]]
        return cls(entries, list(found["forks"]), bool(found["done"]))


def journal_path(key: str) -> str:
    """Return the path of journal ``key`` in the journals' folder."""
    return f"/{JOURNALS}/{key}.json"


def read_journal(staging: FS, key: str) -> Journal | None:
    """Return the journal ``key`` kept in ``staging`` (the session's folder), or ``None``."""
    path = journal_path(key)
    if not staging.exists(path):
        return None
    return Journal.load(staging.readbytes(path))


def write_journal(staging: FS, key: str, journal: Journal) -> None:
    """Write journal ``key`` in one piece (a rename over the old one where renames exist)."""
    staging.makedirs(f"/{JOURNALS}", recreate=True)
    write_whole(staging, journal_path(key), journal.dump())


__all__ = [
    "JOURNALS",
    "Entry",
    "Journal",
    "State",
    "journal_key",
    "journal_path",
    "normal",
    "read_journal",
    "write_journal",
]
