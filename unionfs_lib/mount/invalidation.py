"""Telling the kernel to forget what it cached for a path, without deadlocking.

libfuse 3 exports ``fuse_invalidate_path(struct fuse *, const char *path)``
(since 3.1): for a path the kernel has looked up, it drops the node's cached
attributes and pages. The kernel's handling of that notification takes the
lock of every cached page of the node; a kernel request that holds one of
those locks (a page being read in) waits for the file system's answer. The
mount answers requests from one thread, so a notification sent by that
thread in the middle of a request could wait forever for a request queued
behind it.

:class:`PathInvalidator` sends notifications from its own thread instead.
The request thread hands it the paths and waits until they are sent, so in
the usual case nothing stale is visible once the changing call returns; if
the notification is held up longer than :attr:`PathInvalidator.patience`
(a page lock held by a request waiting for the request thread), the request
thread answers anyway and the notification completes as soon as that
request is served. The kernel drops a node's attributes before it takes any
page lock, so even then ``stat`` is never stale: only pages still being read
in can be, until the blocked request has been answered.

Hard-linked files use the page cache as every file does (so that they can
be mapped shared): a page of another name being read in can hold a
notification up, by at most one request's time once the request thread has
stopped waiting. (A process that serves a mount from its own threads and
maps a file of it, as the in-process test fixtures do, must fault the
mapping in from another process: the fault holds the interpreter's lock
the serving thread needs.)
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
import typing

import attrs

#: A batch of paths to invalidate and the event set once they are sent.
_Job = typing.Tuple[typing.Sequence[str], threading.Event]


def _bind_invalidate_path() -> typing.Any:
    """Return libfuse's ``fuse_invalidate_path`` with its types, or ``None`` if absent."""
    import mfusepy

    library = getattr(mfusepy, "_libfuse", None)
    function = getattr(library, "fuse_invalidate_path", None)
    if function is None:
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    function.restype = ctypes.c_int
    return function


def current_fuse() -> int | None:
    """Return the ``struct fuse *`` of the request being served (in ``init`` and handlers)."""
    import mfusepy

    library = getattr(mfusepy, "_libfuse", None)
    if library is None:
        return None
    context = library.fuse_get_context()
    if not context:
        return None
    pointer: int | None = context.contents.fuse
    return pointer


@attrs.define
class PathInvalidator:
    """Invalidate kernel nodes by path from a thread of its own.

    Attributes:
        patience: seconds a request waits for its notifications to be sent
            before it answers anyway (see the module docstring).
        sent: the number of paths handed to libfuse so far.
    """

    patience: float = 0.5
    sent: int = 0
    _fuse: int | None = None
    _function: typing.Any = None
    _jobs: queue.SimpleQueue[_Job | None] = attrs.field(factory=queue.SimpleQueue)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start serving; call from libfuse's ``init`` (it knows the ``struct fuse``)."""
        self._fuse = current_fuse()
        self._function = _bind_invalidate_path()
        if self._fuse is None or self._function is None:
            return
        self._thread = threading.Thread(target=self._serve, name="fuse invalidation", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (on unmount); later calls do nothing."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join(self.patience)

    def invalidate(self, paths: typing.Iterable[str]) -> None:
        """Make the kernel forget the attributes and pages it cached for ``paths``.

        Waits until they are sent, for at most :attr:`patience` seconds.
        Paths the kernel never looked up cost nothing.
        """
        batch = list(paths)
        if not batch or self._thread is None:
            return
        done = threading.Event()
        self._jobs.put((batch, done))
        done.wait(self.patience)

    def _serve(self) -> None:
        """Send notifications until :meth:`stop`."""
        while True:
            job = self._jobs.get()
            if job is None:
                return
            paths, done = job
            for path in paths:
                # ENOENT: the kernel has no node for the path; nothing to forget.
                self._function(self._fuse, os.fsencode(path))
                self.sent += 1
            done.set()
