"""The commit journal: the merged plan of a commit, kept in the staging area until done.

A commit first writes its whole plan (every :class:`~.apply.Entry`, in the
order it applies them) as one JSON document,
``<staging>/<session id>/.commits/<key>.json``, where ``key`` names the set
of forks committed. Only then does it touch the target; when every entry is
applied it writes the document again, marked ``done``. A commit that finds
its journal resumes from it: it checks each entry against the target again
(done, still to do, or a conflict) and applies what is left. The document is
written in one piece: on a file system by a rename over the old one, on an
object store by one upload, so a reader sees the old document or the new one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import typing
import uuid

import attrs
from fs.base import FS

from ..host.layer_io import syspaths
from .apply import Entry

#: The folder, beneath a session's staging folder, that holds its commit journals.
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
    """Return the path of journal ``key`` in the session's staging folder."""
    return f"/{JOURNALS}/{key}.json"


def read_journal(staging: FS, key: str) -> Journal | None:
    """Return the journal ``key`` kept in ``staging`` (the session's folder), or ``None``."""
    path = journal_path(key)
    if not staging.exists(path):
        return None
    return Journal.load(staging.readbytes(path))


def write_journal(staging: FS, key: str, journal: Journal) -> None:
    """Write journal ``key`` in one piece (a rename over the old one where renames exist)."""
    path = journal_path(key)
    staging.makedirs(f"/{JOURNALS}", recreate=True)
    data = journal.dump()
    temp = f"/{JOURNALS}/.{key}.{uuid.uuid4().hex}.tmp"
    found = syspaths(staging, temp, path)
    if found is None:
        _upload(staging, path, data)
        return
    with open(found[0], "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(found[0], found[1])


def _upload(staging: FS, path: str, data: bytes) -> None:
    """Write ``data`` at ``path`` in one upload where the FS can (no empty placeholder first)."""
    from ..fsspec.pyfs import FSSpecFS

    if isinstance(staging, FSSpecFS):
        staging.write_once(path, io.BytesIO(data))
    else:
        staging.writebytes(path, data)
