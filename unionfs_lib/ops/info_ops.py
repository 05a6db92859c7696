"""Getattr and setattr: the ``Info`` the overlay reports for an entry, and changing it.

This is the ``getattr``/``setattr`` part of the overlay's ``inode.c``. A lower entry is
answered from the cached listing where it holds the namespaces asked for;
``stat`` gets the overlay's ``st_ino``/``st_dev``; a metadata-only copy-up
reports the size of the lower data; the ``overlay`` namespace tells the
layer, inode number and origin (see :mod:`unionfs_lib.resolve.inode_numbers`).
"""

from __future__ import annotations

import typing

from fs.info import Info

from ..host.access import set_access
from ..host.layer_io import syspaths
from ..host.posix import is_symlink, layer_info, read_pin, set_link_times
from ..model.packed_info import BasicInfo, PackedInfo
from ..model.paths import split_path
from ..model.records import UPPER, Candidate, Node
from ..resolve.merged_table import MergedTable

if typing.TYPE_CHECKING:
    from .superblock import OverlaySuper

_CACHED_NAMESPACES = frozenset({"basic", "details"})
_BASIC_ONLY = frozenset({"basic"})


def node_info(sb: OverlaySuper, node: Node, namespaces: typing.Collection[str] | None) -> Info:
    """Build the overlay's ``Info`` for ``node``.

    The ``basic`` namespace alone (the default) is answered from the node,
    whatever layer holds the entry: its name and whether it is a directory
    are what the merged table says, as for ``isdir`` and ``listdir``. An
    upper entry asked for ``details`` is the upper's own ``Info`` when the
    overlay has nothing to rewrite in it.
    """
    if not namespaces:
        # ``basic`` is the name and the type, both known from the merged table.
        name = node.path.rpartition("/")[2]
        if node.info is not None:
            return basic_info(name, node.info)
        return BasicInfo(name, node.is_dir)
    if node.in_upper and not node.is_metacopy and _plain(namespaces):
        # The upper's own answer is the overlay's: same name and type, nothing to rewrite.
        found = layer_info(sb.layer(UPPER), node.path, namespaces)
        if found.name == node.path.rpartition("/")[2] and found.is_dir == node.is_dir:
            return found
    wanted = set(namespaces or ()) | {"basic"}
    layer_namespaces = wanted - {"overlay"}
    if node.info is not None and layer_namespaces <= _CACHED_NAMESPACES:
        raw = cached_raw(node.info, layer_namespaces)
    else:
        top = node.top
        raw = dict(layer_info(sb.layer(top.layer), top.path, layer_namespaces).raw)
    name = split_path(node.path)[1]
    basic = raw["basic"]
    if basic.get("name") != name or basic.get("is_dir") != node.is_dir:
        # The overlay's name, and its type: a link is what the listing made it
        # (a link to a directory is a file to the kernel format, whatever the
        # layer's ``getinfo`` follows it to).
        raw["basic"] = {**basic, "name": name, "is_dir": node.is_dir}
    if node.is_metacopy and "details" in raw:
        raw["details"] = {**raw["details"], "size": data_size(sb, node)}
    pinned = pinned_ino(sb, node) if "stat" in raw or "overlay" in wanted else None
    if "stat" in raw:
        rewritten = sb.inodes.rewrite_stat(node, raw["stat"])
        raw["stat"] = rewritten if pinned is None else {**rewritten, "st_ino": pinned}
    if "overlay" in wanted:
        namespace = sb.inodes.namespace(node)
        raw["overlay"] = namespace if pinned is None else {**namespace, "ino": pinned}
    return Info(raw)


def cached_raw(cached: Info, namespaces: typing.AbstractSet[str]) -> dict[str, typing.Any]:
    """Return the ``namespaces`` of a cached ``Info`` as a raw dict.

    ``basic`` alone is taken from a packed info without unpacking its
    ``details`` (or, for details read on demand, without a ``stat``): a
    listing asking for the ``overlay`` namespace only (the mount's
    ``readdir``) needs each entry's name, type and inode number, nothing more.
    """
    if namespaces == _BASIC_ONLY and isinstance(cached, PackedInfo):
        return {"basic": cached.basic_raw()}
    raw = cached.raw
    return {key: raw[key] for key in namespaces if key in raw}


def overlay_ino(sb: OverlaySuper, node: Node, upper_syspath: str | None = None) -> int:
    """Return the ``ino`` the overlay reports for ``node`` (a pinned one first).

    ``upper_syspath`` is the OS path of ``node``'s upper entry where the
    caller has found it already (see :func:`pinned_ino`).
    """
    pinned = pinned_ino(sb, node, upper_syspath)
    return sb.inodes.ino(node) if pinned is None else pinned


def pinned_ino(sb: OverlaySuper, node: Node, upper_syspath: str | None = None) -> int | None:
    """Return the number pinned on an upper entry by a store without identity records.

    The kernel format keeps no records, so a number that must survive is
    pinned in an attribute of the upper entry itself (see
    :func:`unionfs_lib.host.posix.read_pin`): the hard links of one file share it.
    One ``getxattr``, only for upper entries of such a store; ``upper_syspath``
    is the OS path of the upper entry ``node.path``, if the caller knows it.
    None for the file the overlay has just made, if nothing changed since
    (:attr:`~unionfs_lib.ops.superblock.OverlaySuper.fresh_file`): nothing
    pinned a number on it (a pin is only ever the number the entry shows).
    """
    if sb.store.keeps_records or not node.in_upper:
        return None
    fresh = sb.fresh_file
    if fresh is not None and fresh[0] == node.path and fresh[1] == sb.resolver.generation:
        return None
    if upper_syspath is not None:
        return read_pin(upper_syspath)
    found = syspaths(sb.layer(UPPER), node.path)
    return None if found is None else read_pin(found[0])


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
    sorted names with :meth:`~unionfs_lib.resolve.resolver.Resolver.children_in_name_order`)
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
        if not namespaces and lower and isinstance(candidate.info, PackedInfo):
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
        if not namespaces and isinstance(node.info, PackedInfo):
            append((cookie, BasicInfo(node.path.rpartition("/")[2], node.is_dir)))
        else:
            append((cookie, node_info(sb, node, namespaces)))
    return found


def batch_numbers(
    sb: OverlaySuper, entries: typing.Iterable[tuple[str, Node]]
) -> list[tuple[str, str, bool, int]]:
    """Return ``(cookie, name, is_dir, ino)`` of each ``(cookie, node)`` of a directory batch.

    What :func:`batch_infos` with the ``overlay`` namespace tells of each
    entry that a directory listing needs (``OverlayFS.iterdir_numbers``),
    without building an ``Info``: the name and type the merged table gives
    and the number :func:`overlay_ino` gives (a pinned one first).
    """
    return [
        (cookie, node.path.rpartition("/")[2], node.is_dir, overlay_ino(sb, node))
        for cookie, node in entries
    ]


def set_info(sb: OverlaySuper, node: Node, info: typing.Mapping[str, typing.Any]) -> None:
    """Change the metadata of ``node`` (``OverlayFS.setinfo``): the setattr of ``inode.c``.

    A lower entry is copied up first (:func:`copy_up_for_change`). The
    ``access`` namespace (mode, owner, group) is applied through the upper's
    OS path (:mod:`unionfs_lib.host.access`); the rest goes to the upper's own
    ``setinfo``, except on a link, whose times are set on the link itself.
    """
    upper = sb.writable_upper(node.path)
    copy_up_for_change(sb, node)
    if "access" in info and set_access(upper, node.path, info["access"]):
        info = {key: value for key, value in info.items() if key != "access"}
    # One lstat decides: a link gets its own times (never its target's, so
    # it cannot reach out of the layer); anything else is no link to check
    # (see check_entry_inside). No cache holds upper metadata: no refresh.
    if is_symlink(upper, node.path):
        set_link_times(upper, node.path, info.get("details") or {})
    else:
        upper.setinfo(node.path, info)


def copy_up_for_change(sb: OverlaySuper, node: Node) -> None:
    """Copy ``node`` up before its metadata changes (nothing if the upper holds it).

    A lower directory is copied up (without its content); a lower file gets
    a metadata-only copy-up (its data stays below until the first write),
    and a link is copied up as a link.
    """
    sb.writable_upper(node.path)
    if node.in_upper:
        return
    if not node.is_dir:
        sb.copier.copy_up_metadata(sb, node)
    elif is_symlink(sb.layer(node.top.layer), node.top.path):
        sb.copier.copy_up(sb, node)  # a link to a directory: as a link
    else:
        sb.copier.ensure_dir(sb, node.path)
