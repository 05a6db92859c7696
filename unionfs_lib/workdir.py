"""The kernel layout's work directory: an upper FS with its workdir beside it.

Linux overlayfs is mounted with ``upperdir=U,workdir=W``: W is a directory
of its own on the same filesystem as U, never inside it. The kernel builds
every new upper entry (a copied-up file, a directory made opaque) in
``W/work`` and renames it into U, so a crash never leaves half an entry in
the upper, and cleans ``W/work`` at mount time.

:class:`UpperDirFS` gives the overlay that layout: it is an ``OSFS`` on U
that also reaches ``W/work`` at the path :data:`WORK_PATH`. That path holds a
NUL character, which no path given to the overlay can contain (the overlay
refuses NUL like every OSFS does), so the work area takes no name away from
the upper and never shows in a listing of it. The copy-up engine uses the
upper's ``work_path`` in preference to the whiteout store's in-upper work
area; the rename from ``W/work`` into U is one ``os.rename`` on one
filesystem, as the kernel's.
"""

from __future__ import annotations

import os
import typing

import fs.errors
from fs.osfs import OSFS

#: Where the upper FS shows ``workdir/work``; unreachable through the overlay.
WORK_PATH = "/\0work"
#: The kernel's name for its scratch directory inside ``workdir``.
KERNEL_WORK_NAME = "work"


class UpperDirFS(OSFS):
    """An OSFS on an overlay upper directory, with the workdir reachable beside it.

    Arguments:
        upperdir: the OS path of the upper directory.
        workdir: the OS path of the work directory (``workdir=`` of the mount);
            ``workdir/work`` is created if missing.

    Paths at or below :data:`WORK_PATH` map into ``workdir/work``; every other
    path is an ordinary OSFS path in ``upperdir``.
    """

    def __init__(self, upperdir: str, workdir: str) -> None:
        """Open ``upperdir`` and make sure ``workdir/work`` exists."""
        super().__init__(upperdir)
        self.workdir = os.path.abspath(workdir)
        self._work_root = os.path.join(self.workdir, KERNEL_WORK_NAME)
        try:
            os.makedirs(self._work_root, mode=0o700, exist_ok=True)
        except OSError as error:
            raise fs.errors.CreateFailed(
                f"cannot create the work area {self._work_root!r}: {error}"
            ) from error

    def __repr__(self) -> str:
        """Show both directories."""
        return f"UpperDirFS({self.root_path!r}, workdir={self.workdir!r})"

    @property
    def work_path(self) -> str:
        """The path at which this FS shows ``workdir/work`` (the copy-up work area)."""
        return WORK_PATH

    @staticmethod
    def _in_work(path: str) -> bool:
        return path == WORK_PATH or path.startswith(WORK_PATH + "/")

    def _work_sys_path(self, path: str) -> str:
        rest = path[len(WORK_PATH) :].lstrip("/")
        return os.path.join(self._work_root, rest) if rest else self._work_root

    def validatepath(self, path: str) -> str:
        """Validate ``path``; the work area's own paths are accepted as they are."""
        if isinstance(path, str) and self._in_work(path):
            rest = super().validatepath(path[len(WORK_PATH) :] or "/")
            return WORK_PATH if rest == "/" else WORK_PATH + rest
        return typing.cast(str, super().validatepath(path))

    def _to_sys_path(self, path: str) -> bytes:
        """Map work-area paths into ``workdir/work``, others into the upper."""
        if self._in_work(path):
            return os.fsencode(self._work_sys_path(path))
        return typing.cast(bytes, super()._to_sys_path(path))

    def getsyspath(self, path: str) -> str:
        """Return the OS path, in ``workdir/work`` for work-area paths."""
        if self._in_work(path):
            return self._work_sys_path(path)
        return typing.cast(str, super().getsyspath(path))
