"""PyFilesystem2 openers: ``fs.open_fs("overlay://...")`` and ``fs.open_fs("lazy://...")``.

Registered through the ``fs.opener`` entry point (see ``pyproject.toml``), so
every URL :meth:`OverlayFS.describe` produces opens with ``fs.open_fs``.

``overlay://?upper=U&lower=L1&fingerprint=F1&lower=L2...`` takes the layer
URLs percent-encoded (``urllib.parse.quote(url, safe="")``), lowers
top-first, each optionally followed by its ``fingerprint``; ``verify=error``
(the default) refuses a lower whose fingerprint changed, ``verify=warn`` logs
it, ``verify=off`` skips the check. Without ``upper`` the overlay is
read-only. ``lazy://?source=S&cache=C`` opens a
:class:`~unionfs_lib.lazy.LazyFS` over ``S`` (cache ``C``, or a temporary
directory).
"""

from __future__ import annotations

import logging
import typing
import urllib.parse

import fs
import fs.errors
from fs.base import FS
from fs.opener import Opener

from . import describe as _describe
from .errors import LayerMismatch, literal

log = logging.getLogger(__name__)


class OverlayOpener(Opener):
    """Opens ``overlay://`` URLs as :class:`~unionfs_lib.overlay.OverlayFS`."""

    protocols = ["overlay"]

    def open_fs(
        self, fs_url: str, parse_result: typing.Any, writeable: bool, create: bool, cwd: str
    ) -> FS:
        """Open the overlay the URL describes."""
        description, verify = _describe.parse_url(fs_url)
        if verify != "warn":
            return _describe.from_description(description, verify=verify == "error")
        try:
            return _describe.from_description(description, verify=True)
        except LayerMismatch as error:
            log.warning("%s", error)
            return _describe.from_description(description, verify=False)


class LazyOpener(Opener):
    """Opens ``lazy://`` URLs as :class:`~unionfs_lib.lazy.LazyFS`."""

    protocols = ["lazy"]

    def open_fs(
        self, fs_url: str, parse_result: typing.Any, writeable: bool, create: bool, cwd: str
    ) -> FS:
        """Open the source (and cache) and wrap them."""
        from .lazy import LazyFS

        params = dict(_describe.parse_query(fs_url, "lazy"))
        if "source" not in params or set(params) - {"source", "cache"}:
            message = f"lazy:// takes source= and optionally cache=: {fs_url!r}"
            raise fs.errors.CreateFailed(msg=literal(message))
        source = fs.open_fs(params["source"], writeable=False)
        cache = None
        if "cache" in params:
            cache = fs.open_fs(params["cache"], writeable=True, create=True)
        return LazyFS(source, cache)


class UpperDirOpener(Opener):
    """Opens ``upperdir://<upperdir>?workdir=<workdir>`` as a kernel-layout upper.

    That is :class:`~unionfs_lib.workdir.UpperDirFS`, the upper of
    ``OverlayFS.from_dirs`` (``upperdir=``/``workdir=`` of ``mount -t overlay``).
    """

    protocols = ["upperdir"]

    def open_fs(
        self, fs_url: str, parse_result: typing.Any, writeable: bool, create: bool, cwd: str
    ) -> FS:
        """Open the upper directory with its work directory beside it."""
        from .workdir import UpperDirFS

        rest = fs_url[len("upperdir://") :]
        path, _, _ = rest.partition("?")
        params = dict(_describe.parse_query(fs_url, "upperdir"))
        if not path or set(params) != {"workdir"}:
            message = f"upperdir:// takes a path and workdir=: {fs_url!r}"
            raise fs.errors.CreateFailed(msg=literal(message))
        return UpperDirFS(urllib.parse.unquote(path), params["workdir"])
