"""Special files and ``O_RDONLY|O_TRUNC`` through a FUSE mount, beside the kernel overlay (#21).

``mkfifo``, ``mknod`` (device nodes as root) and ``bind()`` of a Unix domain
socket on a path inside the mount make the node in the upper; a lower FIFO
is copied up as a FIFO (never read). Each scenario runs on our mount and on
``mount -t overlay`` over copies of the same lower, and both must answer
alike. The lower directories are checked unchanged.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import os
import socket
import stat
import struct
import subprocess
import sys
import threading

import pytest

from unionfs_lib import MarkerWhiteouts, OverlayFS
from unionfs_lib.mount.daemon import mount_in_thread

from ..support.kernel import KernelMount, compared, kernel_overlay_or_skip
from ..support.mounting import fill_os_dir, fuse_or_skip

LOWER = {"/a.txt": b"lower a", "/d": None, "/d/x": b"lower x"}
ROOT = os.geteuid() == 0


def make_lower(root: str) -> None:
    os.makedirs(root)
    fill_os_dir(root, LOWER)
    os.mkfifo(os.path.join(root, "fifo"), 0o640)
    os.mkfifo(os.path.join(root, "d", "pipe"), 0o600)


@pytest.fixture
def lower(tmp_path, unchanged_lowers):
    root = str(tmp_path / "lower")
    make_lower(root)
    return unchanged_lowers.watch(root)


@pytest.fixture
def mounted(overlay_mount, lower, tmp_path):
    fuse_or_skip()
    return str(overlay_mount(lower, upper=tmp_path / "upper"))


@pytest.fixture
def kernel_mounted(tmp_path):
    """A kernel overlay over a fresh lower like ``lower``."""
    kernel_overlay_or_skip()
    base = tmp_path / "kernel"
    make_lower(str(base / "lower"))
    for name in ("upper", "work"):
        (base / name).mkdir()
    with KernelMount([str(base / "lower")], str(base / "upper"), str(base / "work"),
                     str(base / "merged")) as root:
        yield root


def fifo_round_trip(path: str) -> bytes:
    """Write through FIFO ``path`` in a thread and read it back."""
    def write() -> None:
        with open(path, "wb") as pipe:
            pipe.write(b"through the fifo")

    writer = threading.Thread(target=write)
    writer.start()
    with open(path, "rb") as pipe:
        data = pipe.read()
    writer.join()
    return data


def special_scenario(root: str) -> dict[str, object]:
    """Make, use, rename and remove special files under ``root``; return what was seen."""
    seen: dict[str, object] = {}
    os.mkfifo(os.path.join(root, "new-fifo"), 0o600)
    seen["new-fifo"] = stat.S_IFMT(os.lstat(os.path.join(root, "new-fifo")).st_mode)
    seen["round-trip"] = fifo_round_trip(os.path.join(root, "new-fifo"))
    seen["lower-fifo"] = fifo_round_trip(os.path.join(root, "fifo"))
    os.chmod(os.path.join(root, "fifo"), 0o604)  # copies the lower FIFO up
    found = os.lstat(os.path.join(root, "fifo"))
    seen["copied-up"] = (stat.S_IFMT(found.st_mode), stat.S_IMODE(found.st_mode))
    os.rename(os.path.join(root, "d", "pipe"), os.path.join(root, "pipe"))
    seen["renamed"] = stat.S_ISFIFO(os.lstat(os.path.join(root, "pipe")).st_mode)
    os.link(os.path.join(root, "pipe"), os.path.join(root, "pipe2"))
    seen["linked"] = os.lstat(os.path.join(root, "pipe2")).st_nlink
    os.unlink(os.path.join(root, "pipe2"))
    os.unlink(os.path.join(root, "new-fifo"))
    seen["listing"] = sorted(os.listdir(root)), sorted(os.listdir(os.path.join(root, "d")))
    with pytest.raises(FileExistsError):
        os.mkfifo(os.path.join(root, "a.txt"))
    seen["socket"] = socket_round_trip(os.path.join(root, "d", "sock"))
    seen["socket-type"] = stat.S_ISSOCK(os.lstat(os.path.join(root, "d", "sock")).st_mode)
    if ROOT:
        os.mknod(os.path.join(root, "null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.mknod(os.path.join(root, "loop"), stat.S_IFBLK | 0o600, os.makedev(7, 200))
        seen["devices"] = [
            (stat.S_IFMT(found.st_mode), found.st_rdev)
            for found in (os.lstat(os.path.join(root, name)) for name in ("null", "loop"))
        ]
        with pytest.raises(PermissionError) as caught:  # a whiteout: EPERM
            os.mknod(os.path.join(root, "white"), stat.S_IFCHR | 0o600, os.makedev(0, 0))
        seen["whiteout"] = caught.value.errno
    return seen


def socket_round_trip(path: str) -> bytes:
    """Bind a Unix domain socket at ``path``, connect from another one, exchange bytes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)
            accepted, _ = server.accept()
            with accepted:
                client.sendall(b"over the socket")
                return accepted.recv(100)


def test_fifos_sockets_and_devices_as_on_the_kernel_overlay(mounted, kernel_mounted):
    ours = special_scenario(mounted)
    assert ours == special_scenario(kernel_mounted)
    compared()
    assert ours["round-trip"] == b"through the fifo"
    assert ours["socket"] == b"over the socket"
    if ROOT:
        assert ours["whiteout"] == errno.EPERM


def test_the_upper_holds_the_nodes(mounted, tmp_path):
    os.mkfifo(os.path.join(mounted, "f"))
    os.chmod(os.path.join(mounted, "fifo"), 0o600)
    for name in ("f", "fifo"):
        assert stat.S_ISFIFO(os.lstat(tmp_path / "upper" / name).st_mode)


def truncate_scenario(root: str) -> tuple[bytes, bytes]:
    """Open a lower file and a new one ``O_RDONLY|O_TRUNC``; return their bytes after."""
    os.close(os.open(os.path.join(root, "a.txt"), os.O_RDONLY | os.O_TRUNC))
    with open(os.path.join(root, "mine"), "wb") as handle:
        handle.write(b"mine")
    fd = os.open(os.path.join(root, "mine"), os.O_RDONLY | os.O_TRUNC)
    assert os.read(fd, 10) == b""
    os.close(fd)
    with open(os.path.join(root, "a.txt"), "rb") as first, \
            open(os.path.join(root, "mine"), "rb") as second:
        return first.read(), second.read()


def test_read_only_open_with_o_trunc_truncates_as_the_kernel_does(mounted, kernel_mounted):
    assert truncate_scenario(mounted) == truncate_scenario(kernel_mounted) == (b"", b"")
    compared()


FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)


def fallocate(fd: int, mode: int, offset: int, size: int) -> int:
    """Call ``fallocate(2)``; return 0 or the errno."""
    return 0 if _libc.fallocate(fd, mode, offset, size) == 0 else ctypes.get_errno()


def fallocate_scenario(root: str) -> list[object]:
    """fallocate modes on a lower file (copied up first) and a new one; what each shows."""
    seen: list[object] = []
    for name in ("a.txt", "new"):
        path = os.path.join(root, name)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            seen.append(fallocate(fd, 0, 0, 20))
            seen.append(os.fstat(fd).st_size)
            seen.append(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 100))
            seen.append(os.fstat(fd).st_size)
            os.pwrite(fd, b"x" * 20, 0)
            seen.append(fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 4, 8))
            seen.append(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 4, 8))  # EOPNOTSUPP without KEEP_SIZE
        finally:
            os.close(fd)
        with open(path, "rb") as handle:
            seen.append(handle.read())
    return seen


def test_fallocate_as_the_kernel_does(mounted, kernel_mounted):
    ours = fallocate_scenario(mounted)
    assert ours == fallocate_scenario(kernel_mounted)
    compared()
    assert ours[0] == 0 and ours[1] == 20
    assert ours[6] == b"xxxx" + b"\0" * 8 + b"x" * 8


def exchange(first: str, second: str) -> int:
    """Call ``renameat2(RENAME_EXCHANGE)``; return 0 or the errno."""
    function = _libc.renameat2
    function.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint)
    at_cwd = -100
    done = function(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second), 2)
    return 0 if done == 0 else ctypes.get_errno()


def exchange_scenario(root: str) -> list[object]:
    """Exchange lower and upper files, a link and a FIFO; what each step shows."""
    def join(name: str) -> str:
        return os.path.join(root, name)

    seen: list[object] = []
    with open(join("mine"), "wb") as handle:
        handle.write(b"mine")
    os.symlink("a.txt", join("lnk"))
    numbers = {name: os.lstat(join(name)).st_ino for name in ("a.txt", "mine", "d/x", "fifo")}
    seen.append(exchange(join("a.txt"), join("mine")))
    seen.append(exchange(join("d/x"), join("lnk")))
    seen.append(exchange(join("fifo"), join("d/x")))
    seen.append(exchange(join("mine"), join("missing")))
    seen.append(sorted(os.listdir(root)))
    for name in ("a.txt", "mine", "fifo", "d/lnk" if os.path.lexists(join("d/lnk")) else "lnk"):
        found = os.lstat(join(name))
        if stat.S_ISREG(found.st_mode):
            with open(join(name), "rb") as reading:
                seen.append((name, reading.read()))
        elif stat.S_ISLNK(found.st_mode):
            seen.append((name, os.readlink(join(name))))
    seen.append(stat.S_ISFIFO(os.lstat(join("d/x")).st_mode))
    moved = {"mine": "a.txt", "a.txt": "mine"}
    seen.append([os.lstat(join(moved[name])).st_ino == numbers[name] for name in moved])
    return seen


def test_rename_exchange_as_the_kernel_does(mounted, kernel_mounted):
    ours = exchange_scenario(mounted)
    assert ours == exchange_scenario(kernel_mounted)
    compared()
    assert ours[:4] == [0, 0, 0, errno.ENOENT]
    assert ours[-1] == [True, True]


FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_NOATIME_FL = 0x80086601, 0x40086602, 0x80


def inode_flags(path: str, add: int = 0) -> int | str:
    """Return the inode flags of ``path`` (after adding ``add``), or the errno's name."""
    try:
        number = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        return errno.errorcode[error.errno or 0]
    try:
        flags = struct.unpack("=I", fcntl.ioctl(number, FS_IOC_GETFLAGS, bytes(4)))[0]
        if add:
            fcntl.ioctl(number, FS_IOC_SETFLAGS, struct.pack("=I", flags | add))
            flags = struct.unpack("=I", fcntl.ioctl(number, FS_IOC_GETFLAGS, bytes(4)))[0]
        return int(flags)
    except OSError as error:
        return errno.errorcode[error.errno or 0]
    finally:
        os.close(number)


def flags_scenario(root: str) -> list[object]:
    """``lsattr`` and ``chattr +A`` on the root, a lower file, a lower directory, a FIFO."""
    join = functools.partial(os.path.join, root)
    seen: list[object] = [inode_flags(join(name)) for name in ("", "a.txt", "d", "fifo")]
    seen.extend(inode_flags(join(name), FS_NOATIME_FL) for name in ("a.txt", "d", "d/x"))
    with open(join("d", "x"), "rb") as reading:
        seen.append(reading.read())
    return seen


def test_inode_flags_as_the_kernel_answers_them(mounted, kernel_mounted, lower, tmp_path):
    """``FS_IOC_GETFLAGS`` shows the layer inode's flags; ``SETFLAGS`` copies up first."""
    ours = flags_scenario(mounted)
    assert ours == flags_scenario(kernel_mounted)
    compared()
    assert all(isinstance(flags, int) for flags in ours[:3])
    noatime = [flags for flags in ours[4:7] if isinstance(flags, int) and flags & FS_NOATIME_FL]
    assert len(noatime) == 3
    upper = str(tmp_path / "upper")
    assert inode_flags(os.path.join(lower, "a.txt")) == ours[1]  # the lower kept its flags
    assert inode_flags(os.path.join(upper, "a.txt")) == ours[4]


#: The shared mappings of :func:`test_shared_mmap_of_a_hard_linked_file_keeps_both_names_coherent`,
#: run in a child process: a page fault on a mount served by threads of the
#: faulting process waits for a reply those threads cannot give while the
#: fault holds the interpreter's lock (the mount fixture serves in-process).
SHARED_MMAP = """
import mmap, os, sys
first, second = sys.argv[1:]
fd = os.open(first, os.O_RDWR)
with mmap.mmap(fd, 7, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as mapped:
    mapped[:5] = b"MAPPD"
    mapped.flush()
    with open(second, "rb") as handle:
        print(handle.read())
    other = os.open(second, os.O_WRONLY)
    os.pwrite(other, b"w", 6)
    os.close(other)
    print(mapped[:])
readonly = os.open(second, os.O_RDONLY)
with mmap.mmap(readonly, 7, mmap.MAP_SHARED, mmap.PROT_READ) as mapped:
    print(mapped[:])
os.close(readonly)
os.close(fd)
"""


def test_shared_mmap_of_a_hard_linked_file_keeps_both_names_coherent(mounted):
    """``mmap(MAP_SHARED)`` works on a file with two names, and each name sees the other's writes.

    Linked files were opened with ``direct_io``, which the kernel refuses
    to map shared (``ENODEV``).
    """
    first, second = os.path.join(mounted, "a.txt"), os.path.join(mounted, "d", "linked")
    os.link(first, second)
    done = subprocess.run(
        [sys.executable, "-c", SHARED_MMAP, first, second],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr[-1000:]
    assert done.stdout.splitlines() == ["b'MAPPD a'", "b'MAPPD w'", "b'MAPPD w'"]


def test_rename_exchange_keeps_identity_records_in_the_marker_store(tmp_path):
    fuse_or_skip()
    lower, upper, work, merged = (str(tmp_path / name) for name in ("l", "u", "w", "m"))
    make_lower(lower)
    for path in (upper, work, merged):
        os.mkdir(path)

    def numbers() -> dict[str, tuple[int, bytes]]:
        overlay = OverlayFS.from_dirs([lower], upper, work, whiteouts=MarkerWhiteouts())
        mounted = mount_in_thread(overlay, merged)
        try:
            found = {}
            for name in ("a.txt", "d/x", "mine"):
                if os.path.exists(os.path.join(merged, name)):
                    with open(os.path.join(merged, name), "rb") as reading:
                        found[name] = (os.stat(os.path.join(merged, name)).st_ino, reading.read())
            if "mine" not in found:
                with open(os.path.join(merged, "mine"), "wb") as writing:
                    writing.write(b"mine")
                before = {name: os.stat(os.path.join(merged, name)).st_ino
                          for name in ("a.txt", "d/x", "mine")}
                assert exchange(os.path.join(merged, "a.txt"), os.path.join(merged, "d/x")) == 0
                assert exchange(os.path.join(merged, "d/x"), os.path.join(merged, "mine")) == 0
                after = {name: os.stat(os.path.join(merged, name)).st_ino
                         for name in ("a.txt", "d/x", "mine")}
                assert after == {"a.txt": before["d/x"], "d/x": before["mine"],
                                 "mine": before["a.txt"]}
        finally:
            mounted.unmount()
        return found

    numbers()
    remounted = numbers()
    assert {name: data for name, (_, data) in remounted.items()} == {
        "a.txt": b"lower x", "d/x": b"mine", "mine": b"lower a"}
    assert numbers() == remounted
