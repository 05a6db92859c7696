"""Symbolic links whose type is their target's: checked again after every change.

A store that follows links when it lists (the default marker store, which
lists an OS directory as OSFS does) gives a link to a directory the type of a
directory. That type belongs to the target, which can change while the
listing stays cached: created or copied up after the link, replaced by a
directory, removed. Linux overlayfs, which never follows a link in a listing,
has no such case; nor does the kernel format's store, which lists every link
as a non-directory and so names no links here.

A store names the links of an upper listing in ``DirListing.links`` (found
without any call per entry: the directory itself tells which entries are
links). The resolver keeps them in a :class:`LinkIndex`, by parent directory,
for as long as it caches the parent; after a change to the upper it asks the
type of each link the change concerns again (one ``stat``,
:meth:`LinkIndex.check`) and reads a link whose type changed again by name,
as it reads any changed name.

A link to a directory is a second name of that directory: what is cached
below the link and below its target are two views of one directory. A
change below one name (or at the target) makes the resolver forget what it
caches below the other names (:attr:`LinkCheck.stale_views`), so no view
keeps what another changed; the view the change was made in was brought up
to date by the change itself, and the names themselves stand.
A change at a link itself may have reached its target (a file written
through a link, created through a dangling one): the target is read again
too.

Only links a change can concern are asked: each link's target is kept (the
upper path it leads to, read once with ``readlink`` and ``realpath``), and a
change at ``changed_path`` concerns a link when one of the link and its
target lies at or below the other or the changed path (the link or its
target created, removed, replaced or renamed; a change seen under a link to
a directory). A link whose target cannot be told so simply (it leaves the
upper, or goes through another link: a chain, a link below a linked
directory) is asked after every change. An unrelated change thus costs a few
string comparisons per cached upper link and no system call; directories
without links cost nothing, and lower layers never change, so their links
keep their type.
"""

from __future__ import annotations

import os
import typing

import attrs
from fs.base import FS

from ..host.layer_io import syspaths
from ..host.long_paths import real_path
from ..host.posix import leads_to_dir
from ..model.paths import is_same_or_below, join_path

#: ``cached_type(parent, name)``: the type a cache holds for one link
#: (``True`` for a directory), ``None`` when nothing is cached for it.
CachedType = typing.Callable[[str, str], "bool | None"]


@attrs.frozen
class LinkCheck:
    """What :meth:`LinkIndex.check` found after a change.

    Attributes:
        changed: ``(parent, name)`` of each link whose type is no longer the
            cached one.
        aliases: the upper paths the change may have reached under another
            name (the target of a link changed itself), to be read again.
        stale_views: other names of a directory the change was made in
            (links to it, or the directory a link leads to), whose cached
            content below is to be forgotten; the names themselves stand.
    """

    changed: list[tuple[str, str]]
    aliases: list[str]
    stale_views: list[str] = attrs.field(factory=list)


@attrs.define
class LinkIndex:
    """The symbolic links that cached upper listings hold, by parent directory."""

    _by_parent: dict[str, set[str]] = attrs.field(factory=dict)
    #: each known link's target (an upper path), or ``None`` if it must always be asked
    _targets: dict[str, str | None] = attrs.field(factory=dict)

    def __len__(self) -> int:
        """Return the number of directories with links."""
        return len(self._by_parent)

    def note(self, parent: str, names: typing.AbstractSet[str]) -> None:
        """Record the links of a listing of ``parent`` just read (replacing what was known)."""
        for name in self._by_parent.get(parent, ()):
            self._targets.pop(join_path(parent, name), None)
        if names:
            self._by_parent[parent] = set(names)
        else:
            self._by_parent.pop(parent, None)

    def note_name(self, parent: str, name: str, is_link: bool) -> None:
        """Record whether ``name`` of ``parent`` is a link now (after a change to it)."""
        self._targets.pop(join_path(parent, name), None)
        known = self._by_parent.get(parent)
        if is_link:
            if known is None:
                self._by_parent[parent] = {name}
            else:
                known.add(name)
        elif known is not None:
            known.discard(name)
            if not known:
                del self._by_parent[parent]

    def holds(self, parent: str, name: str) -> bool:
        """Tell whether ``name`` of ``parent`` is a known link."""
        return name in self._by_parent.get(parent, ())

    def forget(self, parents: typing.Iterable[str]) -> None:
        """Forget the links of directories whose listings are no longer cached."""
        for parent in parents:
            for name in self._by_parent.pop(parent, ()):
                self._targets.pop(join_path(parent, name), None)

    def forget_below(self, path: str) -> None:
        """Forget the links of ``path`` and of every directory below it."""
        self.forget([known for known in self._by_parent if is_same_or_below(known, path)])

    def clear(self) -> None:
        """Forget every link."""
        self._by_parent.clear()
        self._targets.clear()

    def check(self, upper: FS, cached_type: CachedType, changed_path: str) -> LinkCheck:
        """Check the known links a change at upper ``changed_path`` concerns.

        Each such link's target is asked for its type now (one ``stat``,
        following the link; one that leads nowhere is no directory), and
        where it leads is learnt again. A link that nothing caches any more
        is forgotten. When ``changed_path`` lies at or below one name of a
        directory (the directory or a link to it), the other names are stale
        views; the target of a link at ``changed_path`` is an alias to read
        again.
        """
        changed: list[tuple[str, str]] = []
        views: dict[str, list[str]] = {}
        reached: list[str] = []
        targets = self._targets
        for parent, names in list(self._by_parent.items()):
            for name in list(names):
                path = join_path(parent, name)
                known = targets.get(path, _UNKNOWN)
                if isinstance(known, str):
                    if not _concerns(changed_path, path, known):
                        continue
                    if _strictly_inside(changed_path, known, path) and cached_type(parent, name):
                        # a change inside the directory a link leads to: still one
                        views.setdefault(known, []).append(path)
                        continue
                cached = cached_type(parent, name)
                if cached is None:
                    names.discard(name)
                    targets.pop(path, None)
                    continue
                found = syspaths(upper, path)
                target, plain = (None, False) if found is None else _link_target(upper, found[0])
                targets[path] = target if plain else None
                is_dir = found is not None and leads_to_dir(found[0])
                if cached != is_dir:
                    changed.append((parent, name))
                if found is None or not (is_dir or path == changed_path):
                    continue
                if is_dir:
                    views.setdefault(path if target is None else target, []).append(path)
                elif target is not None:
                    reached.append(target)
            if not names:
                del self._by_parent[parent]
        return LinkCheck(changed, reached, _stale_views(views, changed_path))


def _stale_views(views: dict[str, list[str]], changed_path: str) -> list[str]:
    """Return the names of a directory changed under another of its names.

    ``views`` maps each directory links lead to onto those links. A change
    below one name of a directory (the directory itself or a link to it)
    leaves the caches below that name right and those below every other
    name stale.
    """
    stale: list[str] = []
    for target, links in views.items():
        names = [target, *links]
        if any(is_same_or_below(changed_path, name) for name in names):
            stale.extend(name for name in names if not is_same_or_below(changed_path, name))
    return stale


def _strictly_inside(changed_path: str, target: str, link: str) -> bool:
    """Tell whether ``changed_path`` lies strictly below ``target`` and apart from ``link``.

    Such a change leaves a directory at ``target`` a directory, so a link
    known to lead to a directory still does.
    """
    return (
        changed_path != target
        and is_same_or_below(changed_path, target)
        and not is_same_or_below(changed_path, link)
        and not is_same_or_below(link, changed_path)
    )


#: No target known yet for a link.
_UNKNOWN = object()


def _concerns(changed_path: str, link: str, target: str) -> bool:
    """Tell whether a change at ``changed_path`` can concern ``link``, which leads to ``target``."""
    return (
        is_same_or_below(changed_path, link)
        or is_same_or_below(link, changed_path)
        or is_same_or_below(changed_path, target)
        or is_same_or_below(target, changed_path)
    )


def _link_target(upper: FS, sys_path: str) -> tuple[str | None, bool]:
    """Return the upper path the link at OS path ``sys_path`` leads to, and if it is plain.

    The path is ``None`` when the target lies outside the upper. It is
    *plain* when no other link is on the way (the link's text, read
    literally, names the target itself): only then can a change elsewhere
    be known not to concern the link.
    """
    real = real_path(sys_path)  # also past PATH_MAX (long_paths)
    try:
        text = os.readlink(sys_path)
    except OSError:
        text = None
    plain = text is not None and real == os.path.normpath(
        os.path.join(os.path.dirname(sys_path), text)
    )
    return _upper_path(upper, real), plain


def _upper_path(upper: FS, real: str) -> str | None:
    """Return the upper path of resolved OS path ``real`` (``None``: outside the upper)."""
    root = syspaths(upper, "/")
    if root is None:
        return None
    base, target = os.path.realpath(root[0]), real
    if target == base:
        return "/"
    if not target.startswith(base.rstrip(os.sep) + os.sep):
        return None
    return "/" + os.path.relpath(target, base).replace(os.sep, "/")


__all__ = ["CachedType", "LinkCheck", "LinkIndex"]
