"""Tree operations on a layer that never follow a symbolic link: remove, clear, move, walk.

The threat: whoever writes into a layer can put a symbolic link where the
overlay later removes, moves or writes a whole tree. Code in the sandbox does
it with ``symlink(victim, "/d/l")`` before ``removetree("/d")``, a user of a
mount with ``ln -s``, the owner of a commit target with ``build/latest ->
../src``, anyone who can write the upper directory with a link at the work
area. PyFilesystem2's ``removetree``, ``copydir`` and ``movedir`` walk with
``listdir``/``getinfo``/``isdir``, which follow links: they descend into the
link and delete or copy whatever it points to, outside every layer.

This module owns every such walk, and none of its functions follows a link.
On a layer with OS paths (:func:`~unionfs_lib.host.layer_io.syspaths`):

* the path is resolved component by component from the real path of the
  layer root (or, for the kernel layout's work area, of the workdir), each
  directory opened with ``O_NOFOLLOW | O_DIRECTORY`` relative to its parent's
  descriptor; a link where a directory must be entered raises
  :class:`~unionfs_lib.errors.LinkInPath`, before anything is changed;
* the tree is then walked by descriptor, as ``shutil.rmtree`` does on Linux
  to resist symlink attacks: ``os.scandir(fd)``, ``lstat`` information of
  each entry, ``os.unlink``/``os.rmdir`` relative to the directory's
  descriptor, and a descent only into a real directory, opened with
  ``O_NOFOLLOW | O_DIRECTORY``. A link, even to a directory, is unlinked.
  The walk keeps an explicit stack and one open descriptor at a time (it
  climbs back through ``..``, checking it reaches the directory it left), so
  any depth is removed with a bounded number of descriptors and no
  recursion.

On a layer without OS paths the same walks decide by the ``link`` namespace
of ``getinfo``/``scandir``: an entry that is a link is removed with
``remove`` and never descended into, and a move that meets one is refused
before anything is copied (such a layer cannot make links). A ``MemoryFS``,
which can hold no link, removes or moves a directory by its own one-step
``removetree``/``movedir`` (one dictionary entry; nothing is walked): the
only place the package calls these methods on a layer.

The work is done on the layer as it is when each call runs; the overlay
calls these functions under its lock.
"""

from __future__ import annotations

import errno
import os
import stat
import typing

import fs.errors
from fs.base import FS
from fs.error_tools import convert_os_errors
from fs.info import Info
from fs.memoryfs import MemoryFS

from ..errors import EscapesLayer, LinkInPath, literal
from ..model.paths import canonical, components, is_same_or_below, join_path
from .layer_io import syspaths

#: What :func:`entry_kind` answers.
DIR, LINK, FILE = "dir", "link", "file"

_DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)

#: (st_dev, st_ino) of a directory, to check that ``..`` leads back to it.
_Identity = typing.Tuple[int, int]


# -- where a path lies on disk ---------------------------------------------------

_ROOTS: dict[str, str] = {}


def _real_root(root: str) -> str:
    """Return the real path of a layer root or workdir (cached: roots do not move)."""
    found = _ROOTS.get(root)
    if found is None:
        found = os.path.realpath(root)
        if len(_ROOTS) > 4096:
            _ROOTS.clear()
        _ROOTS[root] = found
    return found



def _location(layer: FS, path: str) -> tuple[str, list[str]] | None:
    """Return ``(trusted OS directory, names below it)`` for ``path``, or ``None``.

    The trusted directory is the real path of the layer root (chosen by the
    caller); for the work area of the kernel layout (a layer whose
    ``work_path`` holds ``path``) it is the workdir, and ``work`` is the first
    name. ``None`` means the layer has no OS paths.
    """
    found = syspaths(layer, "/", path)
    if found is None:
        return None
    root, target = found
    work = getattr(layer, "work_path", None)
    if isinstance(work, str) and work != "/" and is_same_or_below(path, work):
        work_found = syspaths(layer, work)
        assert work_found is not None
        root = os.path.dirname(work_found[0])
        names = [os.path.basename(work_found[0]), *components(path[len(work) :])]
    else:
        names = components(path)
    if os.path.normpath(os.path.join(root, *names)) != os.path.normpath(target):
        raise EscapesLayer(path, msg=literal(f"'{path}' does not lie below its layer's root"))
    return _real_root(root), names


def _open_dirs(anchor: str, names: typing.Sequence[str], path: str) -> int:
    """Open the directory ``anchor/names...`` without following a link; return its descriptor.

    Raises ``LinkInPath`` for a link on the way, ``ResourceNotFound`` for a
    missing name and ``DirectoryExpected`` for a file.
    """
    with convert_os_errors("open", path, directory=True):
        fd = os.open(anchor, _DIR_FLAGS)
    for name in names:
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError as error:
            refusal = _refusal(fd, name, path, error)
            os.close(fd)
            raise refusal from error
        os.close(fd)
        fd = child
    return fd


def _refusal(fd: int, name: str, path: str, error: OSError) -> fs.errors.FSError:
    """Turn the failure to enter directory ``name`` (in ``fd``) into an ``fs.errors`` one."""
    if error.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        try:
            is_link = stat.S_ISLNK(os.lstat(name, dir_fd=fd).st_mode)
        except OSError:
            is_link = error.errno == errno.ELOOP
        if is_link:
            return LinkInPath(path)
        return fs.errors.DirectoryExpected(path)
    if error.errno == errno.ENOENT:
        return fs.errors.ResourceNotFound(path)
    if error.errno in (errno.EACCES, errno.EPERM):
        return fs.errors.PermissionDenied(path, exc=error)
    return fs.errors.OperationFailed(path, exc=error)


def _info_target(info: Info) -> str | None:
    """Return the link target an ``Info`` reports (``None``: no link, or no ``link`` namespace)."""
    target = info.get("link", "target", None)
    return target if isinstance(target, str) else None


def _kind(mode: int) -> str:
    """Classify an ``lstat`` mode."""
    if stat.S_ISDIR(mode):
        return DIR
    return LINK if stat.S_ISLNK(mode) else FILE


# -- what is there ----------------------------------------------------------------


def entry_kind(layer: FS, path: str) -> str | None:
    """Return what stands at ``path``: :data:`DIR`, :data:`LINK`, :data:`FILE` or ``None``.

    A link is reported as a link, whatever it points to (``lstat``, or the
    ``link`` namespace on a layer without OS paths); special files count as
    files. The parents of ``path`` are resolved as the layer resolves them.
    """
    found = syspaths(layer, path)
    if found is not None:
        try:
            return _kind(os.lstat(found[0]).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return None
    try:
        info = layer.getinfo(path, namespaces=["link"])
    except fs.errors.ResourceNotFound:
        return None
    if _info_target(info) is not None:
        return LINK
    return DIR if info.is_dir else FILE


def check_no_link_above(layer: FS, path: str, checked: set[str] | None = None) -> None:
    """Raise ``LinkInPath`` if a parent directory of ``path`` in ``layer`` is a link.

    Every component above the last is ``lstat``-ed from the layer root, in
    order, so a link anywhere on the way is seen (the last component may be
    anything, a link included). Components that do not exist yet, and
    anything below a file, are fine: nothing is entered there. ``checked``
    holds the directories already found real (it is filled as a cache).
    """
    done = checked if checked is not None else set()
    current = "/"
    for name in components(canonical(path))[:-1]:
        current = join_path(current, name)
        if current in done:
            continue
        kind = entry_kind(layer, current)
        if kind == LINK:
            raise LinkInPath(current)
        if kind != DIR:
            return
        done.add(current)


def readlink(layer: FS, path: str) -> str | None:
    """Return the stored target of link ``path`` (never resolved), or ``None`` for no link."""
    found = syspaths(layer, path)
    if found is not None:
        try:
            return os.readlink(found[0])
        except OSError:
            return None
    try:
        info = layer.getinfo(path, namespaces=["link"])
    except fs.errors.ResourceNotFound:
        return None
    return _info_target(info)


# -- removing ---------------------------------------------------------------------


def remove_entry(layer: FS, path: str) -> None:
    """Remove whatever is at ``path``: a file, link or special file, or a directory tree.

    A link is unlinked, never followed, even when it points to a directory.
    Raises ``ResourceNotFound`` when nothing is there, ``LinkInPath`` when a
    parent of ``path`` is a link, and ``RemoveRootError`` for the root.
    """
    _remove(layer, canonical(path), tree_only=False)


def remove_tree(layer: FS, path: str) -> None:
    """Remove directory ``path`` and everything beneath it, never following a link.

    A link at ``path`` itself is unlinked (what it points to stays). Raises
    ``DirectoryExpected`` for a file, ``ResourceNotFound`` when nothing is
    there, ``LinkInPath`` when a parent of ``path`` is a link.
    """
    _remove(layer, canonical(path), tree_only=True)


def clear_dir(layer: FS, path: str) -> None:
    """Remove everything inside directory ``path`` (which stays), never following a link.

    Raises ``LinkInPath`` when ``path`` or a parent of it is a link.
    """
    _path = canonical(path)
    location = _location(layer, _path)
    if location is None:
        _clear_fs(layer, _path)
        return
    anchor, names = location
    fd = _open_dirs(anchor, names, _path)
    try:
        with convert_os_errors("clear_dir", _path, directory=True):
            _empty(fd, _path)
    finally:
        os.close(fd)


def _remove(layer: FS, path: str, tree_only: bool) -> None:
    """Remove ``path`` (see :func:`remove_entry`; ``tree_only`` refuses a plain file)."""
    location = _location(layer, path)
    if location is None:
        _remove_fs(layer, path, tree_only)
        return
    anchor, names = location
    if not names:
        raise fs.errors.RemoveRootError(path)
    parent = _open_dirs(anchor, names[:-1], path)
    try:
        with convert_os_errors("remove", path, directory=tree_only):
            _remove_at(parent, names[-1], path, tree_only)
    finally:
        os.close(parent)


def _remove_at(parent: int, name: str, path: str, tree_only: bool) -> None:
    """Remove entry ``name`` of the directory open as ``parent``."""
    mode = os.lstat(name, dir_fd=parent).st_mode
    if not stat.S_ISDIR(mode):
        if tree_only and not stat.S_ISLNK(mode):
            raise fs.errors.DirectoryExpected(path)
        os.unlink(name, dir_fd=parent)
        return
    fd = _open_subdir(parent, name)
    if fd is None:
        return  # it was replaced by a link or file meanwhile, and is unlinked
    try:
        _empty(fd, path)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent)


def _open_subdir(parent: int, name: str) -> int | None:
    """Open real directory ``name`` of ``parent``; ``None`` if it is none (then it is unlinked).

    The scan that listed ``name`` saw a directory; if it has been replaced by
    a link or a file since, the open refuses (``O_NOFOLLOW``) and the entry
    is unlinked as what it now is.
    """
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise
    try:
        os.unlink(name, dir_fd=parent)
    except FileNotFoundError:
        pass
    return None


def _unlink_files(fd: int) -> list[str]:
    """Unlink every non-directory in the directory open as ``fd``; return its subdirectories."""
    with os.scandir(fd) as scan:
        entries = list(scan)
    subdirs = []
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            subdirs.append(entry.name)
            continue
        try:
            os.unlink(entry.name, dir_fd=fd)
        except FileNotFoundError:
            pass
    return subdirs


def _identity(fd: int) -> _Identity:
    """Return the device and inode numbers of an open directory."""
    found = os.fstat(fd)
    return found.st_dev, found.st_ino


def _climb(fd: int, expected: _Identity, path: str) -> int:
    """Open ``..`` of ``fd`` and check it is the directory the walk came down from."""
    parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
    if _identity(parent) != expected:
        os.close(parent)
        raise fs.errors.OperationFailed(
            path, msg=literal(f"a directory below '{path}' was moved during its removal; stopped")
        )
    return parent


def _empty(top: int, path: str) -> None:
    """Remove everything inside the directory open as ``top`` (left open, and in place).

    Depth first with an explicit stack: each frame keeps the subdirectories
    still to remove of one directory on the way down, with that directory's
    identity. Only the current directory is open (besides ``top``); the walk
    climbs back through ``..`` and checks it arrives where it left.
    """
    frames: list[tuple[list[str], str, _Identity]] = []
    fd = top
    pending = _unlink_files(fd)
    try:
        while True:
            if pending:
                name = pending.pop()
                child = _open_subdir(fd, name)
                if child is None:
                    continue
                frames.append((pending, name, _identity(fd)))
                if fd != top:
                    os.close(fd)
                fd = child
                pending = _unlink_files(fd)
                continue
            if not frames:
                return
            pending, name, expected = frames.pop()
            parent = top if not frames else _climb(fd, expected, path)
            os.close(fd)
            fd = parent
            os.rmdir(name, dir_fd=fd)
    finally:
        if fd != top:
            os.close(fd)


# -- removing on layers without OS paths ------------------------------------------


def _remove_fs(layer: FS, path: str, tree_only: bool) -> None:
    """Remove ``path`` from a layer without OS paths, deciding links by the ``link`` namespace."""
    if path == "/":
        raise fs.errors.RemoveRootError(path)
    info = layer.getinfo(path, namespaces=["link"])
    is_link = _info_target(info) is not None
    if is_link or not info.is_dir:
        if tree_only and not is_link:
            raise fs.errors.DirectoryExpected(path)
        layer.remove(path)
        return
    _remove_fs_dir(layer, path)


def _clear_fs(layer: FS, path: str) -> None:
    """Remove everything inside directory ``path`` of a layer without OS paths."""
    for child in _remove_fs_files(layer, path):
        _remove_fs_dir(layer, child)


def _remove_fs_dir(layer: FS, path: str) -> None:
    """Remove real directory ``path`` of a layer without OS paths, and all beneath it.

    A ``MemoryFS`` drops the directory's entry with its own ``removetree``:
    it holds no links, and nothing is walked. Any other layer is walked
    with an explicit stack, never into a link.
    """
    if type(layer).removetree is MemoryFS.removetree:
        layer.removetree(path)
        return
    frames = [(path, _remove_fs_files(layer, path))]
    while frames:
        current, pending = frames[-1]
        if pending:
            child = pending.pop()
            frames.append((child, _remove_fs_files(layer, child)))
            continue
        frames.pop()
        layer.removedir(current)


def _remove_fs_files(layer: FS, path: str) -> list[str]:
    """Remove the non-directories (links included) of ``path``; return its real subdirectories."""
    subdirs = []
    for info in list(layer.scandir(path, namespaces=["link"])):
        child = join_path(path, info.name)
        if info.is_dir and _info_target(info) is None:
            subdirs.append(child)
        else:
            layer.remove(child)
    return subdirs


# -- moving -----------------------------------------------------------------------


def rename_dir(layer: FS, src: str, dst: str) -> None:
    """Rename directory ``src`` to ``dst`` within one FS, atomically where possible.

    An FS with OS paths gets one ``os.rename`` of the two OS paths (which
    moves a link as a link; the callers resolved the parents through the
    overlay); any other FS is handled by :func:`move_tree` (a ``MemoryFS``
    moves its entry, others copy without following a link).
    """
    found = syspaths(layer, src, dst)
    if found is not None:
        os.rename(found[0], found[1])
        return
    move_tree(layer, src, dst)


def move_tree(layer: FS, src: str, dst: str) -> None:
    """Rename directory ``src`` to the free name ``dst`` of the same layer, never following a link.

    With OS paths: one ``os.rename`` relative to the two parent directories,
    each opened without following a link (a link at ``src`` moves as a
    link). A ``MemoryFS`` moves its entry in one step (it holds no links).
    Any other layer copies the tree file by file into fresh directories and
    removes the source with :func:`remove_tree`; a link found in the source
    makes it raise ``Unsupported`` before anything is copied.
    """
    _src, _dst = canonical(src), canonical(dst)
    source, target = _location(layer, _src), _location(layer, _dst)
    if source is not None and target is not None:
        _rename_os(source, target, _src, _dst)
    elif type(layer).movedir is MemoryFS.movedir:
        layer.movedir(_src, _dst, create=True)  # one dictionary entry moves; nothing is walked
    else:
        _copy_then_remove(layer, _src, _dst)


def _rename_os(
    source: tuple[str, list[str]], target: tuple[str, list[str]], src: str, dst: str
) -> None:
    """Rename ``source`` to ``target`` (OS locations) relative to their parents' descriptors."""
    (src_anchor, src_names), (dst_anchor, dst_names) = source, target
    if not src_names or not dst_names:
        raise fs.errors.RemoveRootError(src if not src_names else dst)
    src_parent = _open_dirs(src_anchor, src_names[:-1], src)
    try:
        dst_parent = _open_dirs(dst_anchor, dst_names[:-1], dst)
        try:
            with convert_os_errors("move_tree", src, directory=True):
                os.rename(
                    src_names[-1], dst_names[-1], src_dir_fd=src_parent, dst_dir_fd=dst_parent
                )
        finally:
            os.close(dst_parent)
    finally:
        os.close(src_parent)


def _copy_then_remove(layer: FS, src: str, dst: str) -> None:
    """Move a tree on a layer without OS paths: plan (refusing links), copy, remove the source."""
    dirs, files = _plan_copy(layer, src)
    layer.makedir(dst, recreate=True)
    for relative in dirs:
        layer.makedir(dst + relative, recreate=True)
    for relative in files:
        layer.move(src + relative, dst + relative, overwrite=True)
    remove_tree(layer, src)


def _plan_copy(layer: FS, src: str) -> tuple[list[str], list[str]]:
    """Return the directories (parents first) and files below ``src``, relative to it.

    Raises ``DirectoryExpected`` if ``src`` is no directory and ``Unsupported``
    at the first link (this layer could not make it again).
    """
    info = layer.getinfo(src, namespaces=["link"])
    if _info_target(info) is not None:
        raise _cannot_move_link(src)
    if not info.is_dir:
        raise fs.errors.DirectoryExpected(src)
    dirs: list[str] = []
    files: list[str] = []
    pending = [src]
    while pending:
        current = pending.pop()
        for child in layer.scandir(current, namespaces=["link"]):
            path = join_path(current, child.name)
            if _info_target(child) is not None:
                raise _cannot_move_link(path)
            if child.is_dir:
                dirs.append(path[len(src) :])
                pending.append(path)
            else:
                files.append(path[len(src) :])
    return dirs, files


def _cannot_move_link(path: str) -> fs.errors.Unsupported:
    """Return the refusal to move a link on a layer that cannot make links."""
    message = f"'{path}' is a symbolic link, which a layer without OS paths cannot move"
    return fs.errors.Unsupported(path, msg=literal(message))


# -- making the work area ---------------------------------------------------------


def make_real_dir(parent: str, name: str, mode: int = 0o700) -> None:
    """Make ``name`` in OS directory ``parent`` a real directory; a directory there stays.

    A link (even to a directory) or a file at ``name`` is unlinked first,
    never followed, as the kernel treats ``workdir/work`` at mount time.
    ``parent`` itself is trusted (the caller chose it).
    """
    with convert_os_errors("makedir", name, directory=True):
        fd = os.open(parent, _DIR_FLAGS & ~getattr(os, "O_NOFOLLOW", 0))
    try:
        with convert_os_errors("makedir", name, directory=True):
            try:
                if stat.S_ISDIR(os.lstat(name, dir_fd=fd).st_mode):
                    return
                os.unlink(name, dir_fd=fd)
            except FileNotFoundError:
                pass
            os.mkdir(name, mode, dir_fd=fd)
    finally:
        os.close(fd)


# -- reading ----------------------------------------------------------------------


def walk_entries(layer: FS, path: str) -> typing.Iterator[tuple[str, str, str | None]]:
    """Yield ``(path, kind, link target)`` for everything beneath directory ``path``.

    Never descends into a link: a link is yielded as :data:`LINK` with its
    stored target, and the walk goes on beside it. Directories come before
    their content. The target is ``None`` for anything but a link.
    """
    pending = [canonical(path)]
    while pending:
        current = pending.pop()
        below = []
        for name, kind, target in _scan(layer, current):
            child = join_path(current, name)
            yield child, kind, target
            if kind == DIR:
                below.append(child)
        pending.extend(reversed(below))


def _scan(layer: FS, path: str) -> list[tuple[str, str, str | None]]:
    """Return ``(name, kind, link target)`` of each entry of directory ``path``, sorted."""
    found = syspaths(layer, path)
    entries: list[tuple[str, str, str | None]] = []
    if found is not None:
        with convert_os_errors("scandir", path, directory=True):
            with os.scandir(found[0]) as scan:
                for entry in scan:
                    if entry.is_symlink():
                        entries.append((entry.name, LINK, os.readlink(entry.path)))
                    else:
                        kind = DIR if entry.is_dir(follow_symlinks=False) else FILE
                        entries.append((entry.name, kind, None))
    else:
        for info in layer.scandir(path, namespaces=["link"]):
            target = _info_target(info)
            if target is not None:
                entries.append((info.name, LINK, target))
            else:
                entries.append((info.name, DIR if info.is_dir else FILE, None))
    return sorted(entries)


__all__ = [
    "DIR",
    "FILE",
    "LINK",
    "check_no_link_above",
    "clear_dir",
    "entry_kind",
    "make_real_dir",
    "move_tree",
    "readlink",
    "remove_entry",
    "remove_tree",
    "rename_dir",
    "walk_entries",
]
