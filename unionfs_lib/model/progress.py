"""Progress reports of long operations, and a small text progress bar.

``copy_up_tree``, ``squash``, OCI ``export_layer`` and ``LazyFS.prefetch``
take ``progress=callable``; the callable receives one :class:`ProgressEvent`
after each entry handled. :class:`ProgressBar` is such a callable that draws
a one-line bar on a terminal (the command line uses it); it writes nothing
when its stream is not a TTY unless told to.
"""

from __future__ import annotations

import sys
import typing

import attrs


@attrs.frozen
class ProgressEvent:
    """One step of a long operation.

    Attributes:
        operation: what runs (``"copy-up-tree"``, ``"squash"``, ``"export"``...).
        path: the entry just handled.
        done: entries handled so far.
        total: entries expected, or ``None`` when not counted beforehand.
        bytes_done: file bytes moved so far.

    """

    operation: str
    path: str
    done: int
    total: int | None
    bytes_done: int = 0


ProgressCallback = typing.Callable[[ProgressEvent], None]


@attrs.define
class ProgressTracker:
    """Counts entries and bytes of one operation and reports them."""

    operation: str
    callback: ProgressCallback | None
    total: int | None = None
    done: int = 0
    bytes_done: int = 0

    def step(self, path: str, size: int = 0) -> None:
        """Count one entry of ``size`` bytes and report it."""
        self.done += 1
        self.bytes_done += size
        if self.callback is not None:
            self.callback(
                ProgressEvent(self.operation, path, self.done, self.total, self.bytes_done)
            )


@attrs.define
class ProgressBar:
    """A progress callback that draws ``[#####.....] 50/100 entries 3.1 MiB``.

    Arguments:
        stream: where to draw (standard error by default).
        width: characters of the bar itself.
        force: draw even when ``stream`` is not a terminal.

    """

    stream: typing.TextIO = attrs.field(factory=lambda: sys.stderr)
    width: int = 30
    force: bool = False
    _last: str = ""

    @property
    def active(self) -> bool:
        """Whether the bar draws at all."""
        isatty = getattr(self.stream, "isatty", None)
        return self.force or bool(isatty and isatty())

    def __call__(self, event: ProgressEvent) -> None:
        """Redraw the bar for ``event``."""
        if not self.active:
            return
        line = self.render(event)
        if line != self._last:
            self.stream.write("\r" + line)
            self.stream.flush()
            self._last = line

    def render(self, event: ProgressEvent) -> str:
        """Return the bar's text for ``event``."""
        size = _human(event.bytes_done)
        if event.total:
            filled = min(self.width, self.width * event.done // event.total)
            bar = "#" * filled + "." * (self.width - filled)
            return f"{event.operation} [{bar}] {event.done}/{event.total} entries {size}"
        return f"{event.operation} {event.done} entries {size}"

    def finish(self) -> None:
        """End the bar's line; calling it again (or with nothing drawn) does nothing."""
        if self.active and self._last:
            self.stream.write("\n")
            self.stream.flush()
        self._last = ""


def _human(count: int) -> str:
    """Format a byte count with a binary unit."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{count} B"
        value /= 1024
    return f"{count} B"
