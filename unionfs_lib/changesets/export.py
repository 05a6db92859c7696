"""Export the upper's changes as one OCI image layer tarball.

:func:`export_layer` writes the upper's changes as one layer tarball which,
applied over the lowers with the OCI rules (:mod:`unionfs_lib.oci`), gives
the overlay's merged view. It reads the upper through the overlay's whiteout
store, so it works whatever store the overlay uses, and writes only OCI
entries: directories, files, symbolic links, ``.wh.`` whiteouts and
``.wh..wh..opq``. Our own markers are left out (the work area, identity
records, the fingerprint record); a directory renamed by redirect, which OCI
cannot express, is exported with its whole merged content as real entries
and an opaque marker.

A symbolic link is a symbolic link member (its stored target, its own
times), whatever it points to: it is never followed, nor entered when it
leads to a directory, so nothing outside the layers is ever read.
"""

from __future__ import annotations

import io
import tarfile
import typing

import attrs
import fs.errors
from fs.base import FS

from ..errors import literal
from ..host.posix import link_target, lstat_or_none
from ..model.paths import join_path
from ..model.progress import ProgressCallback, ProgressTracker
from ..model.records import UPPER
from ..ops.superblock import OverlaySuper, overlay_super
from ..resolve.name_probe import NameProbe
from ..stores.marker_whiteouts import OPAQUE_MARKER, WHITEOUT_PREFIX
from ..stores.whiteout_store import WhiteoutStore
from .changes import walk_entries


@attrs.frozen
class _Entry:
    """One planned tar member: its name, kind and the overlay path of its content.

    A link (kind ``"link"``) carries its stored target and modification time
    (of the link itself), read when planned.
    """

    name: str
    kind: str  # "dir", "file", "link" or "marker"
    source: str | None = None
    target: str = ""
    mtime: int = 0


def export_layer(
    overlay: FS,
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
    sb = overlay_super(overlay)
    upper = sb.upper
    if upper is None:
        message = "a read-only overlay has no changes to export"
        raise fs.errors.ResourceReadOnly("/", msg=literal(message))
    with sb.lock:
        plan = _plan(overlay, sb.store, upper)
        tracker = ProgressTracker("export", progress, len(plan))
        if isinstance(target, str):
            with open(target, "wb") as out:
                _write_archive(overlay, out, compression, plan, tracker)
        else:
            _write_archive(overlay, target, compression, plan, tracker)
    return len(plan)


def _plan(overlay: FS, store: WhiteoutStore, upper: FS) -> list[_Entry]:
    """List the members to write, depth-first, from the upper's store listings."""
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
            target = link_target(upper, child)
            if target is not None:
                plan.append(_link_entry(upper, child, target))
            elif is_dir:
                subdirs.append(child)
            else:
                plan.append(_Entry(_name(child), "file", child))
        stack.extend(reversed(subdirs))
    return plan


def _link_entry(layer: FS, path: str, target: str, overlay_path: str | None = None) -> _Entry:
    """Plan the link ``path`` of ``layer`` (shown at ``overlay_path``, by default ``path``)."""
    found = lstat_or_none(layer, path)
    mtime = int(found.st_mtime) if found is not None else 0
    return _Entry(_name(overlay_path or path), "link", overlay_path or path, target, mtime)


def _merged_subtree(overlay: FS, root: str) -> list[_Entry]:
    """Every entry of the merged view below ``root`` as real members (links as links)."""
    sb: OverlaySuper = overlay_super(overlay)
    probe = NameProbe(sb.resolver)
    node = probe.lookup(root, UPPER)
    if node is None:
        return []
    entries: list[_Entry] = []
    for child, target in walk_entries(sb, probe, node, UPPER):
        if target is not None:
            top = child.top
            entries.append(_link_entry(sb.layer(top.layer), top.path, target, child.path))
        elif child.is_dir:
            entries.append(_Entry(_name(child.path), "dir", child.path))
        else:
            entries.append(_Entry(_name(child.path), "file", child.path))
    return entries


def _name(path: str) -> str:
    """Return the tar member name of an overlay path (relative, no leading slash)."""
    return path.lstrip("/")


def _write_archive(
    overlay: FS,
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
    overlay: FS, archive: tarfile.TarFile, plan: list[_Entry], tracker: ProgressTracker
) -> None:
    """Write the planned members, streaming file data from the overlay."""
    for entry in plan:
        member = tarfile.TarInfo(entry.name)
        size = 0
        if entry.kind == "marker":
            member.mode = 0o644
            archive.addfile(member, io.BytesIO(b""))
        elif entry.kind == "link":
            member.type = tarfile.SYMTYPE
            member.linkname = entry.target
            member.mode = 0o777
            member.mtime = entry.mtime
            archive.addfile(member)
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


__all__ = ["export_layer"]
