"""Describe an overlay completely, and rebuild it from that description.

This is what checkpoint/restore needs (seed 003): the overlay's equivalent of
its mount options, with every layer as a PyFilesystem2 URL that
``fs.open_fs`` reopens, the strategy objects with their options, and an
identity fingerprint per lower layer so that a restore over a swapped or
changed lower is refused, as overlayfs refuses a wrong lower.

A description is a plain JSON-serialisable ``dict``::

    {
        "format": "unionfs_lib/1",
        "url": "overlay://?upper=...&lower=...",   # the same, as one URL
        "upper": "osfs:///srv/upper",                # or None (read-only)
        "lowers": [{"url": "zip:///srv/base.zip", "fingerprint": "tree:9f86..."}],
        "strategies": {"whiteouts": {"class": "unionfs_lib.whiteout.MarkerWhiteouts",
                                     "options": {}}, ...},
    }

Fingerprints
------------

``"tree"`` (the default) is a SHA-256 over every entry of the layer, in sorted
depth-first order: path, type, size and modification time. It costs one walk
of the layer's metadata (one listing per directory, no file data read), so it
detects a swapped layer and any change that touches sizes or times. It misses
a rewrite that keeps size and time, which ``"content"`` catches by hashing the
file data too, at the cost of reading every byte. ``"none"`` records nothing.
Marker files (whiteouts) of a lower are part of its identity and are hashed.

Layer URLs
----------

A layer's URL is found, in order, from the ``urls`` argument, an ``fs_url``
attribute on the FS, or its type: ``osfs://`` for OSFS (and TempFS, whose
directory lives only as long as it is open), ``upperdir://U?workdir=W`` for the
kernel-layout upper of ``OverlayFS.from_dirs``, ``zip://`` and ``tar://`` for
archives opened from a path, the wrapped FS's URL for a path-preserving
``WrapFS`` (read-only or caching wrappers; a ``SubFS`` of an OSFS becomes
the sub-directory's ``osfs://``), ``s3://`` for fs-s3fs (credentials are never
written; the endpoint is), ``lazy://`` for :class:`~unionfs_lib.lazy.LazyFS`
and ``overlay://`` for a nested :class:`~unionfs_lib.overlay.OverlayFS`. A
MemoryFS has no URL that reopens its content, so describing one raises
:class:`~unionfs_lib.errors.NoLayerURL`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import typing
import urllib.parse

import attrs
import fs.errors
from fs.base import FS
from fs.opener.errors import OpenerError

from .errors import LayerMismatch, NoLayerURL, literal

if typing.TYPE_CHECKING:
    from .overlay import OverlayFS

log = logging.getLogger(__name__)

FORMAT = "unionfs_lib/1"
FINGERPRINT_KINDS = ("tree", "content", "none")
#: Where :func:`record_lowers` keeps the fingerprints inside the upper; the
#: ``.wh..wh.`` prefix makes it invisible through the default whiteout store
#: (the kernel layout keeps it in the workdir, see :func:`record_location`).
LAYERS_RECORD = "/.wh..wh..layers.json"
_STRATEGIES = ("whiteouts", "copy_up", "readdir")
_CHUNK = 1 << 20


# -- fingerprints ----------------------------------------------------------


def fingerprint(layer: FS, kind: str = "tree") -> str | None:
    """Return the identity fingerprint of ``layer`` (see the module docstring).

    The result is ``"<kind>:<sha256 hex>"``, or ``None`` for kind ``"none"``.
    """
    if kind == "none":
        return None
    if kind not in FINGERPRINT_KINDS:
        raise ValueError(f"unknown fingerprint kind {kind!r}; use one of {FINGERPRINT_KINDS}")
    digest = hashlib.sha256()
    _hash_dir(layer, "/", digest, kind == "content")
    return f"{kind}:{digest.hexdigest()}"


def _hash_dir(layer: FS, path: str, digest: typing.Any, content: bool) -> None:
    """Hash the entries of one directory, then recurse, in sorted order."""
    infos = sorted(layer.scandir(path, namespaces=["details"]), key=lambda info: info.name)
    for info in infos:
        child = path.rstrip("/") + "/" + info.name
        details = info.raw.get("details", {})
        modified: typing.Any = details.get("modified")
        record = "\0".join(
            [
                child,
                "d" if info.is_dir else "f",
                str(details.get("size", 0) if not info.is_dir else 0),
                "" if modified is None else repr(round(float(modified), 6)),
            ]
        )
        digest.update(record.encode("utf-8", "surrogateescape") + b"\n")
        if info.is_dir:
            _hash_dir(layer, child, digest, content)
        elif content:
            with layer.openbin(child, "r") as handle:
                for chunk in iter(lambda: handle.read(_CHUNK), b""):
                    digest.update(chunk)


def fingerprint_kind(value: str | None) -> str:
    """Return the kind of a recorded fingerprint (``"none"`` for ``None``)."""
    if value is None:
        return "none"
    return value.partition(":")[0]


def verify_fingerprint(layer: FS, expected: str | None, index: int, url: str | None = None) -> None:
    """Raise :class:`LayerMismatch` if ``layer`` no longer has fingerprint ``expected``."""
    if expected is None:
        return
    found = fingerprint(layer, fingerprint_kind(expected))
    if found != expected:
        where = f" ({url})" if url else ""
        message = (
            f"lower layer {index}{where} does not match its recorded fingerprint: "
            f"expected {expected}, found {found}; it was swapped or changed "
            "(pass verify=False to restore anyway)"
        )
        raise LayerMismatch(msg=literal(message))


# -- layer URLs ------------------------------------------------------------


def layer_url(layer: FS) -> str:
    """Return a URL that ``fs.open_fs`` reopens as ``layer``, or raise ``NoLayerURL``."""
    explicit = getattr(layer, "fs_url", None)
    if isinstance(explicit, str):
        return explicit
    from .lazy import LazyFS
    from .overlay import OverlayFS

    if isinstance(layer, OverlayFS):
        return str(describe(layer)["url"])
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
    from .workdir import UpperDirFS

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
    return "lazy://?" + _encode_query(query)


# -- strategies ------------------------------------------------------------


def describe_strategy(strategy: object) -> dict[str, typing.Any]:
    """Return ``{"class": qualified name, "options": attrs fields}`` for a strategy."""
    cls = type(strategy)
    options: dict[str, typing.Any] = {}
    if attrs.has(cls):
        for field in attrs.fields(cls):
            if field.init and not field.name.startswith("_"):
                options[field.name] = getattr(strategy, field.name)
    json.dumps(options)  # strategy options must be JSON: fail here, not at restore
    return {"class": f"{cls.__module__}.{cls.__qualname__}", "options": options}


def build_strategy(spec: typing.Mapping[str, typing.Any]) -> object:
    """Instantiate a strategy described by :func:`describe_strategy`.

    Only attrs classes inside the ``unionfs_lib`` package are accepted: a
    description is data and must not name arbitrary code to run.
    """
    name = spec.get("class")
    if not isinstance(name, str) or not name.startswith("unionfs_lib."):
        message = f"strategy class {name!r} is not a unionfs_lib class"
        raise fs.errors.CreateFailed(msg=literal(message))
    module_name, _, class_name = name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        message = f"unknown strategy class {name!r}"
        raise fs.errors.CreateFailed(msg=literal(message), exc=error) from error
    if not (isinstance(cls, type) and attrs.has(cls)):
        message = f"{name!r} is not a strategy class"
        raise fs.errors.CreateFailed(msg=literal(message))
    options = spec.get("options") or {}
    if not isinstance(options, dict):
        raise fs.errors.CreateFailed(msg=literal(f"options of {name!r} must be a mapping"))
    try:
        return cls(**options)
    except (TypeError, ValueError) as error:
        message = f"bad options for {name!r}: {error}"
        raise fs.errors.CreateFailed(msg=literal(message), exc=error) from error


# -- describe / restore ----------------------------------------------------


def describe(
    overlay: OverlayFS,
    *,
    fingerprints: str = "tree",
    urls: typing.Mapping[int, str] | None = None,
) -> dict[str, typing.Any]:
    """Return a JSON-serialisable description of ``overlay`` (see the module docstring).

    Arguments:
        overlay: the overlay to describe.
        fingerprints: ``"tree"``, ``"content"`` or ``"none"``.
        urls: layer index (0 upper, 1..N lowers) to URL, for layers whose URL
            cannot be found from the FS object itself.

    Raises:
        unionfs_lib.errors.NoLayerURL: a layer has no reopenable URL.

    """
    given = dict(urls or {})
    upper = overlay.upper
    upper_url = None if upper is None else given.get(0) or layer_url(upper)
    lowers = []
    for index, layer in enumerate(overlay.lowers, start=1):
        url = given.get(index) or layer_url(layer)
        lowers.append({"url": url, "fingerprint": fingerprint(layer, fingerprints)})
    strategies = {
        "whiteouts": describe_strategy(overlay.whiteouts),
        "copy_up": describe_strategy(overlay._sb.copier),
        "readdir": describe_strategy(overlay._sb.readdir),
    }
    description: dict[str, typing.Any] = {
        "format": FORMAT,
        "upper": upper_url,
        "lowers": lowers,
        "strategies": strategies,
    }
    description["url"] = description_url(description)
    return description


def from_description(
    description: typing.Mapping[str, typing.Any],
    *,
    verify: bool = True,
    cls: type[OverlayFS] | None = None,
) -> OverlayFS:
    """Reopen every layer of ``description`` and rebuild the overlay.

    Each lower whose fingerprint no longer matches raises
    :class:`~unionfs_lib.errors.LayerMismatch` (all opened layers are closed
    first) unless ``verify`` is false.
    """
    from .overlay import OverlayFS

    overlay_cls = OverlayFS if cls is None else cls
    if description.get("format") != FORMAT:
        raise fs.errors.CreateFailed(
            msg=literal(f"not an overlay description (format {description.get('format')!r})")
        )
    opened: list[FS] = []
    try:
        upper_url = description.get("upper")
        upper = None
        if upper_url is not None:
            upper = open_layer(upper_url, writeable=True)
            opened.append(upper)
        lowers = []
        for index, entry in enumerate(description.get("lowers", ()), start=1):
            layer = open_layer(entry["url"], writeable=False)
            opened.append(layer)
            if verify:
                verify_fingerprint(layer, entry.get("fingerprint"), index, entry["url"])
            lowers.append(layer)
        strategies = description.get("strategies") or {}
        kwargs = {
            name: build_strategy(strategies[name]) for name in _STRATEGIES if name in strategies
        }
        return overlay_cls(upper, lowers, **kwargs)  # type: ignore[arg-type]
    except BaseException:
        for layer in opened:
            layer.close()
        raise


def open_layer(url: str, writeable: bool) -> FS:
    """Open one layer URL; opener failures become ``fs.errors.CreateFailed``."""
    try:
        return fs.open_fs(url, writeable=writeable, create=writeable)
    except OpenerError as error:
        raise fs.errors.CreateFailed(msg=literal(f"cannot open layer {url!r}: {error}")) from error


# -- the overlay:// URL ----------------------------------------------------


def _encode_query(pairs: list[tuple[str, str]]) -> str:
    """Percent-encode every value fully, so nested URLs keep no ``?!@&#``."""
    return "&".join(f"{key}={urllib.parse.quote(value, safe='')}" for key, value in pairs)


def description_url(description: typing.Mapping[str, typing.Any]) -> str:
    """Return the ``overlay://`` URL equivalent to ``description``.

    Syntax: ``overlay://?upper=U&lower=L1&fingerprint=F1&lower=L2&fingerprint=F2...``
    with every value percent-encoded, lowers top-first, each ``fingerprint``
    after the ``lower`` it belongs to (``-`` for none) and, when a strategy
    is not the default one, ``whiteouts=``/``copy_up=``/``readdir=`` holding
    its JSON description.
    """
    pairs: list[tuple[str, str]] = []
    if description.get("upper") is not None:
        pairs.append(("upper", description["upper"]))
    for entry in description.get("lowers", ()):
        pairs.append(("lower", entry["url"]))
        pairs.append(("fingerprint", entry.get("fingerprint") or "-"))
    defaults = _default_strategies()
    for name, spec in (description.get("strategies") or {}).items():
        if spec != defaults.get(name):
            pairs.append((name, json.dumps(spec, sort_keys=True, separators=(",", ":"))))
    return "overlay://?" + _encode_query(pairs)


def _default_strategies() -> dict[str, dict[str, typing.Any]]:
    """Describe the strategies ``OverlayFS`` uses by default."""
    from .copy_up import CopyUpEngine
    from .readdir import DirIterator
    from .whiteout import MarkerWhiteouts

    return {
        "whiteouts": describe_strategy(MarkerWhiteouts()),
        "copy_up": describe_strategy(CopyUpEngine()),
        "readdir": describe_strategy(DirIterator()),
    }


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


def parse_url(fs_url: str) -> tuple[dict[str, typing.Any], str]:
    """Turn an ``overlay://`` URL into ``(description, verify_mode)``.

    ``verify=error`` (default), ``warn`` or ``off`` says what a fingerprint
    mismatch does when the URL is opened.
    """
    description: dict[str, typing.Any] = {
        "format": FORMAT,
        "upper": None,
        "lowers": [],
        "strategies": {},
    }
    verify = "error"
    for key, value in parse_query(fs_url, "overlay"):
        if key == "upper":
            description["upper"] = value
        elif key == "lower":
            description["lowers"].append({"url": value, "fingerprint": None})
        elif key == "fingerprint":
            if not description["lowers"]:
                message = "a fingerprint must follow its lower= parameter"
                raise fs.errors.CreateFailed(msg=literal(message))
            description["lowers"][-1]["fingerprint"] = None if value == "-" else value
        elif key in _STRATEGIES:
            try:
                description["strategies"][key] = json.loads(value)
            except ValueError as error:
                message = f"malformed {key}= parameter"
                raise fs.errors.CreateFailed(msg=literal(message), exc=error) from error
        elif key == "verify":
            if value not in ("error", "warn", "off"):
                message = f"verify= must be error, warn or off, not {value!r}"
                raise fs.errors.CreateFailed(msg=literal(message))
            verify = value
        else:
            raise fs.errors.CreateFailed(msg=literal(f"unknown overlay:// parameter {key!r}"))
    if description["upper"] is None and not description["lowers"]:
        message = "an overlay:// URL needs upper= or at least one lower="
        raise fs.errors.CreateFailed(msg=literal(message))
    description["url"] = description_url(description)
    return description, verify


# -- fingerprints kept in the upper -------------------------------------------


def record_location(overlay: OverlayFS) -> tuple[FS, str] | None:
    """Return ``(fs, path)`` of the fingerprint record, ``None`` without an upper.

    The record is ``/.wh..wh..layers.json`` in the upper when the whiteout
    store hides that name (the default store does); for the kernel layout
    of ``from_dirs``, which reserves no name, it is ``unionfs-layers.json``
    in the workdir, beside the kernel's ``work``. Any other store raises
    ``fs.errors.Unsupported``.
    """
    upper = overlay.upper
    if upper is None:
        return None
    from fs.osfs import OSFS

    from .workdir import UpperDirFS

    if isinstance(upper, UpperDirFS):
        return OSFS(upper.workdir), "/unionfs-layers.json"
    if overlay.whiteouts.is_reserved(LAYERS_RECORD.lstrip("/")):
        return upper, LAYERS_RECORD
    message = "this whiteout store cannot hide a fingerprint record in the upper"
    raise fs.errors.Unsupported(msg=literal(message))


def _read_record(overlay: OverlayFS) -> list[str | None] | None:
    """Return the recorded lower fingerprints, or ``None`` if there is no record."""
    location = record_location(overlay)
    if location is None or not location[0].isfile(location[1]):
        return None
    try:
        lowers = json.loads(location[0].readtext(location[1]))["lowers"]
        if not isinstance(lowers, list):
            raise TypeError("lowers is not a list")
        return lowers
    except (ValueError, KeyError, TypeError) as error:
        message = f"unreadable fingerprint record {location[1]}"
        raise fs.errors.CreateFailed(msg=literal(message), exc=error) from error


def _write_record(overlay: OverlayFS, lowers: list[str | None]) -> dict[str, typing.Any]:
    """Write the fingerprint record; return it."""
    location = record_location(overlay)
    if location is None:
        raise fs.errors.ResourceReadOnly(LAYERS_RECORD)
    record = {"format": FORMAT, "lowers": lowers}
    location[0].writetext(location[1], json.dumps(record, indent=1))
    return record


def record_lowers(overlay: OverlayFS, fingerprints: str = "tree") -> dict[str, typing.Any]:
    """Store the lowers' fingerprints with the upper (see :func:`record_location`).

    Returns the record. :func:`check_lowers` compares them at a later open.
    """
    return _write_record(overlay, [fingerprint(layer, fingerprints) for layer in overlay.lowers])


def check_lowers(overlay: OverlayFS, mode: str = "error") -> list[int]:
    """Compare the lowers with the fingerprints :func:`record_lowers` stored.

    Returns the indexes (1..N) of lowers that changed. ``mode`` says what a
    change does: ``"error"`` raises :class:`LayerMismatch`, ``"warn"`` logs a
    warning, ``"off"`` checks nothing. An upper with no record passes.
    """
    if mode not in ("error", "warn", "off"):
        raise ValueError(f"mode must be error, warn or off, not {mode!r}")
    recorded = None if mode == "off" else _read_record(overlay)
    if recorded is None:
        return []
    changed: list[int] = []
    if len(recorded) != len(overlay.lowers):
        changed = list(range(1, max(len(recorded), len(overlay.lowers)) + 1))
    else:
        for index, (layer, expected) in enumerate(zip(overlay.lowers, recorded), start=1):
            if expected is not None and fingerprint(layer, fingerprint_kind(expected)) != expected:
                changed.append(index)
    if changed:
        message = (
            f"lower layers {changed} changed since their fingerprints were recorded "
            f"(there were {len(recorded)} lowers, there are {len(overlay.lowers)})"
        )
        if mode == "error":
            raise LayerMismatch(msg=literal(message))
        log.warning("%s", message)
    return changed


def verify_lowers_at_open(overlay: OverlayFS, mode: str) -> list[int]:
    """Check the lowers at open (``OverlayFS(verify_lowers=mode)``).

    With a fingerprint record, compare (:func:`check_lowers`); without one,
    record the lowers now so that the next open can compare. Costs one
    metadata walk of every lower. A read-only overlay checks nothing.
    """
    if mode not in ("error", "warn", "off"):
        raise ValueError(f"verify_lowers must be error, warn or off, not {mode!r}")
    if mode == "off" or overlay.upper is None:
        return []
    if _read_record(overlay) is not None:
        return check_lowers(overlay, mode)
    record_lowers(overlay)
    return []


def forget_lower(overlay: OverlayFS, index: int) -> None:
    """Drop lower ``index`` (1..N) from the fingerprint record, if there is one.

    ``detach_lower`` calls it so that the record keeps matching the layers.
    """
    try:
        lowers = _read_record(overlay)
    except fs.errors.FSError:
        return  # no usable record: check_lowers reports it
    if lowers is not None and 1 <= index <= len(lowers):
        del lowers[index - 1]
        _write_record(overlay, lowers)
