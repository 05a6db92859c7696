"""OS layers reached past ``PATH_MAX``: short aliases for long OS paths.

Linux refuses a path argument of ``PATH_MAX`` (4,096) bytes or more with
``ENAMETOOLONG``, but only per system call: a process that ``chdir``s down
makes directories at any depth, and the kernel overlay follows it. The FUSE
mount hands this library whole paths from its root, so an entry 4,000 bytes
below the mount point lies more than 4,096 bytes below ``/`` in its upper
directory, and every ``os`` call on it failed (``OSFS``'s own calls too:
PyFilesystem2 refuses such paths before trying).

:class:`LongPathOSFS` (and ``LongPathUpperDirFS`` of
:mod:`unionfs_lib.layers.kernel_mount`, the upper of the kernel layout) give such a
path a short equivalent wherever an OS path is made, in ``getsyspath`` and
``_to_sys_path``: everything that reaches the layer's files through OS paths
(the layer's own methods, and this library's ``os`` calls) then works at any
depth without knowing about it. :func:`short_path` is that one place;
:func:`real_path` is ``os.path.realpath`` for such paths (confinement asks
where a link leads through it).

The alias of a long path is a symbolic link, in a private directory of this
process (``mkdtemp``: mode 0700), to the directory path the long path runs
through, followed by the rest of the path: ``/tmp/unionfs-paths-x/3f0c.../a/b``
stands for ``/upper/a/.../a/b``. A link is resolved by name at every use, exactly
as the long path itself would be (a directory renamed or replaced since is
seen as it is now, never as it was), and it is never the last component of an
alias, so ``lstat``, ``O_NOFOLLOW`` and removal act on the entry itself. A
link whose target would exceed what a link holds points through the alias of
a shorter directory path, so one alias resolves through a few nested links:
at most 40 are followed per call (the kernel's limit), which bounds the
reach to about 120 KB of OS path; deeper, the call fails with ``ELOOP`` where
the kernel overlay would still go on.

Aliases are cut at fixed steps of the path, so one link serves every path
below the same stretch of directories; a link is made only for a directory
that exists (a path below one that does not is given a name that is never
made, so asking about random deep paths makes no links); links are made
once, kept in memory (a bounded table; a forgotten one is read back from its
link) and removed with the directory when the process exits. Paths of up to
:data:`SHORT_ENOUGH` bytes, which is every path short of a very deep tree,
are used as they are, at the cost of a length test.
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import os
import posixpath
import shutil
import stat
import tempfile
import threading
import typing

from fs.osfs import OSFS

#: OS paths up to this many bytes are used as they are: room is left for
#: the names code appends to an OS path it was given.
SHORT_ENOUGH = 3072
#: An alias keeps the path's tail after the last multiple of this many bytes.
TAIL_STEP = 1024
#: A link names a directory path directly up to this many bytes ...
LINK_LIMIT = 3584
#: ... and beyond, through the alias of its prefix cut at a multiple of this.
LINK_STEP = 3072
#: Aliases remembered in memory; a forgotten one is read back from its link.
REMEMBERED = 65_536
#: What a path below a directory that does not exist is given: a name that is
#: never made in the private directory (so every call on it fails, ``ENOENT``).
MISSING = b"/missing"


class PathAliases:
    """The symbolic links that stand for long directory paths, in a private directory.

    Arguments:
        parent: where the private directory is made (the system's temporary
            directory by default).

    """

    def __init__(self, parent: str | None = None) -> None:
        """Prepare; the directory is made when the first alias is needed."""
        self._parent = parent
        self._directory: bytes | None = None
        self._owner = 0
        self._known: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    def short(self, path: bytes) -> bytes:
        """Return ``path`` or, when it is too long for the kernel, an alias of it."""
        if len(path) <= SHORT_ENOUGH:
            return path
        body = path.rstrip(b"/")
        cut = _cut(body, ((len(body) - 1) // TAIL_STEP) * TAIL_STEP)
        if cut <= 0:
            return path  # no directory to stand for: let the kernel answer
        return self._alias(body[:cut]) + path[cut:]

    def _alias(self, directory: bytes) -> bytes:
        """Return the alias of ``directory`` (an absolute path), making its link if needed."""
        found = self._known.get(directory)
        if found is not None and self._owner == os.getpid():
            return found
        target = directory
        if len(directory) > LINK_LIMIT:
            cut = _cut(directory, ((len(directory) - 1) // LINK_STEP) * LINK_STEP)
            if cut <= 0:
                raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG))
            target = self._alias(directory[:cut]) + directory[cut:]
        if not _is_dir(target):
            return self._private() + MISSING  # no link for what is not there
        link = self._link(target, hashlib.sha256(directory).hexdigest()[:32].encode())
        if len(self._known) >= REMEMBERED:
            self._known.clear()
        self._known[directory] = link
        return link

    def _link(self, target: bytes, name: bytes) -> bytes:
        """Return the link ``name`` of the private directory, pointing at ``target``."""
        link = self._private() + b"/" + name
        try:
            os.symlink(target, link)
        except FileExistsError as error:
            if os.readlink(link) != target:
                raise OSError(errno.EEXIST, "a path alias stands for another path", link) from error
        return link

    def _private(self) -> bytes:
        """Return the private directory, made on first use (again in a forked child)."""
        with self._lock:
            if self._directory is None or self._owner != os.getpid():
                made = tempfile.mkdtemp(prefix="unionfs-paths-", dir=self._parent)
                self._directory = os.fsencode(made)
                self._owner = os.getpid()
                self._known.clear()
                atexit.register(_remove, made, self._owner)
            return self._directory


def _is_dir(path: bytes) -> bool:
    """Tell whether ``path`` is a directory now (following links, as a path would)."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def _cut(path: bytes, at_most: int) -> int:
    """Return the offset of the last ``/`` at or before ``at_most`` (``-1``: none)."""
    return path.rfind(b"/", 0, at_most + 1)


def _remove(directory: str, owner: int) -> None:
    """Remove a private directory of aliases, from the process that made it."""
    if os.getpid() == owner:
        shutil.rmtree(directory, ignore_errors=True)  # links only: none is followed


#: The aliases of this process, shared by every layer.
ALIASES = PathAliases()


def short_path(path: str) -> str:
    """Return OS path ``path``, or a short alias of it past :data:`SHORT_ENOUGH` bytes."""
    if len(path) * 4 <= SHORT_ENOUGH:  # at most four bytes per character
        return path
    return os.fsdecode(ALIASES.short(os.fsencode(path)))


def real_path(path: str) -> str:
    """Return ``os.path.realpath(path)``, resolved at any length.

    ``os.path.realpath`` resolves a path name by name with ``lstat``; once
    the resolved part passes ``PATH_MAX`` every ``lstat`` fails, and it takes
    the remaining names for plain ones, links included: a link that leads
    outside a layer would pass for one inside. Here each ``lstat`` and
    ``readlink`` goes through :func:`short_path`, so every name is seen for
    what it is; an alias met on the way resolves to the path it stands for.
    Otherwise this is ``os.path.realpath`` (not strict): a name that does not
    exist ends the resolution of links, and a loop is left as it is.
    """
    resolved, _ = _join_real("", os.fspath(path), {})
    return posixpath.abspath(resolved)


def _join_real(path: str, rest: str, seen: dict[str, str | None]) -> tuple[str, bool]:
    """Join ``rest`` to resolved ``path``, resolving links (CPython's ``_joinrealpath``)."""
    if rest.startswith("/"):
        rest, path = rest[1:], "/"
    while rest:
        name, _, rest = rest.partition("/")
        if not name or name == ".":
            continue
        if name == "..":
            if path:
                path, name = posixpath.split(path)
                if name == "..":
                    path = posixpath.join(path, "..", "..")
            else:
                path = ".."
            continue
        newpath = posixpath.join(path, name)
        try:
            is_link = stat.S_ISLNK(os.lstat(short_path(newpath)).st_mode)
        except OSError:
            is_link = False
        if not is_link:
            path = newpath
            continue
        if newpath in seen:
            found = seen[newpath]
            if found is not None:
                path = found
                continue
            return posixpath.join(newpath, rest), False  # a loop
        seen[newpath] = None
        path, ok = _join_real(path, os.readlink(short_path(newpath)), seen)
        if not ok:
            return posixpath.join(path, rest), False
        seen[newpath] = path
    return path, True


class LongPathOSFS(OSFS):
    """An ``OSFS`` whose OS paths may be longer than the kernel takes in one call.

    Paths past :data:`SHORT_ENOUGH` bytes are reached through aliases (see
    the module docstring); everything else is ``OSFS`` as it is. The mount
    opens its directories with this class (``OverlayFS.from_dirs``).
    """

    def getsyspath(self, path: str) -> str:
        """Return the OS path of ``path`` (an alias past ``PATH_MAX``)."""
        return short_path(super().getsyspath(path))

    def _to_sys_path(self, path: str) -> bytes:
        """Return the encoded OS path of ``path`` (an alias past ``PATH_MAX``)."""
        found: bytes = super()._to_sys_path(path)
        return found if len(found) <= SHORT_ENOUGH else ALIASES.short(found)



__all__: typing.List[str] = [
    "ALIASES",
    "LongPathOSFS",
    "PathAliases",
    "SHORT_ENOUGH",
    "real_path",
    "short_path",
]
