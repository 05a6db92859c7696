"""pytest plugin: the ``overlay_mount`` fixture (entry point ``unionfs_lib_mount``).

``overlay_mount(lower, *, upper=None)`` mounts an overlay of ``lower`` for
the test and returns the mount point as a ``pathlib.Path``, so code that uses
``open()``, ``os`` or subprocesses works on a sandboxed copy of the tree::

    def test_build(overlay_mount, tmp_path):
        root = overlay_mount(source_tree)
        subprocess.run(["make"], cwd=root, check=True)   # writes go to the upper

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

import pytest
from fs.base import FS
from fs.osfs import OSFS
from fs.tempfs import TempFS

from ..overlay import OverlayFS

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


@pytest.fixture
def overlay_mount() -> typing.Iterator[MountFactory]:
    """Mount overlays for the test: ``overlay_mount(lower, *, upper=None) -> pathlib.Path``."""
    from .availability import fuse_refusal
    from .daemon import ThreadMount, mount_in_thread

    mounts: list[ThreadMount] = []
    scratch_dirs: list[tempfile.TemporaryDirectory[str]] = []

    def mount(lower: Layer | typing.Sequence[Layer], *, upper: Layer | None = None) -> pathlib.Path:
        reason = fuse_refusal()
        if reason is not None:
            pytest.skip(reason)
        scratch = tempfile.TemporaryDirectory(prefix="unionfs-mount-")
        scratch_dirs.append(scratch)
        overlay = build_overlay(lower, upper, scratch.name)
        target = os.path.join(scratch.name, "merged")
        os.mkdir(target)
        mounts.append(mount_in_thread(overlay, target))
        return pathlib.Path(target)

    try:
        yield mount
    finally:
        for mounted in reversed(mounts):
            mounted.unmount()
        for scratch in scratch_dirs:
            scratch.cleanup()
