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
from .packed_info import BasicInfo, PackedInfo
from .table import MergedTable
from .util import split_path

if typing.TYPE_CHECKING:
    from .superblock import OverlaySuper

_CACHED_NAMESPACES = frozenset({"basic", "details"})


def node_info(sb: OverlaySuper, node: Node, namespaces: typing.Collection[str] | None) -> Info:
    """Build the overlay's ``Info`` for ``node``."""
    if node.info is not None and not namespaces:
        return basic_info(node.path.rpartition("/")[2], node.info)
    if node.in_upper and not node.is_metacopy and (not namespaces or _plain(namespaces)):
        # The upper's own answer is the overlay's: same name, nothing to rewrite.
        found = sb.layer(UPPER).getinfo(node.path, namespaces)
        if found.name == node.path.rpartition("/")[2]:
            return found
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


def _plain(namespaces: typing.Collection[str]) -> bool:
    """Whether ``namespaces`` needs nothing the overlay rewrites (only basic and details)."""
    return all(namespace in _CACHED_NAMESPACES for namespace in namespaces)


def basic_info(name: str, cached: Info) -> Info:
    """Return the ``basic`` info of lower entry ``name`` from its cached info (hot path)."""
    if isinstance(cached, PackedInfo):
        return BasicInfo(name, cached.is_dir)
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


def child_infos(
    sb: OverlaySuper,
    parent: Node,
    children: typing.Mapping[str, Candidate],
    names: typing.Iterable[str],
    namespaces: typing.Collection[str] | None,
    in_order: typing.Iterable[tuple[str, Candidate]] = (),
) -> list[Info]:
    """Return the info of each of ``names`` in ``parent`` that is still there (``scandir``).

    The loop of :func:`child_info` with its hot case inlined: a lower entry's
    ``basic`` info is built straight from its packed cached info. While
    ``names`` follow ``in_order`` (pairs of name and candidate, such as the
    sorted names with :meth:`~unionfs_lib.lookup.Resolver.children_in_name_order`)
    the candidates are taken from it, without a table lookup per name.
    """
    if not namespaces and type(children) is MergedTable:
        return _table_infos(sb, parent, children, names)
    infos: list[Info] = []
    append = infos.append
    in_step = iter(in_order)
    for name in names:
        pair = next(in_step, None)
        if pair is not None and pair[0] is name:
            candidate: Candidate | None = pair[1]
        else:
            in_step = iter(())
            candidate = children.get(name)
        if candidate is None:
            continue
        lower = candidate.refs[0].layer != UPPER
        if not namespaces and lower and type(candidate.info) is PackedInfo:
            append(BasicInfo(name, candidate.is_dir))
            continue
        info = child_info(sb, parent, children, name, namespaces)
        if info is not None:
            append(info)
    return infos


def _table_infos(
    sb: OverlaySuper, parent: Node, table: MergedTable, names: typing.Iterable[str]
) -> list[Info]:
    """Return the ``basic`` info of ``names`` from a merged table (lower entries: its columns)."""
    infos: list[Info] = []
    append = infos.append
    for name, is_dir in table.lower_kinds(names):
        if is_dir is not None:
            append(BasicInfo(name, is_dir))
            continue
        info = child_info(sb, parent, table, name, None)
        if info is not None:
            append(info)
    return infos


def batch_infos(
    sb: OverlaySuper,
    entries: typing.Iterable[tuple[str, Node]],
    namespaces: typing.Collection[str] | None,
) -> list[tuple[str, Info]]:
    """Return ``(cookie, info)`` of each ``(cookie, node)`` of a directory batch (``iterdir``)."""
    found: list[tuple[str, Info]] = []
    append = found.append
    for cookie, node in entries:
        if not namespaces and type(node.info) is PackedInfo:
            append((cookie, BasicInfo(node.path.rpartition("/")[2], node.is_dir)))
        else:
            append((cookie, node_info(sb, node, namespaces)))
    return found


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
