"""Lower fingerprints kept with the upper: refuse an upper reopened over other lowers.

``OverlayFS(verify_lowers="error")`` (or ``"warn"``) records the lowers'
fingerprints (:mod:`unionfs_lib.layers.fingerprints`) with the upper the first time,
and compares them at every later open; :func:`record_lowers` and
:func:`check_lowers` do the same on demand, and ``detach_lower`` keeps the
record in step (:func:`forget_lower`).
"""

from __future__ import annotations

import json
import logging
import typing

import fs.errors
from fs.base import FS
from fs.osfs import OSFS

from ..errors import LayerMismatch, literal
from ..host.posix import read_marker, write_marker
from ..host.workdir import UpperDirFS
from .description import FORMAT
from .fingerprints import FINGERPRINT_KINDS, FingerprintKind, fingerprint, fingerprint_kind
from .nested_overlays import LayeredFS

log = logging.getLogger(__name__)

#: Where :func:`record_lowers` keeps the fingerprints inside the upper; the
#: ``.wh..wh.`` prefix makes it invisible through the default whiteout store
#: (the kernel layout keeps it in the workdir, see :func:`record_location`).
LAYERS_RECORD = "/.wh..wh..layers.json"


def record_location(overlay: LayeredFS) -> tuple[FS, str] | None:
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
    if isinstance(upper, UpperDirFS):
        return OSFS(upper.workdir), "/unionfs-layers.json"
    if overlay.whiteouts.is_reserved(LAYERS_RECORD.lstrip("/")):
        return upper, LAYERS_RECORD
    message = "this whiteout store cannot hide a fingerprint record in the upper"
    raise fs.errors.Unsupported(msg=literal(message))


def _read_record(overlay: LayeredFS) -> list[str | None] | None:
    """Return the recorded lower fingerprints, or ``None`` if there is no record.

    The record lives in the upper (or the workdir), where anyone may have
    laid anything: what is not a regular file holding a JSON object whose
    ``lowers`` is a list of fingerprints (strings of a known kind, or
    ``None``) raises ``CreateFailed``, never a Python error. It is read
    through no link (:func:`~unionfs_lib.host.posix.read_marker`).
    """
    location = record_location(overlay)
    if location is None or not location[0].exists(location[1]):
        return None
    try:
        raw = read_marker(location[0], location[1])
        found = json.loads(raw.decode("utf-8"))
        lowers = found["lowers"] if isinstance(found, dict) else None
        if not isinstance(lowers, list):
            raise TypeError("lowers is not a list")
        for expected in lowers:
            if expected is not None and not _is_fingerprint(expected):
                raise ValueError(f"not a fingerprint: {str(expected)[:40]!r}")
        return lowers
    except (ValueError, KeyError, TypeError, RecursionError, fs.errors.FSError) as error:
        message = f"unreadable fingerprint record {location[1]}"
        raise fs.errors.CreateFailed(msg=literal(message), exc=error) from error


def _is_fingerprint(value: object) -> bool:
    """Tell whether ``value`` is a fingerprint of a known kind (``tree:...``, ``content:...``)."""
    return isinstance(value, str) and fingerprint_kind(value) in FINGERPRINT_KINDS


def _write_record(overlay: LayeredFS, lowers: list[str | None]) -> dict[str, typing.Any]:
    """Write the fingerprint record (never through a link laid at its name); return it."""
    location = record_location(overlay)
    if location is None:
        raise fs.errors.ResourceReadOnly(LAYERS_RECORD)
    record = {"format": FORMAT, "lowers": lowers}
    write_marker(location[0], location[1], json.dumps(record, indent=1).encode("utf-8"))
    return record


def record_lowers(
    overlay: LayeredFS, fingerprints: FingerprintKind = "tree"
) -> dict[str, typing.Any]:
    """Store the lowers' fingerprints with the upper (see :func:`record_location`).

    Returns the record. :func:`check_lowers` compares them at a later open.
    """
    return _write_record(overlay, [fingerprint(layer, fingerprints) for layer in overlay.lowers])


def check_lowers(overlay: LayeredFS, mode: str = "error") -> list[int]:
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


def verify_lowers_at_open(overlay: LayeredFS, mode: str) -> list[int]:
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


def forget_lower(overlay: LayeredFS, index: int) -> None:
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


__all__ = [
    "LAYERS_RECORD",
    "check_lowers",
    "forget_lower",
    "record_location",
    "record_lowers",
    "verify_lowers_at_open",
]
