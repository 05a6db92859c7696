"""POSIX semantics through a FUSE mount of an overlay (the ``overlay_mount`` fixture).

Every test works on a real mount with ``os`` calls or real programs; the
lower directories are hashed before and checked unchanged after.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import textwrap

import pytest
from fs.memoryfs import MemoryFS
from fs.tempfs import TempFS

from ..support.mounting import DaemonMount, fill_os_dir, fuse_or_skip, mount_options, posix_tree

LOWER = {
    "/a.txt": b"lower a",
    "/run.sh": b"#!/bin/sh\necho hi\n",
    "/d": None,
    "/d/x": b"lower x",
    "/d/sub": None,
    "/d/sub/y": b"lower y",
    "/empty": None,
}
MODES = {"/run.sh": 0o755, "/d/x": 0o600}
LINKS = {"/lnk": "a.txt", "/dlnk": "d", "/d/dangling": "../nowhere"}


@pytest.fixture
def lower(unchanged_lowers):
    return unchanged_lowers.make(LOWER, MODES, LINKS)


@pytest.fixture
def mounted(overlay_mount, lower):
    fuse_or_skip()
    return overlay_mount(lower)


def test_lower_tree_shows_through_with_modes(mounted, lower):
    assert posix_tree(str(mounted)) == posix_tree(lower)


def test_writes_land_in_the_upper_only(overlay_mount, lower, tmp_path):
    fuse_or_skip()
    upper = tmp_path / "upper"
    root = overlay_mount(lower, upper=upper)
    (root / "a.txt").write_bytes(b"changed")
    (root / "new").write_bytes(b"new")
    os.unlink(root / "d" / "x")
    assert (upper / "a.txt").read_bytes() == b"changed"
    assert (upper / "new").read_bytes() == b"new"
    assert stat.S_ISCHR(os.lstat(upper / "d" / "x").st_mode)  # a kernel-format whiteout
    assert sorted(os.listdir(root / "d")) == ["dangling", "sub"]


def test_copy_up_keeps_mode_and_inode(overlay_mount, lower):
    fuse_or_skip()
    root = overlay_mount([TempFS_from(lower)])
    before = os.stat(root / "run.sh")
    with open(root / "run.sh", "ab") as handle:
        handle.write(b"echo more\n")
    after = os.stat(root / "run.sh")
    assert stat.S_IMODE(after.st_mode) == 0o755
    assert after.st_ino == before.st_ino
    assert after.st_nlink == 1


def TempFS_from(directory: str) -> TempFS:
    """Return a TempFS copy of ``directory`` (an FS layer: records keep inode numbers)."""
    layer = TempFS()
    shutil.copytree(directory, layer.getsyspath("/"), symlinks=True, dirs_exist_ok=True)
    return layer


def test_one_device_and_distinct_inodes(mounted):
    found = [os.lstat(os.path.join(d, n)) for d, ds, fs_ in os.walk(mounted) for n in ds + fs_]
    assert len({entry.st_dev for entry in found}) == 1
    assert len({entry.st_ino for entry in found}) == len(found)
    readdir_inos = {entry.name: entry.inode() for entry in os.scandir(mounted)}
    assert readdir_inos["a.txt"] == os.lstat(mounted / "a.txt").st_ino


def test_memory_layers_mount(overlay_mount):
    fuse_or_skip()
    layer = MemoryFS()
    layer.makedirs("/m/n")
    layer.writebytes("/m/n/f", b"in memory")
    root = overlay_mount(layer, upper=MemoryFS())
    assert (root / "m" / "n" / "f").read_bytes() == b"in memory"
    (root / "m" / "n" / "g").write_bytes(b"new")
    os.rename(root / "m", root / "m2")
    assert sorted(os.listdir(root / "m2" / "n")) == ["f", "g"]
    assert layer.listdir("/") == ["m"]


def test_directory_rename_is_a_redirect(overlay_mount, lower, tmp_path):
    fuse_or_skip()
    upper = tmp_path / "upper"
    root = overlay_mount(lower, upper=upper)
    os.rename(root / "d", root / "moved")  # never EXDEV
    assert sorted(os.listdir(root / "moved")) == ["dangling", "sub", "x"]
    assert (root / "moved" / "sub" / "y").read_bytes() == b"lower y"
    assert not (root / "d").exists()
    copied = [
        name for where, _, names in os.walk(upper) for name in names
        if stat.S_ISREG(os.lstat(os.path.join(where, name)).st_mode)
    ]
    assert copied == [], "a directory rename copied files"


def test_rename_replaces_and_noreplace_refuses(mounted):
    os.rename(mounted / "a.txt", mounted / "d" / "x")
    assert (mounted / "d" / "x").read_bytes() == b"lower a"
    os.rename(mounted / "d" / "sub", mounted / "empty")  # onto an empty directory
    assert os.listdir(mounted / "empty") == ["y"]
    with pytest.raises(OSError) as caught:
        os.rename(mounted / "d", mounted / "empty")
    assert caught.value.errno == errno.ENOTEMPTY
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    at_fdcwd, noreplace = -100, 1
    result = libc.renameat2(at_fdcwd, bytes(mounted / "run.sh"), at_fdcwd,
                            bytes(mounted / "d" / "x"), noreplace)
    assert result == -1 and ctypes.get_errno() == errno.EEXIST


def test_errno_as_the_kernel_gives_it(mounted):
    cases = [
        (errno.ENOENT, lambda: os.stat(mounted / "missing")),
        (errno.EEXIST, lambda: os.mkdir(mounted / "d")),
        (errno.EEXIST, lambda: os.open(mounted / "a.txt", os.O_CREAT | os.O_EXCL | os.O_WRONLY)),
        (errno.ENOTEMPTY, lambda: os.rmdir(mounted / "d")),
        (errno.ENOTDIR, lambda: os.rmdir(mounted / "dlnk")),
        (errno.EISDIR, lambda: os.open(mounted / "d", os.O_WRONLY)),
        (errno.ENOTDIR, lambda: os.listdir(mounted / "a.txt")),
        (errno.ENOTDIR, lambda: os.rmdir(mounted / "a.txt")),
        (errno.EISDIR, lambda: os.unlink(mounted / "d")),
        (errno.EINVAL, lambda: os.rename(mounted / "d", mounted / "d" / "sub" / "inner")),
    ]
    for expected, call in cases:
        with pytest.raises(OSError) as caught:
            call()
        assert caught.value.errno == expected, (expected, caught.value)


def test_open_flags_over_lower_entries(mounted):
    fd = os.open(mounted / "a.txt", os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"t")
    os.close(fd)
    assert (mounted / "a.txt").read_bytes() == b"t"
    fd = os.open(mounted / "d" / "x", os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"+1")
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, b"+2")
    os.close(fd)
    assert (mounted / "d" / "x").read_bytes() == b"lower x+1+2"
    assert stat.S_IMODE(os.stat(mounted / "d" / "x").st_mode) == 0o600
    fd = os.open(mounted / "d" / "new", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640)
    os.close(fd)
    assert stat.S_IMODE(os.stat(mounted / "d" / "new").st_mode) == 0o640 & ~current_umask()
    with pytest.raises(IsADirectoryError):
        os.open(mounted / "d", os.O_CREAT | os.O_WRONLY)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_truncate_fsync_statfs(mounted):
    os.truncate(mounted / "d" / "sub" / "y", 3)
    assert (mounted / "d" / "sub" / "y").read_bytes() == b"low"
    os.truncate(mounted / "a.txt", 10)
    assert (mounted / "a.txt").read_bytes() == b"lower a\0\0\0"
    fd = os.open(mounted / "a.txt", os.O_RDWR)
    os.ftruncate(fd, 2)
    os.write(fd, b"ok")
    os.fsync(fd)
    os.fdatasync(fd)
    os.close(fd)
    assert (mounted / "a.txt").read_bytes() == b"ok"
    found = os.statvfs(mounted)
    assert found.f_bsize > 0 and found.f_blocks > 0


def test_chmod_chown_utime(mounted):
    os.chmod(mounted / "a.txt", 0o604)
    os.chmod(mounted / "d", 0o700)
    assert stat.S_IMODE(os.stat(mounted / "a.txt").st_mode) == 0o604
    assert stat.S_IMODE(os.stat(mounted / "d").st_mode) == 0o700
    os.utime(mounted / "d" / "x", ns=(1_000_000_123, 2_000_000_456))
    found = os.stat(mounted / "d" / "x")
    assert (found.st_atime_ns, found.st_mtime_ns) == (1_000_000_123, 2_000_000_456)
    if os.geteuid() == 0:
        os.chown(mounted / "d" / "sub" / "y", 1234, 5678)
        found = os.stat(mounted / "d" / "sub" / "y")
        assert (found.st_uid, found.st_gid) == (1234, 5678)


class DirStream:
    """libc's opendir/readdir/telldir/seekdir on a directory."""

    def __init__(self, path: str) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.opendir.restype = ctypes.c_void_p
        libc.readdir.restype = ctypes.POINTER(Dirent)
        libc.readdir.argtypes = [ctypes.c_void_p]
        libc.telldir.restype = ctypes.c_long
        libc.telldir.argtypes = [ctypes.c_void_p]
        libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
        libc.closedir.argtypes = [ctypes.c_void_p]
        self.libc = libc
        self.handle = libc.opendir(os.fsencode(path))
        assert self.handle

    def read(self, count: int | None = None) -> list[str]:
        names: list[str] = []
        while count is None or len(names) < count:
            entry = self.libc.readdir(self.handle)
            if not entry:
                break
            names.append(entry.contents.d_name.decode())
        return names

    def tell(self) -> int:
        return self.libc.telldir(self.handle)

    def seek(self, position: int) -> None:
        self.libc.seekdir(self.handle, position)

    def close(self) -> None:
        self.libc.closedir(self.handle)


def test_telldir_seekdir_resume_after_the_same_name(mounted):
    for index in range(40):
        (mounted / "empty" / f"f{index:02}").write_bytes(b"")
    stream = DirStream(str(mounted / "empty"))
    first = stream.read(12)
    position = stream.tell()
    remaining = stream.read()
    stream.seek(position)
    assert stream.read() == remaining
    stream.seek(position)
    os.unlink(mounted / "empty" / first[-1])  # a name before the position goes
    (mounted / "empty" / "f00a").write_bytes(b"")  # and a new one sorts before it
    assert stream.read() == remaining
    stream.close()
    assert sorted(first + remaining) == sorted([".", ".."] + [f"f{i:02}" for i in range(40)])


def test_a_large_directory_lists_every_name_once(overlay_mount, tmp_path):
    fuse_or_skip()
    names = [f"entry-with-a-longish-name-{index:05}" for index in range(3000)]
    fill_os_dir(str(tmp_path / "big"), {"/" + name: b"" for name in names})
    root = overlay_mount(str(tmp_path / "big"))
    (root / "added-in-the-upper").write_bytes(b"")
    expected = sorted(names + ["added-in-the-upper"])
    assert sorted(os.listdir(root)) == expected
    stream = DirStream(str(root))
    head = stream.read(1700)  # several kernel buffers' worth
    position = stream.tell()
    tail = stream.read()
    assert sorted(head + tail) == sorted(expected + [".", ".."])
    stream.seek(position)
    assert stream.read() == tail
    stream.close()


class Dirent(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64),
                ("d_reclen", ctypes.c_ushort), ("d_type", ctypes.c_ubyte),
                ("d_name", ctypes.c_char * 256)]


SCRIPT = textwrap.dedent("""\
    set -e
    cp -a "$SRC" copied
    mv copied/inner copied/renamed
    mv d d2
    ln -s ../a.txt d2/rel-link
    ln -s run.sh run-link
    mv lnk lnk-moved
    rm dlnk
    mv a.txt d2/a-moved.txt
    chmod 640 d2/x
    chmod -R go-rwx d2/sub
    rm -r copied/renamed/deep
    mkdir -p unpacked
    tar -xf "$TARBALL" -C unpacked
    ln -f run.sh run-hard.sh 2>/dev/null || true
    rm -f run-hard.sh
    find . -name '*.txt' -newer run.sh -print > /dev/null
    find . -type f -name 'y' -exec sh -c 'echo changed >> "$1"' _ {} \\;
    rm -r empty
    """)


def test_coreutils_behave_as_on_a_plain_directory(overlay_mount, lower, tmp_path):
    """The same shell script on a plain copy of the lower and on the mount: same tree."""
    fuse_or_skip()
    source = tmp_path / "source"
    fill_os_dir(str(source), {"/inner": None, "/inner/deep": None, "/inner/deep/f": b"f",
                       "/inner/g": b"g", "/top": b"top"}, {"/inner/g": 0o700})
    os.symlink("g", source / "inner" / "g-link")
    os.symlink("/nowhere/at/all", source / "inner" / "dangling")
    tarball = tmp_path / "t.tar"
    with tarfile.open(tarball, "w") as archive:
        for index in range(20):
            path = tmp_path / f"member{index}"
            path.write_bytes(b"m" * index)
            archive.add(path, arcname=f"pkg/dir{index % 3}/member{index}")
    plain = tmp_path / "plain"
    shutil.copytree(lower, plain, symlinks=True)
    root = overlay_mount(lower)
    env = {**os.environ, "SRC": str(source), "TARBALL": str(tarball)}
    for where in (plain, root):
        subprocess.run(["sh", "-c", SCRIPT], cwd=where, env=env, check=True)
    assert posix_tree(str(root)) == posix_tree(str(plain))


WRITER = textwrap.dedent("""\
    import os, sys
    root, me = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(root, "w", me), exist_ok=True)
    for index in range(40):
        with open(os.path.join(root, "w", me, str(index)), "wb") as handle:
            handle.write(me.encode() * (index + 1))
        fd = os.open(os.path.join(root, "log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, (me + "\\n").encode())
        os.close(fd)
        with open(os.path.join(root, "d", "x"), "ab") as handle:
            handle.write(b"")
    """)


def test_several_processes_write_at_once(mounted):
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(mounted), name])
        for name in "pqrs"
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0, 0, 0]
    for name in "pqrs":
        files = sorted(os.listdir(mounted / "w" / name), key=int)
        assert len(files) == 40
        for index in range(40):
            assert (mounted / "w" / name / str(index)).read_bytes() == name.encode() * (index + 1)
    lines = (mounted / "log").read_text().split()
    assert sorted(lines) == sorted(list("pqrs") * 40)
    assert (mounted / "d" / "x").read_bytes() == b"lower x"


def test_symbolic_links_are_shown_as_links_and_never_followed(mounted, lower):
    assert {name: os.readlink(mounted / name.lstrip("/")) for name in LINKS} == LINKS
    assert stat.S_ISLNK(os.lstat(mounted / "dlnk").st_mode)
    assert (mounted / "lnk").read_bytes() == b"lower a"
    assert sorted(os.listdir(mounted / "dlnk")) == ["dangling", "sub", "x"]
    os.symlink("d/sub/y", mounted / "new-link")
    assert (mounted / "new-link").read_bytes() == b"lower y"
    os.rename(mounted / "lnk", mounted / "d" / "moved-link")  # a lower link stays a link
    assert os.readlink(mounted / "d" / "moved-link") == "a.txt"
    assert not os.path.lexists(mounted / "lnk")
    os.unlink(mounted / "dlnk")
    os.unlink(mounted / "d" / "dangling")
    assert sorted(os.listdir(mounted)) == ["a.txt", "d", "empty", "new-link", "run.sh"]
    os.utime(mounted / "new-link", ns=(5, 6), follow_symlinks=False)
    assert os.lstat(mounted / "new-link").st_mtime_ns == 6
    with pytest.raises(FileExistsError):
        os.symlink("x", mounted / "a.txt")


def test_user_extended_attributes_copy_up_and_private_ones_stay_hidden(overlay_mount, lower,
                                                                        tmp_path):
    fuse_or_skip()
    upper = tmp_path / "upper"
    root = overlay_mount(lower, upper=upper)
    try:
        os.setxattr(root / "a.txt", "user.colour", b"blue")
    except OSError as error:
        pytest.skip(f"user extended attributes refused here: {error}")
    assert os.getxattr(root / "a.txt", "user.colour") == b"blue"
    assert os.getxattr(upper / "a.txt", "user.colour") == b"blue"
    assert (root / "a.txt").read_bytes() == b"lower a"  # copied up with its data
    os.rename(root / "d", root / "d-moved")  # the upper directory gets trusted.overlay.redirect
    assert any(name.startswith("trusted.overlay.") for name in os.listxattr(upper / "d-moved"))
    assert os.listxattr(root / "d-moved") == []
    with pytest.raises(OSError) as caught:
        os.getxattr(root / "d-moved", "trusted.overlay.redirect")
    assert caught.value.errno == errno.ENODATA
    with pytest.raises(OSError) as caught:
        os.setxattr(root / "d-moved", "trusted.overlay.opaque", b"y")
    assert caught.value.errno == errno.ENOTSUP
    os.removexattr(root / "a.txt", "user.colour")
    assert os.listxattr(root / "a.txt") == []


def test_inode_numbers_survive_copy_up_rename_and_remount_in_the_kernel_format(lower, tmp_path):
    fuse_or_skip()
    dirs = {name: tmp_path / name for name in ("upper", "work", "merged")}
    for path in dirs.values():
        path.mkdir()
    options = mount_options([lower], str(dirs["upper"]), str(dirs["work"]))
    with DaemonMount(options, str(dirs["merged"])):
        root = dirs["merged"]
        (root / "made").mkdir()
        (root / "made" / "f").write_bytes(b"new")
        before = {name: os.lstat(root / name).st_ino for name in ("a.txt", "d/x", "made", "lnk")}
        with open(root / "a.txt", "ab") as handle:  # copy-up by a write
            handle.write(b"!")
        os.chmod(root / "d" / "x", 0o644)  # copy-up by chmod
        os.rename(root / "made", root / "made2")  # an upper directory renamed
        os.rename(root / "lnk", root / "lnk2")  # a lower link renamed
        after = {"a.txt": os.lstat(root / "a.txt").st_ino, "d/x": os.lstat(root / "d" / "x").st_ino,
                 "made": os.lstat(root / "made2").st_ino, "lnk": os.lstat(root / "lnk2").st_ino}
        assert after == before
        listed = {entry.name: entry.inode() for entry in os.scandir(root)}
        assert listed["a.txt"] == before["a.txt"] and listed["made2"] == before["made"]
        assert os.listxattr(root / "a.txt") == []  # the pinned number is not shown
    with DaemonMount(options, str(dirs["merged"])):
        root = dirs["merged"]
        assert os.lstat(root / "a.txt").st_ino == before["a.txt"]
        assert os.lstat(root / "made2").st_ino == before["made"]


def test_the_fixture_comes_from_the_registered_plugin(request):
    assert request.config.pluginmanager.has_plugin("unionfs_lib_mount")


# -- setgid directories: new entries take the directory's group, as the kernel gives ---


SETGID_GROUP = 1234
OTHER_USER = 4321


def _setgid_layout(root: str) -> dict[str, str]:
    """A lower with a setgid directory of group ``SETGID_GROUP``; upper, work, mount point."""
    dirs = {name: os.path.join(root, name) for name in ("lower", "upper", "work", "merged")}
    for path in dirs.values():
        os.makedirs(path)
    os.makedirs(os.path.join(dirs["lower"], "sg", "inner"))
    for path in (os.path.join(dirs["lower"], "sg"), os.path.join(dirs["lower"], "sg", "inner")):
        os.chown(path, 0, SETGID_GROUP)
        os.chmod(path, 0o2777)
    return dirs


_SETGID_SCRIPT = (
    "umask 022 && mkdir {m}/sg/{who}dir && mkdir {m}/sg/inner/{who}dir "
    "&& touch {m}/sg/{who}file && mkdir {m}/sg/{who}dir/deeper && touch {m}/sg/{who}dir/f"
)


def _setgid_ops(merged: str) -> dict[str, tuple[str, int]]:
    """Create entries in the setgid directory as root and as another user; return mode, gid."""
    as_root = _SETGID_SCRIPT.format(m=merged, who="root")
    as_user = _SETGID_SCRIPT.format(m=merged, who="user")
    subprocess.run(["sh", "-c", as_root], check=True)
    subprocess.run(["sh", "-c", as_user], check=True, user=OTHER_USER, group=OTHER_USER,
                   extra_groups=[])
    found = {}
    for base, dirs, files in os.walk(os.path.join(merged, "sg")):
        for name in [".", *dirs, *files]:
            path = os.path.normpath(os.path.join(base, name))
            st = os.lstat(path)
            found[os.path.relpath(path, merged)] = (oct(stat.S_IMODE(st.st_mode)), st.st_gid)
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another group and other users need root")
def test_new_entries_in_a_setgid_directory_take_its_group_as_in_the_kernel():
    import tempfile

    from ..support.kernel import KernelMount, kernel_overlay_or_skip

    fuse_or_skip()
    kernel_overlay_or_skip()
    results = {}
    for how in ("kernel", "mount"):
        root = tempfile.mkdtemp(prefix=f"setgid-{how}-")
        os.chmod(root, 0o755)  # the other user must reach the mount point
        try:
            dirs = _setgid_layout(root)
            if how == "kernel":
                with KernelMount([dirs["lower"]], dirs["upper"], dirs["work"], dirs["merged"]):
                    results[how] = _setgid_ops(dirs["merged"])
            else:
                options = mount_options(
                    [dirs["lower"]], dirs["upper"], dirs["work"], "allow_other"
                )
                with DaemonMount(options, dirs["merged"]):
                    results[how] = _setgid_ops(dirs["merged"])
        finally:
            shutil.rmtree(root, ignore_errors=True)
    assert results["kernel"]["sg/rootdir"] == ("0o2755", SETGID_GROUP)  # the oracle itself
    assert results["kernel"]["sg/userfile"][1] == SETGID_GROUP
    assert results["mount"] == results["kernel"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another group needs root")
def test_a_new_directory_keeps_the_setgid_bit_with_the_marker_store(overlay_mount, tmp_path):
    fuse_or_skip()
    lower = tmp_path / "lower"
    (lower / "sg").mkdir(parents=True)
    os.chown(lower / "sg", 0, SETGID_GROUP)
    os.chmod(lower / "sg", 0o2775)
    merged = overlay_mount(str(lower))
    os.mkdir(merged / "sg" / "new", 0o755)
    (merged / "sg" / "file").write_bytes(b"")
    found = os.lstat(merged / "sg" / "new")
    assert found.st_mode & stat.S_ISGID and found.st_gid == SETGID_GROUP
    assert os.lstat(merged / "sg" / "file").st_gid == SETGID_GROUP
