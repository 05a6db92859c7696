"""Helpers for the FUSE mount tests: skipping loudly, daemons, tree snapshots.

:func:`fuse_or_skip` skips the calling test with the reason where FUSE is
unavailable and counts the mount tests that ran. :class:`DaemonMount` runs
``unionfs-lib-mount -f`` as a separate process (for ``kill -9`` and SIGTERM)
and always unmounts. :func:`posix_tree` snapshots a directory with modes and
link counts.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import typing

import pytest

from unionfs_lib.mount.availability import fuse_refusal
from unionfs_lib.mount.daemon import ThreadMount, mount_in_thread, unmount
from unionfs_lib.overlay import OverlayFS

from . import summary
from .helpers import forked_text
from .kernel import fill_os_dir as fill_os_dir  # re-exported for the mount tests

#: The counter CI prints ("FUSE mount tests: N").
MOUNT_TESTS = "FUSE mount tests"
summary.declare(MOUNT_TESTS)

SCRIPT = os.path.join(os.path.dirname(sys.executable), "unionfs-lib-mount")


def fuse_or_skip() -> None:
    """Skip the calling test, loudly, where FUSE cannot mount; count it otherwise."""
    reason = fuse_refusal()
    if reason is not None:
        summary.note(MOUNT_TESTS, "SKIPPED: " + reason)
        pytest.skip(reason)
    summary.count(MOUNT_TESTS)


class SmallMount(typing.NamedTuple):
    """A thread-served mount of a small lower (see :func:`small_mount`)."""

    root: str
    thread: ThreadMount
    upper: str
    overlay: OverlayFS


@contextlib.contextmanager
def small_mount(
    tmp_path: pathlib.Path, tree: dict[str, bytes | None]
) -> typing.Iterator[SmallMount]:
    """Mount ``tree`` as the lower of a fresh overlay in a thread; check the lower unchanged.

    Skips loudly where FUSE is unavailable; always unmounts.
    """
    fuse_or_skip()
    lower, upper, work, target = (tmp_path / name for name in ("lower", "upper", "work", "m"))
    for path in (lower, upper, work, target):
        path.mkdir()
    fill_os_dir(str(lower), tree)
    before = posix_tree(str(lower))
    overlay = OverlayFS.from_dirs([str(lower)], str(upper), str(work))
    thread = mount_in_thread(overlay, str(target))
    try:
        yield SmallMount(str(target), thread, str(upper), overlay)
    finally:
        thread.unmount()
    assert posix_tree(str(lower)) == before, "a lower layer was written"


def mount_options(lowers: typing.Sequence[str], upper: str, work: str, *extra: str) -> str:
    """Return ``lowerdir=...,upperdir=...,workdir=...`` plus ``extra`` options."""
    return ",".join([f"lowerdir={':'.join(lowers)}", f"upperdir={upper}", f"workdir={work}",
                     *extra])


def wait_for(condition: typing.Callable[[], bool], seconds: float = 30.0) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass; return its last value."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return condition()
        time.sleep(0.02)
    return True


class DaemonMount:
    """``unionfs-lib-mount -f`` in a child process, for a ``with`` block.

    The block gets the process; on exit the mount is unmounted (lazily if it
    is busy) and the process reaped, whatever happened to it.
    """

    def __init__(self, options: str, target: str, source: str = "overlay") -> None:
        self.command = [SCRIPT, source, target, "-f", "-o", options]
        self.target = target
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> subprocess.Popen[bytes]:
        process = self.process = subprocess.Popen(self.command, stderr=subprocess.PIPE)
        if not wait_for(lambda: os.path.ismount(self.target) or process.poll() is not None):
            raise AssertionError("the daemon did not mount in time")
        if not os.path.ismount(self.target):
            error = process.stderr.read().decode() if process.stderr else ""
            raise AssertionError(f"the daemon exited without mounting: {error}")
        return process

    def __exit__(self, *exc_info: object) -> None:
        cleanup(self.target, self.process)


def is_mounted(target: str) -> bool:
    """Tell whether ``target`` is a mount point in the mount table.

    Unlike ``os.path.ismount``, which answers ``False`` when ``stat`` fails,
    this also sees a FUSE mount whose daemon is gone ("transport endpoint is
    not connected").
    """
    escaped = "".join({" ": "\\040", "\t": "\\011", "\n": "\\012", "\\": "\\134"}.get(c, c)
                      for c in target)  # fmt: skip
    with open("/proc/self/mounts") as table:
        return any(line.split()[1] == escaped for line in table if line.strip())


def cleanup(target: str, process: subprocess.Popen[bytes] | None = None) -> None:
    """Unmount ``target`` (lazily if busy, or if its daemon is gone) and end ``process``."""
    if is_mounted(target) and not unmount(target):
        unmount(target, lazy=True)
    if process is not None:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
        if process.stderr:
            process.stderr.close()


Entry = typing.Tuple[str, typing.Union[bytes, str, int, None], int, int]


def posix_tree(root: str, with_nlink: bool = True) -> dict[str, Entry]:
    """Snapshot ``root``: relative path -> (type, content or link target, mode, nlink).

    Directories report ``nlink`` 0: Linux overlayfs gives merged directories 1
    where a plain directory counts its subdirectories.
    """
    tree: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            found = os.lstat(path)
            rel = "/" + os.path.relpath(path, root)
            mode = stat.S_IMODE(found.st_mode)
            nlink = found.st_nlink if with_nlink else 0
            if stat.S_ISDIR(found.st_mode):
                tree[rel] = ("dir", None, mode, 0)
            elif stat.S_ISLNK(found.st_mode):
                tree[rel] = ("link", os.readlink(path), 0, nlink)
            elif stat.S_ISREG(found.st_mode):
                with open(path, "rb") as handle:
                    tree[rel] = ("file", handle.read(), mode, nlink)
            else:
                tree[rel] = ("special", stat.S_IFMT(found.st_mode), mode, nlink)
    return tree


def inode_groups(root: str) -> set[frozenset[str]]:
    """Return the sets of names under ``root`` that share an inode (only those with two or more).

    Directories are left out; symbolic links and files are grouped by ``lstat``.
    """
    by_inode: dict[int, set[str]] = {}
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            by_inode.setdefault(os.lstat(path).st_ino, set()).add("/" + os.path.relpath(path, root))
    return {frozenset(names) for names in by_inode.values() if len(names) > 1}


def access_as_nobody(root: str) -> list[str]:
    """Try three accesses below ``root`` as uid/gid 65534; return "ok" or the errno of each.

    A forked child drops to the other user, so no interpreter has to be
    reachable by that user (the one under ``/root`` is not).
    """

    def attempts() -> str:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        results = []
        for attempt in (lambda: open(os.path.join(root, "secret"), "rb"),
                        lambda: open(os.path.join(root, "d", "new"), "wb"),
                        lambda: os.listdir(os.path.join(root, "d"))):
            try:
                attempt()
                results.append("ok")
            except OSError as error:
                results.append(str(error.errno))
        return " ".join(results)

    return forked_text(attempts).split()


def probe_as_nobody(extra: tuple[str, ...], prefix: str = "mount-allow-other-") -> list[str]:
    """Mount as root with ``extra`` options; return what user 65534 gets (``access_as_nobody``)."""
    base = tempfile.mkdtemp(prefix=prefix)  # reachable by another user
    try:
        os.chmod(base, 0o755)
        made = {name: os.path.join(base, name) for name in ("lower", "upper", "work", "merged")}
        for path in made.values():
            os.mkdir(path, 0o755)
        entries = {"/secret": b"root only", "/d": None, "/d/f": b"f"}
        fill_os_dir(made["lower"], entries, {"/secret": 0o600})
        os.chmod(os.path.join(made["lower"], "d"), 0o755)
        options = mount_options([made["lower"]], made["upper"], made["work"], *extra)
        with DaemonMount(options, made["merged"]):
            return access_as_nobody(made["merged"])
    finally:
        cleanup(os.path.join(base, "merged"))
        shutil.rmtree(base, ignore_errors=True)


def daemons_serving(target: str) -> list[int]:
    """Return the pids of unionfs-lib processes whose command line names ``target``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                words = handle.read().split(b"\0")
        except OSError:
            continue
        if target.encode() in words and any(b"unionfs-lib" in word for word in words):
            found.append(int(pid))
    return found
