"""Overlay descriptions: everything needed to rebuild an overlay, as data.

This is what checkpoint/restore needs: the overlay's equivalent of its mount
options, with every layer as a PyFilesystem2 URL that ``fs.open_fs`` reopens
(:mod:`unionfs_lib.layer_url`), the strategy objects with their options
(:mod:`unionfs_lib.registry`), and an identity fingerprint per lower layer
(:mod:`unionfs_lib.fingerprint`) so that a restore over a swapped or changed
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
"""

from __future__ import annotations

import json
import typing

import fs.errors
from fs.base import FS

from .errors import literal
from .fingerprint import fingerprint, verify_fingerprint
from .layer_url import encode_query, layer_url, open_layer, parse_query
from .params import LayeredFS
from .registry import build_strategy, default_strategies, describe_strategy

FORMAT = "unionfs_lib/1"
#: The strategy keys of a description, as ``OverlayFS`` takes them.
STRATEGY_KEYS = ("whiteouts", "copy_up", "readdir")

T = typing.TypeVar("T")


def describe(
    overlay: LayeredFS,
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
) -> T:
    """Reopen every layer of ``description`` and build the overlay with ``cls``.

    ``cls`` is called as ``cls(upper, lowers, **strategies)``. Each lower
    whose fingerprint no longer matches raises
    :class:`~unionfs_lib.errors.LayerMismatch` (all opened layers are closed
    first) unless ``verify`` is false.
    """
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
            name: build_strategy(strategies[name]) for name in STRATEGY_KEYS if name in strategies
        }
        return cls(upper, lowers, **kwargs)
    except BaseException:
        for layer in opened:
            layer.close()
        raise


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
    defaults = default_strategies()
    for name, spec in (description.get("strategies") or {}).items():
        if spec != defaults.get(name):
            pairs.append((name, json.dumps(spec, sort_keys=True, separators=(",", ":"))))
    return "overlay://?" + encode_query(pairs)


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
        elif key in STRATEGY_KEYS:
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


__all__ = [
    "FORMAT",
    "STRATEGY_KEYS",
    "build_overlay",
    "describe",
    "description_url",
    "parse_url",
]
