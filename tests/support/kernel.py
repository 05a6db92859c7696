"""Real ``mount -t overlay`` for the tests, and tree snapshots to compare with.

:func:`kernel_overlay_or_skip` tells whether this machine lets us mount an
overlay (root, the overlay module, a filesystem that holds its format) by
trying once; where it cannot, tests skip with the reason. :class:`KernelMount`
mounts and always unmounts. ``tests.support.helpers`` snapshots a visible tree
(names, types, contents) from a mount point (``os_tree``) and from an FS
(``tree``) to compare.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
import typing

import pytest

from . import summary

#: The counter CI prints ("kernel oracle comparisons: N").
COMPARISONS = "kernel oracle comparisons"
summary.declare(COMPARISONS)



def kernel_mount_options(
    lowers: typing.Sequence[str],
    upper: str | None = None,
    work: str | None = None,
    userxattr: bool = False,
) -> str:
    """Return the ``-o`` string for an overlay like ``OverlayFS.from_dirs`` builds."""
    parts = ["lowerdir=" + ":".join(lowers)]
    if upper is not None:
        parts += [f"upperdir={upper}", f"workdir={work}"]
    if userxattr:
        parts.append("userxattr")
    else:
        parts += ["redirect_dir=on", "index=off", "metacopy=off"]
    return ",".join(parts)


def _dmesg_tail() -> str:
    try:
        result = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    lines = [line for line in result.stdout.splitlines() if "overlay" in line]
    return "\n".join(lines[-5:])


def mount(options: str, target: str) -> None:
    """Mount an overlay at ``target``; raise ``OSError`` with dmesg's reason."""
    result = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, target],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise OSError(f"mount -o {options} failed: {result.stderr.strip()}\n{_dmesg_tail()}")


def umount(target: str) -> None:
    """Unmount ``target`` (lazily if it is busy)."""
    result = subprocess.run(["umount", target], capture_output=True, text=True)
    if result.returncode != 0:
        subprocess.run(["umount", "-l", target], capture_output=True, text=True)


class KernelMount:
    """A kernel overlay mount for a ``with`` block.

    Example::

        with KernelMount([lower], upper, work, target) as root:
            open(os.path.join(root, "x"), "wb").write(b"data")
    """

    def __init__(
        self,
        lowers: typing.Sequence[str],
        upper: str | None,
        work: str | None,
        target: str,
        userxattr: bool = False,
    ) -> None:
        self.options = kernel_mount_options(lowers, upper, work, userxattr)
        self.target = target

    def __enter__(self) -> str:
        os.makedirs(self.target, exist_ok=True)
        mount(self.options, self.target)
        return self.target

    def __exit__(self, *exc_info: object) -> None:
        umount(self.target)


@functools.lru_cache(maxsize=1)
def kernel_overlay_refusal() -> str | None:
    """Return why a kernel overlay cannot be mounted here, or ``None`` if it can."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "kernel overlay tests need Linux"
    if os.geteuid() != 0:
        return "kernel overlay tests need root to mount -t overlay (not root here)"
    try:
        with open("/proc/filesystems") as table:
            known = table.read()
    except OSError:
        known = ""
    if "overlay" not in known:
        subprocess.run(["modprobe", "overlay"], capture_output=True)
    with tempfile.TemporaryDirectory(prefix="ovl-probe-") as base:
        dirs = {name: os.path.join(base, name) for name in ("lower", "upper", "work", "merged")}
        for path in dirs.values():
            os.mkdir(path)
        try:
            with KernelMount([dirs["lower"]], dirs["upper"], dirs["work"], dirs["merged"]):
                pass
        except OSError as error:
            return f"mount -t overlay is refused on this machine: {error}"
    return None


def kernel_overlay_or_skip() -> None:
    """Skip the calling test, loudly, where a kernel overlay cannot be mounted."""
    reason = kernel_overlay_refusal()
    if reason is not None:
        summary.note(COMPARISONS, "SKIPPED: " + reason)
        pytest.skip(reason)


def fill_os_dir(
    root: str, entries: dict[str, bytes | None], modes: dict[str, int] | None = None
) -> None:
    """Create ``entries`` (path -> bytes, or None for a directory) under ``root``.

    ``modes`` (path -> permission bits) are set afterwards.
    """
    for path, data in sorted(entries.items()):
        target = os.path.join(root, path.lstrip("/"))
        if data is None:
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(data)
    for path, mode in (modes or {}).items():
        os.chmod(os.path.join(root, path.lstrip("/")), mode)


def compared() -> None:
    """Count one comparison against the kernel."""
    summary.count(COMPARISONS)
