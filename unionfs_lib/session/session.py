"""An overlay session: forks handed to many workers, merged and committed once.

:class:`OverlaySession` names read-only lowers (local paths, ``s3://`` URLs,
FS objects), a staging area every worker can reach and a target (the top
lower by default). :meth:`~OverlaySession.fork` makes cheap, picklable
:class:`~.fork.Fork` records; each worker opens its own and writes into its
own upper, ``<staging>/<session id>/<fork name>/``. Back on one machine,
:meth:`~OverlaySession.merge` joins the forks' changesets (raising
:class:`~.merge.MergeConflict` when two touched the same path) and
:meth:`~OverlaySession.commit` writes the merged changeset into the target
once, through a journal that makes it resumable after a crash (the core's
:func:`~unionfs_lib.changesets.merged_commit.commit_merged`: the session only
opens the forks and merges their changes).
"""

from __future__ import annotations

import contextlib
import typing
import uuid

import fs.errors
from fs.base import FS

from ..frontend_api import Change, ForkChange, commit_merged, is_object_store, remove_tree
from .fork import Fork, check_name
from .merge import merge_changes
from .specs import LayerSpec, StagingArea, child_spec, open_spec, portable


class OverlaySession:
    """Forks of one overlay for many workers, merged and committed once.

    Arguments:
        lowers: the read-only layers, top-most first: paths, fsspec URLs
            (``s3://bucket/data``), ``{"url": ..., "storage_options": ...}``
            mappings, fsspec filesystems or PyFilesystem2 FS objects (one
            spec alone is one layer). They are never written.
        staging: a path, fsspec URL or FS every worker can reach; each fork
            keeps its upper beneath ``<staging>/<session id>/``, and commits
            keep their journals there.
        target: where :meth:`commit` writes (a spec as above, opened
            writeable); ``None`` for the top lower.
        session_id: the session's id (letters, digits, ``_-.``); a new
            random one by default. Give the id of an earlier session to
            resume its commit from another process.

    The session object itself pickles too (FS objects as their URLs).
    """

    def __init__(
        self,
        lowers: LayerSpec | typing.Sequence[LayerSpec],
        staging: LayerSpec,
        *,
        target: LayerSpec | None = None,
        session_id: str | None = None,
    ) -> None:
        """Record the specs; nothing is opened until a fork is used."""
        if isinstance(lowers, (str, typing.Mapping, FS)) or not isinstance(lowers, typing.Sequence):
            lowers = [lowers]
        self.lowers: tuple[LayerSpec, ...] = tuple(lowers)
        if not self.lowers:
            raise ValueError("a session needs at least one lower layer")
        child_spec(staging, "probe")  # refuses a staging spec of the wrong kind now
        self.staging = staging
        self.target = target
        self.id = check_name(session_id) if session_id is not None else uuid.uuid4().hex

    def __reduce__(self) -> tuple[typing.Any, ...]:
        """Pickle with every spec in a form another process can open."""
        target = None if self.target is None else portable(self.target)
        arguments = ([portable(spec) for spec in self.lowers], portable(self.staging))
        return (_rebuild, (*arguments, target, self.id))

    def __repr__(self) -> str:
        """``OverlaySession(id=...)``."""
        return f"OverlaySession(id={self.id!r})"

    # -- forks ----------------------------------------------------------------

    def fork(self, name: str | None = None) -> Fork:
        """Return a new fork (``name``: unique in the session, random by default); no I/O."""
        chosen = check_name(name) if name is not None else f"fork-{uuid.uuid4().hex[:16]}"
        return Fork(chosen, self.id, self.lowers, self.staging)

    def _checked(self, forks: typing.Iterable[Fork]) -> dict[str, Fork]:
        """Return ``forks`` by name; ``ValueError`` for a stranger or a name given twice."""
        found: dict[str, Fork] = {}
        for fork in forks:
            if not isinstance(fork, Fork) or fork.session_id != self.id:
                raise ValueError(f"{fork!r} is not a fork of session {self.id!r}")
            if fork.name in found:
                raise ValueError(f"fork {fork.name!r} is given twice")
            found[fork.name] = fork
        return found

    # -- changes and merge ----------------------------------------------------

    def changes(self, forks: typing.Iterable[Fork]) -> dict[str, list[Change]]:
        """Return each fork's changes, by fork name, in the detailed form.

        That is :meth:`OverlayFS.changes(detailed=True)
        <unionfs_lib.overlay.OverlayFS.changes>`: a renamed directory is its
        new path added with all it holds and its old path deleted. A fork
        whose upper is missing or empty changed nothing and costs one look at
        the staging area (no lower is read).
        """
        with contextlib.ExitStack() as stack:
            opened = self._open_changed(self._checked(forks), stack)
            return {name: found for name, (_, found) in opened.items()}

    def merge(self, forks: typing.Iterable[Fork]) -> list[Change]:
        """Return the forks' changes as one changeset, sorted by path.

        Raises :class:`~unionfs_lib.session.MergeConflict`, naming every
        conflicting path and the forks that touched it, when two forks
        changed the same path (see :mod:`unionfs_lib.session.merge`).
        Nothing is written.
        """
        return [planned.change for planned in merge_changes(self.changes(forks))]

    def _open_changed(
        self, forks: dict[str, Fork], stack: contextlib.ExitStack
    ) -> dict[str, tuple[FS | None, list[Change]]]:
        """Open each fork that changed something; return its overlay and changes, by name.

        The staging area and the lowers are opened once for all the forks;
        a fork whose upper is missing or empty is not composed at all.
        """
        area = StagingArea(self.staging, self.id)
        lowers: list[FS] | None = None
        opened: dict[str, tuple[FS | None, list[Change]]] = {}
        for name, fork in forks.items():
            upper = fork.open_upper(area)
            if upper is None:
                opened[name] = (None, [])
                continue
            stack.enter_context(upper)
            if upper.isempty("/"):
                opened[name] = (None, [])
                continue
            if lowers is None:
                lowers = self._open_lowers(stack)
            overlay = stack.enter_context(fork.overlay_over(upper, lowers))
            opened[name] = (overlay, overlay.changes(detailed=True))
        return opened

    def _open_lowers(self, stack: contextlib.ExitStack) -> list[FS]:
        """Open the lowers once (read-only); those opened here close with ``stack``."""
        lowers = []
        for spec in self.lowers:
            layer = open_spec(spec, writeable=False)
            if not isinstance(spec, FS):
                stack.enter_context(layer)
            lowers.append(layer)
        return lowers

    # -- commit -----------------------------------------------------------------

    def commit(self, forks: typing.Iterable[Fork]) -> int:
        """Merge the forks and write the merged changeset into the target once.

        Every path is checked first: a :class:`MergeConflict` between forks,
        or a :class:`~unionfs_lib.errors.CommitConflict` where the target no
        longer holds what the lowers showed (another job committed since),
        is raised before anything is written. The plan is then kept as a
        journal in the staging area and applied entry by entry; after a crash
        the same call resumes it. Returns the number of entries in the plan.
        """
        chosen = self._checked(forks)
        with contextlib.ExitStack() as stack:
            staging = stack.enter_context(self._staging())
            target = self._open_target(stack)
            opened: dict[str, tuple[FS | None, list[Change]]] = {}

            def open_overlays() -> dict[str, FS | None]:
                opened.update(self._open_changed(chosen, stack))
                return {name: overlay for name, (overlay, _) in opened.items()}

            def merge() -> list[ForkChange]:
                changes = {name: found for name, (_, found) in opened.items()}
                return [(planned.fork, planned.change) for planned in merge_changes(changes)]

            return commit_merged(target, staging, chosen, open_overlays, merge)

    def _open_target(self, stack: contextlib.ExitStack) -> FS:
        """Open the target (the top lower by default) writeable."""
        spec = self.target if self.target is not None else self.lowers[0]
        target = open_spec(spec, writeable=True)
        if not isinstance(spec, FS):
            stack.enter_context(target)
        return target

    @contextlib.contextmanager
    def _staging(self) -> typing.Iterator[FS]:
        """Open the session's folder in the staging area (made if missing)."""
        folder = StagingArea(self.staging, self.id).open(create=True)
        assert folder is not None
        with folder:
            yield folder

    # -- discard ----------------------------------------------------------------

    def discard(self, forks: typing.Iterable[Fork]) -> None:
        """Drop the forks' uppers from the staging area (links in them are not followed)."""
        chosen = self._checked(forks)
        with self._staging() as staging:
            for name in chosen:
                if staging.exists(f"/{name}"):
                    _drop(staging, f"/{name}")


def _drop(staging: FS, path: str) -> None:
    """Remove the tree at ``path``: on an object store file by file (its folders go with them)."""
    if not is_object_store(staging):
        remove_tree(staging, path)
        return
    for found in list(staging.walk.files(path)):
        staging.remove(found)
    with contextlib.suppress(fs.errors.ResourceNotFound):
        staging.removetree(path)


def _rebuild(
    lowers: list[LayerSpec], staging: LayerSpec, target: LayerSpec | None, session_id: str
) -> OverlaySession:
    """Rebuild a pickled session."""
    return OverlaySession(lowers, staging, target=target, session_id=session_id)
