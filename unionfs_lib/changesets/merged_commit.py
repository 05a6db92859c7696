"""Committing a merged changeset: planned, journaled, applied entry by entry, resumable.

A merged changeset is the changes of several overlays over the same lowers
(a session's forks), merged without conflict. :func:`commit_merged` writes
it into the target once: it plans every entry (:func:`plan_merged`), keeps
the plan as a journal (:mod:`unionfs_lib.changesets.commit_journal`) before
it writes anything, applies it (:func:`apply_merged`) and marks the journal
done; after a crash the same call resumes from the journal, checking each
entry again (:func:`recheck_merged`).

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

from ..errors import CommitConflict, ReservedName, literal
from ..host.datacopy import stream_copy
from ..host.layer_io import syspaths
from ..host.safe_tree import check_no_link_above, remove_entry, remove_tree
from ..model.paths import is_same_or_below, split_path
from .changes import DELETED, Change, sort_key
from .commit import (
    COMMIT_AREA,
    Planner,
    Step,
    apply_step,
    clear_area,
    copy_metadata,
    tree_state,
)
from .commit_journal import (
    Entry,
    Journal,
    State,
    journal_key,
    normal,
    read_journal,
    write_journal,
)


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
    if change.kind == DELETED and planner.below_dangling_redirect(path):
        return None
    new = planner.new_state(change)
    link = new[1] if new is not None and new[0] == "link" else None
    if link is not None:
        planner.links.add(path)
        if syspaths(target, "/") is None:
            message = f"cannot commit symbolic link '{path}': the target has no OS paths"
            raise fs.errors.Unsupported(path, msg=literal(message))
    deep = change.kind == DELETED or (not change.is_dir and planner.lower_is_dir(change))
    old = normal(planner.old_state(path, deep))
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
    """Upload a merged file to an object store once, at its final name (no placeholder).

    A target with a ``write_once`` method (an ``FSSpecFS``) uploads it in one
    piece; any other gets it streamed.
    """
    write_once = getattr(target, "write_once", None)  # FSSpecFS (unionfs_lib.fsspec.pyfs)
    if write_once is not None:
        with overlay.openbin(path, "r") as source:
            write_once(path, source)
        return
    target.makedirs(split_path(path)[0], recreate=True)
    stream_copy(overlay, path, target, path)


def clear_work_area(target: FS) -> None:
    """Remove the target's commit work area (what an interrupted commit left there)."""
    if not is_object_store(target):
        clear_area(target)


#: A change of a merged changeset and the name of the overlay (fork) it comes from.
ForkChange = typing.Tuple[str, Change]


def plan_merged(
    target: FS, overlays: typing.Mapping[str, FS | None], merged: typing.Sequence[ForkChange]
) -> list[Entry]:
    """Check every merged change against ``target``; return the entries in the order they apply.

    ``overlays`` are the forks' overlays by name, ``merged`` the merged
    changes (each with its fork's name), sorted by path. Writes come first,
    then deletions, then the old paths of renamed directories. Raises
    :class:`CommitConflict` (and what :func:`plan_entry` raises) before
    anything is written.
    """
    sources = {source for _, change in merged if (source := change.source) is not None}
    planners: dict[str, Planner] = {}
    entries: list[Entry] = []
    for fork, change in merged:
        overlay = overlays[fork]
        assert overlay is not None
        planner = planners.setdefault(fork, Planner(overlay, target))
        entry = plan_entry(planner, fork, change, sources)
        if entry is not None:
            entries.append(entry)
    entries.sort(key=lambda entry: (entry.phase, sort_key(entry.change.path)))
    return entries


def recheck_merged(target: FS, entries: typing.Iterable[Entry]) -> list[Entry]:
    """Return the journal's entries still to apply, each checked again (see :func:`recheck`)."""
    rechecked = [recheck(target, entry) for entry in entries]
    return [entry for entry in rechecked if entry is not None]


def apply_merged(
    target: FS, overlays: typing.Mapping[str, FS | None], entries: typing.Iterable[Entry]
) -> None:
    """Apply ``entries`` in order, each from its fork's overlay, with a clean work area."""
    clear_work_area(target)
    for entry in entries:
        overlay = overlays[entry.fork]
        assert overlay is not None
        apply_entry(overlay, target, entry)
    clear_work_area(target)


def commit_merged(
    target: FS,
    journals: FS,
    forks: typing.Collection[str],
    open_overlays: typing.Callable[[], typing.Mapping[str, FS | None]],
    merge: typing.Callable[[], typing.Sequence[ForkChange]],
) -> int:
    """Commit a merged changeset into ``target`` once, journaled in ``journals``; resume it.

    ``forks`` names the overlays committed; the journal is named after that
    set (see :func:`~unionfs_lib.changesets.commit_journal.journal_key`).
    ``open_overlays()`` opens them (by name; ``None`` for one that changed
    nothing) and ``merge()`` then gives their merged changes; neither is
    called for a commit already done, and ``merge`` not for one resumed from
    its journal. Every entry is checked before anything is written (see
    :func:`plan_merged`). Returns the number of entries in the plan.
    """
    key = journal_key(forks)
    journal = read_journal(journals, key)
    if journal is not None and journal.done:
        return len(journal.entries)
    overlays = open_overlays()
    if journal is None:
        journal = Journal(plan_merged(target, overlays, merge()), sorted(forks))
        write_journal(journals, key, journal)
        todo: list[Entry] = journal.entries
    else:
        todo = recheck_merged(target, journal.entries)
    apply_merged(target, overlays, todo)
    journal.done = True
    write_journal(journals, key, journal)
    return len(journal.entries)


__all__ = [
    "ForkChange",
    "apply_entry",
    "apply_merged",
    "clear_work_area",
    "commit_merged",
    "is_object_store",
    "plan_entry",
    "plan_merged",
    "recheck",
    "recheck_merged",
]
