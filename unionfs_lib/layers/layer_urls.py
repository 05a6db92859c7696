"""Layer URLs: naming each layer so that ``fs.open_fs`` reopens it.

A layer's URL is found, in order, from the ``urls`` argument of
``describe``, an ``fs_url`` attribute on the FS (an ``OverlayFS`` has one: its
``overlay://`` URL), or its type: ``osfs://`` for OSFS (and TempFS, whose
directory lives only as long as it is open), ``upperdir://U?workdir=W`` for the
kernel-layout upper of ``OverlayFS.from_dirs``, ``zip://`` and ``tar://`` for
archives opened from a path, the wrapped FS's URL for a path-preserving
``WrapFS`` (read-only or caching wrappers; a ``SubFS`` of an OSFS becomes the
sub-directory's ``osfs://``), ``s3://`` for fs-s3fs (credentials are never
written; the endpoint is) and ``lazy://`` for :class:`~unionfs_lib.layers.lazy_fs.LazyFS`.
A MemoryFS has no URL that reopens its content, so describing one raises
:class:`~unionfs_lib.errors.NoLayerURL`.

Every URL is built with one quoting function, :func:`quote_url_text`: a
layer's path is percent-encoded except for its ``/`` separators
(:func:`path_url`), and the query strings of our own URLs (``overlay://``,
``lazy://``, ``upperdir://``) hold nested URLs fully percent-encoded
(:func:`encode_query`, :func:`parse_query`). So a directory named
``proj@home``, ``up?x=1``, ``up%2Fevil`` or ``up!sub`` reopens as itself:
PyFilesystem2's URL parser would otherwise read ``@`` as the end of a user
name, ``?`` as a query, ``!`` as a path inside the FS, and ``%`` as an escape.
Each side decodes exactly once: PyFilesystem2 decodes the part before ``?``
once, and our openers decode each query value once. A path that
PyFilesystem2's ``osfs`` opener would change whatever the quoting (an
environment variable reference such as ``$HOME``, which it expands) has no
URL: :class:`~unionfs_lib.errors.NoLayerURL`.

Opening never writes by itself (:func:`open_layer`): a missing layer
directory is created only when the caller asks (``create=True``), and an
archive URL never replaces an existing file with a new, empty archive.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import typing
import urllib.parse

import fs.errors
from fs.base import FS
from fs.opener.errors import OpenerError
from fs.opener.parse import parse_fs_url

from ..errors import NoLayerURL, literal
from ..host.workdir import UpperDirFS
from .lazy_fs import LazyFS

#: Characters of a path that PyFilesystem2's ``osfs`` opener would expand (``$NAME``, ``${NAME}``).
_EXPANDED = re.compile(r"\$(\w|\{)", re.ASCII)
#: Protocols whose opener, asked to create, writes a new archive over the named file.
ARCHIVE_PROTOCOLS = frozenset({"zip", "tar"})
#: How deep layer URLs may nest (an overlay:// inside an overlay:// ...).
MAX_NESTING = 16
#: Longest piece of an untrusted URL an error message repeats.
_SHOWN = 200

_depth = threading.local()


class LayerOpenFailed(fs.errors.CreateFailed):
    """A layer URL did not open; the message names the URL and the cause.

    Raised by :func:`open_layer`; an enclosing ``overlay://`` or ``lazy://``
    passes it on as it is, so the message names the layer that failed.
    """


def quote_url_text(text: str, *, keep: str = "") -> str:
    """Percent-encode ``text`` for a URL, leaving only unreserved characters and ``keep``.

    The one quoting function of every layer URL: letters, digits and
    ``-._~`` stay as they are, ``keep`` (``"/"`` for a path) too, and every
    other character, ``@ ? # % ! ; & = + :`` and spaces included, becomes
    ``%XX`` (of its UTF-8 bytes), so no parser can read it as syntax.

    Raises:
        unionfs_lib.errors.NoLayerURL: ``text`` is not valid Unicode (a file
            name of undecodable bytes): no URL can carry it back.

    """
    try:
        return urllib.parse.quote(text, safe=keep, encoding="utf-8", errors="strict")
    except UnicodeEncodeError:
        message = f"{shown(text)} holds bytes that are not UTF-8: no URL can name it"
        raise NoLayerURL(msg=literal(message)) from None


def shown(text: object) -> str:
    """Return ``repr(text)`` cut to a readable length, for error messages."""
    found = repr(text)
    return found if len(found) <= _SHOWN else found[:_SHOWN] + "...'"


def path_url(protocol: str, path: str) -> str:
    """Return ``<protocol>://<path>`` with ``path`` percent-encoded (``/`` kept).

    PyFilesystem2 decodes the part of a URL before ``?`` once, so the path
    comes back exactly. ``osfs`` paths with ``$NAME`` (which its opener
    expands) are refused with :class:`~unionfs_lib.errors.NoLayerURL`.
    """
    if protocol == "osfs" and _EXPANDED.search(path):
        message = (
            f"the directory {shown(path)} cannot be named by an osfs:// URL: "
            "PyFilesystem2's osfs opener expands the environment variable reference in it"
        )
        raise NoLayerURL(msg=literal(message))
    return f"{protocol}://{quote_url_text(path, keep='/')}"


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
        return path_url("osfs", _os_root(inner, sub_path))
    message = f"{layer!r} is a sub-directory of a layer with no OS path; it has no URL"
    raise NoLayerURL(msg=literal(message))


def _upperdir_url(layer: FS) -> str | None:
    """Return ``upperdir://U?workdir=W`` for the kernel-layout upper of ``from_dirs``."""
    if not isinstance(layer, UpperDirFS):
        return None
    url = path_url("upperdir", _os_root(layer))
    return f"{url}?" + encode_query([("workdir", layer.workdir)])


def _os_root(layer: FS, path: str = "/") -> str:
    """Return the absolute OS path of ``path`` in an OSFS (no trailing ``/``)."""
    found = layer.getsyspath(path)
    return found.rstrip("/") or "/"


def _osfs_url(layer: FS) -> str | None:
    """Return the URL of a plain OSFS layer (its absolute path, as it was opened)."""
    from fs.osfs import OSFS

    return path_url("osfs", _os_root(layer)) if isinstance(layer, OSFS) else None


def _archive_url(layer: FS) -> str | None:
    """Return ``zip://`` or ``tar://`` for an archive opened from a path."""
    from fs.tarfs import ReadTarFS
    from fs.zipfs import ReadZipFS

    source = getattr(layer, "_file", None)
    if not isinstance(source, str):
        return None
    if isinstance(layer, ReadZipFS):
        return path_url("zip", os.path.abspath(source))
    if isinstance(layer, ReadTarFS):
        return path_url("tar", os.path.abspath(source))
    return None


def _s3_url(layer: FS) -> str | None:
    """Return ``s3://bucket/dir?endpoint_url=...`` for fs-s3fs (no credentials)."""
    if type(layer).__module__.split(".")[0] != "fs_s3fs":
        return None
    bucket = getattr(layer, "_bucket_name", None)
    if not bucket:
        return None
    prefix = getattr(layer, "_prefix", "")
    url = path_url("s3", f"{bucket}/{prefix}" if prefix else bucket)
    endpoint = getattr(layer, "endpoint_url", None)
    if endpoint:
        url += "?" + encode_pyfs_query([("endpoint_url", endpoint)])
    return url


def lazy_url(source_url: str, cache_url: str | None = None) -> str:
    """Return the ``lazy://`` URL of a lazily fetched ``source_url``."""
    query = [("source", source_url)]
    if cache_url is not None:
        query.append(("cache", cache_url))
    return "lazy://?" + encode_query(query)


def open_layer(
    url: str | os.PathLike[str], writeable: bool, *, create: bool = False
) -> FS:
    """Open one layer URL (or a directory's path) without writing anything.

    ``url`` is a PyFilesystem2 URL, or a directory as a path object or as a
    string without ``://`` (taken literally: no quoting, no ``$VAR``).

    ``writeable`` says the layer will be written (an upper, a cache);
    ``create`` makes a missing directory (``osfs://``) or a new archive
    (``zip://``, ``tar://``), and is the only way a layer is created: a
    missing upper is otherwise an error, not a new directory made wherever
    the URL points. An archive URL never replaces an existing file.

    Raises:
        fs.errors.CreateFailed: the layer cannot be opened (opener failures,
            a missing directory, an existing file an archive would replace,
            layer URLs nested deeper than :data:`MAX_NESTING`).

    """
    if isinstance(url, os.PathLike) or (isinstance(url, str) and "://" not in url):
        return _open_directory(os.fspath(url), writeable, create)
    if not isinstance(url, str):
        raise fs.errors.CreateFailed(msg=literal(f"a layer URL must be a string, not {shown(url)}"))
    with nested(url):
        if create:
            _refuse_replacing(url)
        try:
            return fs.open_fs(url, writeable=writeable, create=create)
        except fs.errors.CreateFailed as error:
            if type(error) is not fs.errors.CreateFailed:
                raise  # ours (LayerMismatch, LayerOpenFailed ...), with a clean message already
            raise _cannot_open(url, error, hint=writeable and not create) from error
        except fs.errors.FSError:
            raise
        except Exception as error:  # noqa: BLE001 - any opener's failure (BadZipFile, ...)
            raise _cannot_open(url, error, hint=False) from error


def _cannot_open(url: str, error: Exception, hint: bool) -> LayerOpenFailed:
    """Build the error of a layer that did not open, naming the URL and the cause.

    The cause is chained (``raise ... from``), not passed as ``exc=``: the
    text of a PyFilesystem2 error built from a name with braces cannot be
    computed.
    """
    message = f"cannot open layer {shown(url)}: {error_text(error)}"
    if hint:
        message += (
            "; a missing layer is created only when asked "
            "(create=True, or create=1 in an overlay:// or lazy:// URL)"
        )
    return LayerOpenFailed(msg=literal(message))


def error_text(error: BaseException) -> str:
    """Return an exception's text for a message: control characters escaped, cut short.

    PyFilesystem2 formats its messages with ``str.format``, so the text of
    one built from a name holding braces cannot even be computed; its raw
    template is used then.
    """
    try:
        text = str(error)
    except Exception:  # noqa: BLE001 - fs.errors.FSError.__str__ fails on braces
        text = str(getattr(error, "_msg", "") or type(error).__name__)
    text = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    return text if len(text) <= 2 * _SHOWN else text[: 2 * _SHOWN] + "..."


def _open_directory(path: str, writeable: bool, create: bool) -> FS:
    """Open a plain directory path as an OSFS, its name taken literally (no ``$VAR``)."""
    from fs.osfs import OSFS

    try:
        return OSFS(path, create=create, expand_vars=False)
    except (fs.errors.CreateFailed, OSError, ValueError) as error:
        hint = isinstance(error, fs.errors.CreateFailed) and writeable and not create
        raise _cannot_open(path, error, hint=hint) from error


def _refuse_replacing(url: str) -> None:
    """Refuse to create an archive layer over an existing file (its content would be lost)."""
    try:
        parsed = parse_fs_url(url)
    except OpenerError as error:
        raise _cannot_open(url, error, hint=False) from error
    if parsed.protocol in ARCHIVE_PROTOCOLS and os.path.lexists(parsed.resource):
        message = (
            f"{parsed.protocol}:// layer {shown(parsed.resource)} exists: creating it would "
            "replace the file with a new archive"
        )
        raise fs.errors.CreateFailed(msg=literal(message))


@contextlib.contextmanager
def nested(url: str) -> typing.Iterator[None]:
    """Count how deep layer URLs nest while ``url`` opens; refuse past :data:`MAX_NESTING`."""
    depth = getattr(_depth, "value", 0)
    if depth >= MAX_NESTING:
        message = f"layer URLs nest deeper than {MAX_NESTING} levels at {shown(url)}"
        raise LayerOpenFailed(msg=literal(message))
    _depth.value = depth + 1
    try:
        yield
    finally:
        _depth.value = depth


def encode_query(pairs: typing.Iterable[tuple[str, str]]) -> str:
    """Percent-encode every value fully, so nested URLs keep no ``?!@&#``.

    For the query strings our openers read with :func:`parse_query` (which
    decodes once).
    """
    return "&".join(f"{key}={quote_url_text(value)}" for key, value in pairs)


def encode_pyfs_query(pairs: typing.Iterable[tuple[str, str]]) -> str:
    """Encode a query that PyFilesystem2's own parser reads (``s3://...?endpoint_url=``).

    That parser decodes each parameter twice (``parse_qs``, then ``unquote``),
    so each value is quoted twice and comes back exactly.
    """
    return encode_query((key, quote_url_text(value)) for key, value in pairs)


def parse_query(fs_url: str, protocol: str) -> list[tuple[str, str]]:
    """Return the decoded ``key=value`` pairs of a ``<protocol>://?...`` URL, in order."""
    prefix = protocol + "://"
    if not fs_url.startswith(prefix):
        raise fs.errors.CreateFailed(msg=literal(f"{shown(fs_url)} is not a {prefix} URL"))
    try:
        fs_url.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate: no URL holds it
        message = f"malformed {prefix} URL {shown(fs_url)}: not valid Unicode"
        raise fs.errors.CreateFailed(msg=literal(message)) from error
    rest = fs_url[len(prefix) :]
    _, _, query = rest.partition("?")
    try:
        return urllib.parse.parse_qsl(
            query, keep_blank_values=True, strict_parsing=bool(query), errors="strict"
        )
    except ValueError as error:
        message = f"malformed {prefix} URL {shown(fs_url)}"
        raise fs.errors.CreateFailed(msg=literal(message), exc=error) from error


__all__ = [
    "ARCHIVE_PROTOCOLS",
    "MAX_NESTING",
    "LayerOpenFailed",
    "encode_pyfs_query",
    "encode_query",
    "error_text",
    "layer_url",
    "lazy_url",
    "nested",
    "open_layer",
    "parse_query",
    "path_url",
    "quote_url_text",
    "shown",
]
