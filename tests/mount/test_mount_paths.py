"""Path lengths through the mount answer as the kernel overlay answers them.

The kernel limits each path *argument* to ``PATH_MAX`` (4,096 bytes with
its NUL) relative to the caller's directory, and each name to ``NAME_MAX``
(255 bytes); a process that ``chdir``s down goes on at any depth. The mount
once refused a 4,095-byte path below its root (the upper directory's own path
made the OS path longer than the kernel takes) and answered ``ENOENT`` where
the kernel answers ``ENAMETOOLONG`` for a 256-byte name.

One sequence of system calls (:data:`SEQUENCE`, run in a child process from
the mount point) is made on a kernel overlay and on this library's mount of
the same directories, and both must answer the same. Where no kernel
overlay can be mounted, the mount is compared with what the kernel answered
on the machine this was written on (:data:`KERNEL_ANSWERS`); where FUSE is
missing the tests skip with the reason. The daemon's operations are also
checked without FUSE.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import typing

import pytest

from unionfs_lib.mount.operations import OverlayOperations
from unionfs_lib.overlay import OverlayFS

from ..support.deep_paths import fd_makedirs, fd_write
from ..support.kernel import KernelMount, compared, kernel_overlay_or_skip
from ..support.mounting import DaemonMount, fuse_or_skip, mount_options

#: A name as long as a name may be, and one byte longer.
N255, N256 = "n" * 255, "n" * 256
#: Fifteen 255-byte directories: with a 255-byte name below, 4,095 bytes.
DEEP_DIRS = ["d" * 255] * 15
LOWER_DIRS = ["l" * 255] * 15

#: The calls, run from the mount point; prints ``{label: "ok" | errno name | value}``.
SEQUENCE = r"""
import errno, json, os, sys

found = {}


def step(label, call):
    try:
        result = call()
    except OSError as error:
        found[label] = errno.errorcode.get(error.errno, str(error.errno))
    else:
        plain = result is None or isinstance(result, (int, os.stat_result))
        found[label] = "ok" if plain else result


def create(path, data=b""):
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
    os.write(fd, data)
    os.close(fd)


def read(path):
    with open(path, "rb") as handle:
        return handle.read().decode()


def append(path, data):
    with open(path, "ab") as handle:
        handle.write(data)


def mkdirs(names):
    path = ""
    for name in names:
        path = os.path.join(path, name)
        os.mkdir(path)
    return path


os.chdir(sys.argv[1])
N255, N256 = "n" * 255, "n" * 256
deep_dirs, lower_dirs = ["d" * 255] * 15, ["l" * 255] * 15

# -- names ---------------------------------------------------------------------
step("mkdir 255-byte name", lambda: os.mkdir(N255))
step("stat 255-byte name", lambda: os.stat(N255))
step("create 255-byte name", lambda: create(N255 + "/" + "f" * 255, b"x"))
step("stat 256-byte name", lambda: os.stat(N256))
step("lstat 256-byte name", lambda: os.lstat(N256))
step("mkdir 256-byte name", lambda: os.mkdir(N256))
step("create 256-byte name", lambda: create(N256))
step("open 256-byte name", lambda: os.open(N256, os.O_RDONLY))
step("unlink 256-byte name", lambda: os.unlink(N256))
step("rmdir 256-byte name", lambda: os.rmdir(N256))
step("chmod 256-byte name", lambda: os.chmod(N256, 0o600))
step("rename to 256-byte name", lambda: os.rename(N255, N256))
step("rename from 256-byte name", lambda: os.rename(N256, "elsewhere"))
step("link to 256-byte name", lambda: os.link(N255 + "/" + "f" * 255, N256))
step("symlink at 256-byte name", lambda: os.symlink("target", N256))
step("stat 256-byte name below", lambda: os.stat(N255 + "/" + N256))
step("symlink to 256-byte name", lambda: os.symlink(N256, "to-long"))
step("readlink to 256-byte name", lambda: os.readlink("to-long"))
step("stat through link to 256-byte name", lambda: os.stat("to-long"))
step("listdir", lambda: sorted(os.listdir(".")))

# -- 4,095 bytes below the mount point -------------------------------------------
parent = mkdirs(deep_dirs)
full, other = parent + "/" + "f" * 255, parent + "/" + "g" * 255
found["length"] = len(full)
step("create 4095", lambda: create(full, b"deep"))
step("read 4095", lambda: read(full))
step("stat 4095", lambda: os.stat(full))
step("append 4095", lambda: append(full, b"!"))
step("rename 4095", lambda: os.rename(full, other))
step("listdir 3839", lambda: sorted(os.listdir(parent)))
step("chmod 4095", lambda: os.chmod(other, 0o600))
step("link 4095", lambda: os.link(other, full))
step("unlink 4095", lambda: os.unlink(other))
step("read linked 4095", lambda: read(full))
step("unlink linked 4095", lambda: os.unlink(full))
step("mkdir 4095", lambda: os.mkdir(full))
step("rmdir 4095", lambda: os.rmdir(full))
step("symlink 4095", lambda: os.symlink("target", full))
step("readlink 4095", lambda: os.readlink(full))
step("unlink link 4095", lambda: os.unlink(full))
step("create 4096", lambda: create(full + "x"))
step("stat 4096", lambda: os.stat(full + "x"))
lower_file = "/".join(lower_dirs) + "/" + "f" * 255
step("read lower 4095", lambda: read(lower_file))
step("append lower 4095", lambda: append(lower_file, b"+"))
step("read lower 4095 again", lambda: read(lower_file))
step("unlink lower 4095", lambda: os.unlink(lower_file))
step("listdir lower 3839", lambda: os.listdir("/".join(lower_dirs)))

# -- deeper, by chdir ------------------------------------------------------------
os.chdir(parent)
for level in range(3):
    step(f"mkdirs below {level}", lambda: mkdirs(deep_dirs) and None)
    step(f"chdir below {level}", lambda: os.chdir("/".join(deep_dirs)))
step("create deep", lambda: create("f" * 255, b"deepest"))
step("read deep", lambda: read("f" * 255))
step("rename deep", lambda: os.rename("f" * 255, "g" * 255))
step("listdir deep", lambda: os.listdir("."))
step("mkdir deep", lambda: os.mkdir(N255))
step("rmdir deep", lambda: os.rmdir(N255))
step("unlink deep", lambda: os.unlink("g" * 255))
print(json.dumps(found))
"""

#: What the kernel overlay answered on the machine this test was written on.
KERNEL_ANSWERS: dict[str, typing.Any] = {
    "mkdir 255-byte name": "ok",
    "stat 255-byte name": "ok",
    "create 255-byte name": "ok",
    "stat 256-byte name": "ENAMETOOLONG",
    "lstat 256-byte name": "ENAMETOOLONG",
    "mkdir 256-byte name": "ENAMETOOLONG",
    "create 256-byte name": "ENAMETOOLONG",
    "open 256-byte name": "ENAMETOOLONG",
    "unlink 256-byte name": "ENAMETOOLONG",
    "rmdir 256-byte name": "ENAMETOOLONG",
    "chmod 256-byte name": "ENAMETOOLONG",
    "rename to 256-byte name": "ENAMETOOLONG",
    "rename from 256-byte name": "ENAMETOOLONG",
    "link to 256-byte name": "ENAMETOOLONG",
    "symlink at 256-byte name": "ENAMETOOLONG",
    "stat 256-byte name below": "ENAMETOOLONG",
    "symlink to 256-byte name": "ok",
    "readlink to 256-byte name": N256,
    "stat through link to 256-byte name": "ENAMETOOLONG",
    "listdir": sorted([N255, "to-long", LOWER_DIRS[0]]),
    "length": 4095,
    "create 4095": "ok",
    "read 4095": "deep",
    "stat 4095": "ok",
    "append 4095": "ok",
    "rename 4095": "ok",
    "listdir 3839": ["g" * 255],
    "chmod 4095": "ok",
    "link 4095": "ok",
    "unlink 4095": "ok",
    "read linked 4095": "deep!",
    "unlink linked 4095": "ok",
    "mkdir 4095": "ok",
    "rmdir 4095": "ok",
    "symlink 4095": "ok",
    "readlink 4095": "target",
    "unlink link 4095": "ok",
    "create 4096": "ENAMETOOLONG",
    "stat 4096": "ENAMETOOLONG",
    "read lower 4095": "lower",
    "append lower 4095": "ok",
    "read lower 4095 again": "lower+",
    "unlink lower 4095": "ok",
    "listdir lower 3839": [],
    **{f"mkdirs below {level}": "ok" for level in range(3)},
    **{f"chdir below {level}": "ok" for level in range(3)},
    "create deep": "ok",
    "read deep": "deepest",
    "rename deep": "ok",
    "listdir deep": ["g" * 255],
    "mkdir deep": "ok",
    "rmdir deep": "ok",
    "unlink deep": "ok",
}


def layers(base: str) -> tuple[str, str, str, str]:
    """Make ``lower`` (with a 4,095-byte deep file), ``upper``, ``work`` and ``merged``."""
    lower, upper, work, merged = (os.path.join(base, name) for name in LAYER_NAMES)
    for path in (lower, upper, work, merged):
        os.makedirs(path)
    fd_makedirs(lower, LOWER_DIRS)
    fd_write(lower, LOWER_DIRS, "f" * 255, b"lower")
    return lower, upper, work, merged


LAYER_NAMES = ("lower", "upper", "work", "merged")


def run_sequence(root: str) -> dict[str, typing.Any]:
    """Run :data:`SEQUENCE` from ``root`` in a child process; return its answers."""
    result = subprocess.run(
        [sys.executable, "-c", SEQUENCE, root], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    answers: dict[str, typing.Any] = json.loads(result.stdout)
    return answers


def mount_answers(base: str) -> dict[str, typing.Any]:
    """Run the sequence on this library's mount of fresh layers under ``base``."""
    lower, upper, work, merged = layers(base)
    assert len(os.fsencode(upper)) + 4095 > 4096  # the upper's OS paths pass PATH_MAX
    with DaemonMount(mount_options([lower], upper, work), merged):
        return run_sequence(merged)


Answers = typing.Dict[str, typing.Any]


def differences(ours: Answers, theirs: Answers) -> Answers:
    """Return ``{label: (ours, theirs)}`` where the answers differ."""
    labels = set(ours) | set(theirs)
    return {label: (ours.get(label), theirs.get(label)) for label in sorted(labels)
            if ours.get(label) != theirs.get(label)}


def test_the_mount_answers_path_lengths_as_the_kernel_overlay(tmp_path):
    fuse_or_skip()
    kernel_overlay_or_skip()
    lower, upper, work, merged = layers(str(tmp_path / "kernel"))
    with KernelMount([lower], upper, work, merged):
        kernel = run_sequence(merged)
    compared()
    assert differences(kernel, KERNEL_ANSWERS) == {}, "the kernel itself answers otherwise here"
    assert differences(mount_answers(str(tmp_path / "mount")), kernel) == {}


def test_the_mount_answers_path_lengths_as_the_kernel_overlay_did(tmp_path):
    """The same, against the kernel's recorded answers (for machines that cannot mount one)."""
    fuse_or_skip()
    assert differences(mount_answers(str(tmp_path)), KERNEL_ANSWERS) == {}


# -- the daemon's operations, without FUSE -------------------------------------------------


@pytest.fixture
def operations(tmp_path, monkeypatch) -> typing.Iterator[OverlayOperations]:
    import mfusepy

    caller = (os.getuid(), os.getgid(), os.getpid())
    monkeypatch.setattr(mfusepy, "fuse_get_context", lambda: caller)  # no FUSE request here
    lower, upper, work, _ = layers(str(tmp_path))
    overlay = OverlayFS.from_dirs([lower], upper, work)
    yield OverlayOperations(overlay)
    overlay.close()


def errno_of(call: typing.Callable[[], object]) -> int:
    """Return the errno ``call`` raises (0 when it returns)."""
    try:
        call()
    except OSError as error:
        return error.errno or -1
    return 0


def test_a_256_byte_name_is_too_long_not_missing(operations):
    assert errno_of(lambda: operations.getattr("/" + N256)) == errno.ENAMETOOLONG
    assert errno_of(lambda: operations.mkdir("/" + N256, 0o755)) == errno.ENAMETOOLONG
    assert errno_of(lambda: operations.create("/" + N256, 0o644)) == errno.ENAMETOOLONG
    assert errno_of(lambda: operations.getattr("/" + N255)) == errno.ENOENT
    assert errno_of(lambda: operations.mkdir("/" + N255, 0o755)) == 0


def test_entries_past_path_max_of_the_upper_are_made_and_read(operations, tmp_path):
    path = ""
    for name in DEEP_DIRS + DEEP_DIRS:  # 7,680 bytes below the mount point
        path += "/" + name
        assert operations.mkdir(path, 0o755) == 0
        assert operations.getattr(path)["st_nlink"] >= 1
    handle = operations.create(path + "/f", 0o644)
    operations.write(path + "/f", b"deep", 0, handle)
    operations.release(path + "/f", handle)
    assert operations.getattr(path + "/f")["st_size"] == 4
    lower_file = "/" + "/".join(LOWER_DIRS) + "/" + "f" * 255
    handle = operations.open(lower_file, os.O_RDWR | os.O_APPEND)
    assert operations.read(lower_file, 100, 0, handle) == b"lower"
    operations.write(lower_file, b"+", 5, handle)
    operations.release(lower_file, handle)
    assert operations.overlay.readbytes(lower_file) == b"lower+"
    assert operations.overlay.which(lower_file).index == 0  # copied up, 4,095 bytes deep
