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
for as long as it caches the parent; after every change to the upper it asks
each link's type again (one ``stat``, :meth:`LinkIndex.check`) and reads a
link whose type changed again by name, as it reads any changed name.

A link to a directory is a second name of that directory: what is cached
below the link and below its target are two views of one directory. A
change below either (or at the target) makes the resolver read both again
(:attr:`LinkCheck.aliases`), so neither view keeps what the other changed.
A change at a link itself may have reached its target (a file written
through a link, created through a dangling one): the target is read again
too.

The cost is one ``stat`` per cached upper link per change (and a
``realpath`` per link to a directory); directories without links cost
nothing, and lower layers never change, so their links keep their type.
"""

from __future__ import annotations

import os
import typing

import attrs
from fs.base import FS

from .posix import leads_to_dir
from .util import is_same_or_below, join_path, syspaths

#: ``cached_type(parent, name)``: the type a cache holds for one link
#: (``True`` for a directory), ``None`` when nothing is cached for it.
CachedType = typing.Callable[[str, str], "bool | None"]


@attrs.frozen
class LinkCheck:
    """What :meth:`LinkIndex.check` found after a change.

    Attributes:
        changed: ``(parent, name)`` of each link whose type is no longer the
            cached one.
        aliases: the upper paths the change may have touched under another
            name (links to directories and their targets, the target of a
            link changed itself), to be read again.
    """

    changed: list[tuple[str, str]]
    aliases: list[str]


@attrs.define
class LinkIndex:
    """The symbolic links that cached upper listings hold, by parent directory."""

    _by_parent: dict[str, set[str]] = attrs.field(factory=dict)

    def __len__(self) -> int:
        """Return the number of directories with links."""
        return len(self._by_parent)

    def note(self, parent: str, names: typing.AbstractSet[str]) -> None:
        """Record the links of a listing of ``parent`` just read (replacing what was known)."""
        if names:
            self._by_parent[parent] = set(names)
        else:
            self._by_parent.pop(parent, None)

    def note_name(self, parent: str, name: str, is_link: bool) -> None:
        """Record whether ``name`` of ``parent`` is a link now (after a change to it)."""
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

    def forget(self, parents: typing.Iterable[str]) -> None:
        """Forget the links of directories whose listings are no longer cached."""
        for parent in parents:
            self._by_parent.pop(parent, None)

    def forget_below(self, path: str) -> None:
        """Forget the links of ``path`` and of every directory below it."""
        for parent in [known for known in self._by_parent if is_same_or_below(known, path)]:
            del self._by_parent[parent]

    def clear(self) -> None:
        """Forget every link."""
        self._by_parent.clear()

    def check(self, upper: FS, cached_type: CachedType, changed_path: str) -> LinkCheck:
        """Check every known link after a change at upper ``changed_path``.

        Each link's target is asked for its type now (one ``stat``, following
        the link; one that leads nowhere is no directory). A link that nothing
        caches any more is forgotten. When ``changed_path`` lies at or below a
        link to a directory or its target, every such link and target is an
        alias to read again; so is the target of a link at ``changed_path``.
        """
        changed: list[tuple[str, str]] = []
        views: list[str] = []
        reached: list[str] = []
        for parent, names in list(self._by_parent.items()):
            for name in list(names):
                cached = cached_type(parent, name)
                if cached is None:
                    names.discard(name)
                    continue
                path = join_path(parent, name)
                found = syspaths(upper, path)
                is_dir = found is not None and leads_to_dir(found[0])
                if cached != is_dir:
                    changed.append((parent, name))
                if found is None or not (is_dir or path == changed_path):
                    continue
                target = _target_path(upper, found[0])
                if is_dir:
                    views.extend([path] if target is None else [path, target])
                elif target is not None:
                    reached.append(target)
            if not names:
                del self._by_parent[parent]
        touched = any(is_same_or_below(changed_path, view) for view in views)
        return LinkCheck(changed, reached + views if touched else reached)


def _target_path(upper: FS, sys_path: str) -> str | None:
    """Return the upper path a link at OS path ``sys_path`` leads to (``None``: outside)."""
    root = syspaths(upper, "/")
    if root is None:
        return None
    base, target = os.path.realpath(root[0]), os.path.realpath(sys_path)
    if target == base:
        return "/"
    if not target.startswith(base.rstrip(os.sep) + os.sep):
        return None
    return "/" + os.path.relpath(target, base).replace(os.sep, "/")


__all__ = ["CachedType", "LinkCheck", "LinkIndex"]
