"""Layer specs of a session: opened where they are used, pickled as they were given.

A spec is what :class:`~unionfs_lib.overlay.OverlayFS` and
:class:`~unionfs_lib.fsspec.filesystem.OverlayFileSystem` accept as a layer
(:mod:`unionfs_lib.fsspec.layers`): a PyFilesystem2 ``FS``, an fsspec
filesystem, a path or URL string (``/srv/data``, ``s3://bucket/data``), or a
mapping ``{"url": ..., "storage_options": {...}}``. Strings, mappings and
fsspec filesystems pickle as they are; a PyFilesystem2 ``FS`` pickles as the
URL that reopens it (:func:`portable`), so a fork sent to another process
opens the same directories there.
"""

from __future__ import annotations

import typing

import fs.errors
from fs.base import FS

from ..errors import literal
from ..frontend_api import layer_url

LayerSpec = typing.Union[FS, str, typing.Mapping[str, typing.Any], typing.Any]


def open_spec(spec: LayerSpec, *, writeable: bool) -> FS:
    """Open one layer ``spec`` as a PyFilesystem2 FS (a lower read-only, see the module doc)."""
    if isinstance(spec, FS):
        return spec
    from ..fsspec.layers import open_layer

    return open_layer(spec, writeable=writeable)


def portable(spec: LayerSpec) -> LayerSpec:
    """Return ``spec`` in a form that pickles: a PyFilesystem2 FS becomes its URL.

    Raises :class:`~unionfs_lib.errors.NoLayerURL` for an FS no URL can
    reopen (a ``MemoryFS``: its content lives in one process only).
    """
    if isinstance(spec, FS):
        return layer_url(spec)
    return spec


def child_spec(spec: LayerSpec, *names: str) -> LayerSpec:
    """Return the spec of directory ``names`` beneath the directory ``spec`` names.

    For a string the names are joined with ``/``; a mapping gets a new
    ``url``; a PyFilesystem2 FS stays an FS: a directory beneath it, made if
    missing, when it is opened (:func:`open_child`).
    """
    suffix = "/".join(names)
    if isinstance(spec, str):
        return _join_url(spec, suffix)
    if isinstance(spec, typing.Mapping) and isinstance(spec.get("url"), str):
        return {**spec, "url": _join_url(spec["url"], suffix)}
    if isinstance(spec, FS):
        return _Beneath(spec, suffix)
    raise TypeError(
        f"the staging area must be a path, a URL, {{'url': ..., 'storage_options': ...}} "
        f"or a PyFilesystem2 FS, not {spec!r}"
    )


def _join_url(url: str, suffix: str) -> str:
    """Join ``suffix`` to the path of ``url`` (refusing a URL with a query string)."""
    if "?" in url:
        message = f"a staging URL cannot have a query string: {url!r}"
        raise fs.errors.CreateFailed(msg=literal(message))
    return url.rstrip("/") + "/" + suffix


class _Beneath:
    """A directory beneath a PyFilesystem2 FS, opened (made if missing) when needed."""

    def __init__(self, parent: FS, path: str) -> None:
        self.parent = parent
        self.path = "/" + path

    def __reduce__(self) -> tuple[typing.Any, ...]:
        """Pickle as the URL of the directory."""
        return (_join_url, (layer_url(self.parent), self.path.lstrip("/")))

    def open(self, *, create: bool) -> FS | None:
        """Open the directory (``None`` when it is missing and not ``create``)."""
        if create:
            self.parent.makedirs(self.path, recreate=True)
        elif not self.parent.isdir(self.path):
            return None
        return self.parent.opendir(self.path)


def open_child(spec: LayerSpec, *, create: bool) -> FS | None:
    """Open a spec made by :func:`child_spec` writeable (``None`` if missing and not ``create``).

    Opening a URL makes its directory: without ``create`` its existence is
    asked first (one ``exists`` call), so looking costs no write.
    """
    if isinstance(spec, _Beneath):
        return spec.open(create=create)
    if not create and not _exists(spec):
        return None
    return open_spec(spec, writeable=True)


def _exists(spec: typing.Any) -> bool:
    """Tell whether the directory a string or mapping spec names exists (one call)."""
    import fsspec.core

    url = spec if isinstance(spec, str) else spec["url"]
    options = {} if isinstance(spec, str) else dict(spec.get("storage_options") or {})
    if url.startswith("pyfs+") or ("://" in url and not _is_fsspec_url(url)):
        try:
            fs.open_fs(url.removeprefix("pyfs+"), create=False).close()
        except fs.errors.CreateFailed:
            return False
        return True
    filesystem, root = fsspec.core.url_to_fs(url, **options)
    return bool(filesystem.isdir(root))


def _is_fsspec_url(url: str) -> bool:
    """Tell whether fsspec knows the protocol of ``url``."""
    import fsspec

    return url.split("://", 1)[0] in fsspec.available_protocols()


class StagingArea:
    """A session's folder in a staging area, opened once: the forks' uppers are opened from it.

    For a path or fsspec URL the fsspec filesystem is made once (one client,
    one connection pool) and every fork's upper is a folder of it; other
    specs open each folder on its own (:func:`open_child`).
    """

    def __init__(self, spec: LayerSpec, session_id: str) -> None:
        self.spec = spec
        self.session_id = session_id
        self._opened: tuple[typing.Any, str] | None = None

    def _fsspec(self) -> tuple[typing.Any, str] | None:
        """Return the fsspec filesystem and root of the spec, or ``None`` for other kinds."""
        spec = self.spec
        if isinstance(spec, str):
            url, options = spec, {}
        elif isinstance(spec, typing.Mapping) and isinstance(spec.get("url"), str):
            url, options = spec["url"], dict(spec.get("storage_options") or {})
        else:
            return None
        if url.startswith("pyfs+") or ("://" in url and not _is_fsspec_url(url)):
            return None
        if self._opened is None:
            import fsspec.core

            self._opened = fsspec.core.url_to_fs(url, **options)
        return self._opened

    def open(self, name: str | None = None, *, create: bool) -> FS | None:
        """Open the session's folder, or fork ``name``'s (``None``: missing, not ``create``)."""
        names = (self.session_id,) if name is None else (self.session_id, name)
        found = self._fsspec()
        if found is None:
            return open_child(child_spec(self.spec, *names), create=create)
        from ..fsspec.pyfs import FSSpecFS

        filesystem, root = found
        path = root.rstrip("/") + "/" + "/".join(names)
        if create:
            filesystem.makedirs(path, exist_ok=True)
        elif not filesystem.isdir(path):
            return None
        return FSSpecFS(filesystem, path)
