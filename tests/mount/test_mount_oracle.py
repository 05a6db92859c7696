"""The kernel as oracle through the mount: the same ``os`` calls on both mounts.

A real ``mount -t overlay`` (redirect_dir=on) and our FUSE mount of
``OverlayFS.from_dirs`` sit over the same lower directories, each with its
own upper. Hypothesis draws operations (writes, appends, truncation,
``chmod``, ``mkdir``, ``unlink``, ``rmdir``, ``symlink``, hard links with
``os.link``, ``mkfifo``, socket nodes made with ``mknod``, ``rename`` of files,
links and directories onto anything, ``renameat2(RENAME_EXCHANGE)`` of two
entries that are not directories, ``fallocate`` in three modes); each
is applied with the same ``os`` call to both mounts, and after every step the
errno and the visible trees must agree: names, types, contents, link targets,
permission bits, the link counts of files, and which names share an inode
(names grouped by ``st_ino`` on each side; the groups must be equal).
Merged directories report ``st_nlink`` 1 in overlayfs, so directory link
counts are left out.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import stat
import tempfile
import typing

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unionfs_lib.syscalls import RENAME_EXCHANGE, renameat2

from unionfs_lib import OverlayFS
from unionfs_lib.mount.daemon import mount_in_thread

from ..support.kernel import KernelMount, compared, kernel_overlay_or_skip
from ..support.kernel_oracle import BASIC_OPERATIONS, Lowers, anywhere, dst, resolve, src
from ..support.mounting import fuse_or_skip, inode_groups, posix_tree

Op = tuple[typing.Any, ...]

#: ``fallocate(2)`` modes drawn: plain, ``FALLOC_FL_KEEP_SIZE``, and
#: ``FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE``.
FALLOCATE_MODES = (0, 0x01, 0x03)
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)

operations = st.one_of(
    *BASIC_OPERATIONS,
    st.tuples(st.just("rename"), src, anywhere),
    st.tuples(st.just("truncate"), src, st.integers(0, 12)),
    st.tuples(st.just("chmod"), src, st.sampled_from([0o600, 0o640, 0o700, 0o755])),
    st.tuples(st.just("symlink"), dst, st.sampled_from(["a", "../d", "/etc", "missing", "d/x"])),
    st.tuples(st.just("link"), src, anywhere),
    st.tuples(st.just("mkfifo"), dst),
    st.tuples(st.just("mksock"), dst),
    st.tuples(st.just("exchange"), src, anywhere),
    st.tuples(st.just("fallocate"), src, st.sampled_from(FALLOCATE_MODES),
              st.integers(0, 16), st.integers(1, 16)),
)


def run(root: str, op: Op) -> int | None:
    """Apply ``op`` with ``os`` calls under ``root``; return the errno or None."""
    name, *args = op
    path = root + args[0]
    try:
        if name in ("write", "append"):
            # Non-blocking: a FIFO without a reader answers ENXIO instead of blocking.
            how = os.O_TRUNC if name == "write" else os.O_APPEND
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | how, 0o666)
            try:
                os.write(fd, args[1])
            finally:
                os.close(fd)
        elif name == "remove":
            os.unlink(path)
        elif name == "makedir":
            os.mkdir(path)
        elif name == "removedir":
            os.rmdir(path)
        elif name == "rename":
            os.rename(path, root + args[1])
        elif name == "truncate":
            os.truncate(path, args[1])
        elif name == "chmod":
            os.chmod(path, args[1])
        elif name == "symlink":
            os.symlink(args[1], path)
        elif name == "link":
            os.link(path, root + args[1], follow_symlinks=False)
        elif name == "mkfifo":
            os.mkfifo(path, 0o640)
        elif name == "mksock":
            os.mknod(path, stat.S_IFSOCK | 0o600)
        elif name == "exchange":
            renameat2(path, root + args[1], RENAME_EXCHANGE)
        elif name == "fallocate":
            fallocate(path, *args[1:])
    except OSError as error:
        return error.errno
    return None




def fallocate(path: str, mode: int, offset: int, length: int) -> None:
    """Open ``path`` for writing (never blocking on a FIFO) and call ``fallocate(2)``."""
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        if _libc.fallocate(fd, mode, offset, length) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), path)
    finally:
        os.close(fd)


def check_sequence(ops: list[Op]) -> None:
    lowers = Lowers.get()
    base = tempfile.mkdtemp(prefix="mount-oracle-")
    try:
        made = {name: os.path.join(base, name) for name in
                ("k-upper", "k-work", "k-merged", "upper", "work", "merged")}
        for path in made.values():
            os.mkdir(path)
        overlay = OverlayFS.from_dirs(lowers, made["upper"], made["work"])
        ours = mount_in_thread(overlay, made["merged"])
        try:
            with KernelMount(lowers, made["k-upper"], made["k-work"], made["k-merged"]) as kroot:
                compare(kroot, made["merged"], ops)
        finally:
            ours.unmount()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def compare(kernel_root: str, our_root: str, ops: list[Op]) -> None:
    kernel_tree = posix_tree(kernel_root)
    assert posix_tree(our_root) == kernel_tree
    steps: list[Op] = []
    gone: list[str] = []
    for drawn in ops:
        op = resolve(drawn, {p: (None if v[0] == "dir" else v[1]) for p, v in kernel_tree.items()},
                     gone)
        steps.append(op)
        expected = run(kernel_root, op)
        got = run(our_root, op)
        assert got == expected, (
            f"{op}: kernel {errno.errorcode.get(expected or 0, expected)}, "
            f"ours {errno.errorcode.get(got or 0, got)}; steps {steps}"
        )
        if op[0] in ("remove", "removedir", "rename", "exchange") and expected is None:
            gone.append(op[1])
        kernel_tree, our_tree = posix_tree(kernel_root), posix_tree(our_root)
        compared()
        assert our_tree == kernel_tree, describe(steps, kernel_tree, our_tree)
        assert inode_groups(our_root) == inode_groups(kernel_root), f"after {steps}"


def describe(steps: list[Op], kernel: dict[str, typing.Any], ours: dict[str, typing.Any]) -> str:
    diff = [
        f"  {path}: kernel={kernel.get(path, '<absent>')!r} ours={ours.get(path, '<absent>')!r}"
        for path in sorted(set(kernel) | set(ours))
        if kernel.get(path, "<absent>") != ours.get(path, "<absent>")
    ]
    return "after " + repr(steps) + "\n" + "\n".join(diff)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(operations, min_size=1, max_size=12))
def test_mount_agrees_with_the_kernel(ops):
    fuse_or_skip()
    kernel_overlay_or_skip()
    check_sequence(ops)


HARD_LINK_SEQUENCES: list[list[Op]] = [
    [("link", "/f", "/d/b"), ("append", "/d/b", b"1"), ("truncate", "/f", 3),
     ("chmod", "/d/b", 0o600), ("write", "/f", b"new data")],
    [("link", "/f", "/n"), ("rename", "/f", "/n"), ("rename", "/n", "/h")],
    [("link", "/f", "/n"), ("remove", "/f"), ("write", "/n", b"0123456789"), ("link", "/n", "/f")],
    [("link", "/d/x", "/x2"), ("rename", "/d", "/q"), ("append", "/q/x", b"1"),
     ("remove", "/q/x"), ("link", "/x2", "/q/x")],
    [("remove", "/h"), ("link", "/d/e/k", "/h"), ("link", "/h", "/g/b"), ("rename", "/a", "/h")],
    [("symlink", "/s", "a"), ("link", "/s", "/s2"), ("link", "/d", "/n"), ("link", "/f", "/h")],
]


def test_hard_link_sequences_agree_with_the_kernel():
    """Fixed sequences around hard links (both sides must agree step by step)."""
    fuse_or_skip()
    kernel_overlay_or_skip()
    for ops in HARD_LINK_SEQUENCES:
        check_sequence(ops)


SPECIAL_FILE_SEQUENCES: list[list[Op]] = [
    [("mkfifo", "/n"), ("write", "/n", b"x"), ("rename", "/n", "/f"), ("link", "/f", "/g/p"),
     ("chmod", "/f", 0o600), ("remove", "/g/p")],
    [("mksock", "/d/s"), ("rename", "/d", "/q"), ("append", "/q/s", b"1"),
     ("truncate", "/q/s", 0), ("chmod", "/q/s", 0o755)],
    [("remove", "/a"), ("mkfifo", "/a"), ("rename", "/h", "/a"), ("mksock", "/h"),
     ("mkfifo", "/h"), ("removedir", "/h"), ("rename", "/h", "/d/x")],
    [("exchange", "/f", "/h"), ("fallocate", "/f", 0, 0, 16), ("exchange", "/f", "/d/x"),
     ("fallocate", "/d/x", 0x03, 2, 4), ("fallocate", "/h", 0x01, 8, 16), ("mkfifo", "/n"),
     ("exchange", "/n", "/f"), ("fallocate", "/f", 0, 0, 1), ("mksock", "/d/s"),
     ("exchange", "/d/s", "/g/w"), ("symlink", "/s", "a"), ("exchange", "/s", "/a"),
     ("exchange", "/a", "/missing"), ("link", "/h", "/q"), ("exchange", "/q", "/h")],
]


def test_special_file_sequences_agree_with_the_kernel():
    """Fixed sequences with FIFOs, sockets, exchanges and ``fallocate`` (agreeing step by step)."""
    fuse_or_skip()
    kernel_overlay_or_skip()
    for ops in SPECIAL_FILE_SEQUENCES:
        check_sequence(ops)
