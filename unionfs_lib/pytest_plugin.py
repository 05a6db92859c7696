"""A pytest plugin: the ``overlay_sandbox`` fixture runs code against a tree it cannot change.

Installed with the package (the ``pytest11`` entry point), so every test can
ask for it::

    def test_cleanup_removes_logs(overlay_sandbox):
        overlay = overlay_sandbox("/srv/data")      # a path, an FS, or a list (top first)
        cleanup(overlay)                             # the code under test writes freely
        assert [c.line() for c in overlay.changes()] == ["D /logs"]

``overlay_sandbox(lower, *, upper=None, **options)`` returns an
:class:`~unionfs_lib.overlay.OverlayFS` whose writes land in ``upper`` (a
fresh ``MemoryFS`` unless given) while ``lower`` stays as it is; ``lower`` is
a directory (a string or a path object such as pytest's ``tmp_path``), an FS,
or a list of them; ``options`` go to ``OverlayFS``. At teardown the fixture
closes the overlays and checks that no lower changed behind the overlay's
back during the test (the test errors, naming the lower and a path, if one
did). When the test fails, its report gains a section ``overlay changes``
listing what the code changed (``A``/``M``/``D`` lines, ``R old -> new`` for a renamed directory).
"""

from __future__ import annotations

import os
import typing

import attrs
import pytest
from fs.base import FS
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS

from .overlay import OverlayFS

Layer = typing.Union[str, "os.PathLike[str]", FS]
LowerSpec = typing.Union[Layer, typing.Sequence[Layer]]
Snapshot = typing.Dict[str, typing.Tuple[typing.Any, ...]]

#: Title of the report section a failed test gets.
SECTION = "overlay changes"


def snapshot(layer: FS) -> Snapshot:
    """Record every entry of ``layer``: type, size and modified time."""
    found: Snapshot = {}
    for path, info in layer.walk.info("/", namespaces=["details"]):
        modified = info.raw.get("details", {}).get("modified")
        found[path] = (info.is_dir, None if info.is_dir else info.size, modified)
    return found


def first_difference(before: Snapshot, after: Snapshot) -> str | None:
    """Return the first path (sorted) whose entry differs between two snapshots."""
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            return path
    return None


@attrs.define
class Sandbox:
    """The ``overlay_sandbox`` fixture's value: call it to get an overlay."""

    overlays: list[OverlayFS] = attrs.field(factory=list)
    lowers: list[tuple[str, FS, Snapshot]] = attrs.field(factory=list)
    opened: list[FS] = attrs.field(factory=list)

    def __call__(
        self, lower: LowerSpec, *, upper: FS | None = None, **options: typing.Any
    ) -> OverlayFS:
        """Build an overlay over ``lower`` (a path, an FS, or a list of them, top first)."""
        specs: list[Layer] = (
            [lower] if isinstance(lower, (str, os.PathLike, FS)) else list(lower)
        )
        if not specs:
            raise ValueError("overlay_sandbox needs at least one lower")
        layers = [self._open(spec) for spec in specs]
        for spec, layer in zip(specs, layers):
            name = repr(layer) if isinstance(spec, FS) else os.fspath(spec)
            self.lowers.append((name, layer, snapshot(layer)))
        options.setdefault("auto_close", False)
        overlay = OverlayFS(upper if upper is not None else MemoryFS(), layers, **options)
        self.overlays.append(overlay)
        return overlay

    def _open(self, spec: Layer) -> FS:
        """Open a path as an ``OSFS`` (closed at teardown); pass an FS through."""
        if isinstance(spec, FS):
            return spec
        if not isinstance(spec, (str, os.PathLike)):
            raise TypeError(f"a lower is a path or an FS, not {spec!r}")
        layer = OSFS(os.fspath(spec), expand_vars=False)
        self.opened.append(layer)
        return layer

    def report(self) -> str:
        """Return the changes of every open overlay, one ``A``/``M``/``D``/``R`` line each."""
        return changes_report(
            [(f"overlay {index}:", overlay) for index, overlay in enumerate(self.overlays)]
        )

    def close(self) -> None:
        """Close the overlays and the layers the sandbox opened."""
        for overlay in self.overlays:
            overlay.close()
        for layer in self.opened:
            layer.close()

    def changed_lower(self) -> tuple[str, str] | None:
        """Return ``(lower, path)`` of the first lower changed since it was given."""
        for name, layer, before in self.lowers:
            if layer.isclosed():
                continue
            path = first_difference(before, snapshot(layer))
            if path is not None:
                return name, path
        return None


@pytest.fixture
def overlay_sandbox() -> typing.Iterator[Sandbox]:
    """Give overlays over read-only trees; check at teardown that the trees did not change."""
    sandbox = Sandbox()
    try:
        yield sandbox
        changed = sandbox.changed_lower()
    finally:
        sandbox.close()
    if changed is not None:
        name, path = changed
        pytest.fail(
            f"lower {name} changed behind the overlay during the test (at {path})", pytrace=False
        )


def changes_report(overlays: typing.Sequence[tuple[str, OverlayFS]]) -> str:
    """Return the changes of each open overlay, one ``A``/``M``/``D``/``R`` line each.

    ``overlays`` are ``(heading, overlay)`` pairs; the headings are written
    only when there are several. A closed overlay is left out. The mount
    plugin uses it for its mounts.
    """
    lines = []
    for heading, overlay in overlays:
        if overlay.isclosed():
            continue
        if len(overlays) > 1:
            lines.append(heading)
        lines.extend(change.line() for change in overlay.changes())
    return "\n".join(lines) if lines else "(no changes)"


def add_changes_section(report: pytest.TestReport, describe: typing.Callable[[], str]) -> None:
    """Give a failed test's ``report`` the section ``overlay changes``, text from ``describe()``.

    Nothing is added unless the test's call itself failed. An error raised by
    ``describe`` is written into the section instead: the report must never
    hide the test's own failure. The mount plugin uses it for its mounts.
    """
    if report.when != "call" or not report.failed:
        return
    try:
        text = describe()
    except Exception as error:  # noqa: BLE001 - the report must not hide the failure
        text = f"(changes unavailable: {error})"
    report.sections.append((SECTION, text))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> typing.Any:
    """Add the ``overlay changes`` section to the report of a failed test."""
    outcome = yield
    sandbox = getattr(item, "funcargs", {}).get("overlay_sandbox")
    if isinstance(sandbox, Sandbox):
        add_changes_section(outcome.get_result(), sandbox.report)
