"""The Linux overlayfs on-disk format, and overlays opened like ``mount -t overlay``.

:class:`KernelWhiteouts` is a whiteout store that reads and writes what the
kernel's overlayfs reads and writes, so an upper directory can move between
this library and a kernel mount in both directions:

* a whiteout is a character device with device number 0/0 at the hidden name
  (the kernel's ``whiteout``); it *is* the directory entry, so unlike
  :class:`~unionfs_lib.whiteout.MarkerWhiteouts` no real entry can stand
  beside it;
* an opaque directory carries the extended attribute ``trusted.overlay.opaque``
  = ``y``; in a lower layer, ``x`` instead marks a directory that holds
  "xwhiteouts" (empty regular files carrying ``trusted.overlay.whiteout``),
  which are honoured too;
* a renamed merged directory carries ``trusted.overlay.redirect``: the path
  the lower layers show its content at. This store writes absolute paths, as
  the kernel does with ``redirect_dir=on`` for renames across directories;
  the kernel's relative redirects (a bare name, for renames within one
  directory) are read as well;
* with ``userxattr=True`` the attributes are ``user.overlay.*`` instead, as
  overlayfs's ``userxattr`` mount option (for unprivileged mounts) expects.

How many times each name of a directory was vacated (its generation, see
:mod:`unionfs_lib.resolve.inode_numbers`) is kept in one private attribute of the
directory, ``trusted.unionfs.vacated`` (``user.unionfs.vacated`` with
``userxattr``), a JSON object of counts by name that the kernel ignores.

Other ``trusted.overlay.*`` attributes the kernel leaves behind (``origin``,
``impure``, ``uuid`` ...) are ignored. The format lives in device nodes and
extended attributes, so it needs layers with OS paths (``OSFS``) on a
filesystem that holds them; :meth:`KernelWhiteouts.probe` checks that once,
in the work directory, as the kernel does at mount time, and every failure is
a :class:`~unionfs_lib.errors.KernelFormatUnsupported` that says what is
missing.

:func:`from_dirs` (``OverlayFS.from_dirs``) opens directories exactly as
``mount -t overlay -o lowerdir=...,upperdir=...,workdir=...`` would.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import stat
import tempfile
import typing

import attrs
import fs.error_tools
import fs.errors
from fs.base import FS
from fs.info import Info
from fs.osfs import OSFS

from ..errors import KernelFormatUnsupported
from ..host import syscalls
from ..host.layer_io import syspaths
from ..host.syscalls import RENAME_EXCHANGE, RENAME_WHITEOUT, renameat2
from ..model.paths import join_path
from ..model.records import ENTRY, OPAQUE, REDIRECT, VACATED, WHITEOUT, DirListing, ScanItem
from ..model.validators import flag
from .marker_whiteouts import (
    UNREADABLE_GENERATION,
    is_canonical_redirect,
    listing_from_scan,
    name_infos,
)

log = logging.getLogger(__name__)

#: The device number of a kernel whiteout.
WHITEOUT_DEV = os.makedev(0, 0)
TRUSTED_PREFIX = "trusted.overlay."
USER_PREFIX = "user.overlay."
#: The private attribute (after ``trusted.`` or ``user.``) holding a directory's generations.
VACANCY_XATTR = "unionfs.vacated"

_NO_XATTR = {errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP}
#: errno values of a directory that is not there (or is refused): no generations.
_NO_DIRECTORY = {errno.ENOENT, errno.ENOTDIR, errno.EPERM}
_REFUSED = {errno.EPERM, errno.EACCES, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EROFS}


def is_whiteout(st: os.stat_result) -> bool:
    """Tell whether an ``lstat`` result is a kernel whiteout (char device 0/0)."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == WHITEOUT_DEV


def _escape(text: str) -> str:
    """Protect braces from ``fs.errors`` message formatting."""
    return text.replace("{", "{{").replace("}", "}}")


def _unsupported(where: str, what: str) -> KernelFormatUnsupported:
    """Build the error for a format feature ``what`` refused at ``where``."""
    return KernelFormatUnsupported(path=where, msg=_escape(f"{what} (at {where!r})"))


@attrs.frozen
class KernelWhiteouts:
    """The whiteout store that writes the Linux overlayfs on-disk format.

    Arguments:
        userxattr: use ``user.overlay.*`` attributes instead of
            ``trusted.overlay.*`` (overlayfs ``userxattr``; needed when not
            root, because ``trusted.*`` attributes need ``CAP_SYS_ADMIN``).
        redirect_dir: write and follow redirects for renamed merged
            directories (overlayfs ``redirect_dir=on``). Off by default with
            ``userxattr``, as the kernel forces ``redirect_dir=nofollow`` there:
            redirects are then neither written nor followed, and renaming a
            merged directory copies its content up (what ``mv`` does when the
            kernel answers ``EXDEV``).

    Every layer must have OS paths; see the module docstring for the format.
    """

    userxattr: bool = attrs.field(default=False, validator=flag)
    redirect_dir: bool = attrs.field(
        default=attrs.Factory(lambda self: not self.userxattr, takes_self=True), validator=flag
    )

    #: The whiteout occupies the hidden name itself: entries replace it, and it
    #: replaces entries, by one rename (:meth:`rename_over`), never side by side.
    whiteout_takes_name: typing.ClassVar[bool] = True
    #: Identity records (``set_record``) are not kept: the kernel format has
    #: no place for them that the kernel would maintain.
    keeps_records: typing.ClassVar[bool] = False

    @property
    def prefix(self) -> str:
        """The extended attribute prefix in use (``trusted.overlay.`` or ``user.overlay.``)."""
        return USER_PREFIX if self.userxattr else TRUSTED_PREFIX

    # -- reading -------------------------------------------------------------

    def is_reserved(self, name: str) -> bool:
        """No name is reserved: the kernel format keeps its markers out of the namespace."""
        return False

    def scan_dir(self, layer: FS, path: str, with_info: bool) -> typing.Iterator[ScanItem]:
        """Yield the directory's flags, then each name as an entry or a whiteout.

        The flags are an ``opaque`` item and a ``redirect`` item whose
        ``name`` is the redirect target.
        """
        sys_path = self._sys_path(layer, path)
        opaque_flag = self._get(sys_path, "opaque")
        if opaque_flag == b"y":
            yield ScanItem(OPAQUE, "")
        redirect = self._redirect(sys_path) if self.redirect_dir else None
        if redirect is not None:
            yield ScanItem(REDIRECT, redirect)
        if not with_info:  # generations matter in the upper only
            for name in sorted(self._generations(sys_path)):
                yield ScanItem(VACATED, name)
        with fs.error_tools.convert_os_errors("scandir", path, directory=True):
            with os.scandir(sys_path) as scan:
                for entry in scan:
                    kind = self._classify(entry, opaque_flag == b"x")
                    if kind == "whiteout":
                        yield ScanItem(WHITEOUT, entry.name)
                    else:
                        is_dir = kind == "dir"
                        info = _entry_info(entry, is_dir) if with_info else None
                        yield ScanItem(ENTRY, entry.name, is_dir, info)

    def read_dir(self, layer: FS, path: str, with_info: bool) -> DirListing:
        """Read one directory; 0/0 character devices are whiteouts, not entries."""
        listing, redirect, _ = listing_from_scan(self.scan_dir(layer, path, with_info), with_info)
        if redirect is not None:
            listing = attrs.evolve(listing, redirect=redirect)
        if not listing.vacated:
            return listing
        generations = self.read_vacancies(layer, path, list(listing.vacated))
        return attrs.evolve(listing, vacated=generations)

    def read_vacancies(self, layer: FS, path: str, names: list[str]) -> dict[str, int]:
        """Read the generations of the vacated ``names`` of a directory."""
        generations = self._generations(self._sys_path(layer, path))
        return {name: generations[name] for name in names if name in generations}

    def vacate(self, upper: FS, path: str) -> None:
        """Count one more vacancy of ``path`` in its parent's private attribute.

        The attribute is replaced in one ``setxattr``. A filesystem that
        refuses it (no room for a longer value) leaves the count as it was,
        with a warning.
        """
        parent, _, name = path.rpartition("/")
        sys_path = self._sys_path(upper, parent or "/")
        generations = self._generations(sys_path)
        generations[name] = generations.get(name, 0) + 1
        raw = json.dumps(generations, sort_keys=True, separators=(",", ":")).encode("utf-8")
        try:
            os.setxattr(sys_path, self._vacancy_xattr, raw, follow_symlinks=False)
        except OSError as error:
            if error.errno not in (errno.E2BIG, errno.ENOSPC, *_REFUSED):
                raise
            log.warning("cannot count a vacancy of %s (%s)", path, error.strerror)

    @property
    def _vacancy_xattr(self) -> str:
        """The private attribute holding a directory's generations."""
        return ("user." if self.userxattr else "trusted.") + VACANCY_XATTR

    def _generations(self, sys_path: str) -> dict[str, int]:
        """Return the generations kept on directory ``sys_path`` (``{}`` if none)."""
        try:
            raw = os.getxattr(sys_path, self._vacancy_xattr, follow_symlinks=False)
        except OSError as error:
            if error.errno in _NO_XATTR or error.errno in _NO_DIRECTORY:
                return {}
            raise
        try:
            found = json.loads(raw.decode("utf-8"))
            if not isinstance(found, dict):
                raise ValueError("not an object")
            return {
                str(name): count if isinstance(count, int) and count >= 0
                else UNREADABLE_GENERATION
                for name, count in found.items()
            }
        except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
            log.warning("ignoring malformed generations on %r: %s", sys_path, error)
            return {}

    def read_records(self, layer: FS, path: str, names: list[str]) -> dict[str, bytes]:
        """No records are kept in the kernel format (see :attr:`keeps_records`)."""
        return {}

    def dir_flags(self, layer: FS, path: str) -> tuple[bool, str | None]:
        """Read the opaque and redirect attributes of one directory, without listing it."""
        sys_path = self._sys_path(layer, path)
        opaque = self._get(sys_path, "opaque") == b"y"
        return opaque, self._redirect(sys_path) if self.redirect_dir else None

    def read_name(
        self, layer: FS, path: str, name: str, with_info: bool = False
    ) -> DirListing:
        """Read what directory ``path`` holds about ``name`` alone, without listing it.

        One ``lstat`` of the name (and, for an empty regular file, the
        parent's and the file's attributes for xwhiteouts): the result is a
        :class:`~unionfs_lib.model.records.DirListing` that mentions no other name,
        with the entry's ``Info`` when ``with_info``.
        """
        target = join_path(path, name)
        sys_path = self._sys_path(layer, target)
        try:
            st = os.lstat(sys_path)
        except (FileNotFoundError, NotADirectoryError):
            vacated = {} if with_info else self.read_vacancies(layer, path, [name])
            return DirListing(entries={}, vacated=vacated)
        if stat.S_ISLNK(st.st_mode):
            kind = "file"  # as a listing classifies it (see _classify): never followed
        elif stat.S_ISDIR(st.st_mode):
            kind = "dir"
        elif stat.S_ISREG(st.st_mode):
            kind = "file"
            if st.st_size == 0 and self._get(sys_path, "whiteout") is not None:
                parent_flag = self._get(self._sys_path(layer, path), "opaque")
                kind = "whiteout" if parent_flag == b"x" else "file"
        else:
            kind = "whiteout" if is_whiteout(st) else "file"
        vacated = {} if with_info else self.read_vacancies(layer, path, [name])
        if kind == "whiteout":
            return DirListing(entries={}, whiteouts=frozenset((name,)), vacated=vacated)
        infos = name_infos(layer, target, name) if with_info else None
        return DirListing(entries={name: kind == "dir"}, infos=infos, vacated=vacated)

    def _classify(self, entry: os.DirEntry[str], xwhiteouts: bool) -> str:
        """Return ``dir``, ``file`` or ``whiteout`` for one directory entry.

        A symbolic link is a ``file`` whatever it points to: as in Linux
        overlayfs, a link is an entry of its own, never merged or followed
        (and one that cannot be followed, dangling or looping, does no harm).
        """
        if entry.is_symlink():
            return "file"
        if entry.is_dir():
            return "dir"
        if entry.is_file(follow_symlinks=False):
            if xwhiteouts and entry.stat(follow_symlinks=False).st_size == 0:
                if self._get(entry.path, "whiteout") is not None:
                    return "whiteout"
            return "file"
        return "whiteout" if is_whiteout(entry.stat(follow_symlinks=False)) else "file"

    def _redirect(self, sys_path: str) -> str | None:
        """Read a redirect attribute; a malformed one is ignored."""
        raw = self._get(sys_path, "redirect")
        if not raw:
            return None
        target = os.fsdecode(raw)
        if target.startswith("/"):
            valid = is_canonical_redirect(target)
        else:  # the kernel's relative form: one name in the same parent
            valid = "/" not in target and "\0" not in target and target not in (".", "..")
        if not valid:
            log.warning("ignoring malformed redirect on %s: %r", sys_path, target[:200])
            return None
        return target

    def _get(self, sys_path: str, key: str) -> bytes | None:
        """Return the value of ``<prefix><key>`` on ``sys_path``, or ``None``."""
        try:
            return os.getxattr(sys_path, self.prefix + key, follow_symlinks=False)
        except OSError as error:
            if error.errno in _NO_XATTR or error.errno == errno.ENOENT:
                return None
            raise

    # -- writing -------------------------------------------------------------

    def add_whiteout(self, upper: FS, path: str) -> None:
        """Create the character device 0/0 at ``path`` (the name must be free)."""
        sys_path = self._sys_path(upper, path)
        try:
            os.mknod(sys_path, stat.S_IFCHR | 0o000, WHITEOUT_DEV)
        except FileExistsError:
            if not is_whiteout(os.lstat(sys_path)):
                raise fs.errors.DestinationExists(path) from None
        except OSError as error:
            if error.errno in _REFUSED:
                raise _unsupported(
                    sys_path,
                    "cannot create a whiteout (character device 0/0): the filesystem or "
                    f"the process's privileges refuse device nodes ({error.strerror})",
                ) from error
            raise

    def has_whiteout(self, upper: FS, path: str) -> bool:
        """Tell whether a whiteout stands at ``path`` in the upper."""
        try:
            return is_whiteout(os.lstat(self._sys_path(upper, path)))
        except FileNotFoundError:
            return False

    def remove_whiteout(self, upper: FS, path: str) -> None:
        """Delete the whiteout at ``path``; a real entry there is left alone."""
        sys_path = self._sys_path(upper, path)
        try:
            if is_whiteout(os.lstat(sys_path)):
                os.unlink(sys_path)
        except FileNotFoundError:
            pass

    def set_opaque(self, upper: FS, path: str) -> None:
        """Set ``<prefix>opaque`` = ``y`` on upper directory ``path``, and drop its whiteouts.

        Nothing beneath an opaque directory shows through it, so whiteouts in it
        hide nothing; and the kernel lists a directory that merges no lower
        one as it is on disk (it filters whiteouts only in merged directories,
        or ones carrying an ``origin`` it wrote), so they must not stay.
        """
        self._set(upper, path, "opaque", b"y")
        self.clear_dir(upper, path)

    def set_redirect(self, upper: FS, path: str, target: str) -> None:
        """Set ``<prefix>redirect`` to the absolute lower path ``target``."""
        if not self.redirect_dir:
            raise fs.errors.Unsupported(msg="redirects are off (redirect_dir=False)")
        self._set(upper, path, "redirect", os.fsencode(target))

    def clear_dir(self, upper: FS, path: str) -> None:
        """Remove the whiteouts inside upper directory ``path`` (before removing it)."""
        sys_path = self._sys_path(upper, path)
        with os.scandir(sys_path) as scan:
            for entry in scan:
                if not entry.is_dir() and not entry.is_file() and not entry.is_symlink():
                    if is_whiteout(entry.stat(follow_symlinks=False)):
                        os.unlink(entry.path)

    def rename_over(self, upper: FS, src: str, dst: str, leave_whiteout: bool) -> None:
        """Rename upper entry ``src`` to ``dst`` in one step, as overlayfs does.

        ``dst`` may be free, a file (replaced) or a whiteout. A directory goes
        over a whiteout by ``renameat2(RENAME_EXCHANGE)``, which leaves the
        whiteout at ``src`` (removed unless ``leave_whiteout``); otherwise
        ``leave_whiteout`` uses ``renameat2(RENAME_WHITEOUT)`` (or, where the
        filesystem lacks it and ``dst`` is a whiteout, swaps the two with
        ``RENAME_EXCHANGE``, as the kernel does). Where the system call or the
        filesystem lacks these, the same result takes two steps, and a crash
        between them shows the entry at both names.
        """
        source, target = self._sys_path(upper, src), self._sys_path(upper, dst)
        try:
            over_whiteout = is_whiteout(os.lstat(target))
        except FileNotFoundError:
            over_whiteout = False
        if over_whiteout and stat.S_ISDIR(os.lstat(source).st_mode):
            if not syscalls.renameat2_done(source, target, RENAME_EXCHANGE):
                os.unlink(target)
                os.rename(source, target)
                if leave_whiteout:
                    self.add_whiteout(upper, src)
            elif not leave_whiteout:
                os.unlink(source)
            return
        if leave_whiteout and syscalls.renameat2_done(source, target, RENAME_WHITEOUT):
            return
        if leave_whiteout and over_whiteout:  # the kernel's "switch whiteouts"
            if syscalls.renameat2_done(source, target, RENAME_EXCHANGE):
                return
        os.rename(source, target)
        if leave_whiteout:
            self.add_whiteout(upper, src)

    def work_dir(self) -> str | None:
        """There is no work area inside the upper: the kernel layout keeps it beside."""
        return None

    def set_record(self, upper: FS, path: str, record: bytes | None) -> None:
        """Identity records are not kept in the kernel format (see :attr:`keeps_records`)."""

    def move_record(self, upper: FS, src: str, dst: str) -> None:
        """Identity records are not kept in the kernel format (see :attr:`keeps_records`)."""

    def _set(self, upper: FS, path: str, key: str, value: bytes) -> None:
        """Set ``<prefix><key>`` on ``path`` or explain why it cannot be."""
        sys_path = self._sys_path(upper, path)
        try:
            os.setxattr(sys_path, self.prefix + key, value, follow_symlinks=False)
        except OSError as error:
            if error.errno == errno.ENOENT:
                raise fs.errors.ResourceNotFound(path) from error
            if error.errno in _REFUSED:
                raise _unsupported(sys_path, self._xattr_advice(error)) from error
            raise

    def _xattr_advice(self, error: OSError) -> str:
        """Explain why an extended attribute was refused."""
        if error.errno in (errno.EPERM, errno.EACCES) and not self.userxattr:
            return (
                f"cannot set {self.prefix}* extended attributes ({error.strerror}): "
                "trusted.* attributes need CAP_SYS_ADMIN; use userxattr=True "
                "(and mount with -o userxattr) when not root"
            )
        return (
            f"cannot set {self.prefix}* extended attributes ({error.strerror}): "
            "the filesystem does not hold them"
        )

    def _sys_path(self, layer: FS, path: str) -> str:
        """Return the OS path of ``path`` in ``layer`` or explain that there is none."""
        found = syspaths(layer, path)  # a LazyFS or wrapper over local files has them too
        if found is None:
            raise KernelFormatUnsupported(
                path=path,
                msg=_escape(
                    f"{layer!r} has no OS paths: the Linux overlayfs format lives in "
                    "device nodes and extended attributes, which only a local directory "
                    "(OSFS) can hold; use MarkerWhiteouts for this layer"
                ),
            )
        return found[0]

    # -- probing ---------------------------------------------------------------

    def probe(self, directory: str) -> None:
        """Check once that ``directory`` can hold whiteouts and overlay attributes.

        Creates and removes a scratch directory inside ``directory`` (the
        kernel probes its work directory the same way at mount time). Raises
        :class:`~unionfs_lib.errors.KernelFormatUnsupported` with the reason.
        """
        scratch = tempfile.mkdtemp(prefix="probe-", dir=directory)
        try:
            try:
                os.setxattr(scratch, self.prefix + "opaque", b"y")
            except OSError as error:
                raise _unsupported(directory, self._xattr_advice(error)) from error
            node = os.path.join(scratch, "whiteout")
            try:
                os.mknod(node, stat.S_IFCHR | 0o000, WHITEOUT_DEV)
            except OSError as error:
                raise _unsupported(
                    directory,
                    "cannot create whiteouts (character device 0/0): "
                    f"{error.strerror}; the filesystem or the privileges refuse device nodes",
                ) from error
        finally:
            with contextlib.suppress(OSError):
                for name in os.listdir(scratch):
                    os.unlink(os.path.join(scratch, name))
                os.rmdir(scratch)


def _entry_info(entry: os.DirEntry[str], is_dir: bool) -> Info:
    """Build the ``Info`` (basic and details) OSFS would give for ``entry``."""
    try:
        st = entry.stat()
    except OSError:
        st = entry.stat(follow_symlinks=False)
    return Info(
        {
            "basic": {"name": entry.name, "is_dir": is_dir},
            "details": OSFS._make_details_from_stat(st),
        }
    )


__all__ = [
    "KernelWhiteouts",
    "RENAME_EXCHANGE",
    "RENAME_WHITEOUT",
    "TRUSTED_PREFIX",
    "USER_PREFIX",
    "WHITEOUT_DEV",
    "is_whiteout",
    "renameat2",
]
