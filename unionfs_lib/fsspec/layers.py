"""Turn what an fsspec caller passes as a layer into a PyFilesystem2 FS.

A layer of :class:`~unionfs_lib.fsspec.filesystem.OverlayFileSystem` may be:

- a PyFilesystem2 ``FS``, used as it is;
- an ``fsspec.AbstractFileSystem``, wrapped at its root in
  :class:`~unionfs_lib.fsspec.pyfs.FSSpecFS`;
- a string URL: ``pyfs+<url>`` (``pyfs+osfs:///srv/base``,
  ``pyfs+zip:///srv/base.zip``) is opened with ``fs.open_fs``, and so is a
  URL whose protocol only PyFilesystem2 knows (``osfs://``, ``mem://``,
  ``tar://``, ``lazy://``, ``upperdir://``); any other string is an fsspec URL
  (``s3://bucket/prefix``, ``/srv/data``, ``memory:///base``) opened with
  ``fsspec.core.url_to_fs``;
- a mapping ``{"url": <fsspec URL>, "storage_options": {...}}`` for an fsspec
  URL with its own storage options (credentials for that layer alone).
"""

from __future__ import annotations

import typing

import fs
import fs.errors
from fs.base import FS

from ..errors import literal
from ..frontend_api import open_layer as open_pyfs_layer
from .pyfs import FSSpecFS

#: Prefix of a layer string that ``fs.open_fs`` opens instead of fsspec.
PYFS_PREFIX = "pyfs+"

LayerSpec = typing.Union[FS, str, typing.Mapping[str, typing.Any], typing.Any]


def open_layer(spec: LayerSpec, *, writeable: bool) -> FS:
    """Return the PyFilesystem2 FS for one layer ``spec`` (see the module docstring).

    ``writeable`` is false for lowers: an fsspec layer is then wrapped
    read-only, so a lower is never written even by mistake.

    Raises:
        TypeError: ``spec`` is none of the accepted kinds.
        fs.errors.CreateFailed: a URL could not be opened.

    """
    from fsspec import AbstractFileSystem

    if isinstance(spec, FS):
        return spec
    if isinstance(spec, AbstractFileSystem):
        return FSSpecFS(spec, "", read_only=not writeable)
    if isinstance(spec, str):
        if spec.startswith(PYFS_PREFIX) or _pyfilesystem_only(spec):
            url = spec[len(PYFS_PREFIX) :] if spec.startswith(PYFS_PREFIX) else spec
            # An upper is made if missing, as an fsspec root is; never over an existing file.
            return open_pyfs_layer(url, writeable=writeable, create=writeable)
        return open_fsspec_url(spec, {}, writeable=writeable)
    if isinstance(spec, typing.Mapping) and isinstance(spec.get("url"), str):
        options = dict(spec.get("storage_options") or {})
        return open_fsspec_url(spec["url"], options, writeable=writeable)
    raise TypeError(
        f"a layer must be a PyFilesystem2 FS, an fsspec filesystem, a URL or "
        f"{{'url': ..., 'storage_options': ...}}, not {spec!r}"
    )


def _pyfilesystem_only(url: str) -> bool:
    """Tell whether the protocol of ``url`` is known to PyFilesystem2 but not to fsspec."""
    import fsspec
    from fs.opener import registry

    protocol, found, _ = url.partition("://")
    if not found:
        return False
    return protocol not in fsspec.available_protocols() and protocol in registry.protocols


def open_fsspec_url(url: str, options: dict[str, typing.Any], *, writeable: bool) -> FSSpecFS:
    """Open an fsspec URL as an :class:`FSSpecFS` (its root made if ``writeable``)."""
    import fsspec.core

    try:
        filesystem, root = fsspec.core.url_to_fs(url, **options)
    except (ValueError, ImportError) as error:
        message = f"fsspec cannot open layer {url!r}: {error}"
        raise fs.errors.CreateFailed(msg=literal(message), exc=error) from error
    if writeable and not filesystem.exists(root):
        filesystem.makedirs(root, exist_ok=True)
    return FSSpecFS(filesystem, root, read_only=not writeable)
