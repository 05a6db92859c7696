"""The ``fsspec://`` PyFilesystem2 opener: reopens :class:`FSSpecFS` layers.

Registered through the ``fs.opener`` entry point, so the URL that
``OverlayFS.describe`` writes for an :class:`~unionfs_lib.fsspec.pyfs.FSSpecFS`
layer opens with ``fs.open_fs``; see :mod:`unionfs_lib.fsspec.urls` for the
syntax.
"""

from __future__ import annotations

import typing

from fs.base import FS
from fs.opener import Opener

from .layers import open_fsspec_url
from .urls import parse_layer_url


class FSSpecOpener(Opener):
    """Opens ``fsspec://?url=...&options=...`` as a :class:`~unionfs_lib.fsspec.pyfs.FSSpecFS`."""

    protocols = ["fsspec"]

    def open_fs(
        self, fs_url: str, parse_result: typing.Any, writeable: bool, create: bool, cwd: str
    ) -> FS:
        """Open the fsspec filesystem and root the URL names (read-only unless ``writeable``)."""
        url, options = parse_layer_url(fs_url)
        return open_fsspec_url(url, options, writeable=writeable)
