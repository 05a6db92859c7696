"""Reading a ``TarFS`` lower through an index of its members, built once.

PyFilesystem2's ``ReadTarFS`` keeps its members in one table keyed by path
and answers ``listdir`` (so ``scandir``) by scanning every member of the
archive; ``getinfo``, ``exists`` and ``isdir`` of a path that is not a member
(a directory the archive only implies, or a whiteout marker the overlay looks
for, which is usually absent) scan it too. The overlay asks that for every
directory it lists and every directory it resolves, so a tar of ``n``
members cost ``n`` steps per call: a 3,000-deep chain of directories took
seconds to walk and half a minute to copy up.

:class:`TarIndex` is a read-only view of a ``ReadTarFS`` that answers those
calls from a table of each directory's children, made in one pass over the
members the first time it is needed: a listing costs its own entries, a
lookup one table read. It gives what the layer gives, in the same order:
members described by the layer itself, directories the archive only implies
described as ``ReadTarFS`` describes them, the same errors. File data is
read through the layer. The lookup (:meth:`unionfs_lib.resolve.resolver.Resolver.reader`)
reads a ``TarFS`` lower through one; everything else uses the layer itself.

This reads ``ReadTarFS``'s member table (``_directory_entries`` of
PyFilesystem2 2.4), so only a layer whose type is exactly ``ReadTarFS`` is
indexed (:func:`indexed`); any other layer is read as it is.
"""

from __future__ import annotations

import typing

import fs.errors
from fs.base import FS
from fs.enums import ResourceType
from fs.info import Info
from fs.path import abspath, normpath
from fs.tarfs import ReadTarFS

from ..model.read_only_fs import ReadOnlyFS

_Children = typing.Dict[str, typing.Dict[str, None]]


class TarIndex(ReadOnlyFS):
    """A read-only view of a ``ReadTarFS`` answering lookups and listings from an index.

    Arguments:
        layer: the tar layer (exactly a ``ReadTarFS``); it stays the caller's
            and is neither closed nor changed by the view.

    Paths are checked as the layer checks them, but a path that is already
    canonical (as every path the overlay passes is) is taken as it is:
    ``normpath``'s regular expression, run on every call, was most of the
    cost of a walk down a deep chain once the scans were gone.
    """

    def __init__(self, layer: ReadTarFS) -> None:
        """Index ``layer``'s members (one pass over them, at the first call that needs it)."""
        super().__init__()
        self.layer = layer
        self._members: typing.Mapping[str, typing.Any] | None = None
        self._children: _Children = {}

    def __repr__(self) -> str:
        """Show the indexed layer."""
        return f"TarIndex({self.layer!r})"

    def _index(self) -> tuple[typing.Mapping[str, typing.Any], _Children]:
        """Return the member table and each directory's children (built once)."""
        members = self._members
        if members is None:
            members = self.layer._directory_entries
            self._children = children_of(members)
            self._members = members
        return members, self._children

    def _key(self, path: str) -> str:
        """Check ``path`` and return its member-table key (no leading ``/``; ``""``: root)."""
        if self.isclosed():
            raise fs.errors.FilesystemClosed()
        if isinstance(path, bytes):
            raise TypeError("paths must be str (not bytes)")
        if not is_canonical(path):
            path = abspath(normpath(path))
        return path[1:]

    def _info(
        self, path: str, key: str, member: typing.Any, namespaces: typing.Collection[str]
    ) -> Info:
        """Describe ``key`` (a member, or a directory the archive implies) as the layer does."""
        if member is None:
            basic: dict[str, object] = {"name": key.rpartition("/")[2], "is_dir": True}
            raw: dict[str, dict[str, object]] = {"basic": basic}
            if "details" in namespaces:
                raw["details"] = {"size": 0, "type": int(ResourceType.directory)}
            return Info(raw)
        if not {"basic", "details"}.issuperset(namespaces):
            return self.layer.getinfo(path, namespaces)
        raw = {"basic": {"name": member.name.rpartition("/")[2], "is_dir": member.isdir()}}
        if "details" in namespaces:
            raw["details"] = {
                "size": member.size,
                "type": int(self.layer.type_map[member.type]),
                "modified": member.mtime,
            }
        return Info(raw)

    def getinfo(self, path: str, namespaces: typing.Collection[str] | None = None) -> Info:
        """Describe ``path`` as the layer does (see the module docstring)."""
        members, children = self._index()
        key = self._key(path)
        if not key:
            return self.layer.getinfo("/", namespaces)
        member = members.get(key)
        if member is None and key not in children:
            raise fs.errors.ResourceNotFound(path)
        return self._info(path, key, member, namespaces or ())

    def isdir(self, path: str) -> bool:
        """Tell whether ``path`` is a directory (a member or implied by one)."""
        members, children = self._index()
        key = self._key(path)
        member = members.get(key)
        if member is not None:
            return bool(member.isdir())
        return not key or key in children

    def isfile(self, path: str) -> bool:
        """Tell whether ``path`` is a regular file member."""
        members, _ = self._index()
        member = members.get(self._key(path))
        return member is not None and bool(member.isfile())

    def listdir(self, path: str) -> list[str]:
        """Return the names in directory ``path``, in the layer's order."""
        _, children = self._index()
        if not self.isdir(path):
            self.getinfo(path)  # ResourceNotFound for nothing there
            raise fs.errors.DirectoryExpected(path)
        return list(children.get(self._key(path), ()))

    def scandir(
        self,
        path: str,
        namespaces: typing.Collection[str] | None = None,
        page: tuple[int, int] | None = None,
    ) -> typing.Iterator[Info]:
        """Describe each entry of directory ``path``, in the layer's order.

        Errors about ``path`` itself are raised by the call, as the layer's
        ``scandir`` raises them; the entries are described as they are read.
        """
        names = self.listdir(path)
        if page is not None:
            names = names[page[0] : page[1]]
        key = self._key(path)
        return self._scan(f"/{key}/" if key else "/", names, namespaces or ())

    def _scan(
        self, prefix: str, names: list[str], namespaces: typing.Collection[str]
    ) -> typing.Iterator[Info]:
        """Describe the entries ``names`` of the directory at ``prefix`` (ending in ``/``)."""
        members, _ = self._index()
        for name in names:
            child = prefix + name
            yield self._info(child, child[1:], members.get(child[1:]), namespaces)

    def openbin(
        self, path: str, mode: str = "r", buffering: int = -1, **options: typing.Any
    ) -> typing.BinaryIO:
        """Open a file of the layer (reading only)."""
        return self.layer.openbin(path, mode, buffering, **options)

    def readbytes(self, path: str) -> bytes:
        """Read a whole file of the layer."""
        return self.layer.readbytes(path)

    def getmeta(self, namespace: str = "standard") -> typing.Mapping[str, object]:
        """Return the layer's meta."""
        return self.layer.getmeta(namespace)

    def isclosed(self) -> bool:
        """Tell whether the layer (or this view) is closed."""
        return self._closed or self.layer.isclosed()


def is_canonical(path: str) -> bool:
    """Tell whether ``path`` is absolute and normal (``abspath(normpath(path)) == path``).

    Substring tests only: names that merely start with a dot (the overlay's
    ``.wh.`` markers) are normal, only ``.`` and ``..`` components are not.
    """
    if path == "/":
        return True
    if path[:1] != "/" or path[-1:] == "/" or "//" in path:
        return False
    return not ("/./" in path or "/../" in path or path.endswith(("/.", "/..")))


def children_of(members: typing.Iterable[str]) -> _Children:
    """Return each directory's child names, in the order ``ReadTarFS.listdir`` gives them.

    Keys are member-table paths (``""`` for the root). A directory's children
    come in the order of the first member at or below each, as the layer's
    scan finds them. One pass, each name split once: directories the archive
    only implies are added as their first member below them is met.
    """
    children: _Children = {"": {}}
    for name in members:
        parent, _, base = name.rpartition("/")
        # A new ``parent`` is added to its own parent, and so on up to a known
        # one (the root always is).
        while (siblings := children.get(parent)) is None:
            children[parent] = {base: None}
            parent, _, base = parent.rpartition("/")
        siblings.setdefault(base, None)
    return children


def indexed(layer: FS) -> FS:
    """Return the view the lookup reads ``layer`` through: a :class:`TarIndex` for a tar."""
    if isinstance(layer, ReadTarFS) and type(layer) is ReadTarFS:
        return TarIndex(layer)
    return layer


__all__ = ["TarIndex", "children_of", "indexed", "is_canonical"]
