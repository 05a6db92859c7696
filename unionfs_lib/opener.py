"""PyFilesystem2 openers: ``fs.open_fs("overlay://...")`` and ``fs.open_fs("lazy://...")``.

Registered through the ``fs.opener`` entry point (see ``pyproject.toml``), so
every URL :meth:`OverlayFS.describe` produces opens with ``fs.open_fs``.

``overlay://?upper=U&lower=L1&fingerprint=F1&lower=L2...`` takes the layer
URLs percent-encoded (``urllib.parse.quote(url, safe="")``), lowers
top-first, each optionally followed by its ``fingerprint``; ``verify=error``
(the default) refuses a lower whose fingerprint changed, ``verify=warn`` logs
it, ``verify=off`` skips the check. Without ``upper`` the overlay is
read-only. ``lazy://?source=S&cache=C`` opens a
:class:`~unionfs_lib.layers.lazy_fs.LazyFS` over ``S`` (cache ``C``, or a temporary
directory).

Opening writes nothing: a missing upper (or cache) is created only when the
caller asks, with ``fs.open_fs(url, create=True)`` or ``create=1`` in the
URL, and an archive URL never replaces an existing file
(:func:`~unionfs_lib.layers.layer_urls.open_layer`). Malformed URLs raise
``fs.errors.CreateFailed``.
"""

from __future__ import annotations

import logging
import os
import typing
import urllib.parse

import fs.errors
from fs.base import FS
from fs.opener import Opener

from . import checkpoint as _describe
from .errors import LayerMismatch, literal
from .layers.layer_urls import open_layer, shown

log = logging.getLogger(__name__)


class OverlayOpener(Opener):
    """Opens ``overlay://`` URLs as :class:`~unionfs_lib.overlay.OverlayFS`."""

    protocols = ["overlay"]

    def open_fs(
        self, fs_url: str, parse_result: typing.Any, writeable: bool, create: bool, cwd: str
    ) -> FS:
        """Open the overlay the URL describes (creating a missing upper only if asked)."""
        parsed = _describe.parse_overlay_url(fs_url)
        create = create or parsed.create
        description, verify = parsed.description, parsed.verify
        if verify != "warn":
            return _describe.from_description(
                description, verify=verify == "error", create=create
            )
        try:
            return _describe.from_description(description, verify=True, create=create)
        except LayerMismatch as error:
            log.warning("%s", error)
            return _describe.from_description(description, verify=False, create=create)


class LazyOpener(Opener):
    """Opens ``lazy://`` URLs as :class:`~unionfs_lib.layers.lazy_fs.LazyFS`."""

    protocols = ["lazy"]

    def open_fs(
        self, fs_url: str, parse_result: typing.Any, writeable: bool, create: bool, cwd: str
    ) -> FS:
        """Open the source (and cache) and wrap them; a missing cache is made only if asked."""
        from .layers.lazy_fs import LazyFS

        pairs = _describe.parse_query(fs_url, "lazy")
        params = dict(pairs)
        known = {"source", "cache", "create"}
        if "source" not in params or set(params) - known or len(params) != len(pairs):
            message = f"lazy:// takes source=, optionally cache= and create=1: {shown(fs_url)}"
            raise fs.errors.CreateFailed(msg=literal(message))
        if params.get("create", "0") not in ("0", "1"):
            raise fs.errors.CreateFailed(msg=literal(f"create= must be 1 or 0: {shown(fs_url)}"))
        source = open_layer(params["source"], writeable=False)
        cache = None
        if "cache" in params:
            try:
                cache = open_layer(
                    params["cache"], writeable=True, create=create or params.get("create") == "1"
                )
            except BaseException:
                source.close()
                raise
        return LazyFS(source, cache)


class UpperDirOpener(Opener):
    """Opens ``upperdir://<upperdir>?workdir=<workdir>`` as a kernel-layout upper.

    That is :class:`~unionfs_lib.host.workdir.UpperDirFS`, the upper of
    ``OverlayFS.from_dirs`` (``upperdir=``/``workdir=`` of ``mount -t overlay``).
    """

    protocols = ["upperdir"]

    def open_fs(
        self, fs_url: str, parse_result: typing.Any, writeable: bool, create: bool, cwd: str
    ) -> FS:
        """Open the upper directory with its work directory beside it.

        Both must exist unless ``create`` is true (``fs.open_fs(url, create=True)``).
        """
        from .host.workdir import UpperDirFS

        rest = fs_url[len("upperdir://") :]
        quoted, _, _ = rest.partition("?")
        pairs = _describe.parse_query(fs_url, "upperdir")
        params = dict(pairs)
        if not quoted or set(params) != {"workdir"} or len(pairs) != 1:
            message = f"upperdir:// takes a path and workdir=: {shown(fs_url)}"
            raise fs.errors.CreateFailed(msg=literal(message))
        try:
            path = urllib.parse.unquote(quoted, errors="strict")
        except UnicodeDecodeError as error:
            message = f"malformed upperdir:// URL {shown(fs_url)}"
            raise fs.errors.CreateFailed(msg=literal(message), exc=error) from error
        workdir = params["workdir"]
        for role, directory in (("upperdir", path), ("workdir", workdir)):
            if create:
                _make_directory(directory, role)
            elif not os.path.isdir(directory):
                message = (
                    f"{role} {shown(directory)} is not a directory; a missing one is created "
                    "only when asked (create=True)"
                )
                raise fs.errors.CreateFailed(msg=literal(message))
        return UpperDirFS(path, workdir)


def _make_directory(path: str, role: str) -> None:
    """Create a missing directory of an ``upperdir://`` URL, or raise ``CreateFailed``."""
    try:
        os.makedirs(path, exist_ok=True)
    except (OSError, ValueError) as error:
        message = f"cannot create the {role} {shown(path)}: {error}"
        raise fs.errors.CreateFailed(msg=literal(message), exc=error) from error
