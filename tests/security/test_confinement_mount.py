"""Through a root FUSE mount, a link in a layer is a link, never the file it leads to.

The attacker lays links in a lower layer that sits on local files without
being an ``OSFS`` (a ``LazyFS`` over one, an fsspec ``file://`` layer, a
wrapper around either) before root mounts the overlay with ``allow_other``.
The daemon runs as root: had it followed a link, it would describe the
victim's file (or, for fsspec layers, a made-up ``0644`` file owned by the
mounting user) and serve its bytes to anyone. The mount must show the link as
a link (``S_IFLNK``, with the link's own ``lstat`` data), so the kernel
resolves it with the caller's own rights; an unprivileged user (``nobody``)
then gets ``EACCES``. The daemon itself, asked to open an escaping link,
answers ``EACCES`` too.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import tempfile
import threading
import time
import typing

import fs.errors
import pytest
from fs.tempfs import TempFS

from unionfs_lib import OverlayFS
from unionfs_lib.mount.availability import fuse_refusal
from unionfs_lib.mount.daemon import serve, unmount
from unionfs_lib.mount.operations import OverlayOperations

from ..support.link_attacks import LOWER_KINDS, lay_links
from ..support.mounting import fuse_or_skip
from ..support.victim import Victim

NOBODY = 65534
#: Names laid by :func:`lay_links` that lead out of the layer.
ESCAPING = ("secret", "rel_secret", "vdir", "new", "keep")
MOUNT_KINDS = [
    "lazy", "subfs-of-lazy", "fsspec-file", "readonly-wrap-of-fsspec-file", "subfs-of-osfs",
    "wrapfs-of-osfs",
]  # fmt: skip


class AllowOtherMount:
    """Serve ``overlay`` on ``mountpoint`` with ``allow_other`` from a thread of this process."""

    def __init__(self, overlay: OverlayFS, mountpoint: str) -> None:
        self.overlay, self.mountpoint = overlay, mountpoint
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            serve(self.overlay, self.mountpoint, extra_options=("allow_other",))
        except BaseException as error:  # noqa: BLE001 - reported by __enter__
            self.failure = error

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not os.path.ismount(self.mountpoint):
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.__exit__()
                if self.failure is not None and fuse_refusal() is not None:
                    pytest.skip(f"FUSE could not mount with allow_other: {self.failure}")
                raise AssertionError(f"the overlay did not mount: {self.failure}")
            time.sleep(0.01)
        return self.mountpoint

    def __exit__(self, *exc_info: object) -> None:
        # A mount whose root cannot be described is not seen by ismount: end it anyway.
        if self.thread.is_alive() or os.path.ismount(self.mountpoint):
            if not unmount(self.mountpoint):
                unmount(self.mountpoint, lazy=True)
        self.thread.join(30)


def _as_nobody() -> None:
    """Drop to user and group ``nobody`` (a ``preexec_fn``)."""
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def run_as_nobody(*command: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``command`` as ``nobody``; return what it did."""
    return subprocess.run(list(command), preexec_fn=_as_nobody, capture_output=True, timeout=60)


@pytest.fixture
def mount_base() -> typing.Iterator[str]:
    """A directory every user may enter, to hold a mount point."""
    base = tempfile.mkdtemp(prefix="unionfs-confine-")
    os.chmod(base, 0o755)
    yield base
    os.rmdir(os.path.join(base, "merged"))
    os.rmdir(base)


def _layer(kind: str, tmp_path: typing.Any, victim: Victim) -> typing.Any:
    root = str(tmp_path / "layers" / "layer")
    os.makedirs(root)
    os.chmod(tmp_path / "layers", 0o755)
    lay_links(root, victim)
    os.symlink(victim.join("keep.txt"), os.path.join(root, "keep"))  # 0644 in a private dir
    return root, LOWER_KINDS[kind](root, str(tmp_path / "cache"))


@pytest.mark.parametrize("kind", MOUNT_KINDS)
def test_the_mount_shows_escaping_links_as_links(
    kind: str, tmp_path: typing.Any, victim: Victim, mount_base: str
) -> None:
    fuse_or_skip()
    root, lower = _layer(kind, tmp_path, victim)
    upper = TempFS()
    os.chmod(upper.getsyspath("/"), 0o755)
    mountpoint = os.path.join(mount_base, "merged")
    os.mkdir(mountpoint)
    with AllowOtherMount(OverlayFS(upper, [lower]), mountpoint):
        for name in ESCAPING:
            seen = os.lstat(os.path.join(mountpoint, name))
            real = os.lstat(os.path.join(root, name))
            assert stat.S_ISLNK(seen.st_mode), f"{name}: {stat.filemode(seen.st_mode)}"
            assert (seen.st_size, int(seen.st_mtime)) == (real.st_size, int(real.st_mtime))
            assert os.readlink(os.path.join(mountpoint, name)) == os.readlink(
                os.path.join(root, name)
            )
        listed = {entry.name: entry.is_symlink() for entry in os.scandir(mountpoint)}
        assert all(listed[name] for name in ESCAPING)
        with open(os.path.join(mountpoint, "in_link"), "rb") as handle:
            assert handle.read() == b"inside"  # resolved by the kernel, inside the mount
        assert os.listdir(os.path.join(mountpoint, "in_dir")) == ["inner.txt"]
        if os.geteuid() != 0:
            return
        for name in ("secret", "rel_secret", "keep"):
            done = run_as_nobody("cat", os.path.join(mountpoint, name))
            assert done.returncode != 0 and victim.secret not in done.stdout, done
            assert b"keep me" not in done.stdout, done
            # The kernel resolves the link as nobody: a private directory on
            # the way (an absolute target) or nothing there (a relative one).
            assert b"Permission denied" in done.stderr or name == "rel_secret", done
        done = run_as_nobody("ls", os.path.join(mountpoint, "vdir") + "/")
        assert done.returncode != 0 and b"secret.txt" not in done.stdout, done
        with open(os.path.join(mountpoint, "real.txt"), "rb") as handle:
            assert handle.read() == b"inside"
    assert not os.path.lexists(victim.join("new"))


@pytest.mark.parametrize("kind", ["lazy", "fsspec-file", "subfs-of-lazy"])
def test_the_daemon_refuses_to_open_an_escaping_link(
    kind: str, tmp_path: typing.Any, victim: Victim
) -> None:
    """Asked to open a link that leads out of its layer, the daemon answers ``EACCES``."""
    _root, lower = _layer(kind, tmp_path, victim)
    with OverlayFS(TempFS(), [lower]) as overlay:
        operations = OverlayOperations(overlay, close_on_unmount=False)
        for name in ("secret", "rel_secret", "keep"):
            with pytest.raises(OSError) as caught:
                operations.open("/" + name, os.O_RDONLY)
            assert caught.value.errno in (errno.EACCES, errno.EPERM)
            assert stat.S_ISLNK(operations.getattr("/" + name)["st_mode"])
        assert stat.S_ISLNK(operations.getattr("/vdir")["st_mode"])
        with pytest.raises(fs.errors.PermissionDenied):
            list(operations.readdir_entries(0, operations.opendir("/vdir"), plus=True))
