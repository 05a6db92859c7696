"""The base of the package's read-only views: every change is refused.

:class:`~unionfs_lib.host.tar_index.TarIndex` and :class:`~unionfs_lib.layers.lazy_fs.LazyFS`
answer reads only; this base gives them the four refusals of PyFilesystem2's
writing methods, each raising :class:`fs.errors.ResourceReadOnly` with the
path, so a caller learns at once which path was refused and nothing is
changed. ``openbin`` stays the subclass's own: it refuses the writing modes
itself, as it alone knows its modes.
"""

from __future__ import annotations

import typing

import fs.errors
from fs.base import FS

if typing.TYPE_CHECKING:
    from fs.subfs import SubFS


class ReadOnlyFS(FS):
    """An FS that refuses ``makedir``, ``remove``, ``removedir`` and ``setinfo``."""

    def makedir(
        self, path: str, permissions: typing.Any = None, recreate: bool = False
    ) -> SubFS[FS]:
        """Refuse: the view is read-only."""
        raise fs.errors.ResourceReadOnly(path)

    def remove(self, path: str) -> None:
        """Refuse: the view is read-only."""
        raise fs.errors.ResourceReadOnly(path)

    def removedir(self, path: str) -> None:
        """Refuse: the view is read-only."""
        raise fs.errors.ResourceReadOnly(path)

    def setinfo(self, path: str, info: typing.Mapping[str, typing.Any]) -> None:
        """Refuse: the view is read-only."""
        raise fs.errors.ResourceReadOnly(path)
