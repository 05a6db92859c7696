"""The overlay's shared state: layers, strategies, caches and the lock.

Like Linux's ``struct ovl_fs``, an :class:`OverlaySuper` is what every
operation module receives. It owns no policy of its own: lookup lives in
``lookup``, copy-up in ``copy_up``, directory operations in ``dir_ops``,
listing in ``readdir`` and open files in ``file``.

Locking design: one re-entrant lock (:attr:`OverlaySuper.lock`, shared with
the ``OverlayFS`` object as its ``_lock``) serialises every operation that
reads or changes overlay metadata: lookups, copy-up, whiteouts, renames and
cache updates. Data transfer through an open upper file handle runs outside
the lock (the upper FS guards its own files); the first write through a
handle still backed by a lower file takes the lock to copy up. Copy-up of a
path therefore happens at most once, and no reader sees a half-built entry,
because entries are built in the work area and renamed into place.

Each :class:`~unionfs_lib.ops.file_ops.OverlayFile` also has its own lock around every
use of its backing handle. A copy-up switches the open lower-backed handles of
its path (:meth:`OverlaySuper.notify_copied_up`) while holding the overlay
lock, so the order is always overlay lock, then file lock, and nothing takes
the overlay lock while holding a file lock: no deadlock, and a read racing the
switch happens wholly on the lower or wholly on the upper handle. What the
locks do not serialise is data written through two upper handles of one file
at once: as on any FS, concurrent writers to the same bytes interleave.
``tests/core/test_threads.py`` checks all of this under load.
"""

from __future__ import annotations

import _thread
import threading
import types
import typing
import weakref

import attrs
import fs.errors
from fs.base import FS

from ..errors import make_printable
from ..host.workdir import WorkArea
from ..model.paths import is_same_or_below
from ..resolve.inode_numbers import InodeNumbers
from ..resolve.resolver import Resolver
from ..stores.whiteout_store import WhiteoutStore
from .strategies import CopyUpStrategy, DirIteratorStrategy


class OverlayLock(_thread.RLock):  # type: ignore[misc]  # final in typeshed only
    r"""The overlay's re-entrant lock; an error leaving it gets a printable message.

    Every operation of the overlay runs holding this lock (``with
    overlay._lock``, :attr:`OverlaySuper.lock`), so its exit is the one place
    every ``fs.errors`` exception of an operation passes: there the message
    is made printable (:func:`~unionfs_lib.errors.make_printable`: control
    characters of a crafted name or path shown escaped, ``\x00``,
    ``\x1b``), while the exception's ``path`` keeps the path as given.
    """

    __slots__ = ()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        """Release the lock; make the message of an escaping error printable."""
        self.release()
        if exc is not None:
            make_printable(exc)


class OpenFileListener(typing.Protocol):
    """An open file that wants to hear that its path was copied up."""

    def on_copied_up(self) -> None:
        """Switch to the upper copy of the file."""


@attrs.define
class OverlaySuper:
    """Layers, strategy objects and shared caches of one overlay.

    This is the one implementation of
    :class:`~unionfs_lib.ops.strategies.OverlayContext`, what strategies are given.
    """

    upper: FS | None
    lowers: tuple[FS, ...]
    store: WhiteoutStore
    copier: CopyUpStrategy
    readdir: DirIteratorStrategy
    resolver: Resolver
    inodes: InodeNumbers
    work: WorkArea
    lock: threading.RLock = attrs.field(factory=OverlayLock)
    _listeners: dict[str, weakref.WeakSet[typing.Any]] = attrs.field(factory=dict)
    _handles: dict[str, weakref.WeakSet[typing.Any]] = attrs.field(factory=dict)
    _sweep_at: int = 1024
    #: What :func:`unionfs_lib.layers.lifecycle.which` answered, by overlay
    #: path, with the node and lowers it was made for (kept for OS layers).
    backings: dict[str, typing.Any] = attrs.field(factory=dict)
    #: The overlay path of the last new file made in the upper, the
    #: resolver's generation just after, and the OS path it was made at
    #: (``None`` if not by its OS path): until the next change that file
    #: holds no pinned number (see :func:`unionfs_lib.ops.info_ops.pinned_ino`)
    #: and lies at that OS path (see ``unionfs_lib.layers.lifecycle.which``).
    fresh_file: tuple[str, int, str | None] | None = None

    @property
    def layers(self) -> tuple[FS | None, ...]:
        """All layers, upper first: index 0 is the upper, 1..N the lowers."""
        return self.resolver.layers

    def layer(self, index: int) -> FS:
        """Return layer ``index``; asking for a missing upper is a read-only error."""
        found = self.layers[index]
        if found is None:
            raise fs.errors.ResourceReadOnly("/")
        return found

    def writable_upper(self, path: str) -> FS:
        """Return the upper, or raise ``ResourceReadOnly`` for a read-only overlay."""
        if self.upper is None:
            raise fs.errors.ResourceReadOnly(path)
        return self.upper

    def replace_lowers(self, lowers: typing.Sequence[FS], resolver: Resolver | None = None) -> None:
        """Use ``lowers`` as the lower layers from now on (``detach_lower``).

        Layer numbers are positions, so those of the layers beneath a removed
        one shift up by one. ``resolver`` is a resolver already built over the
        new layers, or ``None`` for a fresh one with the current budgets.
        """
        self.lowers = tuple(lowers)
        if resolver is None:
            resolver = attrs.evolve(self.resolver, layers=(self.upper, *self.lowers))
        self.resolver = resolver

    # -- open-file notifications --------------------------------------------

    def listen(self, path: str, listener: OpenFileListener) -> None:
        """Tell ``listener`` when ``path`` is copied up (held weakly)."""
        self._listeners.setdefault(path, weakref.WeakSet()).add(listener)

    def unlisten(self, path: str, listener: OpenFileListener) -> None:
        """Stop telling ``listener`` about ``path``.

        Takes the overlay lock: a handle is closed outside it, while another
        thread's copy-up may be taking the same path's listeners.
        """
        with self.lock:
            listeners = self._listeners.get(path)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[path]

    def notify_copied_up(self, path: str) -> None:
        """Let open lower-backed files of ``path`` switch to the upper copy."""
        for listener in list(self._listeners.pop(path, ())):
            listener.on_copied_up()

    # -- open handles ------------------------------------------------------------

    def track_open(self, path: str, handle: typing.Any) -> None:
        """Remember that ``handle`` was opened at ``path`` (held weakly, until closed)."""
        try:
            self._handles.setdefault(path, weakref.WeakSet()).add(handle)
        except TypeError:  # a handle type that cannot be weakly referenced
            return
        if len(self._handles) >= self._sweep_at:
            self.open_paths("/")  # drops the paths whose handles are all gone
            self._sweep_at = max(1024, 2 * len(self._handles))

    def open_paths(self, path: str) -> list[str]:
        """Return the paths at or beneath ``path`` that have a handle still open."""
        found = []
        for opened, handles in list(self._handles.items()):
            alive = [handle for handle in handles if not getattr(handle, "closed", False)]
            if not alive:
                del self._handles[opened]
            elif is_same_or_below(opened, path):
                found.append(opened)
        return sorted(found)

def superblock_of(layer: object) -> OverlaySuper | None:
    """Return the superblock of ``layer`` if it is an overlay, else ``None``.

    The one place that reaches into an ``OverlayFS`` from outside its class:
    modules beneath the façade (lifecycle, export, nested layers) take the
    overlay as a plain ``FS`` and find its state here.
    """
    sb = getattr(layer, "_sb", None)
    return sb if isinstance(sb, OverlaySuper) else None


def overlay_super(overlay: object) -> OverlaySuper:
    """Return the superblock of ``overlay``, or raise ``TypeError`` for another object."""
    sb = superblock_of(overlay)
    if sb is None:
        raise TypeError(f"{overlay!r} is not an OverlayFS")
    return sb
