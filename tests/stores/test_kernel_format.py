"""The Linux overlayfs on-disk format: KernelWhiteouts, from_dirs, and both directions.

The format checks read the upper with ``os`` (device numbers, extended
attributes); the compatibility checks mount a real kernel overlay over the
same directories and compare the trees (they skip where mounting is refused).
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import closing

import fs.errors
import pytest
from fs.memoryfs import MemoryFS

from unionfs_lib import CopyUpEngine, MarkerWhiteouts, OverlayFS
from unionfs_lib.errors import KernelFormatUnsupported
from unionfs_lib.host.posix import PIN_NAMES
from unionfs_lib.layers.kernel_mount import split_lowerdirs
from unionfs_lib.stores.kernel_whiteouts import KernelWhiteouts, is_whiteout

from ..support.helpers import forked_text, os_tree, tree
from ..support.kernel import (
    KernelMount,
    compared,
    fill_os_dir,
    kernel_overlay_or_skip,
    kernel_overlay_refusal,
)

TOP: dict[str, bytes | None] = {
    "/a": b"top a",
    "/d": None,
    "/d/x": b"top x",
    "/d/e": None,
    "/d/e/y": b"top y",
    "/g": None,
    "/g/w": b"top w",
}
BOTTOM: dict[str, bytes | None] = {
    "/a": None,
    "/a/q": b"bottom q",
    "/d": None,
    "/d/z": b"bottom z",
    "/h": b"bottom h",
    "/g": None,
    "/g/v": b"bottom v",
}

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="trusted.overlay.* attributes and setuid need root (not root here)"
)


@pytest.fixture
def dirs(tmp_path):
    """Two filled lowers and empty upper/work directories, as OS paths."""
    paths = {name: str(tmp_path / name) for name in ("top", "bottom", "upper", "work", "mnt")}
    for path in paths.values():
        os.mkdir(path)
    fill_os_dir(paths["top"], TOP)
    fill_os_dir(paths["bottom"], BOTTOM)
    paths["lowers"] = [paths["top"], paths["bottom"]]  # type: ignore[assignment]
    return paths


def open_overlay(dirs, **options) -> OverlayFS:
    return OverlayFS.from_dirs(dirs["lowers"], dirs["upper"], dirs["work"], **options)


def xattrs(path: str) -> dict[str, bytes]:
    """The attributes of ``path``, without the inode number the overlay pins on renamed entries."""
    return {
        name: os.getxattr(path, name, follow_symlinks=False)
        for name in os.listxattr(path, follow_symlinks=False)
        if name not in PIN_NAMES
    }


# -- what the store writes -------------------------------------------------------


@needs_root
def test_remove_writes_a_character_device_whiteout(dirs):
    with closing(open_overlay(dirs)) as overlay:
        overlay.remove("/a")
        assert not overlay.exists("/a")
        assert "a" not in overlay.listdir("/")
    st = os.lstat(os.path.join(dirs["upper"], "a"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert os.listdir(dirs["upper"]) == ["a"]


@needs_root
def test_makedir_over_a_whiteout_is_opaque_by_xattr(dirs):
    with closing(open_overlay(dirs)) as overlay:
        overlay.removetree("/d")
        overlay.makedir("/d")
        assert overlay.listdir("/d") == []
    upper_d = os.path.join(dirs["upper"], "d")
    assert os.path.isdir(upper_d)
    assert xattrs(upper_d).get("trusted.overlay.opaque") == b"y"
    assert os.listdir(upper_d) == []


@needs_root
def test_movedir_writes_an_absolute_redirect(dirs):
    with closing(open_overlay(dirs)) as overlay:
        overlay.movedir("/d", "/g/moved", create=True)
        assert overlay.listdir("/g/moved") == ["e", "x", "z"]
        assert not overlay.exists("/d")
    moved = os.path.join(dirs["upper"], "g", "moved")
    assert xattrs(moved).get("trusted.overlay.redirect") == b"/d"
    assert is_whiteout(os.lstat(os.path.join(dirs["upper"], "d")))


@needs_root
def test_recreating_a_whited_out_file_replaces_the_device(dirs):
    with closing(open_overlay(dirs)) as overlay:
        overlay.remove("/a")
        overlay.writebytes("/a", b"again")
        assert overlay.readbytes("/a") == b"again"
        overlay.remove("/a")
        assert not overlay.exists("/a")
    assert is_whiteout(os.lstat(os.path.join(dirs["upper"], "a")))


def test_userxattr_uses_the_user_namespace(dirs):
    with closing(open_overlay(dirs, userxattr=True)) as overlay:
        overlay.removetree("/d")
        overlay.makedir("/d")
        overlay.movedir("/g", "/g2", create=True)
        assert overlay.listdir("/g2") == ["v", "w"]
    assert xattrs(os.path.join(dirs["upper"], "d")) == {"user.overlay.opaque": b"y"}
    assert xattrs(os.path.join(dirs["upper"], "g2")) == {"user.overlay.opaque": b"y"}
    assert not any(name.startswith("trusted.") for name in xattrs(dirs["upper"]))


def test_userxattr_with_redirects_writes_user_redirects(dirs):
    store = KernelWhiteouts(userxattr=True, redirect_dir=True)
    with closing(open_overlay(dirs, whiteouts=store)) as overlay:
        overlay.movedir("/g", "/g2", create=True)
        assert overlay.listdir("/g2") == ["v", "w"]
    assert xattrs(os.path.join(dirs["upper"], "g2")) == {"user.overlay.redirect": b"/g"}


@needs_root
def test_copy_up_goes_through_the_workdir(dirs):
    seen: list[list[str]] = []
    work = os.path.join(dirs["work"], "work")

    class Watching(CopyUpEngine):
        def _copy_data(self, sb, node, upper, temp, length, known=None):
            super()._copy_data(sb, node, upper, temp, length, known)
            seen.append(sorted(os.listdir(work)))
            seen.append([name for _, _, files in os.walk(dirs["upper"]) for name in files])

    with closing(open_overlay(dirs, copy_up=Watching())) as overlay:
        overlay.appendbytes("/d/x", b"+")
        assert overlay.readbytes("/d/x") == b"top x+"
    temp_names, upper_names = seen
    assert len(temp_names) == 1, "the copy is built in workdir/work"
    assert upper_names == [], "no file appears in the upper before the rename"
    assert os.listdir(work) == []
    assert sorted(os.listdir(dirs["upper"])) == ["d"]


@needs_root
def test_leftovers_in_the_work_directory_are_cleaned_at_open(dirs):
    work = os.path.join(dirs["work"], "work")
    os.makedirs(os.path.join(work, "interrupted-dir"))
    with open(os.path.join(work, "interrupted-file"), "wb") as handle:
        handle.write(b"half")
    with closing(open_overlay(dirs)) as overlay:
        assert overlay.listdir("/") == ["a", "d", "g", "h"]
    assert os.listdir(work) == []


def test_marker_store_over_from_dirs_keeps_markers_in_the_upper_and_work_outside(dirs):
    with closing(open_overlay(dirs, whiteouts=MarkerWhiteouts())) as overlay:
        overlay.remove("/a")
        overlay.appendbytes("/h", b"!")
    names = os.listdir(dirs["upper"])
    assert ".wh.a" in names and "h" in names
    assert ".wh..wh..work" not in names, "the work area is the workdir, outside the upper"
    assert os.path.isdir(os.path.join(dirs["work"], "work"))


# -- what the store reads ----------------------------------------------------------


@needs_root
def test_device_whiteouts_hide_and_other_devices_are_entries(dirs):
    os.mknod(os.path.join(dirs["upper"], "a"), stat.S_IFCHR, os.makedev(0, 0))
    os.mknod(os.path.join(dirs["upper"], "null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    with closing(open_overlay(dirs)) as overlay:
        assert overlay.listdir("/") == ["d", "g", "h", "null"]
        assert not overlay.exists("/a")
        assert overlay.isfile("/null")


@needs_root
def test_relative_redirects_and_unknown_attributes(dirs):
    """A kernel-style relative redirect, nested under an absolute one; origin/impure ignored."""
    upper = dirs["upper"]
    for name in ("d", "g"):
        os.mknod(os.path.join(upper, name), stat.S_IFCHR, os.makedev(0, 0))
    outer = os.path.join(upper, "outer")
    os.mkdir(outer)
    os.setxattr(outer, "trusted.overlay.redirect", b"/d")
    os.setxattr(outer, "trusted.overlay.impure", b"y")
    os.setxattr(outer, "trusted.overlay.origin", b"\x00\xfb\x1d\x00garbage")
    os.mknod(os.path.join(outer, "e"), stat.S_IFCHR, os.makedev(0, 0))
    inner = os.path.join(outer, "e2")
    os.mkdir(inner)
    os.setxattr(inner, "trusted.overlay.redirect", b"e")
    os.setxattr(upper, "trusted.overlay.uuid", b"0123456789abcdef")
    with closing(open_overlay(dirs)) as overlay:
        assert overlay.listdir("/") == ["a", "h", "outer"]
        assert overlay.listdir("/outer") == ["e2", "x", "z"]
        assert overlay.readbytes("/outer/e2/y") == b"top y"


@needs_root
def test_lower_layers_markers_are_honoured(dirs, tmp_path):
    """A kernel-format upper used as a lower hides what lies beneath it."""
    middle = str(tmp_path / "middle")
    os.mkdir(middle)
    os.mknod(os.path.join(middle, "h"), stat.S_IFCHR, os.makedev(0, 0))
    os.mkdir(os.path.join(middle, "a"))
    os.setxattr(os.path.join(middle, "a"), "trusted.overlay.opaque", b"y")
    os.mkdir(os.path.join(middle, "g"))
    os.setxattr(os.path.join(middle, "g"), "trusted.overlay.opaque", b"x")
    hidden = os.path.join(middle, "g", "v")
    with open(hidden, "wb"):
        pass
    os.setxattr(hidden, "trusted.overlay.whiteout", b"")
    with OverlayFS.from_dirs([middle, dirs["bottom"]]) as overlay:
        assert overlay.listdir("/") == ["a", "d", "g"]
        assert overlay.listdir("/a") == []
        assert overlay.listdir("/g") == []
        ours = tree(overlay)
    if kernel_overlay_refusal() is None:  # and the kernel agrees
        with KernelMount([middle, dirs["bottom"]], None, None, dirs["mnt"]) as root:
            compared()
            assert os_tree(root) == ours


def test_a_layer_without_os_paths_is_refused_clearly():
    overlay = OverlayFS(MemoryFS(), [MemoryFS()], whiteouts=KernelWhiteouts())
    with pytest.raises(KernelFormatUnsupported, match="no OS paths"):
        overlay.listdir("/")
    assert isinstance(KernelFormatUnsupported("/"), fs.errors.Unsupported)


@needs_root
def test_probe_explains_trusted_attributes_need_privileges():
    """An unprivileged process is told to use userxattr; with it the probe passes."""
    shared = tempfile.mkdtemp(prefix="probe-test-")
    os.chmod(shared, 0o777)

    def probes() -> str:
        os.setgid(65534)
        os.setuid(65534)
        try:
            KernelWhiteouts().probe(shared)
            message = "no error"
        except Exception as error:
            message = str(error)
        try:
            KernelWhiteouts(userxattr=True).probe(shared)
            message += "|userxattr ok"
        except Exception as error:
            message += "|" + repr(error)
        return message

    message = forked_text(probes)
    leftovers = os.listdir(shared)
    os.rmdir(shared)
    refused, with_user = message.split("|")
    assert "CAP_SYS_ADMIN" in refused and "userxattr=True" in refused
    assert with_user == "userxattr ok"
    assert leftovers == []


# -- from_dirs: what the kernel refuses, we refuse -----------------------------------


def test_from_dirs_refuses_what_mount_refuses(dirs, tmp_path):
    lowers, upper, work = dirs["lowers"], dirs["upper"], dirs["work"]
    with pytest.raises(fs.errors.CreateFailed, match="workdir"):
        OverlayFS.from_dirs(lowers, upper)
    inside = os.path.join(upper, "work")
    os.mkdir(inside)
    with pytest.raises(fs.errors.CreateFailed, match="separate subtrees"):
        OverlayFS.from_dirs(lowers, upper, inside)
    with pytest.raises(fs.errors.CreateFailed, match="not a directory"):
        OverlayFS.from_dirs([str(tmp_path / "missing")], upper, work)
    with pytest.raises(fs.errors.CreateFailed, match="lowerdir"):
        OverlayFS.from_dirs([], upper, work)
    with pytest.raises(fs.errors.CreateFailed, match="overlaps"):
        OverlayFS.from_dirs([dirs["top"]], os.path.join(dirs["top"], "d"), work)
    os.rmdir(inside)


def test_from_dirs_on_different_filesystems_is_refused(dirs):
    shm = "/dev/shm"
    if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(dirs["upper"]).st_dev:
        pytest.skip("no second filesystem (/dev/shm) to put the workdir on")
    with tempfile.TemporaryDirectory(dir=shm) as work:
        with pytest.raises(fs.errors.CreateFailed, match="same filesystem"):
            OverlayFS.from_dirs(dirs["lowers"], dirs["upper"], work)


def test_lowerdir_strings_split_like_the_mount_option():
    assert split_lowerdirs("/a:/b\\:c:/d") == ["/a", "/b:c", "/d"]
    assert split_lowerdirs(["/x", "/y"]) == ["/x", "/y"]
    with pytest.raises(fs.errors.CreateFailed, match="data-only"):
        split_lowerdirs("/a::/data")


def test_from_dirs_without_upper_is_read_only(dirs):
    lowerdir = ":".join(dirs["lowers"])
    with OverlayFS.from_dirs(lowerdir, workdir=dirs["work"]) as overlay:
        assert overlay.listdir("/") == ["a", "d", "g", "h"]
        assert overlay.readbytes("/d/z") == b"bottom z"
        with pytest.raises(fs.errors.ResourceReadOnly):
            overlay.remove("/a")
        with pytest.raises(fs.errors.ResourceReadOnly):
            overlay.writebytes("/new", b"x")
    assert os.listdir(dirs["work"]) == []


@needs_root
def test_kernel_whiteouts_reserve_no_names(dirs):
    with closing(open_overlay(dirs)) as overlay:
        overlay.writebytes("/.wh.a", b"an ordinary name in the kernel format")
        assert overlay.exists("/a")
        assert overlay.readbytes("/.wh.a").startswith(b"an ordinary")


# -- both directions through a real kernel mount --------------------------------------


def library_changes(overlay: OverlayFS) -> None:
    overlay.remove("/a")
    overlay.movedir("/d", "/d2", create=True)
    overlay.makedir("/d")
    overlay.writebytes("/d/new", b"N")
    overlay.removetree("/g")
    overlay.makedir("/g")
    overlay.appendbytes("/h", b"+")
    overlay.move("/h", "/d2/h", overwrite=True)
    overlay.movedir("/d2/e", "/e", create=True)
    overlay.writebytes("/e/fresh", b"F")


@pytest.mark.parametrize("userxattr", [False, True], ids=["trusted", "userxattr"])
def test_an_upper_written_by_the_library_mounts_in_the_kernel(dirs, userxattr):
    kernel_overlay_or_skip()
    with closing(open_overlay(dirs, userxattr=userxattr)) as overlay:
        if userxattr:
            # The kernel refuses redirect_dir=on with userxattr, so renamed merged
            # directories are not followed there: compare without them.
            overlay.remove("/a")
            overlay.removetree("/g")
            overlay.makedir("/g")
            overlay.writebytes("/g/new", b"N")
            overlay.appendbytes("/h", b"+")
            overlay.removetree("/d/e")
        else:
            library_changes(overlay)
        ours = tree(overlay)
    with KernelMount(dirs["lowers"], dirs["upper"], dirs["work"], dirs["mnt"], userxattr) as root:
        kernel = os_tree(root)
    compared()
    assert kernel == ours


def test_an_upper_written_by_the_kernel_opens_with_from_dirs(dirs):
    kernel_overlay_or_skip()
    with KernelMount(dirs["lowers"], dirs["upper"], dirs["work"], dirs["mnt"]) as root:
        os.unlink(root + "/a")
        os.rename(root + "/d", root + "/d2")  # absolute or relative redirect: the kernel's choice
        os.mkdir(root + "/d")
        os.rename(root + "/d2/e", root + "/d2/e2")  # relative, under a redirected parent
        os.rename(root + "/g", root + "/d2/g")  # absolute, across directories
        shutil_rmtree(root + "/d2/g")
        os.mkdir(root + "/d2/g")
        with open(root + "/d2/g/v", "wb") as handle:
            handle.write(b"rewritten")
        with open(root + "/h", "ab") as handle:
            handle.write(b"!")
        kernel = os_tree(root)
    with closing(open_overlay(dirs)) as overlay:
        ours = tree(overlay)
        compared()
        assert ours == kernel
        # And it stays writable in the same format.
        overlay.movedir("/d2", "/d3", create=True)
        ours = tree(overlay)
    with KernelMount(dirs["lowers"], dirs["upper"], dirs["work"], dirs["mnt"]) as root:
        kernel = os_tree(root)
    compared()
    assert kernel == ours


@needs_root
def test_lower_markers_agree_with_the_kernel(dirs, tmp_path):
    """A kernel-written upper reused as a middle lower: both views agree."""
    kernel_overlay_or_skip()
    with KernelMount(dirs["lowers"], dirs["upper"], dirs["work"], dirs["mnt"]) as root:
        os.unlink(root + "/h")
        os.unlink(root + "/a")
        os.mkdir(root + "/a")
        os.rename(root + "/d", root + "/g/d")
    stack = [dirs["upper"], *dirs["lowers"]]
    with OverlayFS.from_dirs(stack) as overlay:
        ours = tree(overlay)
    target = str(tmp_path / "mnt2")
    with KernelMount(stack, None, None, target) as root:
        kernel = os_tree(root)
    compared()
    assert kernel == ours
    assert "/g/d/z" in ours


def shutil_rmtree(path: str) -> None:
    import shutil

    shutil.rmtree(path)


@needs_root
def test_rename_whiteout_leaves_the_whiteout_in_the_same_step(tmp_path):
    """Removing or renaming an upper entry over a lower one uses RENAME_WHITEOUT."""
    from fs.osfs import OSFS

    from unionfs_lib.stores.kernel_whiteouts import RENAME_WHITEOUT, renameat2

    (tmp_path / "src").write_bytes(b"data")
    renameat2(str(tmp_path / "src"), str(tmp_path / "dst"), RENAME_WHITEOUT)
    assert is_whiteout(os.lstat(tmp_path / "src"))
    assert (tmp_path / "dst").read_bytes() == b"data"
    with OSFS(str(tmp_path)) as layer:
        (tmp_path / "again").write_bytes(b"again")
        KernelWhiteouts().rename_over(layer, "/again", "/dst", leave_whiteout=True)
    assert is_whiteout(os.lstat(tmp_path / "again"))
    assert (tmp_path / "dst").read_bytes() == b"again"


@needs_root
def test_moving_an_upper_file_over_a_lower_one_leaves_one_whiteout(dirs):
    with closing(open_overlay(dirs)) as overlay:
        overlay.appendbytes("/d/x", b"!")  # copied up: the upper now holds d/x
        overlay.move("/d/x", "/d/moved")
        assert overlay.listdir("/d") == ["e", "moved", "z"]
        overlay.removetree("/d/e")
    upper_d = os.path.join(dirs["upper"], "d")
    assert is_whiteout(os.lstat(os.path.join(upper_d, "x")))
    assert is_whiteout(os.lstat(os.path.join(upper_d, "e")))
    assert os.listdir(os.path.join(dirs["work"], "work")) == []


@needs_root
def test_directories_go_over_whiteouts_by_exchange(dirs):
    """makedir and movedir onto a whited-out name: no whiteout left anywhere but where due."""
    with closing(open_overlay(dirs)) as overlay:
        overlay.removetree("/d")
        overlay.makedir("/d")  # built opaque in the work area, exchanged with the whiteout
        overlay.removetree("/g")
        overlay.movedir("/d", "/g", create=True)  # onto the whiteout of g; d is whited out
        assert overlay.listdir("/") == ["a", "g", "h"]
        assert overlay.listdir("/g") == []
    upper = dirs["upper"]
    assert sorted(os.listdir(upper)) == ["d", "g"]
    assert is_whiteout(os.lstat(os.path.join(upper, "d")))
    assert xattrs(os.path.join(upper, "g")).get("trusted.overlay.opaque") == b"y"
    assert os.listdir(os.path.join(dirs["work"], "work")) == []


def test_userxattr_renames_merged_directories_by_copying_up(dirs):
    """redirect_dir is off with userxattr (the kernel forces nofollow): no redirect
    is written, the tree is copied up, made opaque, and keeps no whiteouts."""
    with closing(open_overlay(dirs, userxattr=True)) as overlay:
        assert overlay.whiteouts.redirect_dir is False
        overlay.remove("/g/v")
        overlay.movedir("/g", "/moved", create=True)
        assert tree(overlay)["/moved/w"] == b"top w"
        assert overlay.listdir("/moved") == ["w"]
    moved = os.path.join(dirs["upper"], "moved")
    assert xattrs(moved) == {"user.overlay.opaque": b"y"}
    assert os.listdir(moved) == ["w"]


@needs_root
def test_redirects_are_ignored_when_redirect_dir_is_off(dirs):
    os.mknod(os.path.join(dirs["upper"], "d"), stat.S_IFCHR, os.makedev(0, 0))
    os.mkdir(os.path.join(dirs["upper"], "e"))
    os.setxattr(os.path.join(dirs["upper"], "e"), "trusted.overlay.redirect", b"/d")
    store = KernelWhiteouts(redirect_dir=False)
    with closing(open_overlay(dirs, whiteouts=store)) as overlay:
        assert overlay.listdir("/e") == []
    with closing(open_overlay(dirs)) as overlay:
        assert overlay.listdir("/e") == ["e", "x", "z"]


@needs_root
def test_a_plain_osfs_upper_reads_and_whites_out_but_needs_a_workdir_to_copy_up(dirs):
    from fs.osfs import OSFS

    lowers = [OSFS(path) for path in dirs["lowers"]]
    with OverlayFS(OSFS(dirs["upper"]), lowers, whiteouts=KernelWhiteouts()) as overlay:
        assert overlay.listdir("/") == ["a", "d", "g", "h"]
        overlay.remove("/a")
        assert is_whiteout(os.lstat(os.path.join(dirs["upper"], "a")))
        with pytest.raises(fs.errors.Unsupported, match="from_dirs"):
            overlay.appendbytes("/h", b"!")
        assert overlay.readbytes("/h") == b"bottom h"
    assert os.listdir(dirs["upper"]) == ["a"]


@needs_root
def test_a_filesystem_without_extended_attributes_is_refused_at_open(dirs, tmp_path):
    """ramfs holds device nodes but no extended attributes: from_dirs says so."""
    import subprocess

    target = tmp_path / "ramfs"
    target.mkdir()
    mounted = subprocess.run(["mount", "-t", "ramfs", "ramfs", str(target)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a ramfs here: {mounted.stderr.decode().strip()}")
    try:
        (target / "upper").mkdir()
        (target / "work").mkdir()
        for userxattr in (False, True):
            with pytest.raises(KernelFormatUnsupported, match="does not hold them"):
                OverlayFS.from_dirs(
                    dirs["lowers"], str(target / "upper"), str(target / "work"),
                    userxattr=userxattr,
                )
        assert os.listdir(target / "upper") == []
        # The default store needs no attributes: it still works there.
        with OverlayFS.from_dirs(
            dirs["lowers"], str(target / "upper"), str(target / "work"),
            whiteouts=MarkerWhiteouts(),
        ) as overlay:
            overlay.remove("/a")
            assert not overlay.exists("/a")
    finally:
        subprocess.run(["umount", str(target)], capture_output=True)


@needs_root
def test_relative_redirect_in_a_lower_layer_under_a_redirected_parent(dirs, tmp_path):
    """Regression (found by the stacked oracle): in a lower layer, a relative
    redirect names an entry of the parent's directory in the layers beneath,
    which follows the parent's own redirect (/g/d -> /d, so e2 -> /d/e)."""
    middle = str(tmp_path / "middle")
    os.makedirs(os.path.join(middle, "g", "d", "e2"))
    os.mknod(os.path.join(middle, "d"), stat.S_IFCHR, os.makedev(0, 0))
    os.setxattr(os.path.join(middle, "g", "d"), "trusted.overlay.redirect", b"/d")
    os.mknod(os.path.join(middle, "g", "d", "e"), stat.S_IFCHR, os.makedev(0, 0))
    os.setxattr(os.path.join(middle, "g", "d", "e2"), "trusted.overlay.redirect", b"e")
    with OverlayFS.from_dirs([middle, *dirs["lowers"]]) as overlay:
        assert overlay.listdir("/g/d") == ["e2", "x", "z"]
        assert overlay.listdir("/g/d/e2") == ["y"]


@needs_root
def test_copy_up_does_not_copy_overlay_attributes(dirs, tmp_path):
    """Regression (found by the stacked oracle): copying up a directory from a
    kernel-format lower copied its trusted.overlay.redirect/origin along (via
    shutil.copystat), so the upper copy pointed somewhere else. The kernel
    never copies its private attributes up; neither do we. Other ones still go."""
    middle = str(tmp_path / "middle")
    os.makedirs(os.path.join(middle, "g", "d"))
    os.mknod(os.path.join(middle, "d"), stat.S_IFCHR, os.makedev(0, 0))
    os.setxattr(os.path.join(middle, "g", "d"), "trusted.overlay.redirect", b"/d")
    os.setxattr(os.path.join(middle, "g", "d"), "trusted.overlay.origin", b"\x00junk")
    os.setxattr(os.path.join(middle, "g", "d"), "user.comment", b"kept")
    with OverlayFS.from_dirs([middle, *dirs["lowers"]], dirs["upper"], dirs["work"]) as overlay:
        overlay.writebytes("/g/d/new", b"N")
        assert overlay.listdir("/g/d") == ["e", "new", "x", "z"]
    assert xattrs(os.path.join(dirs["upper"], "g", "d")) == {"user.comment": b"kept"}


def test_from_dirs_refuses_an_upper_a_kernel_overlay_is_using(dirs):
    kernel_overlay_or_skip()
    with KernelMount(dirs["lowers"], dirs["upper"], dirs["work"], dirs["mnt"]):
        with pytest.raises(fs.errors.CreateFailed, match="in use by the overlay mounted at"):
            open_overlay(dirs)
        with OverlayFS.from_dirs(dirs["lowers"]) as read_only:  # lowers may be shared
            assert read_only.listdir("/") == ["a", "d", "g", "h"]
    with closing(open_overlay(dirs)) as overlay:
        assert overlay.listdir("/") == ["a", "d", "g", "h"]


def test_mountinfo_octal_escapes(tmp_path):
    from unionfs_lib.layers.kernel_mount import mounted_overlay_using

    table = tmp_path / "mountinfo"
    table.write_text(
        "44 27 0:39 / /mnt/with\\040space rw - overlay overlay "
        "rw,lowerdir=/l,upperdir=/srv/up\\040dir,workdir=/srv/work\n"
        "45 27 0:40 / /other rw - ext4 /dev/vda rw,upperdir=/srv/work\n"
    )
    assert mounted_overlay_using("/srv/up dir", str(table)) == "/mnt/with space"
    assert mounted_overlay_using("/srv/work", str(table)) == "/mnt/with space"
    assert mounted_overlay_using("/srv/else", str(table)) is None


@needs_root
def test_files_are_created_over_whiteouts_in_one_rename(dirs):
    """openbin over a whiteout builds the file in workdir/work and renames it over
    the whiteout (overlayfs's create over whiteout); exclusive mode still works."""
    with closing(open_overlay(dirs)) as overlay:
        overlay.remove("/a")
        overlay.remove("/h")
        with overlay.openbin("/a", "x") as handle:
            handle.write(b"exclusive")
            assert is_whiteout(os.lstat(os.path.join(dirs["upper"], "h")))
            assert os.path.isfile(os.path.join(dirs["upper"], "a"))
            assert os.fstat(handle.fileno()).st_ino == os.stat(
                os.path.join(dirs["upper"], "a")
            ).st_ino
        with pytest.raises(fs.errors.FileExists):
            overlay.openbin("/a", "x")
        overlay.writebytes("/h", b"again")
        assert overlay.readbytes("/a") == b"exclusive"
        assert overlay.readbytes("/h") == b"again"
    assert os.listdir(os.path.join(dirs["work"], "work")) == []


# -- a hand-written upperdir:// URL (issue 22) -------------------------------------


def hand_written_url(dirs, lowers=None) -> str:
    """``overlay://`` over ``upperdir://U?workdir=W`` without ``whiteouts=``, written by hand."""
    from urllib.parse import quote

    upper = f"upperdir://{quote(dirs['upper'])}?workdir={quote(dirs['work'], safe='')}"
    url = "overlay://?upper=" + quote(upper, safe="")
    for lower in lowers if lowers is not None else dirs["lowers"]:
        url += "&lower=" + quote("osfs://" + lower, safe="")
    return url


@needs_root
@pytest.mark.parametrize("userxattr", [False, True], ids=["trusted", "user"])
def test_a_hand_written_upperdir_url_reads_the_kernel_format(dirs, tmp_path, userxattr):
    """Without ``whiteouts=`` the store is read from the upper: the same diff, a working commit."""
    import fs as pyfs
    from fs.osfs import OSFS

    with closing(open_overlay(dirs, userxattr=userxattr)) as overlay:
        overlay.removetree("/d")
        overlay.makedir("/d")  # opaque
        overlay.remove("/h")  # a device whiteout
        overlay.movedir("/g", "/g2", create=True)  # a redirect (copied up with userxattr)
        overlay.writetext("/new", "n")
        expected = [change.line() for change in overlay.changes()]
        merged = tree(overlay)
    target = tmp_path / "target"
    target.mkdir()
    with closing(OverlayFS(None, [OSFS(path) for path in dirs["lowers"]])) as lowers:
        lowers.squash(OSFS(str(target)))
    with pyfs.open_fs(hand_written_url(dirs)) as reopened:
        assert isinstance(reopened, OverlayFS)
        store = reopened.whiteouts
        assert isinstance(store, KernelWhiteouts) and store.userxattr is userxattr
        assert [change.line() for change in reopened.changes()] == expected
        assert tree(reopened) == merged
        reopened.commit(OSFS(str(target)))
    assert os_tree(str(target)) == merged


def test_an_upper_holding_both_formats_is_refused(dirs):
    import fs as pyfs

    os.mknod(os.path.join(dirs["upper"], "a"), stat.S_IFCHR, os.makedev(0, 0))
    with open(os.path.join(dirs["upper"], ".wh.h"), "wb"):
        pass
    with pytest.raises(fs.errors.CreateFailed) as raised:
        pyfs.open_fs(hand_written_url(dirs)).close()
    assert "both" in str(raised.value)


def test_a_hand_written_upperdir_url_over_marker_files_uses_markers(dirs):
    import fs as pyfs

    with closing(open_overlay(dirs, whiteouts=MarkerWhiteouts())) as overlay:
        overlay.remove("/h")
    with pyfs.open_fs(hand_written_url(dirs)) as reopened:
        assert isinstance(reopened, OverlayFS)
        assert isinstance(reopened.whiteouts, MarkerWhiteouts)
        assert not reopened.exists("/h")
    with closing(open_overlay(dirs, whiteouts=MarkerWhiteouts())) as overlay:
        assert "whiteouts=" in overlay.describe(fingerprints="none")["url"]


def test_from_dirs_takes_path_objects(dirs):
    from pathlib import Path

    lowers = [Path(path) for path in dirs["lowers"]]
    with closing(OverlayFS.from_dirs(lowers, Path(dirs["upper"]), Path(dirs["work"]))) as overlay:
        assert overlay.readbytes("/h") == b"bottom h"
    with closing(OverlayFS.from_dirs(Path(dirs["top"]))) as read_only:
        assert read_only.readbytes("/a") == b"top a"


def test_from_dirs_takes_a_dollar_in_a_name_literally(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIONFS_ELSEWHERE", "elsewhere")
    for name in ("lower$UNIONFS_ELSEWHERE", "lowerelsewhere", "up$UNIONFS_ELSEWHERE", "work"):
        (tmp_path / name).mkdir()
    (tmp_path / "lower$UNIONFS_ELSEWHERE" / "mine").write_text("mine")
    with closing(OverlayFS.from_dirs(
        str(tmp_path / "lower$UNIONFS_ELSEWHERE"),
        str(tmp_path / "up$UNIONFS_ELSEWHERE"),
        str(tmp_path / "work"),
        whiteouts=MarkerWhiteouts(),
    )) as overlay:
        assert overlay.listdir("/") == ["mine"]
        overlay.writetext("/new", "new")
    assert (tmp_path / "up$UNIONFS_ELSEWHERE" / "new").read_text() == "new"
