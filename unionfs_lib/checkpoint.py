"""Describe an overlay completely, and rebuild it from that description.

The public entry points of checkpoint/restore; see
:mod:`unionfs_lib.layers.description` for the format, :mod:`unionfs_lib.layers.layer_urls`
for how layers are named, :mod:`unionfs_lib.layers.fingerprints` for fingerprints,
:mod:`unionfs_lib.layers.strategy_registry` for strategies and
:mod:`unionfs_lib.layers.recorded_fingerprints` for the fingerprints kept with the upper.
Those modules live beneath :class:`~unionfs_lib.overlay.OverlayFS`; this one
sits above it, as it builds overlays.
"""

from __future__ import annotations

import typing

from .layers.description import (
    FORMAT,
    STRATEGY_KEYS,
    OverlayURL,
    check_description,
    describe,
    description_url,
    parse_overlay_url,
    parse_url,
)
from .layers.fingerprints import (
    FINGERPRINT_KINDS,
    fingerprint,
    fingerprint_kind,
    verify_fingerprint,
)
from .layers.layer_urls import layer_url, lazy_url, open_layer, parse_query
from .layers.recorded_fingerprints import (
    LAYERS_RECORD,
    check_lowers,
    forget_lower,
    record_location,
    record_lowers,
    verify_lowers_at_open,
)
from .layers.strategy_registry import build_strategy, describe_strategy
from .overlay import OverlayFS


def from_description(
    description: typing.Mapping[str, typing.Any],
    *,
    verify: bool = True,
    cls: type[OverlayFS] | None = None,
    create: bool = False,
) -> OverlayFS:
    """Reopen every layer of ``description`` and rebuild the overlay.

    Each lower whose fingerprint no longer matches raises
    :class:`~unionfs_lib.errors.LayerMismatch` (all opened layers are closed
    first) unless ``verify`` is false. ``cls`` is the class to build (a
    subclass of ``OverlayFS``). A missing upper is created only if ``create``
    is true. A malformed description raises ``fs.errors.CreateFailed``.
    """
    return (cls or OverlayFS).from_description(description, verify=verify, create=create)


__all__ = [
    "FINGERPRINT_KINDS",
    "FORMAT",
    "LAYERS_RECORD",
    "STRATEGY_KEYS",
    "OverlayURL",
    "build_strategy",
    "check_description",
    "check_lowers",
    "describe",
    "describe_strategy",
    "description_url",
    "fingerprint",
    "fingerprint_kind",
    "forget_lower",
    "from_description",
    "layer_url",
    "lazy_url",
    "open_layer",
    "parse_overlay_url",
    "parse_query",
    "parse_url",
    "record_location",
    "record_lowers",
    "verify_fingerprint",
    "verify_lowers_at_open",
]
