"""The work area: where new upper entries are built before one rename shows them.

Every change that makes a new upper entry visible (a copy-up, a directory
made opaque, a directory removed or renamed) builds it in a work area of the
upper and renames it into place, so a crash never leaves half an entry in
sight. :class:`WorkArea` is that area for one overlay; the copy-up engine and
the directory operations share it, and the overlay cleans it at open.

Where the area is: a hidden directory inside the upper that the whiteout
store reserves (``/.wh..wh..work`` for marker stores), or, for the kernel
layout, ``workdir/work`` beside the upper.

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

import itertools
import os
import uuid

import attrs
import fs.errors
from fs.base import FS
from fs.error_tools import convert_os_errors
from fs.osfs import OSFS

from ..model.paths import join_path
from .layer_io import syspaths
from .safe_tree import (
    DIR,
    clear_dir,
    entry_kind,
    make_real_dir,
    remove_entry,
    remove_tree,
    rename_dir,
)

#: Where the upper FS shows ``workdir/work``; unreachable through the overlay.
WORK_PATH = "/\0work"
#: The kernel's name for its scratch directory inside ``workdir``.
KERNEL_WORK_NAME = "work"


class _TempNames:
    """Fresh names for the work area: a random prefix per process and a counter.

    One ``uuid4`` (a ``getrandom`` call) per process instead of per name;
    the names look as before (32 hex digits). A forked child draws a prefix
    of its own, so two processes sharing a work area never pick one name.
    """

    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        """Draw a new prefix and restart the counter."""
        self.prefix = uuid.uuid4().hex[:20]
        self.counter = itertools.count()

    def fresh(self) -> str:
        """Return a name no earlier call in this process returned."""
        return f"{self.prefix}{next(self.counter):012x}"


_TEMP_NAMES = _TempNames()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_TEMP_NAMES.renew)


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
        """Open ``upperdir`` and make sure ``workdir/work`` is a real directory.

        As the kernel does at mount time, whatever else stands at
        ``workdir/work`` (a link, even to a directory, or a file) is removed
        without being followed, and a fresh directory made.
        """
        super().__init__(upperdir, expand_vars=False)  # a path, taken literally
        self.workdir = os.path.abspath(workdir)
        self._work_root = os.path.join(self.workdir, KERNEL_WORK_NAME)
        try:
            os.makedirs(self.workdir, mode=0o700, exist_ok=True)
            make_real_dir(self.workdir, KERNEL_WORK_NAME)
        except (OSError, fs.errors.FSError) as error:
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
        return super().validatepath(path)

    def _to_sys_path(self, path: str) -> bytes:
        """Map work-area paths into ``workdir/work``, others into the upper."""
        if self._in_work(path):
            return os.fsencode(self._work_sys_path(path))
        return super()._to_sys_path(path)

    def getsyspath(self, path: str) -> str:
        """Return the OS path, in ``workdir/work`` for work-area paths."""
        if self._in_work(path):
            return self._work_sys_path(path)
        return super().getsyspath(path)


@attrs.frozen
class WorkArea:
    """The work area of one overlay's upper.

    Attributes:
        upper: the upper layer, or ``None`` for a read-only overlay.
        path: the area's path in ``upper``, or ``None`` where there is none
            (then entries are made in place, and directory renames that need
            the area are refused as unsupported).

    """

    upper: FS | None
    path: str | None

    @classmethod
    def of(cls, upper: FS | None, store_work_dir: str | None) -> WorkArea:
        """Return the upper's own area (kernel layout), else the store's in-upper one."""
        if isinstance(upper, UpperDirFS):
            return cls(upper, upper.work_path)
        return cls(upper, store_work_dir)

    def _upper(self) -> FS:
        """Return the upper, or raise ``ResourceReadOnly`` for a read-only overlay."""
        if self.upper is None:
            raise fs.errors.ResourceReadOnly("/")
        return self.upper

    def temp_path(self) -> str:
        """Return a fresh name in the work area (creating the area)."""
        upper = self._upper()
        if self.path is None:
            raise fs.errors.Unsupported(
                msg="no work area: the whiteout store keeps none in the upper and the upper "
                "has no workdir beside it (open the layers with OverlayFS.from_dirs)"
            )
        kind = entry_kind(upper, self.path)  # an lstat, cheaper than makedir's refusal
        if kind != DIR:
            if kind is not None:  # a link or file on the reserved name: never followed
                remove_entry(upper, self.path)
            upper.makedir(self.path, recreate=True)
        return join_path(self.path, _TEMP_NAMES.fresh())

    def clean(self) -> None:
        """Remove leftovers of interrupted operations, never following a link in them.

        A link or file standing at the area itself is removed as what it is
        (the name is reserved, not data).
        """
        upper, work = self.upper, self.path
        if upper is None or work is None:
            return
        kind = entry_kind(upper, work)
        if kind is None:
            return
        if kind != DIR:
            remove_entry(upper, work)
            return
        clear_dir(upper, work)

    def trash(self, path: str) -> None:
        """Remove upper entry ``path``: a directory is first renamed into the area.

        The directory disappears from view in one rename; removing its content
        afterwards can be interrupted without harm (:meth:`clean`). A link,
        even to a directory, is removed as a link; nothing is followed.
        """
        upper = self._upper()
        kind = entry_kind(upper, path)
        if kind is None:
            raise fs.errors.ResourceNotFound(path)
        if kind != DIR:
            found = syspaths(upper, path)
            if found is None:
                upper.remove(path)
                return
            with convert_os_errors("remove", path):
                os.unlink(found[0])  # never what a link points to
            return
        temp = self.temp_path()
        rename_dir(upper, path, temp)
        remove_tree(upper, temp)


def discard(upper: FS, path: str) -> None:
    """Delete a work-area leftover, file, link or directory, ignoring absence.

    Never follows a link (:func:`unionfs_lib.host.safe_tree.remove_entry`).
    """
    try:
        remove_entry(upper, path)
    except fs.errors.ResourceNotFound:
        pass
