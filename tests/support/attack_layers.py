"""Overlays for the attack tests: the marker store, the kernel layout, and uppers without OS paths.

Each builder returns an :class:`~unionfs_lib.OverlayFS` over directories made
under ``base`` (a ``tmp_path``), and says where its work area is on disk, so a
test can lay what an earlier, interrupted operation would have left there.
"""

from __future__ import annotations

import os
import typing

import attrs
import fs.errors
from fs.osfs import OSFS
from fs.wrapfs import WrapFS

from unionfs_lib import OverlayFS
from unionfs_lib.stores.marker_whiteouts import WORK_DIR_NAME


@attrs.define
class Layers:
    """The directories of one overlay: lower, upper, and where its work area lives."""

    base: str
    kind: str
    lower: str = attrs.field(init=False)
    upper: str = attrs.field(init=False)
    workdir: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        """Create the directories."""
        self.lower = os.path.join(self.base, "lower")
        self.upper = os.path.join(self.base, "upper")
        self.workdir = os.path.join(self.base, "workdir")
        for path in (self.lower, self.upper, self.workdir):
            os.makedirs(path, exist_ok=True)

    @property
    def work_area(self) -> str:
        """The OS path of the overlay's work area (for a crafted leftover)."""
        if self.kind == "kernel":
            return os.path.join(self.workdir, "work")
        return os.path.join(self.upper, WORK_DIR_NAME)

    def open(self) -> OverlayFS:
        """Open the overlay: ``OverlayFS(OSFS, [OSFS])`` or ``OverlayFS.from_dirs``."""
        if self.kind == "kernel":
            return OverlayFS.from_dirs([self.lower], self.upper, self.workdir)
        return OverlayFS(OSFS(self.upper), [OSFS(self.lower)])


#: Both on-disk formats with OS paths.
KINDS = ("markers", "kernel")


def layers(base: typing.Any, kind: str) -> Layers:
    """Return the layers of one overlay of ``kind`` under directory ``base``."""
    return Layers(str(base), kind)


class HiddenSysPaths(WrapFS):  # type: ignore[type-arg]
    """A layer on local files that does not say so: it has no ``getsyspath``.

    What a wrapper (a cache, a remote client on ``file://``) looks like to
    the overlay: PyFilesystem2 calls that follow links, a ``link`` namespace,
    and no OS paths to check.
    """

    def getsyspath(self, path: str) -> str:
        """Refuse, as an FS without OS paths does."""
        raise fs.errors.NoSysPath(path=path)
