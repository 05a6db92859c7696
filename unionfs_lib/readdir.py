"""Readdir: merged directory listings and iteration with stable cookies.

This is the overlay's ``readdir.c``. A merged directory lists every visible
name once, in sorted order: sorted order is what makes cookies stable. The
cookie of an entry is derived from its name alone, so resuming after a cookie
means "the first visible name sorting after this one". That holds across
calls, across reopening the overlay and under concurrent change; it needs no
per-cookie state, so no sequence of create/remove/seek can make the overlay
hold more memory (the telldir/seekdir denial of service of the LSF 2008
stacking notes).
"""

from __future__ import annotations

import bisect
import typing

import attrs

from .lookup import Node

if typing.TYPE_CHECKING:
    from .superblock import OverlaySuper

COOKIE_PREFIX = "n:"


def make_cookie(name: str) -> str:
    """Return the cookie of the entry called ``name``."""
    return COOKIE_PREFIX + name


def cookie_name(cookie: str) -> str:
    """Return the name a cookie stands for; raise ``ValueError`` if it is not one."""
    if not cookie.startswith(COOKIE_PREFIX):
        raise ValueError(f"not a directory cookie: {cookie!r}")
    return cookie[len(COOKIE_PREFIX) :]


@attrs.frozen
class DirIterator:
    """The default directory iterator: sorted names, name-derived cookies."""

    def listdir(self, sb: OverlaySuper, node: Node) -> list[str]:
        """Return the visible names of directory ``node``, sorted."""
        return list(sb.resolver.names(node))

    def page(self, sb: OverlaySuper, node: Node, start: int, end: int) -> list[str]:
        """Return names ``start`` to ``end`` (exclusive) of the sorted listing."""
        return sb.resolver.names(node)[start:end]

    def names_after(self, sb: OverlaySuper, node: Node, cookie: str | None) -> list[str]:
        """Return the visible names sorting after ``cookie``'s name, in order."""
        names = sb.resolver.names(node)
        if cookie is None:
            return list(names)
        return names[bisect.bisect_right(names, cookie_name(cookie)) :]
