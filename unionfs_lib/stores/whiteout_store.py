"""The whiteout store protocol: how a layer records what the overlay changed.

A whiteout store is one of the overlay's three strategy seams (with the
copy-up engine and the directory iterator, see :mod:`unionfs_lib.ops.strategies`).
It is the only code that knows how deletions, opaque directories, redirects
and identity records look inside a layer; the rest of the overlay speaks in
:class:`~unionfs_lib.model.records.ScanItem` and :class:`~unionfs_lib.model.records.DirListing`.
Two stores ship: :class:`~unionfs_lib.whiteout.MarkerWhiteouts` (OCI marker
files, any FS) and :class:`~unionfs_lib.kernel_format.KernelWhiteouts` (the
Linux overlayfs on-disk format).

Contract
--------
Reading (every layer, upper and lowers):

* :meth:`WhiteoutStore.scan_dir` yields the items of one directory one by one
  (entries, whiteouts, the opaque and redirect flags, records, internal
  names); :meth:`~WhiteoutStore.read_dir` folds the same items into a
  :class:`~unionfs_lib.model.records.DirListing`. Both must agree.
* :meth:`~WhiteoutStore.dir_flags` answers ``(opaque, redirect)`` of one
  directory and :meth:`~WhiteoutStore.read_name` what one name is, without
  listing the directory (directories can be huge);
  :meth:`~WhiteoutStore.read_records` reads the records of a few names.

Writing (the upper only; lower layers are never written):

* :meth:`~WhiteoutStore.vacate` counts how many times a name was vacated
  (an entry left it with its number); reading gives the counts in
  ``DirListing.vacated``. A store without the two vacancy methods still
  works, without that guarantee of unique inode numbers;
* each write method changes exactly one marker, and a marker that makes no
  visible difference yet may be written before the entry it concerns: the
  directory operations order their steps on that basis so that a crash
  leaves every entry old or new;
* a store whose whiteout *is* an entry at the hidden name
  (:attr:`~WhiteoutStore.whiteout_takes_name`) must implement
  :meth:`~WhiteoutStore.rename_over` as one atomic step; other stores raise
  ``fs.errors.Unsupported`` there and are never asked.

Capabilities are plain attributes, read by the core instead of probing:
:attr:`~WhiteoutStore.whiteout_takes_name`, :attr:`~WhiteoutStore.redirect_dir`
(renamed merged directories keep their lower content by redirect; without it
they are copied up) and :attr:`~WhiteoutStore.keeps_records` (identity records
and metadata-only copy-up are stored).

Threads: the overlay calls a store under its own lock, so a store need not be
thread-safe, but it must hold no per-call state between calls (stores are
shared by a nested overlay and its parent, and should be frozen attrs
classes so that :func:`~unionfs_lib.checkpoint.describe` can record them).
"""

from __future__ import annotations

import typing

from fs.base import FS

from ..model.records import DirListing, ScanItem


@typing.runtime_checkable
class WhiteoutStore(typing.Protocol):
    """The interface every whiteout store implements (see the module docstring)."""

    @property
    def whiteout_takes_name(self) -> bool:
        """Whether a whiteout is an entry at the hidden name itself (kernel format).

        Such a whiteout is replaced by, and replaces, a real entry through
        :meth:`rename_over`; marker stores write whiteouts beside entries.
        """

    @property
    def redirect_dir(self) -> bool:
        """Whether renamed merged directories are recorded by redirect (else copied up)."""

    @property
    def keeps_records(self) -> bool:
        """Whether identity records (and so metadata-only copy-up) are stored."""

    def is_reserved(self, name: str) -> bool:
        """Tell whether ``name`` belongs to the store and may not be created."""

    def scan_dir(self, layer: FS, path: str, with_info: bool) -> typing.Iterator[ScanItem]:
        """Yield the items of directory ``path`` one by one, without a full listing."""

    def read_dir(self, layer: FS, path: str, with_info: bool) -> DirListing:
        """Read directory ``path`` of ``layer`` into a :class:`DirListing`."""

    def read_name(
        self, layer: FS, path: str, name: str, with_info: bool = False
    ) -> DirListing:
        """Read what directory ``path`` holds about ``name`` alone, without listing it.

        A :class:`DirListing` that mentions no other name: the entry (with its
        ``Info`` when ``with_info``), its whiteout, its identity record. A
        reserved name is never an entry. The overlay updates its caches name
        by name with this, so it must cost the same in any directory.
        """

    def read_records(self, layer: FS, path: str, names: list[str]) -> dict[str, bytes]:
        """Read the identity records of ``names`` in directory ``path``."""

    def dir_flags(self, layer: FS, path: str) -> tuple[bool, str | None]:
        """Return ``(opaque, redirect)`` of one directory without listing it."""

    def has_whiteout(self, upper: FS, path: str) -> bool:
        """Tell whether the upper holds a whiteout for ``path``."""

    def add_whiteout(self, upper: FS, path: str) -> None:
        """Hide ``path`` of the lower layers by a whiteout in the upper."""

    def remove_whiteout(self, upper: FS, path: str) -> None:
        """Drop the whiteout at ``path`` in the upper, if there is one."""

    def set_opaque(self, upper: FS, path: str) -> None:
        """Mark upper directory ``path`` opaque."""

    def set_redirect(self, upper: FS, path: str, target: str) -> None:
        """Record that upper directory ``path`` shows lower directory ``target``."""

    def set_record(self, upper: FS, path: str, record: bytes | None) -> None:
        """Store (or with ``None`` drop) the identity record of upper entry ``path``."""

    def read_vacancies(self, layer: FS, path: str, names: list[str]) -> dict[str, int]:
        """Return how many times each of the vacated ``names`` of directory ``path`` was vacated.

        Listings carry the same counts (``DirListing.vacated``, and
        ``read_name`` for one name). Names never vacated are left out.
        """

    def vacate(self, upper: FS, path: str) -> None:
        """Count one more vacancy of ``path``.

        That is its generation, see :mod:`unionfs_lib.resolve.inode_numbers`.
        The count is kept in the upper beside or above the name, never shown
        as an entry, never dropped by the other write methods (``set_record``,
        whiteouts, ``rename_over``), and it only grows.
        """

    def clear_dir(self, upper: FS, path: str) -> None:
        """Remove every marker inside upper directory ``path``."""

    def rename_over(self, upper: FS, src: str, dst: str, leave_whiteout: bool) -> None:
        """Rename upper ``src`` over ``dst`` (free, a file or a whiteout) in one step.

        With ``leave_whiteout`` a whiteout stays at ``src``. Only called when
        :attr:`whiteout_takes_name` is true; other stores raise
        ``fs.errors.Unsupported``.
        """

    def work_dir(self) -> str | None:
        """Path of a hidden work area inside the upper, or ``None`` if there is none."""
