"""Hard links through a FUSE mount of an overlay.

``ln`` copies the file up with its data and links it in the upper: both
names show one ``st_ino`` and ``st_nlink`` 2 (also after a remount), a change
through one name is seen through the other at once (the kernel keeps one
node per name, and the mount invalidates the others), and renaming or
removing one name leaves the other. Real programs (``ln``, ``cp -a``,
``tar -x``) keep links linked. The lower directories are checked unchanged.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import tarfile
import textwrap
import threading

import pytest
from fs.osfs import OSFS
from fs.tempfs import TempFS

from unionfs_lib.mount.hardlink_names import LinkedNames

from ..support.mounting import (
    DaemonMount,
    fill_os_dir,
    fuse_or_skip,
    inode_groups,
    mount_options,
    posix_tree,
)

LOWER = {
    "/a": b"lower a",
    "/d": None,
    "/d/x": b"lower x",
    "/big": b"0123456789" * 100_000,
}


@pytest.fixture
def lower(unchanged_lowers):
    return unchanged_lowers.make(LOWER, {"/a": 0o640}, {"/lnk": "a"})


@pytest.fixture
def upper(tmp_path):
    return tmp_path / "upper"


@pytest.fixture
def mounted(overlay_mount, lower, upper):
    fuse_or_skip()
    return overlay_mount(lower, upper=upper)


def test_ln_copies_up_with_data_and_links_in_the_upper(mounted, upper):
    before = os.stat(mounted / "a")
    subprocess.run(["ln", "a", "d/b"], cwd=mounted, check=True)
    first, second = os.stat(mounted / "a"), os.stat(mounted / "d" / "b")
    assert first.st_ino == second.st_ino == before.st_ino
    assert first.st_nlink == second.st_nlink == 2
    assert stat.S_IMODE(second.st_mode) == 0o640
    assert (mounted / "d" / "b").read_bytes() == b"lower a"
    assert os.stat(upper / "a").st_ino == os.stat(upper / "d" / "b").st_ino
    assert (upper / "a").read_bytes() == b"lower a"  # data, not a metadata-only copy
    assert {entry.name: entry.stat().st_nlink for entry in os.scandir(mounted / "d")}["b"] == 2


def test_a_lower_file_linked_twice_keeps_one_inode(mounted):
    os.link(mounted / "big", mounted / "b1")
    os.link(mounted / "b1", mounted / "d" / "b2")
    names = [mounted / "big", mounted / "b1", mounted / "d" / "b2"]
    assert {os.stat(name).st_ino for name in names} == {os.stat(names[0]).st_ino}
    assert [os.stat(name).st_nlink for name in names] == [3, 3, 3]
    assert inode_groups(str(mounted)) == {frozenset({"/big", "/b1", "/d/b2"})}


def _linked_pair(root):
    os.link(root / "a", root / "b")
    for name in ("a", "b"):  # let the kernel cache both names' attributes and pages
        os.stat(root / name)
        (root / name).read_bytes()
    return root / "a", root / "b"


def test_a_write_through_one_name_is_seen_through_the_other(mounted):
    a, b = _linked_pair(mounted)
    with open(a, "ab") as handle:
        handle.write(b" and more")
    assert os.stat(b).st_size == len(b"lower a and more")
    assert b.read_bytes() == b"lower a and more"
    assert os.stat(b).st_mtime_ns == os.stat(a).st_mtime_ns
    with open(b, "r+b") as handle:
        handle.write(b"LOWER")
    assert a.read_bytes() == b"LOWER a and more"


def test_truncate_chmod_and_utime_through_one_name_are_seen_through_the_other(mounted):
    a, b = _linked_pair(mounted)
    os.truncate(a, 3)
    assert os.stat(b).st_size == 3 and b.read_bytes() == b"low"
    os.chmod(b, 0o600)
    assert stat.S_IMODE(os.stat(a).st_mode) == 0o600
    os.utime(a, ns=(1_000_000_000, 2_000_000_000))
    assert os.stat(b).st_mtime_ns == 2_000_000_000
    with open(b, "wb") as handle:  # O_TRUNC through the other name
        handle.write(b"xy")
    assert os.stat(a).st_size == 2 and a.read_bytes() == b"xy"


CHILD = textwrap.dedent("""\
    import os, sys
    path, data = sys.argv[1], sys.argv[2].encode()
    with open(path, "ab") as handle:
        handle.write(data)
    os.chmod(path, 0o604)
    """)


def test_another_process_writing_one_name_is_seen_through_the_other(mounted):
    a, b = _linked_pair(mounted)
    for round_ in range(3):
        subprocess.run([sys.executable, "-c", CHILD, str(a), str(round_)], check=True)
        expected = b"lower a" + b"".join(str(done).encode() for done in range(round_ + 1))
        assert os.stat(b).st_size == len(expected)
        assert b.read_bytes() == expected
        assert stat.S_IMODE(os.stat(b).st_mode) == 0o604
        os.chmod(b, 0o640)
        probe = f"import os; print(oct(os.stat({str(a)!r}).st_mode))"
        out = subprocess.run([sys.executable, "-c", probe],
                             check=True, capture_output=True, text=True).stdout
        assert out.strip().endswith("640")


def test_renaming_or_removing_one_name_leaves_the_other(mounted):
    a, b = _linked_pair(mounted)
    ino = os.stat(a).st_ino
    os.rename(a, mounted / "d" / "renamed")
    assert os.stat(b).st_nlink == 2 and os.stat(mounted / "d" / "renamed").st_ino == ino
    (mounted / "d" / "renamed").write_bytes(b"after rename")
    assert b.read_bytes() == b"after rename"
    os.unlink(mounted / "d" / "renamed")
    assert os.stat(b).st_nlink == 1
    assert b.read_bytes() == b"after rename"
    assert os.stat(b).st_ino == ino
    os.link(b, mounted / "c")
    os.rename(mounted / "d" / "x", b)  # a rename over one name drops a link of the other
    assert os.stat(mounted / "c").st_nlink == 1
    assert (mounted / "c").read_bytes() == b"after rename"


def test_renaming_a_directory_keeps_its_linked_names_tracked(mounted):
    os.link(mounted / "d" / "x", mounted / "x2")
    os.stat(mounted / "x2")
    os.rename(mounted / "d", mounted / "e")
    with open(mounted / "e" / "x", "ab") as handle:
        handle.write(b"!")
    assert os.stat(mounted / "x2").st_size == len(b"lower x!")
    os.unlink(mounted / "e" / "x")
    assert os.stat(mounted / "x2").st_nlink == 1


def test_rename_between_two_names_of_one_file_does_nothing(mounted):
    a, b = _linked_pair(mounted)
    os.rename(a, b)
    assert a.read_bytes() == b.read_bytes() == b"lower a"
    assert os.stat(a).st_nlink == 2


def test_link_errors_are_the_kernels(mounted):
    with pytest.raises(FileExistsError):
        os.link(mounted / "a", mounted / "d" / "x")
    with pytest.raises(FileNotFoundError):
        os.link(mounted / "missing", mounted / "new")
    with pytest.raises(PermissionError) as caught:
        os.link(mounted / "d", mounted / "d2")
    assert caught.value.errno == errno.EPERM


def test_a_symbolic_link_is_linked_as_a_link(mounted, upper):
    os.link(mounted / "lnk", mounted / "lnk2", follow_symlinks=False)
    assert os.readlink(mounted / "lnk2") == "a"
    assert os.lstat(mounted / "lnk2").st_nlink == 2
    assert os.lstat(upper / "lnk").st_ino == os.lstat(upper / "lnk2").st_ino


def test_a_removed_lower_name_can_be_a_new_link(mounted):
    os.unlink(mounted / "d" / "x")  # leaves a whiteout
    os.link(mounted / "a", mounted / "d" / "x")
    assert (mounted / "d" / "x").read_bytes() == b"lower a"
    assert os.listdir(mounted / "d") == ["x"]


def test_links_survive_a_remount(lower, tmp_path):
    fuse_or_skip()
    dirs = {name: tmp_path / name for name in ("upper", "work", "merged")}
    for path in dirs.values():
        path.mkdir()
    options = mount_options([lower], str(dirs["upper"]), str(dirs["work"]))
    root = dirs["merged"]
    with DaemonMount(options, str(root)):
        before = os.stat(root / "a").st_ino
        subprocess.run(["ln", "a", "d/b"], cwd=root, check=True)
    with DaemonMount(options, str(root)):
        first, second = os.stat(root / "a"), os.stat(root / "d" / "b")
        assert first.st_ino == second.st_ino == before
        assert first.st_nlink == second.st_nlink == 2
        with open(root / "d" / "b", "ab") as handle:
            handle.write(b"!")
        assert (root / "a").read_bytes() == b"lower a!"
        assert os.stat(root / "a").st_size == len(b"lower a!")


def test_links_on_an_upper_with_records(overlay_mount, lower):
    """A TempFS upper with the default whiteout store: one inode for both names too."""
    fuse_or_skip()
    root = overlay_mount([OSFS(lower)], upper=TempFS())
    os.link(root / "a", root / "b")
    assert os.stat(root / "a").st_ino == os.stat(root / "b").st_ino
    assert os.stat(root / "b").st_nlink == 2
    with open(root / "b", "ab") as handle:
        handle.write(b"!")
    assert os.stat(root / "a").st_size == len(b"lower a!")


def _tree_with_links(root):
    fill_os_dir(str(root), {"/p": None, "/p/one": b"one", "/p/q": None, "/p/q/two": b"two"})
    os.link(root / "p" / "one", root / "p" / "q" / "one-again")
    os.link(root / "p" / "one", root / "p" / "one-more")
    os.link(root / "p" / "q" / "two", root / "two-top")


def test_cp_a_keeps_hard_links(mounted, tmp_path):
    source = tmp_path / "source"
    _tree_with_links(source)
    subprocess.run(["cp", "-a", str(source), str(mounted / "copy")], check=True)
    plain = tmp_path / "plain"
    subprocess.run(["cp", "-a", str(source), str(plain)], check=True)
    assert inode_groups(str(mounted / "copy")) == inode_groups(str(plain)) == {
        frozenset({"/p/one", "/p/q/one-again", "/p/one-more"}),
        frozenset({"/p/q/two", "/two-top"}),
    }
    assert posix_tree(str(mounted / "copy")) == posix_tree(str(plain))


def test_tar_x_keeps_hard_links(mounted, tmp_path):
    source = tmp_path / "source"
    _tree_with_links(source)
    tarball = tmp_path / "links.tar"
    with tarfile.open(tarball, "w") as archive:
        archive.add(source, arcname="pkg")
    assert any(member.islnk() for member in tarfile.open(tarball).getmembers())
    plain = tmp_path / "plain"
    for where in (mounted / "unpacked", plain):
        where.mkdir()
        subprocess.run(["tar", "-xf", str(tarball), "-C", str(where)], check=True)
    assert inode_groups(str(mounted / "unpacked")) == inode_groups(str(plain))
    assert len(inode_groups(str(plain))) == 2
    assert posix_tree(str(mounted / "unpacked")) == posix_tree(str(plain))


def test_a_reader_opened_before_ln_sees_writes_through_the_new_name(mounted):
    """``ln`` copies a lower file up: descriptors reading the lower copy move to the upper one."""
    big, linked = mounted / "big", mounted / "linked"
    early = os.open(big, os.O_RDONLY)
    try:
        assert os.pread(early, 10, 0) == b"0123456789"
        os.link(big, linked)
        with open(linked, "r+b") as handle:
            handle.write(b"w" * 10)
        assert os.pread(early, 10, 0) == b"w" * 10
        assert big.read_bytes()[:10] == b"w" * 10
    finally:
        os.close(early)


def test_readers_and_writers_on_several_names_at_once_finish(mounted):
    """Old cached readers, new names and writes at once: no request waits forever."""
    big = mounted / "big"
    with open(big, "rb") as early:  # opened before the link: may keep cached pages
        early.read()
        names = [mounted / "b1", mounted / "b2"]
        for name in names:
            os.link(big, name)
        failures: list[BaseException] = []

        def hammer(path, writing):
            try:
                for round_ in range(30):
                    if writing:
                        with open(path, "r+b") as handle:
                            handle.seek(round_ * 4096)
                            handle.write(b"w" * 4096)
                    else:
                        early.seek(0)
                        early.read()
                        os.stat(path)
            except BaseException as error:  # reported below
                failures.append(error)

        threads = [threading.Thread(target=hammer, args=(names[0], True)),
                   threading.Thread(target=hammer, args=(names[1], True)),
                   threading.Thread(target=hammer, args=(big, False))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in threads), "a request hung"
        assert not failures
    data = big.read_bytes()
    assert data[: 30 * 4096] == b"w" * (30 * 4096)
    assert names[1].read_bytes() == data


def test_linked_names_follow_renames_and_unlinks():
    names = LinkedNames()
    names.note(7, "/a")
    names.note(7, "/d/b")
    names.note(7, "/d/e/c")
    names.note(9, "/other")
    names.move("/d", "/z")
    assert names.names_of(7) == ["/a", "/z/b", "/z/e/c"]
    assert names.key_of("/d/b") is None
    assert names.forget("/a") == 7
    names.move("/z/b", "/other")  # a rename over a name of another file
    assert names.names_of(9) == []
    assert names.names_of(7) == ["/other", "/z/e/c"]
    names.note(9, "/other")  # the name now shows another file
    assert names.names_of(7) == ["/z/e/c"]
