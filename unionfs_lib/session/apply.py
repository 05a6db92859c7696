"""Planning a merged changeset against the target, and applying it one entry at a time.

Each merged change is checked against the target before anything is
written, as :func:`~unionfs_lib.changesets.commit.commit` checks it: the target must
hold what the lowers showed there (``old``) or already what the fork shows
(``new``: an interrupted commit got that far); anything else raises
:class:`~unionfs_lib.errors.CommitConflict`. The plan keeps both states, so
a commit resumed from the journal checks each entry again without listing
the forks' changes anew.

Applying an entry depends on the target:

* a target with OS paths (or a ``MemoryFS``) gets each entry as
  ``OverlayFS.commit`` writes it: a file streamed to the work area at the
  target's root and renamed into place, a deletion renamed away first;
* any other target (an object store: S3, GCS, Azure) gets each file written
  once at its final name, one upload that readers see whole or not at all,
  with no copy and no rename (which object stores lack); a deleted tree
  goes object by object.
"""

from __future__ import annotations

import typing

import attrs
import fs.errors
from fs.base import FS
from fs.memoryfs import MemoryFS

from ..changesets.changes import DELETED, Change
from ..changesets.commit import (
    COMMIT_AREA,
    Planner,
    Step,
    _clear_area,
    apply_step,
    copy_metadata,
    tree_state,
)
from ..errors import CommitConflict, ReservedName, literal
from ..host.datacopy import stream_copy
from ..host.layer_io import syspaths
from ..host.safe_tree import check_no_link_above, remove_entry, remove_tree
from ..model.paths import is_same_or_below, split_path

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


def is_object_store(target: FS) -> bool:
    """Tell whether ``target`` lacks atomic renames: no OS paths and no ``MemoryFS``."""
    return not isinstance(target, MemoryFS) and syspaths(target, "/") is None


def plan_entry(planner: Planner, fork: str, change: Change, sources: set[str]) -> Entry | None:
    """Check one merged change against the target; return its entry (``None``: nothing to do).

    Raises :class:`CommitConflict`, ``LinkInPath``, ``Unsupported`` (a link
    for a target without OS paths) or ``ReservedName`` as ``commit`` does.
    """
    target, path = planner.target, change.path
    if planner.covered(change):
        return None
    if is_same_or_below(path, COMMIT_AREA):
        raise ReservedName(path)
    check_no_link_above(target, path, planner.checked)
    if change.kind == DELETED and planner._below_dangling_redirect(path):
        return None
    new = planner._new_state(change)
    link = new[1] if new is not None and new[0] == "link" else None
    if link is not None:
        planner.links.add(path)
        if syspaths(target, "/") is None:
            message = f"cannot commit symbolic link '{path}': the target has no OS paths"
            raise fs.errors.Unsupported(path, msg=literal(message))
    deep = change.kind == DELETED or (not change.is_dir and planner._lower_is_dir(change))
    old = normal(planner._old_state(path, deep))
    new = normal(new)
    phase = 0 if change.kind != DELETED else (2 if path in sources else 1)
    actual = normal(tree_state(target, path, deep))
    if actual == new:
        if change.kind == DELETED or link is not None:
            return None
        return Entry(fork, change, "metadata", old, new, phase, deep)
    if actual != old:
        raise CommitConflict(path)
    if change.kind == DELETED:
        action = "remove"
    else:
        action = "link" if link is not None else ("makedir" if change.is_dir else "write")
    return Entry(fork, change, action, old, new, phase, deep)


def recheck(target: FS, entry: Entry) -> Entry | None:
    """Check a journal entry against the target again: ``None`` once it is done.

    Raises :class:`CommitConflict` when the target holds neither state; a
    deleted tree partly removed (some of its old entries, nothing else) is
    still to finish.
    """
    change = entry.change
    actual = normal(tree_state(target, change.path, entry.deep))
    if actual == entry.new:
        if change.kind == DELETED or entry.action == "link":
            return None
        return attrs.evolve(entry, action="metadata")
    if actual == entry.old or (change.kind == DELETED and _partly_removed(actual, entry.old)):
        return entry
    raise CommitConflict(change.path)


def _partly_removed(actual: State, old: State) -> bool:
    """Tell whether tree state ``actual`` holds only entries of tree state ``old``."""
    if actual is None or old is None or actual[0] != "dir" or old[0] != "dir":
        return False
    if len(actual) < 2 or len(old) < 2:
        return False
    return {tuple(item) for item in actual[1]} <= {tuple(item) for item in old[1]}


def apply_entry(overlay: FS, target: FS, entry: Entry) -> None:
    """Apply one entry to ``target`` from the fork's ``overlay`` (see the module docstring)."""
    if not is_object_store(target):
        step = Step(entry.change, entry.action, link=entry.new[1] if entry.action == "link"
                    else None)  # fmt: skip
        apply_step(overlay, target, step)
        return
    path = entry.change.path
    if entry.action == "write":
        _write_once(overlay, target, path)
    elif entry.action == "makedir":
        target.makedirs(path, recreate=True)
    elif entry.action == "remove":
        if target.exists(path):
            if target.isdir(path):
                remove_tree(target, path)
            else:
                remove_entry(target, path)
    else:
        copy_metadata(overlay, target, path, path)


def _write_once(overlay: FS, target: FS, path: str) -> None:
    """Upload a merged file to an object store once, at its final name (no placeholder)."""
    from ..fsspec.pyfs import FSSpecFS

    if isinstance(target, FSSpecFS):
        with overlay.openbin(path, "r") as source:
            target.write_once(path, source)
        return
    target.makedirs(split_path(path)[0], recreate=True)
    stream_copy(overlay, path, target, path)


def clear_work_area(target: FS) -> None:
    """Remove the target's commit work area (what an interrupted commit left there)."""
    if not is_object_store(target):
        _clear_area(target)
