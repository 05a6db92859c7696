"""Directory operations: create, remove and rename through the overlay.

This is the overlay's ``dir.c``. Every change lands in the upper; entries of
lower layers are hidden by whiteouts, directories recreated over them become
opaque, and a merged directory is renamed by recording a redirect (as
overlayfs ``redirect_dir=on`` does) instead of copying its lower content, so
the cost of a rename does not depend on the size of the tree.

Each operation orders its steps so that an interruption leaves the entry
either as it was or as it will be: markers that make no visible difference
yet (a whiteout beside a real upper entry, a redirect or opaque flag on a
directory still at its old name) are written first, and the visible change is
one rename or one removal at the end.
"""

from __future__ import annotations

import typing

import fs.errors
from fs.error_tools import convert_os_errors

from ..errors import IllegalDestination, ReservedName
from ..host import syscalls
from ..host.layer_io import copy_times
from ..host.posix import is_symlink, os_path, same_file
from ..host.posix import move_file as move_layer_file
from ..host.safe_tree import rename_dir as rename_layer_dir
from ..model.paths import is_same_or_below, join_path, split_path
from ..model.records import UPPER, DirListing, EntryRecord, Node
from .casefold import check_new_name

if typing.TYPE_CHECKING:
    from fs.base import FS

    from .superblock import OverlaySuper


def check_name(sb: OverlaySuper, path: str) -> None:
    """Refuse to create an entry whose name the whiteout store reserves.

    On a case-insensitive upper, a name that differs only by case from another
    one in the directory is refused too (:mod:`unionfs_lib.ops.casefold`).
    """
    name = split_path(path)[1]
    if sb.store.is_reserved(name):
        raise ReservedName(path)
    check_new_name(sb, path)


def parent_dir(sb: OverlaySuper, path: str) -> Node:
    """Return the visible parent directory of ``path`` or raise ``ResourceNotFound``."""
    parent = sb.resolver.dir_node(split_path(path)[0])
    if parent is None:
        raise fs.errors.ResourceNotFound(path)
    return parent


def needs_whiteout(sb: OverlaySuper, path: str) -> bool:
    """Tell whether lower layers would show something at ``path`` without a whiteout."""
    parent_path, name = split_path(path)
    parent = sb.resolver.dir_node(parent_path)
    return parent is not None and sb.resolver.lower_has(parent, name)


def whiteout_takes_name(sb: OverlaySuper) -> bool:
    """Tell whether the store's whiteout is the hidden name's entry itself.

    True for the kernel format (a 0/0 character device): such a whiteout must
    go before an entry is created at its name, and replaces an upper entry by
    a rename that leaves it behind (the store's ``rename_whiteout``, see
    :func:`rename_leaving_whiteout`). Marker stores write whiteouts beside
    real entries, so their markers go first.
    """
    return sb.store.whiteout_takes_name


def prepare_create(sb: OverlaySuper, path: str, keep_whiteout: bool = False) -> None:
    """Get the upper ready for a new entry at ``path``: name check and parents.

    A whiteout that takes the name is dropped here, unless ``keep_whiteout``
    says the caller renames the entry over it (:func:`rename_in_upper`).
    """
    check_name(sb, path)
    sb.copier.ensure_dir(sb, split_path(path)[0])
    if sb.upper is not None and whiteout_takes_name(sb) and not keep_whiteout:
        sb.store.remove_whiteout(sb.upper, path)
        sb.resolver.refresh(path)


def finish_create(sb: OverlaySuper, path: str, made_file: bool = False) -> None:
    """Drop a whiteout left at ``path`` now that a real upper entry stands there.

    ``made_file`` says the entry is a regular file just made at a free
    name, with no identity record written for it: the caches then learn
    what the upper holds at the name from that
    (:meth:`~unionfs_lib.resolve.resolver.Resolver.made_file`) instead of
    reading it back.
    """
    assert sb.upper is not None
    if sb.resolver.may_hide(path):  # else the cached upper listing holds none there
        sb.store.remove_whiteout(sb.upper, path)
    sb.resolver.refresh(path, now=sb.resolver.made_file(path) if made_file else None)


def make_dir(sb: OverlaySuper, path: str) -> None:
    """Create directory ``path``; over a whiteout it becomes opaque.

    The directory is built in the work area, marked opaque there when lower
    layers hold the name, and renamed into place.
    """
    hide = needs_whiteout(sb, path)
    prepare_create(sb, path, keep_whiteout=hide)
    upper = sb.writable_upper(path)
    if hide:
        temp = sb.work.temp_path()
        upper.makedir(temp)
        sb.store.set_opaque(upper, temp)
        if whiteout_takes_name(sb):
            rename_in_upper(sb, temp, path, leave_whiteout=False)
        else:
            move_dir_into_place(sb, temp, path)
    else:
        upper.makedir(path)
    finish_create(sb, path)


def move_dir_into_place(sb: OverlaySuper, temp: str, dest: str) -> None:
    """Rename a directory built in the work area to ``dest`` in one step."""
    rename_layer_dir(sb.writable_upper(dest), temp, dest)
    sb.resolver.refresh(dest, subtree=True)


def whiteout(sb: OverlaySuper, path: str, alone: bool = False) -> None:
    """Hide lower entries at ``path`` (the upper must hold its parent).

    ``alone`` says the upper holds nothing else at ``path`` (no entry, no
    record), so the caches learn the new state without reading it back.
    """
    upper = sb.writable_upper(path)
    sb.copier.ensure_dir(sb, split_path(path)[0])
    sb.store.add_whiteout(upper, path)
    name = split_path(path)[1]
    now = DirListing(entries={}, whiteouts=frozenset((name,))) if alone else None
    sb.resolver.refresh(path, now=now)


def vacate(sb: OverlaySuper, path: str) -> None:
    """Count one more vacancy of upper ``path``: entries there from now on derive new numbers.

    Called before an entry leaves ``path`` taking a number derived from it
    along (see :mod:`unionfs_lib.resolve.inode_numbers`); the caller refreshes ``path``
    afterwards. A store without vacancy counts is left as it is.
    """
    count = getattr(sb.store, "vacate", None)
    if count is not None:
        count(sb.writable_upper(path), path)


def vacate_if_vacated_beneath(sb: OverlaySuper, path: str) -> None:
    """Vacate upper directory ``path`` before it goes if a path beneath it was vacated.

    Numbers derived from paths beneath it may then live on elsewhere, and the
    generations that kept them apart go with the directory; a new generation
    of the directory itself keeps them apart instead (see
    :func:`unionfs_lib.resolve.inode_numbers.ino_key`). Reads each upper directory beneath
    ``path`` once, as removing them does; links are not followed.
    """
    if getattr(sb.store, "vacate", None) is None:
        return
    upper = sb.writable_upper(path)
    pending = [path]
    while pending:
        directory = pending.pop()
        listing = sb.store.read_dir(upper, directory, with_info=False)
        if listing.vacated:
            vacate(sb, path)
            return
        for name, is_dir in listing.entries.items():
            below = join_path(directory, name)
            if is_dir and not is_symlink(upper, below):
                pending.append(below)


def remove_entry(sb: OverlaySuper, node: Node) -> None:
    """Remove ``node`` (file or directory tree): upper part deleted, lower part whited out.

    An upper directory is vacated first if paths beneath it were (see
    :func:`vacate_if_vacated_beneath`).
    """
    sb.writable_upper(node.path)
    if node.in_upper and node.is_dir:
        vacate_if_vacated_beneath(sb, node.path)
    hide = needs_whiteout(sb, node.path)
    late = hide and node.in_upper and whiteout_takes_name(sb)
    if hide and not late:
        whiteout(sb, node.path, alone=not node.in_upper)
    if late:
        temp = sb.work.temp_path()
        rename_in_upper(sb, node.path, temp, leave_whiteout=True)
        sb.work.trash(temp)
        sb.store.set_record(sb.writable_upper(node.path), node.path, None)
    elif node.in_upper:
        sb.work.trash(node.path)
        sb.store.set_record(sb.writable_upper(node.path), node.path, None)
    if node.in_upper or node.is_dir:  # a lower file's whiteout refreshed its name already
        sb.resolver.refresh(node.path, subtree=node.is_dir)


_Made = typing.TypeVar("_Made")


def create_entry(
    sb: OverlaySuper,
    path: str,
    make: typing.Callable[[str], _Made],
    record: bytes | None = None,
    *,
    replaces: Node | None = None,
    undo: typing.Callable[[_Made, str], None] | None = None,
    regular_file: bool = False,
) -> _Made:
    """Make a new upper entry at ``path`` with ``make(upper_path)``, as every entry is made.

    Files (``open(..., "w")``), symbolic links, hard links and special files
    all come this way. The name is checked and the parent copied up
    (:func:`prepare_create`); ``record`` (an identity record) is written
    before the entry appears. Where a whiteout that takes the name (the
    kernel format) stands at ``path``, the entry is made in the work area
    and renamed over it in one step, as overlayfs creates over a whiteout
    (``undo(made, temp)`` cleans up if that fails; without a work area the
    whiteout is removed first); elsewhere it is made in place and a whiteout
    beside it dropped after (:func:`finish_create`). ``replaces`` is the
    entry a truncating open replaces: a lower file (or a metadata-only copy)
    keeps its inode number on the new entry, and a lower file's replacement
    is a copy-up, no change to the parent's times. ``regular_file`` says
    ``make`` makes a new regular file (not a link): without ``record`` and
    ``replaces`` the caches then learn the new name without reading it back
    (see :func:`finish_create`).
    """
    prepare_create(sb, path, keep_whiteout=True)
    upper = sb.writable_upper(path)
    parent = split_path(path)[0]
    copy_up = replaces is not None and not replaces.in_upper
    parent_times = dir_times(upper, parent) if copy_up else None
    if record is not None:
        sb.store.set_record(upper, path, record)
    try:
        made = _make_entry(sb, path, make, replaces, undo)
    except BaseException:
        if record is not None:
            sb.store.set_record(upper, path, None)
        raise
    finish_create(sb, path, made_file=regular_file and record is None and replaces is None)
    restore_times(upper, parent, parent_times)
    return made


def _make_entry(
    sb: OverlaySuper,
    path: str,
    make: typing.Callable[[str], _Made],
    replaces: Node | None,
    undo: typing.Callable[[_Made, str], None] | None,
) -> _Made:
    """Make the entry of :func:`create_entry`, in the work area if a whiteout holds its name.

    Where the parent's cached upper listing holds no whiteout at the name
    (:meth:`~unionfs_lib.resolve.resolver.Resolver.may_hide`), no ``lstat``
    looks for one.
    """
    upper = sb.writable_upper(path)
    at = path
    if (
        whiteout_takes_name(sb)
        and sb.resolver.may_hide(path)
        and sb.store.has_whiteout(upper, path)
    ):
        try:
            at = sb.work.temp_path()
        except fs.errors.Unsupported:
            sb.store.remove_whiteout(upper, path)
    made = make(at)
    try:
        if replaces is not None and (not replaces.in_upper or replaces.is_metacopy):
            sb.inodes.keep(sb.store.keeps_records, upper, replaces, at)
        if at != path:
            rename_in_upper(sb, at, path, leave_whiteout=False)
    except BaseException:
        if undo is not None and at != path:
            undo(made, at)
        raise
    return made


def dir_times(upper: typing.Any, path: str) -> dict[str, float] | None:
    """Return the modified and accessed times of upper directory ``path``, if readable."""
    try:
        details = upper.getinfo(path, namespaces=["details"]).raw.get("details", {})
    except fs.errors.FSError:
        return None
    return {key: details[key] for key in ("modified", "accessed") if details.get(key)} or None


def restore_times(upper: typing.Any, path: str, times: dict[str, float] | None) -> None:
    """Put back a directory's times after a copy-up linked an entry into it.

    Best effort, as overlayfs's ``ovl_set_timestamps`` on the parent: an OS
    directory's mtime changes when an entry appears in it, but a copy-up is
    no change to the directory's visible content.
    """
    if times:
        try:
            upper.setinfo(path, {"details": times})
        except fs.errors.FSError:
            pass


def rename_in_upper(sb: OverlaySuper, src: str, dst: str, leave_whiteout: bool) -> None:
    """Rename upper entry ``src`` over ``dst`` (free, a file, or a whiteout).

    Only for stores whose whiteout takes the name (the kernel format): the
    store's ``rename_over`` does it as overlayfs does, in one
    ``renameat2`` (``RENAME_WHITEOUT`` to leave a whiteout at ``src``,
    ``RENAME_EXCHANGE`` to put a directory over a whiteout), so no moment
    shows a lower entry at either name.
    """
    sb.store.rename_over(sb.writable_upper(src), src, dst, leave_whiteout)
    sb.resolver.refresh(src)
    sb.resolver.refresh(dst, subtree=True)


def create_dir(
    sb: OverlaySuper, path: str, permissions: typing.Any = None, recreate: bool = False
) -> None:
    """Create directory ``path`` with ``makedir``'s rules (see :func:`make_dir`).

    An existing directory is accepted with ``recreate``; ``permissions`` (an
    ``fs.permissions.Permissions``) are set on the new upper directory.
    """
    existing = sb.resolver.lookup(path)
    if existing is not None:
        if not (recreate and existing.is_dir):
            raise fs.errors.DirectoryExists(path)
        return
    upper = sb.writable_upper(path)
    parent_dir(sb, path)
    make_dir(sb, path)
    if permissions is not None:
        upper.setinfo(path, {"access": {"permissions": permissions.dump()}})


def remove_file(sb: OverlaySuper, node: Node) -> None:
    """Remove file ``node`` (``OverlayFS.remove``); a lower file is whited out.

    A symbolic link is removed as a link, even one to a directory.
    """
    if node.is_dir and not is_symlink(sb.layer(node.top.layer), node.top.path):
        raise fs.errors.FileExpected(node.path)
    sb.writable_upper(node.path)
    remove_entry(sb, node)


def remove_tree(sb: OverlaySuper, node: Node) -> None:
    """Remove directory ``node`` and all beneath it; for the root, only its content.

    Lower content goes with one whiteout, whatever its size.
    """
    sb.writable_upper(node.path)
    if node.path == "/":
        clear_dir(sb, node)
    else:
        remove_entry(sb, node)


def remove_empty_dir(sb: OverlaySuper, node: Node) -> None:
    """Remove a directory that is logically empty (it may hold only whiteouts)."""
    if node.path == "/":
        raise fs.errors.RemoveRootError(node.path)
    sb.writable_upper(node.path)
    if sb.resolver.children(node):
        raise fs.errors.DirectoryNotEmpty(node.path)
    remove_entry(sb, node)


def clear_dir(sb: OverlaySuper, node: Node) -> None:
    """Remove every visible entry inside directory ``node`` (``removetree('/')``)."""
    for name in list(sb.resolver.children(node)):
        child = sb.resolver.child(node, name)
        if child is not None:
            remove_entry(sb, child)


def move_file(sb: OverlaySuper, src: Node, dst: str) -> None:
    """Rename file ``src`` to ``dst`` (the caller checked overwrite rules).

    A lower file (or link, or special file) is first copied up at its own
    name, which changes nothing visible (a full upper fails there, having
    changed nothing); then, as for any upper file, the source's whiteout is
    made ready and one rename in the upper moves the entry, so that a crash
    at any point shows the file at its old name or at its new one, never at
    both or neither (see :func:`_rename_upper_entry`).
    """
    check_name(sb, dst)
    upper = sb.writable_upper(dst)
    if not src.in_upper:
        sb.copier.copy_up(sb, src)
        src = _refreshed(sb, src.path)
    prepare_create(sb, dst, keep_whiteout=True)
    _rename_upper_entry(sb, src, dst, lambda old, new: move_layer_file(upper, old, new))
    sb.resolver.refresh(src.path)


def rename_file(
    sb: OverlaySuper, src: Node, dst: str, overwrite: bool, preserve_time: bool = False
) -> None:
    """Rename file ``src`` to canonical ``dst`` with PyFilesystem2's ``move`` rules.

    An existing ``dst`` is replaced only with ``overwrite`` and only if it is
    a file; a directory at ``src`` or ``dst`` is refused. Two names of one
    upper file (hard links) are left as they are, as ``rename(2)`` does. ``preserve_time``
    copies the source's times to the destination.
    """
    if src.is_dir and not is_symlink(sb.layer(src.top.layer), src.top.path):
        raise fs.errors.FileExpected(src.path)
    parent = parent_dir(sb, dst)
    existing = sb.resolver.child(parent, split_path(dst)[1])
    if existing is not None:
        if not overwrite:
            raise fs.errors.DestinationExists(dst)
        if existing.is_dir and not is_symlink(sb.layer(existing.top.layer), existing.top.path):
            raise fs.errors.FileExpected(dst)
    upper = sb.writable_upper(dst)
    if src.path == dst:
        return
    if existing is not None and existing.in_upper and src.in_upper:
        if same_file(upper, src.path, dst):
            return  # two names of one file: rename(2) leaves both as they are
    move_file(sb, src, dst)
    if preserve_time:
        top = src.top
        copy_times(sb.layer(top.layer), top.path, sb.layer(UPPER), dst)


def rename_dir(sb: OverlaySuper, src: str, dst: str, create: bool) -> None:
    """Move directory ``src`` to ``dst`` (canonical paths) with ``movedir``'s rules.

    As in PyFilesystem2, an existing ``dst`` receives the content of ``src``
    (:func:`merge_dir`); a missing one is created (:func:`move_dir`) only with
    ``create``. The root cannot move, nor a directory into itself.
    """
    destination = sb.resolver.lookup(dst)
    if destination is None and not create:
        raise fs.errors.ResourceNotFound(dst)
    source = sb.resolver.lookup(src)
    if source is None:
        raise fs.errors.ResourceNotFound(src)
    if not source.is_dir:
        raise fs.errors.DirectoryExpected(src)
    sb.writable_upper(dst)
    if src == "/":
        raise IllegalDestination(dst)
    if destination is None:
        parent_dir(sb, dst)
        move_dir(sb, source, dst)
    elif not destination.is_dir:
        raise fs.errors.DirectoryExpected(dst)
    elif src != dst:
        if destination.path.startswith(src + "/"):
            raise IllegalDestination(dst)
        merge_dir(sb, source, destination)


def move_dir(sb: OverlaySuper, src: Node, dst: str) -> None:
    """Rename directory ``src`` to a ``dst`` that does not exist.

    Lower content is not copied: the upper directory records where it came
    from (a redirect), or is made opaque if it has no lower content but lower
    layers hold something at ``dst``.
    """
    if is_same_or_below(dst, src.path):
        raise IllegalDestination(dst)
    prepare_create(sb, dst, keep_whiteout=True)
    source = _dir_in_upper(sb, src, sb.writable_upper(dst), dst)
    froze = freeze_inodes(sb, source)
    current = sb.resolver.lookup(source.path) or source
    if not sb.inodes.needs_record_to_move(current):  # else the rename vacates it
        if froze:
            vacate(sb, current.path)
        else:
            vacate_if_vacated_beneath(sb, current.path)
    _rename_upper_entry(
        sb, current, dst, lambda old, new: move_dir_into_place(sb, old, new)
    )
    sb.resolver.refresh(src.path, subtree=True)


def _rename_upper_entry(
    sb: OverlaySuper, src: Node, dst: str, rename: typing.Callable[[str, str], None]
) -> None:
    """Rename upper entry ``src`` to ``dst``, hiding what lower layers hold at its old name.

    The whiteout goes first (or, for a store whose whiteout takes the name
    itself, with the rename in one step), then the identity record is written
    at the new name and the old path vacated if the entry's number derives
    from it, the entry renamed with ``rename``, and the old record dropped.
    """
    upper = sb.writable_upper(dst)
    hide = needs_whiteout(sb, src.path)
    late = hide and whiteout_takes_name(sb)
    if hide and not late:
        whiteout(sb, src.path)
    record = sb.inodes.moved_record(src)
    if record is not None:
        sb.store.set_record(upper, dst, record.dump())
    if sb.inodes.needs_record_to_move(src):
        sb.inodes.keep(sb.store.keeps_records, upper, src, src.path)
        vacate(sb, src.path)
    if whiteout_takes_name(sb):
        rename_in_upper(sb, src.path, dst, leave_whiteout=late)
    else:
        rename(src.path, dst)
    sb.store.set_record(upper, src.path, None)
    finish_create(sb, dst)


#: ``renameat2(2)``'s flag that swaps two names.
RENAME_EXCHANGE = 2


def is_real_dir(sb: OverlaySuper, node: Node) -> bool:
    """Tell whether ``node`` is a directory (not a symbolic link to one)."""
    return node.is_dir and not is_symlink(sb.layer(node.top.layer), node.top.path)


def rename_entry(sb: OverlaySuper, src: Node, dst: str, noreplace: bool = False) -> None:
    """Rename ``src`` to canonical ``dst`` with ``rename(2)``'s rules (``OverlayFS.rename``).

    A file or a link replaces a file or a link at ``dst`` (a directory there
    is ``FileExpected``); a directory replaces an empty directory (a file
    there is ``DirectoryExpected``, a directory with entries
    ``DirectoryNotEmpty``) and cannot go beneath itself
    (``IllegalDestination``). With ``noreplace`` anything at ``dst`` is
    ``DestinationExists``. Renaming an entry onto itself, or onto another
    name of the same upper file, changes nothing.
    """
    existing = sb.resolver.lookup(dst)
    if existing is not None and noreplace:
        raise fs.errors.DestinationExists(dst)
    if not is_real_dir(sb, src):
        rename_file(sb, src, dst, overwrite=True)
        return
    if src.path == dst:
        return
    if is_same_or_below(dst, src.path):
        raise IllegalDestination(dst)
    sb.writable_upper(dst)
    if existing is None:
        parent_dir(sb, dst)
    elif not is_real_dir(sb, existing):
        raise fs.errors.DirectoryExpected(dst)
    elif is_same_or_below(src.path, dst):
        raise fs.errors.DirectoryNotEmpty(dst)
    else:
        remove_empty_dir(sb, existing)
    move_dir(sb, sb.resolver.lookup(src.path) or src, dst)


def exchange(sb: OverlaySuper, first: Node, second: Node) -> None:
    """Swap two entries of any kind (``renameat2(RENAME_EXCHANGE)``).

    Both are brought into the upper (a file's metadata, a link as a link, a
    directory as an upper directory), each made ready to show the same
    content at the other's name as the kernel overlay does: a directory with
    lower content takes a redirect to it (or, for a store without
    redirects, has its tree copied up and made opaque), an upper directory
    that would meet lower content at its new name becomes opaque. These
    markers change nothing visible yet; one ``renameat2`` then swaps the
    names, and each entry keeps its inode number (its record goes with it,
    or its number is pinned on it). An entry exchanged with one beneath it
    is ``IllegalDestination``; the upper must have OS paths.
    """
    if first.path == second.path:
        return
    if is_same_or_below(first.path, second.path) or is_same_or_below(second.path, first.path):
        raise IllegalDestination(second.path)
    upper = sb.writable_upper(first.path)
    nodes = (_exchangeable(sb, first, second.path), _exchangeable(sb, second, first.path))
    found = [os_path(upper, node.path, "exchanges") for node in nodes]
    records = [_carried_record(sb, upper, node) for node in nodes]
    with convert_os_errors("rename", first.path):
        syscalls.renameat2(found[0], found[1], RENAME_EXCHANGE)
    if sb.store.keeps_records:
        sb.store.set_record(upper, nodes[1].path, records[0])
        sb.store.set_record(upper, nodes[0].path, records[1])
    for node in nodes:
        sb.resolver.refresh(node.path, subtree=True)


def _exchangeable(sb: OverlaySuper, node: Node, dest: str) -> Node:
    """Bring ``node`` into the upper, ready to show the same content at ``dest``."""
    if not is_real_dir(sb, node):
        if not node.in_upper or node.is_metacopy:
            # Whole, never metadata only: the records change names only after
            # the exchange, and a placeholder at the other's name would show
            # the other's data until then (a crash there would keep it).
            sb.copier.copy_up(sb, node)
        return _refreshed(sb, node.path)
    source = _dir_in_upper(sb, node, sb.writable_upper(node.path), dest)
    sb.resolver.refresh(source.path)
    froze = freeze_inodes(sb, _refreshed(sb, source.path))
    current = _refreshed(sb, source.path)
    if not sb.inodes.needs_record_to_move(current):
        if froze:
            vacate(sb, current.path)
        else:
            vacate_if_vacated_beneath(sb, current.path)
    return current


def _dir_in_upper(sb: OverlaySuper, node: Node, upper: FS, dest: str) -> Node:
    """Bring directory ``node`` into ``upper``, ready to show its content at ``dest``.

    Lower content is not copied where the store keeps redirects: the upper
    directory records where it came from; else the subtree is copied up. A
    directory without lower content is made opaque if lower layers hold
    something at ``dest``. Returns the upper directory's node.
    """
    source = sb.copier.ensure_dir(sb, node.path)
    if node.lower_refs and node.lower_view is not None:
        if sb.store.redirect_dir:
            sb.store.set_redirect(upper, source.path, node.lower_view)
        else:
            copy_up_subtree(sb, source.path)
    elif needs_whiteout(sb, dest):
        sb.store.set_opaque(upper, source.path)
    return source


def _refreshed(sb: OverlaySuper, path: str) -> Node:
    """Look ``path`` up again after a change."""
    node = sb.resolver.lookup(path)
    if node is None:
        raise fs.errors.ResourceNotFound(path)
    return node


def _carried_record(sb: OverlaySuper, upper: typing.Any, node: Node) -> bytes | None:
    """Let upper entry ``node`` keep its number wherever an exchange takes it.

    Where the store keeps records: its own record, else a new one (and its
    path is vacated when its number derived from it, as a hard link's is).
    Elsewhere the number is pinned on the entry itself; ``None`` is returned.
    """
    if not sb.store.keeps_records:
        if sb.inodes.needs_record_to_move(node):
            sb.inodes.keep(False, upper, node, node.path)
        return None
    parent, name = split_path(node.path)
    found: bytes | None = sb.store.read_records(upper, parent, [name]).get(name)
    if found is not None:
        return found
    record = EntryRecord(sb.inodes.ino(node), sb.inodes.origin(node)).dump()
    if sb.inodes.needs_record_to_move(node):
        vacate(sb, node.path)
    return record


def copy_up_subtree(sb: OverlaySuper, path: str) -> None:
    """Copy up everything visible under directory ``path``.

    Renames a merged directory for a store without redirects (overlayfs
    ``redirect_dir=off``/``nofollow``, where the kernel answers ``EXDEV`` and
    ``mv`` copies): once the whole tree is in the upper, the directory is
    made opaque and renamed like any upper directory. Every directory of the
    subtree is made opaque, deepest first, so none keeps whiteouts that no
    longer hide anything.
    """
    stack = [path]
    dirs: list[str] = []
    while stack:
        node = sb.copier.ensure_dir(sb, stack.pop())
        dirs.append(node.path)
        for name in list(sb.resolver.children(node)):
            child = sb.resolver.child(node, name)
            if child is None:
                continue
            if child.is_dir:
                stack.append(child.path)
            elif not child.in_upper or child.is_metacopy:
                sb.copier.copy_up(sb, child)
    upper = sb.writable_upper(path)
    for done in reversed(dirs):
        sb.store.set_opaque(upper, done)
    sb.resolver.refresh(path, subtree=True)


def freeze_inodes(sb: OverlaySuper, node: Node) -> bool:
    """Record the inode numbers under upper directory ``node`` that derive from paths.

    Called before a rename changes those paths, so that every entry keeps its
    number. Only the upper part of the tree is walked. Returns whether any
    number was recorded (the directory's path must then be vacated).
    """
    froze = False
    upper = sb.writable_upper(node.path)
    paths = [*upper.walk.dirs(node.path), *upper.walk.files(node.path)]
    for path in paths:
        if any(sb.store.is_reserved(name) for name in path.split("/")):
            continue
        entry = sb.resolver.lookup(path)
        if entry is None or not entry.in_upper or not sb.inodes.needs_record_to_move(entry):
            continue
        sb.inodes.keep(sb.store.keeps_records, upper, entry, path)
        record = sb.inodes.moved_record(entry)
        if record is not None:
            sb.store.set_record(upper, path, record.dump())
            sb.resolver.refresh(path)
            froze = True
    return froze


def merge_dir(sb: OverlaySuper, src: Node, dst: Node) -> None:
    """Move the content of directory ``src`` into existing directory ``dst``.

    Each child is renamed on its own (subdirectories by redirect where the
    destination lacks them), then ``src`` is removed.
    """
    for name in list(sb.resolver.children(src)):
        child = sb.resolver.child(src, name)
        if child is None:
            continue
        target = join_path(dst.path, name)
        existing = sb.resolver.lookup(target)
        if child.is_dir and existing is not None:
            if not existing.is_dir:
                raise fs.errors.DirectoryExpected(target)
            merge_dir(sb, child, existing)
        elif child.is_dir:
            move_dir(sb, child, target)
        else:
            if existing is not None and existing.is_dir:
                raise fs.errors.FileExpected(target)
            move_file(sb, child, target)
    refreshed = sb.resolver.lookup(src.path)
    if refreshed is not None:
        remove_entry(sb, refreshed)


__all__ = [
    "UPPER",
    "check_name",
    "clear_dir",
    "create_dir",
    "create_entry",
    "exchange",
    "make_dir",
    "merge_dir",
    "move_dir",
    "move_file",
    "needs_whiteout",
    "parent_dir",
    "prepare_create",
    "remove_empty_dir",
    "remove_entry",
    "remove_file",
    "remove_tree",
    "rename_dir",
    "rename_entry",
    "rename_file",
    "vacate",
    "vacate_if_vacated_beneath",
    "whiteout",
]
