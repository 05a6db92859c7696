"""Overlay descriptions: everything needed to rebuild an overlay, as data.

This is what checkpoint/restore needs: the overlay's equivalent of its mount
options, with every layer as a PyFilesystem2 URL that ``fs.open_fs`` reopens
(:mod:`unionfs_lib.layers.layer_urls`), the strategy objects with their options
(:mod:`unionfs_lib.layers.strategy_registry`), and an identity fingerprint per lower layer
(:mod:`unionfs_lib.layers.fingerprints`) so that a restore over a swapped or changed
lower is refused, as overlayfs refuses a wrong lower.

A description is a plain JSON-serialisable ``dict``::

    {
        "format": "unionfs_lib/1",
        "url": "overlay://?upper=...&lower=...",   # the same, as one URL
        "upper": "osfs:///srv/upper",                # or None (read-only)
        "lowers": [{"url": "zip:///srv/base.zip", "fingerprint": "tree:9f86..."}],
        "strategies": {"whiteouts": {"class": "unionfs_lib.whiteout.MarkerWhiteouts",
                                     "options": {}}, ...},
    }

and the same as one ``overlay://`` URL (:func:`description_url`,
:func:`parse_url`).

A description is data from outside: :func:`check_description` refuses
anything but the shape above (unknown keys, wrong types, JSON nested deeper
than :data:`MAX_JSON_DEPTH`, numbers beyond 64 bits, non-finite floats,
malformed fingerprints) with ``fs.errors.CreateFailed``, before a layer is
opened. Rebuilding creates a missing upper only when asked (``create=True``,
``create=1`` in the URL).
"""

from __future__ import annotations

import json
import math
import re
import typing

import attrs
import fs.errors
from fs.base import FS

from ..errors import literal
from .fingerprints import FingerprintKind, fingerprint, verify_fingerprint
from .layer_urls import encode_query, layer_url, open_layer, parse_query, shown
from .nested_overlays import LayeredFS
from .strategy_registry import build_strategy, default_strategies, describe_strategy

FORMAT = "unionfs_lib/1"
#: The strategy keys of a description, as ``OverlayFS`` takes them.
STRATEGY_KEYS = ("whiteouts", "copy_up", "readdir")
#: The keys a description may hold.
DESCRIPTION_KEYS = ("format", "url", "upper", "lowers", "strategies")
#: How deep strategy options (JSON) may nest.
MAX_JSON_DEPTH = 32
#: The largest integer (in magnitude) a description may hold.
MAX_INTEGER = 1 << 64
#: A recorded fingerprint: its kind and a hex digest (SHA-256).
_FINGERPRINT = re.compile(r"(tree|content):[0-9a-f]{1,128}")
#: ``create=`` values of an ``overlay://`` URL.
_FLAGS = {"1": True, "true": True, "0": False, "false": False}

T = typing.TypeVar("T")


def describe(
    overlay: LayeredFS,
    *,
    fingerprints: FingerprintKind = "tree",
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
        "whiteouts": describe_strategy(overlay.strategies.whiteouts),
        "copy_up": describe_strategy(overlay.strategies.copy_up),
        "readdir": describe_strategy(overlay.strategies.readdir),
    }
    description: dict[str, typing.Any] = {
        "format": FORMAT,
        "upper": upper_url,
        "lowers": lowers,
        "strategies": strategies,
    }
    description["url"] = description_url(description)
    return description


def build_overlay(
    cls: typing.Callable[..., T],
    description: typing.Mapping[str, typing.Any],
    *,
    verify: bool = True,
    create: bool = False,
) -> T:
    """Reopen every layer of ``description`` and build the overlay with ``cls``.

    ``cls`` is called as ``cls(upper, lowers, **strategies)``. Each lower
    whose fingerprint no longer matches raises
    :class:`~unionfs_lib.errors.LayerMismatch` (all opened layers are closed
    first) unless ``verify`` is false. A missing upper is created only if
    ``create`` is true; otherwise it raises ``CreateFailed`` and nothing is
    made.

    Raises:
        fs.errors.CreateFailed: the description is malformed
            (:func:`check_description`) or a layer cannot be opened.

    """
    check_description(description)
    opened: list[FS] = []
    try:
        upper_url = description.get("upper")
        upper = None
        if upper_url is not None:
            upper = open_layer(upper_url, writeable=True, create=create)
            opened.append(upper)
        lowers = []
        for index, entry in enumerate(description.get("lowers") or (), start=1):
            layer = open_layer(entry["url"], writeable=False)
            opened.append(layer)
            if verify:
                verify_fingerprint(layer, entry.get("fingerprint"), index, entry["url"])
            lowers.append(layer)
        strategies = description.get("strategies") or {}
        kwargs = {
            name: build_strategy(strategies[name]) for name in STRATEGY_KEYS if name in strategies
        }
        return cls(upper, lowers, **kwargs)
    except BaseException:
        for layer in opened:
            layer.close()
        raise


def check_description(description: object) -> None:
    """Refuse a description that is not exactly the documented shape.

    Checks the keys and their types (see the module docstring), that the
    overlay has an upper or a lower, that fingerprints are
    ``"tree:<hex digest>"`` or ``"content:<hex digest>"`` (or ``None``), and that
    strategy options are JSON no deeper than :data:`MAX_JSON_DEPTH` holding
    only finite numbers within 64 bits.

    Raises:
        fs.errors.CreateFailed: the first problem found, named.

    """
    where = "the description"
    found = _mapping(description, where, DESCRIPTION_KEYS)
    if found.get("format") != FORMAT:
        _fail(f"not an overlay description (format {shown(found.get('format'))})")
    for key in ("url", "upper"):
        if found.get(key) is not None and not isinstance(found[key], str):
            _fail(f"{key} of {where} must be a string, not {shown(found[key])}")
    lowers = found.get("lowers")
    if lowers is None:
        lowers = []
    if not isinstance(lowers, (list, tuple)):
        _fail(f"lowers of {where} must be a list, not {shown(lowers)}")
    for index, entry in enumerate(lowers, start=1):
        _check_lower(entry, index)
    if found.get("upper") is None and not lowers:
        _fail("an overlay description needs an upper or at least one lower")
    strategies = found.get("strategies")
    if strategies is not None:
        for name, spec in _mapping(strategies, "strategies", STRATEGY_KEYS).items():
            _check_strategy(spec, name)


def _check_lower(entry: object, index: int) -> None:
    """Check one ``{"url": ..., "fingerprint": ...}`` entry of ``lowers``."""
    where = f"lower {index}"
    fields = _mapping(entry, where, ("url", "fingerprint"))
    if not isinstance(fields.get("url"), str):
        _fail(f"{where} needs a url string, not {shown(fields.get('url'))}")
    found = fields.get("fingerprint")
    if found is not None and not (isinstance(found, str) and _FINGERPRINT.fullmatch(found)):
        _fail(f"the fingerprint of {where} is not 'tree:<hex>' or 'content:<hex>'")


def _check_strategy(spec: object, name: str) -> None:
    """Check one strategy description: ``class`` or ``name``, and JSON ``options``."""
    where = f"the {name} strategy"
    fields = _mapping(spec, where, ("class", "name", "options"))
    names = [key for key in ("class", "name") if key in fields]
    if len(names) != 1 or not isinstance(fields[names[0]], str):
        _fail(f"{where} needs exactly one of class or name, as a string")
    options = fields.get("options")
    if options is not None and not isinstance(options, typing.Mapping):
        _fail(f"options of {where} must be a mapping, not {shown(options)}")
    check_json(options, f"options of {where}")


def check_json(value: object, where: str) -> None:
    """Refuse ``value`` unless it is JSON data of bounded depth and bounded numbers.

    Walks without recursion, so a depth bomb costs no stack.

    Raises:
        fs.errors.CreateFailed: a value of another type, nesting deeper than
            :data:`MAX_JSON_DEPTH`, a non-string key, an integer beyond
            :data:`MAX_INTEGER` or a non-finite float.

    """
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            _fail(f"{where} nest deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, typing.Mapping):
            if not all(isinstance(key, str) for key in item):
                _fail(f"{where} have a key that is not a string")
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend((child, depth + 1) for child in item)
        elif isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        elif isinstance(item, int):
            if not -MAX_INTEGER <= item <= MAX_INTEGER:
                _fail(f"{where} hold an integer beyond 64 bits")
        elif isinstance(item, float):
            if not math.isfinite(item):
                _fail(f"{where} hold a number that is not finite")
        else:
            _fail(f"{where} hold a {type(item).__name__}, which is not JSON data")


def _mapping(
    value: object, where: str, keys: typing.Sequence[str]
) -> typing.Mapping[str, object]:
    """Return ``value`` if it is a mapping whose keys are among ``keys``; else refuse it."""
    if not isinstance(value, typing.Mapping):
        _fail(f"{where} must be a mapping, not {shown(value)}")
    unknown = [key for key in value if key not in keys]
    if unknown:
        _fail(f"{where} has unknown key {shown(unknown[0])} (known: {', '.join(keys)})")
    return typing.cast(typing.Mapping[str, object], value)


def _fail(message: str) -> typing.NoReturn:
    """Raise the ``CreateFailed`` of a malformed description."""
    raise fs.errors.CreateFailed(msg=literal(message))


def description_url(description: typing.Mapping[str, typing.Any]) -> str:
    """Return the ``overlay://`` URL equivalent to ``description``.

    Syntax: ``overlay://?upper=U&lower=L1&fingerprint=F1&lower=L2&fingerprint=F2...``
    with every value percent-encoded, lowers top-first, each ``fingerprint``
    after the ``lower`` it belongs to (``-`` for none) and, when a strategy
    is not the default one, ``whiteouts=``/``copy_up=``/``readdir=`` holding
    its JSON description.
    """
    pairs: list[tuple[str, str]] = []
    upper = description.get("upper")
    if upper is not None:
        pairs.append(("upper", upper))
    for entry in description.get("lowers", ()):
        pairs.append(("lower", entry["url"]))
        pairs.append(("fingerprint", entry.get("fingerprint") or "-"))
    defaults = default_strategies()
    for name, spec in (description.get("strategies") or {}).items():
        # A kernel-layout upper always names its store: its format is not the default's.
        stated = name == "whiteouts" and isinstance(upper, str) and upper.startswith("upperdir:")
        if stated or spec != defaults.get(name):
            pairs.append((name, json.dumps(spec, sort_keys=True, separators=(",", ":"))))
    return "overlay://?" + encode_query(pairs)


@attrs.frozen
class OverlayURL:
    """An ``overlay://`` URL, parsed.

    Attributes:
        description: the description it is equivalent to.
        verify: ``"error"``, ``"warn"`` or ``"off"``: what a fingerprint
            mismatch does when the URL is opened.
        create: ``create=1`` was given: a missing upper is created.

    """

    description: dict[str, typing.Any]
    verify: str = "error"
    create: bool = False


def parse_url(fs_url: str) -> tuple[dict[str, typing.Any], str]:
    """Turn an ``overlay://`` URL into ``(description, verify_mode)``.

    ``verify=error`` (default), ``warn`` or ``off`` says what a fingerprint
    mismatch does when the URL is opened. See :func:`parse_overlay_url`.
    """
    parsed = parse_overlay_url(fs_url)
    return parsed.description, parsed.verify


def parse_overlay_url(fs_url: str) -> OverlayURL:
    """Parse an ``overlay://`` URL: description, ``verify=`` and ``create=``.

    Raises:
        fs.errors.CreateFailed: a malformed URL: an unknown or repeated
            parameter, malformed strategy JSON, a description that
            :func:`check_description` refuses.

    """
    description: dict[str, typing.Any] = {
        "format": FORMAT,
        "upper": None,
        "lowers": [],
        "strategies": {},
    }
    options = {"verify": "error", "create": False}
    seen: set[str] = set()
    for key, value in parse_query(fs_url, "overlay"):
        if key in seen and key not in ("lower", "fingerprint"):
            _fail(f"the overlay:// parameter {shown(key)} is given twice")
        if key == "lower":
            seen.discard("fingerprint")  # each lower= may have one fingerprint=
            description["lowers"].append({"url": value, "fingerprint": None})
        elif key == "fingerprint":
            if not description["lowers"] or key in seen:
                _fail("each fingerprint= must follow its own lower= parameter")
            description["lowers"][-1]["fingerprint"] = None if value == "-" else value
        elif key in STRATEGY_KEYS:
            description["strategies"][key] = _strategy_json(key, value)
        else:
            _set_option(description, options, key, value)
        seen.add(key)
    if description["upper"] is None and not description["lowers"]:
        _fail("an overlay:// URL needs upper= or at least one lower=")
    check_description(description)
    description["url"] = description_url(description)
    return OverlayURL(description, str(options["verify"]), bool(options["create"]))


def _strategy_json(key: str, value: str) -> typing.Any:
    """Decode the JSON of a ``whiteouts=``/``copy_up=``/``readdir=`` parameter."""
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as error:  # RecursionError: a nesting bomb
        raise fs.errors.CreateFailed(msg=literal(f"malformed {key}= parameter")) from error


def _set_option(
    description: dict[str, typing.Any], options: dict[str, typing.Any], key: str, value: str
) -> None:
    """Apply ``upper=``, ``verify=`` or ``create=``; refuse any other parameter."""
    if key == "upper":
        description["upper"] = value
    elif key == "verify":
        if value not in ("error", "warn", "off"):
            _fail(f"verify= must be error, warn or off, not {shown(value)}")
        options["verify"] = value
    elif key == "create":
        if value not in _FLAGS:
            _fail(f"create= must be 1 or 0, not {shown(value)}")
        options["create"] = _FLAGS[value]
    else:
        _fail(f"unknown overlay:// parameter {shown(key)}")


__all__ = [
    "DESCRIPTION_KEYS",
    "FORMAT",
    "MAX_INTEGER",
    "MAX_JSON_DEPTH",
    "STRATEGY_KEYS",
    "OverlayURL",
    "build_overlay",
    "check_description",
    "check_json",
    "describe",
    "description_url",
    "parse_overlay_url",
    "parse_url",
]
