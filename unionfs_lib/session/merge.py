"""Merging the changesets of several forks into one, with conflict detection.

Each fork's changes are listed in the detailed form of
:func:`~unionfs_lib.changesets.changes.changes` (a renamed directory is its new path
added with all it holds and its old path deleted). Two forks conflict when

* both changed the same path, unless both made the same new directory or both
  deleted the same entry (the merge keeps one of them); or
* one deleted a path, replaced it by something that is no directory, or made
  it by a rename, and the other changed something beneath it.

The merge looks at each change once and at its ancestors in a dictionary:
its cost grows with the number of changed paths and their depth, never with
the size of the layers.
"""

from __future__ import annotations

import typing

import attrs
import fs.errors

from ..errors import literal
from ..frontend_api import ADDED, DELETED, Change, sort_key, split_path

#: How many conflicting paths the message of a :class:`MergeConflict` names (all are kept).
SHOWN = 20


class MergeConflict(fs.errors.OperationFailed):
    """Two or more forks changed the same path (or one changed what another removed).

    Nothing was written. :attr:`conflicts` maps every conflicting path to the
    names of the forks involved, sorted; ``path`` is the first of them.
    """

    def __init__(self, conflicts: typing.Mapping[str, typing.Iterable[str]]) -> None:
        self.conflicts = {
            path: tuple(sorted(set(conflicts[path]))) for path in sorted(conflicts, key=sort_key)
        }
        lines = [f"{path} ({', '.join(forks)})" for path, forks in self.conflicts.items()]
        more = len(lines) - SHOWN
        text = "; ".join(lines[:SHOWN]) + (f"; and {more} more" if more > 0 else "")
        message = f"{len(lines)} path(s) changed by more than one fork: {text}"
        first = next(iter(self.conflicts), None)
        super().__init__(path=first, msg=literal(message))

    def __reduce__(self) -> tuple[typing.Any, ...]:
        """Pickle with the conflicts (the exception may cross processes)."""
        return (MergeConflict, (self.conflicts,))


@attrs.frozen
class Planned:
    """One change of the merged changeset and the fork whose overlay holds its new state."""

    fork: str
    change: Change


def merge_changes(changesets: typing.Mapping[str, typing.Sequence[Change]]) -> list[Planned]:
    """Merge the detailed changesets of forks (by name); raise :class:`MergeConflict`.

    Returns one :class:`Planned` per changed path, sorted by path (a directory
    before its content).
    """
    at_path: dict[str, list[Planned]] = {}
    blocking: dict[str, list[Planned]] = {}
    for fork, found in changesets.items():
        for change in found:
            planned = Planned(fork, change)
            at_path.setdefault(change.path, []).append(planned)
            if _excludes_beneath(change):
                blocking.setdefault(change.path, []).append(planned)
    conflicts: dict[str, set[str]] = {}
    for path, planned_here in at_path.items():
        if not _compatible([planned.change for planned in planned_here]):
            conflicts.setdefault(path, set()).update(planned.fork for planned in planned_here)
        for planned in planned_here:
            _check_ancestors(planned, blocking, conflicts)
    if conflicts:
        raise MergeConflict(conflicts)
    return [at_path[path][0] for path in sorted(at_path, key=sort_key)]


def _excludes_beneath(change: Change) -> bool:
    """Tell whether ``change`` rules out another fork's change beneath its path."""
    return change.kind == DELETED or not change.is_dir or change.source is not None


def _compatible(found: list[Change]) -> bool:
    """Tell whether the changes several forks made at one path agree (one of them will do)."""
    if len(found) == 1:
        return True
    first = found[0]
    if any(change != first for change in found):
        return False
    made_dir = first.kind == ADDED and first.is_dir and first.source is None
    return made_dir or first.kind == DELETED


def _check_ancestors(
    planned: Planned, blocking: dict[str, list[Planned]], conflicts: dict[str, set[str]]
) -> None:
    """Record a conflict with every other fork's excluding change above ``planned``'s path."""
    path = planned.change.path
    parent = split_path(path)[0]
    while parent != "/" and path != "/":
        for other in blocking.get(parent, ()):
            if other.fork != planned.fork:
                conflicts.setdefault(path, set()).update((planned.fork, other.fork))
                conflicts.setdefault(parent, set()).update((planned.fork, other.fork))
        path, parent = parent, split_path(parent)[0]
