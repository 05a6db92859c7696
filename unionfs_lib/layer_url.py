"""Layer URLs: naming each layer so that ``fs.open_fs`` reopens it.

A layer's URL is found, in order, from the ``urls`` argument of
``describe``, an ``fs_url`` attribute on the FS (an ``OverlayFS`` has one: its
``overlay://`` URL), or its type: ``osfs://`` for OSFS (and TempFS, whose
directory lives only as long as it is open), ``upperdir://U?workdir=W`` for the
kernel-layout upper of ``OverlayFS.from_dirs``, ``zip://`` and ``tar://`` for
archives opened from a path, the wrapped FS's URL for a path-preserving
``WrapFS`` (read-only or caching wrappers; a ``SubFS`` of an OSFS becomes the
sub-directory's ``osfs://``), ``s3://`` for fs-s3fs (credentials are never
written; the endpoint is) and ``lazy://`` for :class:`~unionfs_lib.lazy.LazyFS`.
A MemoryFS has no URL that reopens its content, so describing one raises
:class:`~unionfs_lib.errors.NoLayerURL`.

The query strings of our own URLs (``overlay://``, ``lazy://``) hold nested
URLs, fully percent-encoded (:func:`encode_query`, :func:`parse_query`).
"""

from __future__ import annotations

import urllib.parse

import fs.errors
from fs.base import FS
from fs.opener.errors import OpenerError

from .errors import NoLayerURL, literal
from .lazy import LazyFS
from .workdir import UpperDirFS


def layer_url(layer: FS) -> str:
    """Return a URL that ``fs.open_fs`` reopens as ``layer``, or raise ``NoLayerURL``."""
    explicit = getattr(layer, "fs_url", None)  # an OverlayFS's is its overlay:// URL
    if isinstance(explicit, str):
        return explicit
    if isinstance(layer, LazyFS):
        cache = None if layer.owns_cache else layer_url(layer.cache)
        return lazy_url(layer_url(layer.source), cache)
    for finder in (_wrapper_url, _upperdir_url, _osfs_url, _archive_url, _s3_url):
        found = finder(layer)
        if found is not None:
            return found
    message = (
        f"layer {layer!r} has no URL that fs.open_fs could reopen with its content; "
        "pass describe(urls={index: url}) or set an fs_url attribute on it"
    )
    raise NoLayerURL(msg=literal(message))


def _wrapper_url(layer: FS) -> str | None:
    """Return the URL of a wrapped FS (``fs.wrapfs.WrapFS``), or ``None``.

    A wrapper that keeps paths and content (``fs.wrap.read_only``,
    ``cache_directory``, a write guard) is described by the FS it wraps; a
    ``SubFS`` of an OS directory by that directory. Other sub-directories
    have no URL.
    """
    from fs.osfs import OSFS
    from fs.subfs import SubFS
    from fs.wrapfs import WrapFS

    if not isinstance(layer, WrapFS):
        return None
    inner: FS = layer._wrap_fs
    if not isinstance(layer, SubFS):
        return layer_url(inner)
    sub_path = layer._sub_dir
    if isinstance(inner, OSFS) and not isinstance(inner, WrapFS):
        return "osfs://" + inner.getsyspath(sub_path)
    message = f"{layer!r} is a sub-directory of a layer with no OS path; it has no URL"
    raise NoLayerURL(msg=literal(message))


def _upperdir_url(layer: FS) -> str | None:
    """Return ``upperdir://U?workdir=W`` for the kernel-layout upper of ``from_dirs``."""
    if not isinstance(layer, UpperDirFS):
        return None
    path = urllib.parse.quote(layer.root_path)
    return f"upperdir://{path}?workdir=" + urllib.parse.quote(layer.workdir, safe="")


def _osfs_url(layer: FS) -> str | None:
    """Return the URL of a plain OSFS layer."""
    from fs.osfs import OSFS

    return "osfs://" + layer.root_path if isinstance(layer, OSFS) else None


def _archive_url(layer: FS) -> str | None:
    """Return ``zip://`` or ``tar://`` for an archive opened from a path."""
    from fs.tarfs import ReadTarFS
    from fs.zipfs import ReadZipFS

    source = getattr(layer, "_file", None)
    if not isinstance(source, str):
        return None
    if isinstance(layer, ReadZipFS):
        return "zip://" + source
    if isinstance(layer, ReadTarFS):
        return "tar://" + source
    return None


def _s3_url(layer: FS) -> str | None:
    """Return ``s3://bucket/dir?endpoint_url=...`` for fs-s3fs (no credentials)."""
    if type(layer).__module__.split(".")[0] != "fs_s3fs":
        return None
    bucket = getattr(layer, "_bucket_name", None)
    if not bucket:
        return None
    prefix = getattr(layer, "_prefix", "")
    url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    endpoint = getattr(layer, "endpoint_url", None)
    if endpoint:
        url += "?endpoint_url=" + urllib.parse.quote(endpoint, safe="")
    return url


def lazy_url(source_url: str, cache_url: str | None = None) -> str:
    """Return the ``lazy://`` URL of a lazily fetched ``source_url``."""
    query = [("source", source_url)]
    if cache_url is not None:
        query.append(("cache", cache_url))
    return "lazy://?" + encode_query(query)


def open_layer(url: str, writeable: bool) -> FS:
    """Open one layer URL; opener failures become ``fs.errors.CreateFailed``."""
    try:
        return fs.open_fs(url, writeable=writeable, create=writeable)
    except OpenerError as error:
        raise fs.errors.CreateFailed(msg=literal(f"cannot open layer {url!r}: {error}")) from error


def encode_query(pairs: list[tuple[str, str]]) -> str:
    """Percent-encode every value fully, so nested URLs keep no ``?!@&#``."""
    return "&".join(f"{key}={urllib.parse.quote(value, safe='')}" for key, value in pairs)


def parse_query(fs_url: str, protocol: str) -> list[tuple[str, str]]:
    """Return the decoded ``key=value`` pairs of a ``<protocol>://?...`` URL, in order."""
    prefix = protocol + "://"
    if not fs_url.startswith(prefix):
        raise fs.errors.CreateFailed(msg=literal(f"{fs_url!r} is not a {prefix} URL"))
    rest = fs_url[len(prefix) :]
    _, _, query = rest.partition("?")
    try:
        return urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as error:
        message = f"malformed {prefix} URL {fs_url!r}"
        raise fs.errors.CreateFailed(msg=literal(message), exc=error) from error


__all__ = ["encode_query", "layer_url", "lazy_url", "open_layer", "parse_query"]
