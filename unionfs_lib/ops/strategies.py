"""The overlay's three strategy seams, and what a strategy is given.

``OverlayFS`` is a composition of three swappable strategy objects, each
typed here (or, for the store, in :mod:`unionfs_lib.stores.whiteout_store`) as a
``typing.Protocol`` that states its contract:

* :class:`~unionfs_lib.stores.whiteout_store.WhiteoutStore`: how a layer records deletions,
  opaque directories, redirects and identity records (default
  :class:`~unionfs_lib.whiteout.MarkerWhiteouts`);
* :class:`CopyUpStrategy`: how a lower entry comes into the upper before it
  changes (default :class:`~unionfs_lib.copy_up.CopyUpEngine`);
* :class:`DirIteratorStrategy`: the order of a merged listing and the cookies
  that resume it (default :class:`~unionfs_lib.readdir.DirIterator`).

Strategies receive an :class:`OverlayContext`: the overlay's layers, the
other strategies, the lookup (:class:`~unionfs_lib.resolve.resolver.Resolver`), the
inode numbers and the work area. The overlay's
:class:`~unionfs_lib.ops.superblock.OverlaySuper` is the one implementation.

Obligations shared by all strategies:

* **Threads**: the overlay calls every strategy method with its lock held
  (except file data transfer, which never reaches a strategy), so methods
  need no locking of their own; a strategy keeps no mutable state between
  calls (use frozen attrs classes: they are shared between a nested overlay
  and its parent, and :func:`~unionfs_lib.checkpoint.describe` records their
  fields to restore them).
* **Crashes**: a strategy that makes an entry visible does it in one rename
  or one removal at the end, building anything larger in
  :attr:`OverlayContext.work` first, so an interrupted operation leaves every
  entry old or new; what it leaves in the work area is removed at the next
  open.
* **Lowers are never written**: every write goes to ``writable_upper``.

A third-party strategy is registered under a name in the entry-point group
``unionfs_lib.strategies`` so that ``describe``/``from_description`` can
restore it (see :mod:`unionfs_lib.layers.strategy_registry`).
"""

from __future__ import annotations

import threading
import typing

import attrs
from fs.base import FS

from ..host.workdir import WorkArea
from ..model.records import Batch, Node
from ..resolve.inode_numbers import InodeNumbers
from ..resolve.resolver import Resolver
from ..stores.whiteout_store import WhiteoutStore as WhiteoutStore  # the third seam, for one import

__all__ = ["CopyUpStrategy", "DirIteratorStrategy", "OverlayContext", "Strategies"]


class OverlayContext(typing.Protocol):
    """What a strategy sees of one overlay (implemented by ``OverlaySuper``)."""

    @property
    def upper(self) -> FS | None:
        """The upper layer, or ``None`` for a read-only overlay."""

    @property
    def store(self) -> WhiteoutStore:
        """The whiteout store."""

    @property
    def copier(self) -> CopyUpStrategy:
        """The copy-up strategy."""

    @property
    def readdir(self) -> DirIteratorStrategy:
        """The directory iterator."""

    @property
    def resolver(self) -> Resolver:
        """The lookup and its caches (invalidate what you change)."""

    @property
    def inodes(self) -> InodeNumbers:
        """Inode numbers and identity records."""

    @property
    def work(self) -> WorkArea:
        """Where new upper entries are built before they appear."""

    @property
    def lock(self) -> threading.RLock:
        """The overlay lock (held during every strategy call)."""

    def layer(self, index: int) -> FS:
        """Return layer ``index`` (0 is the upper, 1..N the lowers)."""

    def writable_upper(self, path: str) -> FS:
        """Return the upper, or raise ``ResourceReadOnly`` naming ``path``."""

    def notify_copied_up(self, path: str) -> None:
        """Let open lower-backed files of ``path`` switch to the new upper copy."""


@typing.runtime_checkable
class CopyUpStrategy(typing.Protocol):
    """How a lower entry is brought into the upper before it changes.

    Contract: after a method returns, the upper holds the entry (and every
    ancestor directory, with the lower's times) and the resolver has been
    told (``sb.resolver.invalidate``); open lower-backed handles of a copied
    file have been told (``sb.notify_copied_up``). A failure (a full upper)
    leaves nothing visible changed. Lowers are only read.
    """

    def ensure_dir(self, sb: OverlayContext, path: str) -> Node:
        """Make sure the upper holds visible directory ``path`` (ancestors first).

        Raises ``ResourceNotFound`` if ``path`` is not a visible directory;
        returns the directory's (new) node.
        """

    def copy_up(
        self,
        sb: OverlayContext,
        node: Node,
        dest: str | None = None,
        length: int | None = None,
    ) -> None:
        """Copy file ``node``'s data (at most ``length`` bytes) to upper ``dest``.

        ``dest`` defaults to the node's own path (a copy-up in place; a move
        of a lower file passes its destination). ``node`` may be a lower file
        or a metadata-only copy-up whose data is still below.
        """

    def copy_up_metadata(self, sb: OverlayContext, node: Node) -> None:
        """Copy lower file ``node``'s metadata only, leaving its data below.

        A strategy (or store) that cannot keep data below copies the data too.
        """


@typing.runtime_checkable
class DirIteratorStrategy(typing.Protocol):
    """The order of a merged directory listing and the cookies that resume it.

    Contract: every visible name exactly once; the same order for
    :meth:`listdir`, :meth:`page` and :meth:`next_batch` while nothing
    changes. Cookies are strings that stay valid across calls and across
    reopening; a malformed cookie raises ``ValueError``. Memory held between
    batches is bounded by the strategy, not by the directory size.

    Under concurrent change an iterator should return each entry present
    throughout an iteration once and no name twice, and must always end. The
    default :class:`~unionfs_lib.readdir.DirIterator` guarantees this (its
    cookies are names in sorted order); an iterator may guarantee less and
    must say so in its docstring.
    """

    def listdir(self, sb: OverlayContext, node: Node) -> list[str]:
        """Return the visible names of directory ``node`` in this iterator's order."""

    def page(self, sb: OverlayContext, node: Node, start: int, end: int) -> list[str]:
        """Return names ``start`` to ``end`` (exclusive) of :meth:`listdir`."""

    def next_batch(self, sb: OverlayContext, node: Node, cookie: str | None) -> Batch:
        """Return the next entries of ``node`` after ``cookie`` (``None``: from the start)."""


@attrs.frozen
class Strategies:
    """The three strategy objects of one overlay (``OverlayFS.strategies``)."""

    whiteouts: WhiteoutStore
    copy_up: CopyUpStrategy
    readdir: DirIteratorStrategy
