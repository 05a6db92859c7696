"""Getattr and setattr: the ``Info`` the overlay reports for an entry, and changing it.

This is the ``getattr``/``setattr`` part of the overlay's ``inode.c``. A lower entry is
answered from the cached listing where it holds the namespaces asked for;
``stat`` gets the overlay's ``st_ino``/``st_dev``; a metadata-only copy-up
reports the size of the lower data; the ``overlay`` namespace tells the
layer, inode number and origin (see :mod:`unionfs_lib.inode`).
"""

from __future__ import annotations

import typing

from fs.info import Info

from .confine import check_entry_inside
from .entry import UPPER, Candidate, Node
from .packed_info import PackedInfo
from .util import split_path

if typing.TYPE_CHECKING:
    from .superblock import OverlaySuper

_CACHED_NAMESPACES = frozenset({"basic", "details"})


def node_info(sb: OverlaySuper, node: Node, namespaces: typing.Collection[str] | None) -> Info:
    """Build the overlay's ``Info`` for ``node``."""
    if node.info is not None and not namespaces:
        return basic_info(node.path.rpartition("/")[2], node.info)
    wanted = set(namespaces or ()) | {"basic"}
    layer_namespaces = wanted - {"overlay"}
    if node.info is not None and layer_namespaces <= _CACHED_NAMESPACES:
        cached = node.info.raw
        raw = {key: cached[key] for key in layer_namespaces if key in cached}
    else:
        top = node.top
        raw = dict(sb.layer(top.layer).getinfo(top.path, layer_namespaces).raw)
    name = split_path(node.path)[1]
    if raw["basic"].get("name") != name:
        raw["basic"] = {**raw["basic"], "name": name}
    if node.is_metacopy and "details" in raw:
        raw["details"] = {**raw["details"], "size": data_size(sb, node)}
    if "stat" in raw:
        raw["stat"] = sb.inodes.rewrite_stat(node, raw["stat"])
    if "overlay" in wanted:
        raw["overlay"] = sb.inodes.namespace(node)
    return Info(raw)


def basic_info(name: str, cached: Info) -> Info:
    """Return the ``basic`` info of lower entry ``name`` from its cached info (hot path)."""
    if isinstance(cached, PackedInfo):
        return Info({"basic": cached.basic_raw(name)})
    basic = cached.raw["basic"]
    if basic.get("name") != name:
        basic = {**basic, "name": name}
    return Info({"basic": basic})


def data_size(sb: OverlaySuper, node: Node) -> int:
    """Return the size of the bytes behind a metadata-only copy-up."""
    data = node.data_ref
    return sb.layer(data.layer).getinfo(data.path, ["details"]).size


def child_info(
    sb: OverlaySuper,
    parent: Node,
    children: typing.Mapping[str, Candidate],
    name: str,
    namespaces: typing.Collection[str] | None,
) -> Info | None:
    """Return the info of child ``name`` of ``parent`` (``None`` if it is gone).

    The ``basic`` info of a lower entry comes straight from the merged child
    table, without resolving a node: listings pay this per entry.
    """
    candidate = children.get(name)
    if candidate is None:
        return None
    if candidate.info is not None and not namespaces and candidate.refs[0].layer != UPPER:
        return basic_info(name, candidate.info)
    child = sb.resolver.child(parent, name)
    return None if child is None else node_info(sb, child, namespaces)


def set_info(sb: OverlaySuper, node: Node, info: typing.Mapping[str, typing.Any]) -> None:
    """Change the metadata of ``node`` (``OverlayFS.setinfo``): the setattr of ``inode.c``.

    A lower directory is copied up first; a lower file gets a metadata-only
    copy-up (its data stays below until the first write).
    """
    upper = sb.writable_upper(node.path)
    if not node.in_upper:
        if node.is_dir:
            sb.copier.ensure_dir(sb, node.path)
        else:
            sb.copier.copy_up_metadata(sb, node)
    check_entry_inside(upper, node.path)
    upper.setinfo(node.path, info)  # no cache holds upper metadata: nothing to refresh
