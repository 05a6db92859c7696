"""pytest plugin: the ``overlay_mount`` fixture (entry point ``unionfs_lib_mount``).

``overlay_mount(lower, *, upper=None)`` mounts an overlay of ``lower`` for
the test and returns the mount point as a ``pathlib.Path``, so code that uses
``open()``, ``os`` or subprocesses works on a sandboxed copy of the tree::

    def test_build(overlay_mount, source_tree):
        root = overlay_mount(source_tree)
        subprocess.run(["make"], cwd=root, check=True)   # writes go to the upper
        assert [c.line() for c in root.changes()] == ["A /build", "A /build/app"]

The path is a :class:`MountPoint`: it (and every path made from it, such as
``root / "docs"``) also tells what changed beneath it, as ``overlay_sandbox``
does (``changes()``, ``diff()``); a failed test's report gains the section
``overlay changes`` listing what the test changed through its mounts.

``lower`` is a directory (``str`` or ``os.PathLike``), an ``FS``, or a list
of them, top-most first. ``upper`` is a directory or an ``FS`` receiving the
changes (a fresh temporary directory by default). With only directories the
overlay uses the Linux overlayfs on-disk format (``OverlayFS.from_dirs``).
Every mount is unmounted in teardown, even when the test fails. Where FUSE is
unavailable the test is skipped with the reason.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
import typing

import attrs
import pytest
from fs.base import FS
from fs.osfs import OSFS
from fs.tempfs import TempFS

from ..overlay import OverlayFS
from ..pytest_plugin import add_changes_section, changes_report

if typing.TYPE_CHECKING:
    from ..frontend_api import Change
    from . import daemon

Layer = typing.Union[str, "os.PathLike[str]", FS]
MountFactory = typing.Callable[..., pathlib.Path]


def _as_list(lower: Layer | typing.Sequence[Layer]) -> list[Layer]:
    """Return ``lower`` as a list of layers."""
    if isinstance(lower, (str, os.PathLike, FS)):
        return [lower]
    return list(lower)


def _is_dir_path(layer: object) -> bool:
    """Tell whether ``layer`` names a directory rather than being an FS."""
    return isinstance(layer, (str, os.PathLike))


def build_overlay(
    lower: Layer | typing.Sequence[Layer], upper: Layer | None, scratch: str
) -> OverlayFS:
    """Open the overlay the fixture mounts (``scratch`` holds a default upper and workdir)."""
    lowers = _as_list(lower)
    if all(_is_dir_path(layer) for layer in lowers) and (upper is None or _is_dir_path(upper)):
        upper_dir = _dir(upper) if upper is not None else os.path.join(scratch, "upper")
        work_dir = os.path.join(scratch, "work")
        os.makedirs(upper_dir, exist_ok=True)
        os.makedirs(work_dir, exist_ok=True)
        return OverlayFS.from_dirs([_dir(layer) for layer in lowers], upper_dir, work_dir)
    layers = [layer if isinstance(layer, FS) else OSFS(_dir(layer)) for layer in lowers]
    if upper is None:
        upper_fs: FS = TempFS()
    elif isinstance(upper, FS):
        upper_fs = upper
    else:
        upper_fs = OSFS(_dir(upper))
    return OverlayFS(upper_fs, layers)


def _dir(layer: Layer) -> str:
    """Return the directory a path-like layer names."""
    if isinstance(layer, FS):
        raise TypeError(f"expected a directory, not {layer!r}")
    return os.fspath(layer)


class MountPoint(pathlib.PosixPath):
    """A path in a mounted overlay that can review the overlay's changes.

    ``overlay_mount`` returns the mount point as one; paths made from it
    (``root / "docs"``, ``root.parent``...) are of the same kind. Each mount
    gets its own subclass, which holds the overlay and the mount point
    (:func:`mount_point`).
    """

    _overlay: typing.ClassVar[OverlayFS]
    _mounted_on: typing.ClassVar[str]

    @property
    def overlay(self) -> OverlayFS:
        """The mounted overlay (to review; a change behind the mount's back stays unseen)."""
        return self._overlay

    def overlay_path(self) -> str:
        """Return this path as the overlay names it (``/`` for the mount point).

        Raises:
            ValueError: the path is not inside the mount.

        """
        relative = os.path.relpath(os.path.abspath(self), self._mounted_on)
        if relative == os.curdir:
            return "/"
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            raise ValueError(f"{os.fspath(self)!r} is not inside the mount {self._mounted_on!r}")
        return "/" + relative.replace(os.sep, "/")

    def changes(self) -> list[Change]:
        """Return what changed at and beneath this path, sorted (``OverlayFS.changes``)."""
        return self._overlay.changes(self.overlay_path())

    def diff(self, *, context: int = 3) -> str:
        """Return a unified diff of the changed text files beneath this path."""
        return self._overlay.diff(self.overlay_path(), context=context)


def mount_point(target: str, overlay: OverlayFS) -> MountPoint:
    """Return ``target`` as the :class:`MountPoint` of ``overlay``."""

    class ThisMount(MountPoint):
        _overlay = overlay
        _mounted_on = os.path.abspath(target)

    ThisMount.__name__ = ThisMount.__qualname__ = MountPoint.__name__
    return ThisMount(target)


@attrs.define
class Mounts:
    """The ``overlay_mount`` fixture's value: call it to mount an overlay."""

    mounted: list[tuple[MountPoint, daemon.ThreadMount]] = attrs.field(factory=list)
    scratch_dirs: list[tempfile.TemporaryDirectory[str]] = attrs.field(factory=list)

    def __call__(
        self, lower: Layer | typing.Sequence[Layer], *, upper: Layer | None = None
    ) -> MountPoint:
        """Mount an overlay of ``lower`` (top-most first) and return its mount point."""
        from .availability import fuse_refusal
        from .daemon import mount_in_thread

        reason = fuse_refusal()
        if reason is not None:
            pytest.skip(reason)
        scratch = tempfile.TemporaryDirectory(prefix="unionfs-mount-")
        self.scratch_dirs.append(scratch)
        overlay = build_overlay(lower, upper, scratch.name)
        target = os.path.join(scratch.name, "merged")
        os.mkdir(target)
        thread = mount_in_thread(overlay, target)
        root = mount_point(target, overlay)
        self.mounted.append((root, thread))
        return root

    def report(self) -> str:
        """Return the changes of every mount, one ``A``/``M``/``D``/``R`` line each."""
        return changes_report(
            [
                (f"mount {index} ({os.fspath(root)}):", root.overlay)
                for index, (root, _thread) in enumerate(self.mounted)
            ]
        )

    def close(self) -> None:
        """Unmount everything (the overlays close) and remove the scratch directories."""
        for _root, thread in reversed(self.mounted):
            thread.unmount()
        for scratch in self.scratch_dirs:
            scratch.cleanup()


@pytest.fixture
def overlay_mount() -> typing.Iterator[Mounts]:
    """Mount overlays for the test: ``overlay_mount(lower, *, upper=None) -> MountPoint``."""
    mounts = Mounts()
    try:
        yield mounts
    finally:
        mounts.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> typing.Any:
    """Add the ``overlay changes`` section to the report of a failed test that mounted."""
    outcome = yield
    mounts = getattr(item, "funcargs", {}).get("overlay_mount")
    if isinstance(mounts, Mounts) and mounts.mounted:
        add_changes_section(outcome.get_result(), mounts.report)
