"""Layer fingerprints: the identity of a lower layer, to refuse a swapped one.

A restore over a swapped or changed lower must be refused, as overlayfs
refuses a wrong lower. A fingerprint is ``"<kind>:<sha256 hex>"``:

* ``"tree"`` (the default) hashes every entry of the layer in sorted
  depth-first order: path, type, size and modification time. It costs one walk
  of the layer's metadata (one listing per directory, no file data read), so
  it detects a swapped layer and any change that touches sizes or times;
* ``"content"`` hashes the file data too, at the cost of reading every byte,
  and so also catches a rewrite that keeps size and time;
* ``"none"`` records nothing.

Marker files (whiteouts) of a lower are part of its identity and are hashed.
"""

from __future__ import annotations

import hashlib
import typing

from fs.base import FS
from fs.info import Info

from ..errors import LayerMismatch, literal
from ..model.records import CHUNK_SIZE

FINGERPRINT_KINDS = ("tree", "content", "none")
#: What ``fingerprints=`` may be (see :data:`FINGERPRINT_KINDS`).
FingerprintKind = typing.Literal["tree", "content", "none"]


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
    """Hash the entries below ``path`` in sorted depth-first order, never through a link.

    Each directory's entries are hashed in name order, a directory's own
    entries right after its record. A symbolic link is hashed by its record
    (as the layer describes it) and, for ``content``, by its target text: it
    is never entered nor read through, so a link out of the layer (or one
    that loops) costs nothing and reads nothing outside. The walk keeps an
    explicit stack, so a deep tree needs no deep recursion.
    """
    pending = [_sorted_entries(layer, path)]
    while pending:
        entry = next(pending[-1], None)
        if entry is None:
            pending.pop()
            continue
        child, info = entry
        digest.update(_record(child, info) + b"\n")
        target = _link_target(info)
        if target is not None:
            if content:
                digest.update(b"link:" + target.encode("utf-8", "surrogateescape"))
        elif info.is_dir:
            pending.append(_sorted_entries(layer, child))
        elif content:
            with layer.openbin(child, "r") as handle:
                for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
                    digest.update(chunk)


def _sorted_entries(layer: FS, path: str) -> typing.Iterator[tuple[str, Info]]:
    """Return ``(child path, info)`` of each entry of directory ``path``, by name."""
    infos = sorted(layer.scandir(path, namespaces=["details", "link"]), key=lambda i: i.name)
    base = path.rstrip("/")
    return iter([(base + "/" + info.name, info) for info in infos])


def _record(child: str, info: Info) -> bytes:
    """Return the fingerprint line of one entry: path, type, size and modified time."""
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
    return record.encode("utf-8", "surrogateescape")


def _link_target(info: Info) -> str | None:
    """Return the target of a symbolic link's info, ``None`` for anything else."""
    target = info.raw.get("link", {}).get("target")
    return target if isinstance(target, str) else None


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


__all__ = ["FINGERPRINT_KINDS", "fingerprint", "fingerprint_kind", "verify_fingerprint"]
