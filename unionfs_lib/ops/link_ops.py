"""Symbolic and hard links of overlay entries, on layers with OS paths.

PyFilesystem2 has no links, and the layers' ``getinfo`` follows them. The
overlay answers about a link from the layer that holds its name: a link in
any layer is shown as a link (its stored target, read with ``readlink``), and
is never followed into another layer; only the OS resolves it, inside its own
layer, when its content is read (and :mod:`unionfs_lib.host.confine` refuses a link
that leads out of the layer).

As in Linux overlayfs:

* a new link (``symlink``) is made in the upper; over a lower name it replaces
  a whiteout, which stays where a lower name would otherwise show through;
* a hard link (``hardlink``) first copies its file up with the data (a
  metadata-only copy-up cannot be shared), then links the new name to the
  upper file, so both names are one file: one overlay ``ino`` (the new name
  gets the identity record of the old one), ``st_nlink`` 2, the same data and
  metadata. Removing or renaming one name leaves the other as it was;
* copying a lower link up makes a link in the upper (the copy-up engine's
  rule), never a copy of the bytes behind it.

Entries are built where the kernel builds them: straight in the upper when
the name is free, in the work area and renamed over the whiteout when the
store's whiteout takes the name (the kernel format). Layers without OS paths
hold no links: these operations raise ``fs.errors.Unsupported`` there.
"""

from __future__ import annotations

import errno
import os
import typing

import fs.errors

from ..errors import literal
from ..host.posix import is_symlink, link_target, os_path, write_pin
from ..model.records import EntryRecord, Node
from .dir_ops import create_entry, parent_dir, vacate
from .info_ops import overlay_ino

if typing.TYPE_CHECKING:
    from .superblock import OverlaySuper


def is_link(sb: OverlaySuper, node: Node) -> bool:
    """Tell whether ``node`` is a symbolic link in the layer that holds it."""
    top = node.top
    return is_symlink(sb.layer(top.layer), top.path)


def read_link(sb: OverlaySuper, node: Node) -> str:
    """Return the target of link ``node`` as stored (never resolved).

    Raises ``Unsupported`` for a layer without OS paths and
    ``OperationFailed`` (``EINVAL``) for an entry that is no link.
    """
    top = node.top
    layer = sb.layer(top.layer)
    os_path(layer, top.path, "symbolic links")
    target = link_target(layer, top.path)
    if target is None:
        error = OSError(errno.EINVAL, "not a symbolic link")
        message = literal(f"not a symbolic link: {node.path}")
        raise fs.errors.OperationFailed(node.path, exc=error, msg=message)
    return target


def symlink(sb: OverlaySuper, target: str, path: str) -> None:
    """Create the symbolic link ``path`` -> ``target`` in the upper.

    ``target`` is stored as given (it may be relative, or lead nowhere).
    Raises ``DestinationExists`` if anything is visible at ``path``.
    """
    upper = sb.writable_upper(path)
    if sb.resolver.lookup(path) is not None:
        raise fs.errors.DestinationExists(path)
    parent_dir(sb, path)
    os_path(upper, "/", "symbolic links")
    place_new_entry(sb, path, lambda syspath: os.symlink(target, syspath), None)


def hardlink(sb: OverlaySuper, existing: Node, new: str) -> None:
    """Give file ``existing`` the second name ``new`` (``link(2)``).

    A lower file (or a metadata-only copy-up) is first copied up with its
    data; the new name then shares the upper file and the overlay inode
    number. Directories cannot be linked (``FileExpected``); a visible
    ``new`` is ``DestinationExists``.
    """
    upper = sb.writable_upper(new)
    if existing.is_dir and not is_link(sb, existing):
        raise fs.errors.FileExpected(existing.path)
    if sb.resolver.lookup(new) is not None:
        raise fs.errors.DestinationExists(new)
    parent_dir(sb, new)
    os_path(upper, "/", "hard links")
    number = overlay_ino(sb, existing)
    node = _copied_up_with_data(sb, existing)
    source = os_path(upper, node.path, "hard links")
    record = None
    # The number also goes on the file itself, which every name shares (what
    # a front end reads for a file with several links). Without records (the
    # kernel format) that pin is all there is; it survives the copy-up.
    kept = write_pin(source, number)
    if sb.store.keeps_records:
        record = EntryRecord(sb.inodes.ino(node), sb.inodes.origin(node)).dump()
        kept = True
    if kept:
        _keep_number_at_its_path(sb, node, record)
    place_new_entry(
        sb, new, lambda syspath: os.link(source, syspath, follow_symlinks=False), record
    )


def _keep_number_at_its_path(sb: OverlaySuper, node: Node, record: bytes | None) -> None:
    """Let linked file ``node`` keep its number when its path no longer gives it.

    A number derived from the path may outlive the name (the other name
    keeps it): the name gets the record the new name gets (the kernel format
    pinned the number on the file), and the path is vacated, so a later entry
    there takes a number of its own (see :mod:`unionfs_lib.resolve.inode_numbers`).
    """
    if not sb.inodes.needs_record_to_move(node):
        return
    if record is not None:
        sb.store.set_record(sb.writable_upper(node.path), node.path, record)
    vacate(sb, node.path)
    sb.resolver.refresh(node.path)


def _copied_up_with_data(sb: OverlaySuper, node: Node) -> Node:
    """Return ``node`` once the upper holds it with its data (copying it up if not)."""
    if node.in_upper and not node.is_metacopy:
        return node
    sb.copier.copy_up(sb, node)
    found = sb.resolver.lookup(node.path)
    assert found is not None and found.in_upper
    return found


def place_new_entry(
    sb: OverlaySuper,
    path: str,
    make: typing.Callable[[str], None],
    record: bytes | None,
) -> None:
    """Make a new upper entry at free overlay name ``path`` with ``make(os_path)``.

    Through :func:`~unionfs_lib.ops.dir_ops.create_entry`, as every new entry:
    the parent is copied up and the name checked first; over a whiteout
    that takes the name (the kernel format) the entry is made in the work
    area and renamed over it in one step; ``record`` (an identity record) is
    written before the entry appears. ``OSError`` becomes an ``fs.errors``
    exception.
    """
    upper = sb.writable_upper(path)
    create_entry(sb, path, lambda at: _made(make, os_path(upper, at, "links"), path), record)


def _made(make: typing.Callable[[str], None], syspath: str, path: str) -> None:
    """Run ``make(syspath)``, turning an ``OSError`` into an ``fs.errors`` one."""
    try:
        make(syspath)
    except FileExistsError as error:
        raise fs.errors.DestinationExists(path, exc=error) from error
    except PermissionError as error:
        raise fs.errors.PermissionDenied(path, exc=error) from error
    except OSError as error:
        raise fs.errors.OperationFailed(path, exc=error) from error


__all__ = ["hardlink", "is_link", "place_new_entry", "read_link", "symlink"]
