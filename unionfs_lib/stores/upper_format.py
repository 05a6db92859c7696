"""Which whiteout format an upper directory holds, read from the directory itself.

An ``upperdir://U?workdir=W`` URL written by hand (or an ``UpperDirFS`` given
to ``OverlayFS`` without a ``whiteouts=`` store) names a kernel-layout upper,
which may hold either on-disk format: the Linux overlayfs one (character
device 0/0 whiteouts, ``trusted.overlay.*`` or ``user.overlay.*`` attributes,
:class:`~unionfs_lib.kernel_format.KernelWhiteouts`) or this library's
markers (``.wh.*`` files, :class:`~unionfs_lib.whiteout.MarkerWhiteouts`).
Read with the wrong store, deletions show as files, renamed directories as
changes, and a commit fails on a device node. :func:`scan_upper` looks for
the evidence (without following a link, without writing; it stops at the
first overlay attribute, else reads every directory) and
:func:`default_whiteouts` picks the store it proves, or refuses an upper that
holds both formats, or both attribute namespaces.
"""

from __future__ import annotations

import os
import stat
import typing

import attrs
import fs.errors
from fs.base import FS

from ..errors import literal
from ..host.workdir import UpperDirFS
from .kernel_whiteouts import TRUSTED_PREFIX, USER_PREFIX, KernelWhiteouts, is_whiteout
from .marker_whiteouts import WHITEOUT_PREFIX, MarkerWhiteouts

WhiteoutStore = typing.Union[KernelWhiteouts, MarkerWhiteouts]


@attrs.frozen
class UpperFormat:
    """The format evidence found in an upper directory.

    Attributes:
        kernel_whiteouts: a character device 0/0 was found.
        markers: a ``.wh.*`` marker (file or directory) was found.
        prefixes: the overlay attribute prefixes found on directories
            (``trusted.overlay.``, ``user.overlay.``).

    """

    kernel_whiteouts: bool = False
    markers: bool = False
    prefixes: frozenset[str] = frozenset()

    @property
    def kernel(self) -> bool:
        """Whether anything of the Linux overlayfs format was found."""
        return self.kernel_whiteouts or bool(self.prefixes)

    @property
    def settled(self) -> bool:
        """Whether scanning on would not change the decision.

        An overlay attribute proves the kernel format and its namespace (a
        ``.wh.*`` name found later is then an ordinary file, as the kernel
        reads it); kernel evidence beside markers is a conflict.
        """
        return bool(self.prefixes) or (self.kernel_whiteouts and self.markers)


def scan_upper(root: str) -> UpperFormat:
    """Look through the directory ``root`` for format evidence; stop once it is settled.

    Never follows a symbolic link, writes nothing; unreadable directories
    are skipped. Only directories are asked for attributes.
    """
    found = UpperFormat(prefixes=_overlay_prefixes(root))
    pending = [root]
    while pending and not found.settled:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            found = _note(found, entry, pending)
    return found


def _note(found: UpperFormat, entry: os.DirEntry[str], pending: list[str]) -> UpperFormat:
    """Add what one directory entry proves to ``found``."""
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return found
    if entry.name.startswith(WHITEOUT_PREFIX):
        found = attrs.evolve(found, markers=True)
    if stat.S_ISDIR(st.st_mode):
        pending.append(entry.path)
        prefixes = _overlay_prefixes(entry.path)
        if not prefixes <= found.prefixes:
            found = attrs.evolve(found, prefixes=found.prefixes | prefixes)
    elif is_whiteout(st):
        found = attrs.evolve(found, kernel_whiteouts=True)
    return found


def _overlay_prefixes(path: str) -> frozenset[str]:
    """Return the overlay attribute prefixes on ``path`` (not following a link)."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return frozenset()
    return frozenset(
        prefix
        for prefix in (TRUSTED_PREFIX, USER_PREFIX)
        if any(name.startswith(prefix) for name in names)
    )


def store_for(found: UpperFormat, where: str) -> WhiteoutStore:
    """Return the whiteout store the evidence proves (the kernel format when there is none).

    Raises:
        fs.errors.CreateFailed: the upper holds both formats, or both
            attribute namespaces: no store reads it right.

    """
    if found.kernel and found.markers:
        message = (
            f"the upper {where} holds both kernel-format whiteouts/attributes and .wh.* "
            "markers; name its store with whiteouts= (describe() writes it)"
        )
        raise fs.errors.CreateFailed(msg=literal(message))
    if len(found.prefixes) > 1:
        message = (
            f"the upper {where} holds both trusted.overlay.* and user.overlay.* attributes; "
            "name its store with whiteouts= (KernelWhiteouts(userxattr=...))"
        )
        raise fs.errors.CreateFailed(msg=literal(message))
    if found.markers:
        return MarkerWhiteouts()
    return KernelWhiteouts(userxattr=USER_PREFIX in found.prefixes)


def default_whiteouts(upper: FS | None) -> WhiteoutStore:
    """Return the whiteout store for ``upper`` when none was given.

    :class:`~unionfs_lib.whiteout.MarkerWhiteouts` for every upper but a
    kernel-layout one (:class:`~unionfs_lib.host.workdir.UpperDirFS`, the upper
    of ``upperdir://`` URLs), whose format is read from the directory
    (:func:`scan_upper`): kernel format unless it holds markers, with
    ``userxattr`` if it holds ``user.overlay.*`` attributes.
    """
    if not isinstance(upper, UpperDirFS):
        return MarkerWhiteouts()
    root = upper.getsyspath("/")
    return store_for(scan_upper(root), repr(root))


__all__ = ["UpperFormat", "default_whiteouts", "scan_upper", "store_for"]
