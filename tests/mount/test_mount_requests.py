"""What one small file costs the daemon: its requests, and the overlay calls they make.

Nothing here is timed. The daemon's request counter
(``OverlayOperations.requests``) and counting spies on the served overlay
show the work each request does: a file created through the mount is
described once (``getattr``), after which the kernel's ``chmod``, ``chown``,
``utimens`` go straight to its upper file, without the overlay's
``setinfo`` (a copy-up check, a lookup), and its ``security.capability``
(read before every write and every ``chown``) is known to be missing
without a read until an attribute is set through the mount; ``create`` does
not ask ``inspect.signature`` of the handler on every call, as mfusepy
does. A change made to the served overlay underneath is still seen after
``forget``, a lower file is still copied up first, and a link laid under a
kept name is never followed.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import inspect
import os
import stat
import subprocess
import tarfile
import typing

import mfusepy
import pytest

from unionfs_lib.mount.daemon import ThreadMount
from unionfs_lib.overlay import OverlayFS

from ..support.mounting import fill_os_dir as fill
from ..support.mounting import small_mount

LOWER = {"/low": None, "/low/old": b"lower bytes\n", "/new": None}

#: Requests the daemon may receive per file ``tar -x`` writes (measured: 15
#: through libfuse's high-level API, 7 of them ``getattr``).
TAR_REQUESTS_PER_FILE = 16
TAR_GETATTRS_PER_FILE = 8


class Mounted(typing.NamedTuple):
    """A mount of a small lower, with spies on the served overlay."""

    root: str
    thread: ThreadMount
    upper: str
    calls: collections.Counter[str]


def _spy(overlay: OverlayFS, calls: collections.Counter[str], *names: str) -> None:
    """Count the calls of ``names`` on ``overlay`` (instance attributes wrapping its methods)."""
    for name in names:
        method = getattr(overlay, name)

        def counted(*args: typing.Any, _m: typing.Any = method, _n: str = name,
                    **kwargs: typing.Any) -> typing.Any:
            calls[_n] += 1
            return _m(*args, **kwargs)

        setattr(overlay, name, counted)


@pytest.fixture
def mounted(tmp_path):
    """Yield a :class:`Mounted`; the lower is checked unchanged."""
    with small_mount(tmp_path, LOWER) as mount:
        calls: collections.Counter[str] = collections.Counter()
        _spy(mount.overlay, calls, "setinfo", "getxattr")
        yield Mounted(mount.root, mount.thread, mount.upper, calls)


def _requests(thread: ThreadMount) -> collections.Counter[str]:
    """Return a copy of the daemon's request counts."""
    assert thread.operations is not None
    return collections.Counter(thread.operations.requests)


def _since(thread: ThreadMount, before: collections.Counter[str]) -> collections.Counter[str]:
    """Return the requests received since ``before``."""
    now = _requests(thread)
    now.subtract(before)
    return +now


def test_metadata_of_a_new_file_goes_straight_to_its_upper_file(mounted):
    path = os.path.join(mounted.root, "new", "f")
    with open(path, "wb") as handle:
        handle.write(b"x\n")
    os.chmod(path, 0o640)
    os.utime(path, ns=(1_000_000_001, 2_000_000_002))
    os.chown(path, os.getuid(), os.getgid())
    with pytest.raises(OSError):
        os.getxattr(path, "security.capability")
    assert mounted.calls["setinfo"] == 0, "chmod/utimens/chown went through the overlay"
    assert mounted.calls["getxattr"] == 0, "getxattr went through the overlay"
    upper_file = os.lstat(os.path.join(mounted.upper, "new", "f"))
    assert stat.S_IMODE(upper_file.st_mode) == 0o640
    assert (upper_file.st_atime_ns, upper_file.st_mtime_ns) == (1_000_000_001, 2_000_000_002)
    seen = os.lstat(path)
    assert stat.S_IMODE(seen.st_mode) == 0o640
    assert seen.st_mtime_ns == 2_000_000_002


def test_tar_sends_a_bounded_number_of_requests_per_file(mounted, tmp_path):
    count = 20
    source = tmp_path / "source" / "d"
    source.mkdir(parents=True)
    for index in range(count):
        (source / f"t{index}").write_bytes(b"y" * 100)
    tarball = tmp_path / "t.tar"
    with tarfile.open(tarball, "w") as archive:
        archive.add(str(source), arcname="d")
    before = _requests(mounted.thread)
    subprocess.run(["tar", "-xf", str(tarball), "-C", mounted.root], check=True)
    received = _since(mounted.thread, before)
    assert sum(received.values()) <= TAR_REQUESTS_PER_FILE * count + 10, received
    assert received["getattr_fuse_3"] <= TAR_GETATTRS_PER_FILE * count + 4, received
    assert received["create"] == count
    # tar sets each file's times, mode and owner: none through the overlay's setinfo,
    # nor its security.capability reads through the overlay's getxattr.
    assert mounted.calls["setinfo"] <= 3, mounted.calls  # the directory d's, at most
    assert mounted.calls["getxattr"] == 0, mounted.calls
    for index in range(count):
        target = os.path.join(mounted.root, "d", f"t{index}")
        with open(target, "rb") as handle:
            assert handle.read() == b"y" * 100
        made = os.lstat(source / f"t{index}").st_mtime_ns
        assert abs(os.lstat(target).st_mtime_ns - made) < 10**6  # the archive's precision


def test_create_asks_no_signature_of_the_handler(mounted, monkeypatch):
    asked = []
    real = inspect.signature

    def counting(*args: typing.Any, **kwargs: typing.Any) -> inspect.Signature:
        asked.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(mfusepy.inspect, "signature", counting)
    for index in range(3):
        with open(os.path.join(mounted.root, "new", f"n{index}"), "wb") as handle:
            handle.write(b"x")
    assert asked == []
    sizes = [os.path.getsize(os.path.join(mounted.root, "new", f"n{i}")) for i in range(3)]
    assert sizes == [1] * 3


def test_echo_reads_security_capability_without_the_overlay(mounted):
    before = _requests(mounted.thread)
    for index in range(10):
        subprocess.run(["sh", "-c", f"echo x > n{index}"], check=True,
                       cwd=os.path.join(mounted.root, "new"))
    received = _since(mounted.thread, before)
    # the lookup of the missing name, and libfuse's lookup after create
    assert received["getattr_fuse_3"] <= 3 * 10, received
    assert received["create"] == 10
    assert mounted.calls["getxattr"] == 0, mounted.calls


def test_a_lower_file_is_still_copied_up_before_its_mode_changes(mounted):
    path = os.path.join(mounted.root, "low", "old")
    os.stat(path)
    os.chmod(path, 0o600)
    assert mounted.calls["setinfo"] >= 1  # the overlay's way: copy-up first
    assert stat.S_IMODE(os.lstat(os.path.join(mounted.upper, "low", "old")).st_mode) == 0o600
    with open(path, "rb") as handle:
        assert handle.read() == b"lower bytes\n"


def test_a_change_underneath_is_seen_after_forget(mounted):
    path = os.path.join(mounted.root, "new", "f")
    with open(path, "wb") as handle:
        handle.write(b"first")
    os.chmod(path, 0o644)
    operations = mounted.thread.operations
    assert operations is not None
    overlay = operations.overlay
    overlay.remove("/new/f")
    overlay.writebytes("/new/f", b"second, from the API")
    operations.forget(["/new", "/new/f"])
    os.chmod(path, 0o604)
    # the file the overlay now holds under the name got the mode, not a stale one
    upper_file = os.path.join(mounted.upper, "new", "f")
    assert stat.S_IMODE(os.lstat(upper_file).st_mode) == 0o604
    assert os.stat(path).st_size == len(b"second, from the API")
    with open(path, "rb") as handle:
        assert handle.read() == b"second, from the API"


def test_fill_stat_writes_what_mfusepy_writes(tmp_path):
    from fs.memoryfs import MemoryFS

    from unionfs_lib.mount import attributes
    from unionfs_lib.mount.daemon import fill_stat, put_stat
    from unionfs_lib.mount.operations import OverlayOperations

    assert OverlayOperations.use_ns  # fill_stat takes times in nanoseconds
    lower, upper, work = (tmp_path / name for name in ("lower", "upper", "work"))
    for path in (lower, upper, work):
        path.mkdir()
    fill(str(lower), {"/d": None, "/d/f": b"data"})
    os.symlink("d/f", lower / "link")
    overlay = OverlayFS.from_dirs([str(lower)], str(upper), str(work))
    memory = MemoryFS()
    memory.writebytes("/m", b"in memory")
    in_memory = OverlayFS(None, [memory])
    records = [attributes.fast_stat(overlay, path, (0, 0)) for path in ("/", "/d", "/d/f", "/link")]
    records.append(attributes.stat_of(in_memory.getinfo("/m", attributes.STAT_NAMESPACES), (1, 2)))
    records.append({"st_ino": 7, "st_mode": stat.S_IFDIR})  # a plain listing's record
    records.append({"st_ino": 8, "st_uid": 2**32 + 5, "st_mode": 0})  # truncated, as ctypes does
    for record in records:
        ours, packed, theirs = mfusepy.c_stat(), mfusepy.c_stat(), mfusepy.c_stat()
        fill_stat(ours, record)
        packed.st_ino = 99  # put_stat writes the whole structure
        put_stat(ctypes.pointer(packed), record)
        mfusepy.set_st_attrs(theirs, record, use_ns=True)
        assert bytes(ours) == bytes(theirs), record
        assert bytes(packed) == bytes(theirs), record
    overlay.close()
    in_memory.close()


def test_a_fresh_listing_of_a_large_directory_costs_no_getattr_per_entry(tmp_path):
    # With libfuse's default (readdirplus_auto) only the first chunk of a
    # listing carries the entries' records: every later entry cost a getattr.
    count = 600
    tree = {"/d": None, **{f"/d/file{i:04}": b"x" for i in range(count)}}
    with small_mount(tmp_path, tree) as mount:
        before = _requests(mount.thread)
        listed = subprocess.run(["find", os.path.join(mount.root, "d"), "-ls"], check=True,
                                capture_output=True, text=True).stdout.splitlines()
        received = _since(mount.thread, before)
    assert len(listed) == count + 1
    assert received["getattr_fuse_3"] <= 5, received


#: A valid ``security.capability`` value (``VFS_CAP_REVISION_2``, ``CAP_NET_RAW`` permitted).
CAPABILITY_V2 = bytes.fromhex("00000002" "00200000" "00000000" "00000000" "00000000")


@pytest.mark.skipif(os.geteuid() != 0, reason="setting security.capability needs root")
def test_a_capability_given_to_a_new_file_beside_the_mount_is_seen_and_stripped(mounted):
    """The kernel strips file capabilities on a write only if the daemon tells it of them: a
    capability given to a file the mount just made, by the upper's owner rather than through
    the mount, must be answered (it was answered "none" without a read)."""
    path = os.path.join(mounted.root, "new", "made")
    with open(path, "wb", buffering=0) as handle:
        handle.write(b"x")
        upper_file = os.path.join(mounted.upper, "new", "made")
        os.setxattr(upper_file, "security.capability", CAPABILITY_V2)
        assert os.getxattr(path, "security.capability") == CAPABILITY_V2
        handle.write(b"y")
    assert os.listxattr(upper_file) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="setting security.capability needs root")
def test_a_capability_set_through_the_mount_is_read_again(mounted):
    path = os.path.join(mounted.root, "new", "cap")
    with open(path, "wb", buffering=0) as handle:
        handle.write(b"x")
        with pytest.raises(OSError) as missing:
            os.getxattr(path, "security.capability")
        assert missing.value.errno == errno.ENODATA
        os.setxattr(path, "security.capability", CAPABILITY_V2)
        assert os.getxattr(path, "security.capability") == CAPABILITY_V2
        upper_file = os.path.join(mounted.upper, "new", "cap")
        assert os.getxattr(upper_file, "security.capability") == CAPABILITY_V2
        handle.write(b"y")  # a write takes a file's capabilities away, as on any file system
    assert os.listxattr(upper_file) == []
