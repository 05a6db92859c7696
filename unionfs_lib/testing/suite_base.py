"""What the three conformance suites share: their base class and their layers.

Each suite is a mixin: a plugin author combines it with
``unittest.TestCase`` and gives it one ``make_*`` method. The mixins derive
from :class:`SuiteBase`, which is ``unittest.TestCase`` for the type checker
and ``object`` at run time, so that the suites are not collected (or run)
on their own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import typing
import unittest

from fs.base import FS
from fs.osfs import OSFS

from unionfs_lib.host.workdir import UpperDirFS

if typing.TYPE_CHECKING:
    SuiteBase = unittest.TestCase
else:
    SuiteBase = object


class OSLayers(SuiteBase):
    """Layers on OS directories in a scratch directory removed after the test.

    An upper made by :meth:`os_upper` is an ``OSFS`` with a work directory
    beside it (as ``mount -t overlay`` has, :class:`~unionfs_lib.host.workdir.UpperDirFS`),
    so a store that keeps no work area inside the upper (the kernel format)
    can copy up too.
    """

    def scratch_dir(self) -> str:
        """Return a new scratch directory, removed when the test ends."""
        path = tempfile.mkdtemp(prefix="unionfs-suite-")
        self.addCleanup(shutil.rmtree, path, True)
        return path

    def os_upper(self) -> FS:
        """Return an empty upper on an OS directory, with a work directory beside it."""
        root = self.scratch_dir()
        os.mkdir(os.path.join(root, "upper"))
        upper = UpperDirFS(os.path.join(root, "upper"), os.path.join(root, "work"))
        self.addCleanup(upper.close)
        return upper

    def reopen_layer(self, layer: FS) -> FS:
        """Return a new FS on the same OS directory as ``layer`` (``layer`` itself if none).

        An :class:`~unionfs_lib.host.workdir.UpperDirFS` is reopened with its work
        directory; the new FS is closed after the test.
        """
        if isinstance(layer, UpperDirFS):
            again: FS = UpperDirFS(layer.getsyspath("/"), layer.workdir)
        elif isinstance(layer, OSFS):
            again = OSFS(layer.getsyspath("/"))
        else:
            return layer
        self.addCleanup(again.close)
        return again

    def os_lower(self) -> FS:
        """Return an empty lower layer on an OS directory."""
        lower = OSFS(self.scratch_dir())
        self.addCleanup(lower.close)
        return lower


__all__ = ["OSLayers", "SuiteBase"]
