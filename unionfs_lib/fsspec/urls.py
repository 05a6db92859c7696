"""``fsspec://`` URLs: an fsspec filesystem and root path as one PyFilesystem2 URL.

Syntax: ``fsspec://?url=<fsspec URL>&options=<JSON storage options>``, each
value percent-encoded (the style of the project's ``overlay://`` and
``lazy://`` URLs), for example::

    fsspec://?url=s3%3A%2F%2Fbucket%2Fprefix&options=%7B%22client_kwargs%22...

``url`` is what ``fsspec.core.url_to_fs`` opens (``s3://bucket/prefix``,
``file:///srv/data``, ``memory:///base``, ``zip://::file:///srv/base.zip``);
``options`` holds the storage options the filesystem was created with, minus
every credential (see :func:`public_options`): a reopened layer finds its
credentials where the library finds them by default (environment variables,
configuration files, instance roles).
"""

from __future__ import annotations

import json
import typing
import urllib.parse

import fs.errors

from ..errors import NoLayerURL, literal
from ..frontend_api import encode_query, parse_query, shown

if typing.TYPE_CHECKING:
    from fsspec import AbstractFileSystem

#: Parts of option names that mark a credential; such options are never written.
#: (A ``username`` is half of a login: written without its password, it would
#: make the reopened layer fail instead of falling back to anonymous access.)
SECRET_WORDS = (
    "key", "secret", "token", "password", "passwd", "credential", "auth", "sas",
    "signature", "session", "cookie", "private", "cert", "connection_string", "sig",
    "username",
)  # fmt: skip


#: fsspec protocols whose URLs are plain paths: a ``?``, ``#`` or ``@`` in them is a name.
PATH_PROTOCOLS = frozenset({"file", "local", "memory"})


def is_secret(name: str) -> bool:
    """Tell whether an option name looks like a credential (``key``, ``secret`` ...)."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def public_options(options: typing.Mapping[str, typing.Any]) -> dict[str, typing.Any]:
    """Return ``options`` without credentials and without values JSON cannot hold.

    Nested mappings (``client_kwargs``, ``config_kwargs``) are cleaned the same
    way; an option whose name looks like a credential (:func:`is_secret`) is
    dropped at every level.
    """
    kept: dict[str, typing.Any] = {}
    for name, value in options.items():
        if not isinstance(name, str) or is_secret(name):
            continue
        if isinstance(value, typing.Mapping):
            value = public_options(value)
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        kept[name] = value
    return kept


def public_url(url: str) -> str:
    """Return ``url`` without the credentials a URL can carry.

    A ``user:password@`` part is dropped, and so is every query parameter
    whose name looks like a credential (:func:`is_secret`: an Azure SAS
    ``sig``, an ``access_token`` ...); the other parameters are kept as they
    are written. A URL of a :data:`PATH_PROTOCOLS` protocol is a path and is
    returned unchanged (``file:///srv/up?token=1`` names a directory).
    """
    if url.partition("://")[0] in PATH_PROTOCOLS:
        return url
    parts = urllib.parse.urlsplit(url)
    if not parts.netloc and not parts.query:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    kept = [
        piece
        for piece in parts.query.split("&")
        if piece and not is_secret(urllib.parse.unquote_plus(piece.partition("=")[0]))
    ]
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, "&".join(kept), parts.fragment)
    )


def fsspec_url(filesystem: AbstractFileSystem, root: str) -> str:
    """Return the fsspec URL of ``root`` on ``filesystem`` (``s3://bucket/prefix``).

    Credentials in the URL itself (``https://user:password@host/``) are left out.

    Raises:
        unionfs_lib.errors.NoLayerURL: ``root`` holds ``::``, which fsspec
            reads as a chain of filesystems whatever the quoting.

    """
    if "::" in root:
        message = f"the fsspec root {shown(root)} holds '::', which fsspec reads as a chain"
        raise NoLayerURL(msg=literal(message))
    return public_url(str(filesystem.unstrip_protocol(root)))


def layer_url(filesystem: AbstractFileSystem, root: str) -> str:
    """Return the ``fsspec://`` URL that reopens ``root`` on ``filesystem``."""
    pairs = [("url", fsspec_url(filesystem, root))]
    options = public_options(getattr(filesystem, "storage_options", {}) or {})
    if options:
        pairs.append(("options", json.dumps(options, sort_keys=True, separators=(",", ":"))))
    return "fsspec://?" + encode_query(pairs)


def parse_layer_url(fs_url: str) -> tuple[str, dict[str, typing.Any]]:
    """Return ``(fsspec URL, storage options)`` of an ``fsspec://`` URL.

    Raises:
        fs.errors.CreateFailed: the URL is not ``fsspec://?url=...[&options=...]``.

    """
    pairs = parse_query(fs_url, "fsspec")
    params = dict(pairs)
    if "url" not in params or set(params) - {"url", "options"} or len(params) != len(pairs):
        message = f"fsspec:// takes url= and optionally options=: {shown(fs_url)}"
        raise fs.errors.CreateFailed(msg=literal(message))
    try:
        options = json.loads(params.get("options", "{}"))
    except (ValueError, RecursionError) as error:  # RecursionError: a nesting bomb
        message = f"options= of {shown(fs_url)} is not JSON"
        raise fs.errors.CreateFailed(msg=literal(message)) from error
    if not isinstance(options, dict):
        raise fs.errors.CreateFailed(msg=literal(f"options= of {shown(fs_url)} must be an object"))
    return params["url"], options
