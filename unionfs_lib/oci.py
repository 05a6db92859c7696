"""OCI / Docker image layers: open an image as an overlay, export changes as a layer.

An OCI image is a stack of layer tarballs applied in order; in each one a
file ``.wh.<name>`` deletes ``<name>`` of the layers beneath and
``.wh..wh..opq`` in a directory hides everything the layers beneath hold
there. That is :class:`~unionfs_lib.whiteout.MarkerWhiteouts`'s format, and
markers found in lower layers are honoured, so each layer tarball opened as a
``TarFS`` is a lower as it is (:func:`open_layers`, :func:`open_image`).

:func:`export_layer` goes the other way: it writes the upper's changes as one
layer tarball which, applied over the lowers with the OCI rules, gives the
overlay's merged view. It reads the upper through the overlay's whiteout
store, so it works whatever store the overlay uses, and writes only OCI
entries: directories, files, ``.wh.`` whiteouts and ``.wh..wh..opq``. Our own
markers are left out (the work area, identity records, the fingerprint
record); a directory renamed by redirect, which OCI cannot express, is
exported with its whole merged content as real entries and an opaque marker.

Difference from OCI: in a single layer holding both ``.wh.<dir>`` and a
directory ``<dir>``, OCI replaces the directory beneath; the overlay merges
them (that pair is a transient state of an interrupted rename for it). OCI
producers write ``<dir>/.wh..wh..opq`` instead, which both read alike.
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
import typing

import attrs
import fs.errors
from fs.base import FS
from fs.tarfs import TarFS

from .errors import literal
from .progress import ProgressCallback, ProgressTracker
from .util import join_path
from .whiteout import OPAQUE_MARKER, WHITEOUT_PREFIX

if typing.TYPE_CHECKING:
    from .overlay import OverlayFS

LayerSource = typing.Union[str, FS, typing.BinaryIO]


def open_layers(
    layers: typing.Sequence[LayerSource], upper: FS | None = None, **options: typing.Any
) -> OverlayFS:
    """Build an overlay over OCI layer tarballs given bottom-first (manifest order).

    Each layer is a path or binary file of a ``.tar``/``.tar.gz`` layer (opened
    as a read-only ``TarFS``) or an FS already open. ``upper`` is the writable
    layer (``None`` for a read-only image view); ``options`` go to
    ``OverlayFS``. The overlay closes the tarballs it opened when it closes.
    """
    from .overlay import OverlayFS

    lowers = [layer if isinstance(layer, FS) else TarFS(layer) for layer in reversed(layers)]
    return OverlayFS(upper, lowers, **options)


def image_layers(image: FS) -> list[str]:
    """Return the layer tarball paths of an image, bottom-first.

    ``image`` is an OCI image layout (``index.json`` and ``blobs/``) or the
    content of ``docker save`` (``manifest.json``), as a directory or an
    opened tar. The first image of the index is used.
    """
    try:
        if image.isfile("/index.json"):
            index = json.loads(image.readtext("/index.json"))
            manifest = json.loads(image.readtext(_blob(index["manifests"][0]["digest"])))
            return [_blob(layer["digest"]) for layer in manifest["layers"]]
        if image.isfile("/manifest.json"):
            manifest = json.loads(image.readtext("/manifest.json"))
            return ["/" + posixpath.normpath(path) for path in manifest[0]["Layers"]]
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise fs.errors.CreateFailed(msg=literal("malformed image manifest"), exc=error) from error
    raise fs.errors.CreateFailed(msg=literal("not an OCI image layout nor a docker save archive"))


def _blob(digest: str) -> str:
    """Return the layout path of a blob digest (``sha256:<hex>``)."""
    algorithm, _, value = digest.partition(":")
    if not algorithm.isalnum() or not value.isalnum():
        raise fs.errors.CreateFailed(msg=literal(f"malformed digest {digest!r}"))
    return f"/blobs/{algorithm}/{value}"


def open_image(image: FS, upper: FS | None = None, **options: typing.Any) -> OverlayFS:
    """Build an overlay over the layers of an OCI layout or ``docker save`` image.

    Layer tarballs are read straight out of ``image`` (which must stay open
    while the overlay is used).
    """
    layers = [TarFS(image.openbin(path, "r")) for path in image_layers(image)]
    return open_layers(layers, upper, **options)


# -- export --------------------------------------------------------------------


@attrs.frozen
class _Entry:
    """One planned tar member: its name, kind and the overlay path of its content."""

    name: str
    kind: str  # "dir", "file" or "marker"
    source: str | None = None


def export_layer(
    overlay: OverlayFS,
    target: str | typing.BinaryIO,
    *,
    compression: str = "",
    progress: ProgressCallback | None = None,
) -> int:
    """Write the upper's changes as an OCI layer tarball; return the member count.

    Arguments:
        overlay: an overlay with an upper layer.
        target: an OS path or a writable binary file (written as a stream).
        compression: ``""`` for a plain tar, ``"gz"`` for gzip.
        progress: called once per member written.

    The overlay lock is held throughout, so the layer is a consistent
    snapshot. Members appear parents first, and in each directory its
    ``.wh..wh..opq`` and whiteouts before its entries.

    """
    if compression not in ("", "gz"):
        raise ValueError(f"compression must be '' or 'gz', not {compression!r}")
    upper = overlay.upper
    if upper is None:
        message = "a read-only overlay has no changes to export"
        raise fs.errors.ResourceReadOnly("/", msg=literal(message))
    with overlay._lock:
        plan = _plan(overlay, upper)
        tracker = ProgressTracker("export", progress, len(plan))
        if isinstance(target, str):
            with open(target, "wb") as out:
                _write_archive(overlay, out, compression, plan, tracker)
        else:
            _write_archive(overlay, target, compression, plan, tracker)
    return len(plan)


def _plan(overlay: OverlayFS, upper: FS) -> list[_Entry]:
    """List the members to write, depth-first, from the upper's store listings."""
    store = overlay.whiteouts
    plan: list[_Entry] = []
    stack = ["/"]
    while stack:
        path = stack.pop()
        listing = store.read_dir(upper, path, with_info=False)
        if path != "/":
            plan.append(_Entry(_name(path), "dir", path))
        if listing.redirect is not None:
            plan.append(_Entry(_name(join_path(path, OPAQUE_MARKER)), "marker"))
            plan.extend(_merged_subtree(overlay, path))
            continue
        if listing.opaque:
            plan.append(_Entry(_name(join_path(path, OPAQUE_MARKER)), "marker"))
        for name in sorted(listing.whiteouts - set(listing.entries)):
            plan.append(_Entry(_name(join_path(path, WHITEOUT_PREFIX + name)), "marker"))
        subdirs = []
        for name, is_dir in sorted(listing.entries.items()):
            child = join_path(path, name)
            if is_dir:
                subdirs.append(child)
            else:
                plan.append(_Entry(_name(child), "file", child))
        stack.extend(reversed(subdirs))
    return plan


def _merged_subtree(overlay: OverlayFS, root: str) -> list[_Entry]:
    """Every entry of the merged view below ``root`` as real members."""
    entries: list[_Entry] = []
    stack = [root]
    while stack:
        path = stack.pop()
        subdirs = []
        for info in sorted(overlay.scandir(path), key=lambda info: info.name):
            child = join_path(path, info.name)
            if info.is_dir:
                entries.append(_Entry(_name(child), "dir", child))
                subdirs.append(child)
            else:
                entries.append(_Entry(_name(child), "file", child))
        stack.extend(reversed(subdirs))
    return entries


def _name(path: str) -> str:
    """Return the tar member name of an overlay path (relative, no leading slash)."""
    return path.lstrip("/")


def _write_archive(
    overlay: OverlayFS,
    out: typing.BinaryIO,
    compression: str,
    plan: list[_Entry],
    tracker: ProgressTracker,
) -> None:
    """Open a streaming tar writer on ``out`` and write ``plan`` into it."""
    mode: typing.Any = "w|" + compression
    with tarfile.open(fileobj=out, mode=mode, format=tarfile.PAX_FORMAT) as archive:
        _write(overlay, archive, plan, tracker)


def _write(
    overlay: OverlayFS, archive: tarfile.TarFile, plan: list[_Entry], tracker: ProgressTracker
) -> None:
    """Write the planned members, streaming file data from the overlay."""
    for entry in plan:
        member = tarfile.TarInfo(entry.name)
        size = 0
        if entry.kind == "marker":
            member.mode = 0o644
            archive.addfile(member, io.BytesIO(b""))
        else:
            assert entry.source is not None
            info = overlay.getinfo(entry.source, namespaces=["details", "access"])
            modified: typing.Any = info.raw.get("details", {}).get("modified")
            member.mtime = int(modified or 0)
            permissions = info.permissions if info.has_namespace("access") else None
            if entry.kind == "dir":
                member.type = tarfile.DIRTYPE
                member.mode = permissions.mode if permissions is not None else 0o755
                archive.addfile(member)
            else:
                size = member.size = info.size
                member.mode = permissions.mode if permissions is not None else 0o644
                with overlay.openbin(entry.source, "r") as data:
                    archive.addfile(member, data)
        tracker.step("/" + entry.name, size)
