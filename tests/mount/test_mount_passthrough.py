"""FUSE passthrough (issue #25): the kernel reads and writes files with a host descriptor itself.

Nothing here is timed: the daemon's request counter
(``OverlayOperations.requests``) shows which ``read``/``write`` requests
reached the mount. Passthrough needs libfuse 3.17, which Debian 12 lacks:
the tests mounting with it build libfuse 3.19 from ``../shared/ext`` once
(:mod:`tests.support.libfuse_build`, cached) and run the mount in a child
process with ``FUSE_LIBRARY_PATH`` (mfusepy loads libfuse once, at import:
:mod:`tests.support.passthrough_probe`). They are skipped, loudly, where the
archive or the build tools are missing, or the kernel or the user cannot
use passthrough. The book the daemon keeps (which opens pass through) is
tested without FUSE.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
import typing

import pytest

from unionfs_lib.mount import passthrough
from unionfs_lib.mount.capabilities import (
    PASSTHROUGH_LIBFUSE,
    kernel_version,
    libfuse_version,
    passthrough_refusal,
)
from unionfs_lib.mount.passthrough import Passthrough, excluded_by

from ..support import summary
from ..support.helpers import forked_text
from ..support.kernel import KernelMount, compared, kernel_overlay_or_skip
from ..support.libfuse_build import build
from ..support.mounting import MOUNT_TESTS, DaemonMount, fuse_or_skip, mount_options

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: The probe's steps whose reads and writes the kernel serves alone with passthrough.
PASSED_STEPS = ("write new", "read new", "append", "rewrite", "mmap", "stat after writes")

#: The tests whose mount runs in a child process, which the lower guard cannot wrap.
in_a_child = pytest.mark.out_of_process


@pytest.fixture(scope="session")
def libfuse_with_passthrough() -> str:
    """Return the path of a libfuse >= 3.17 (built once, cached), or skip loudly."""
    fuse_or_skip()
    reason = passthrough_refusal(libfuse=PASSTHROUGH_LIBFUSE)
    if reason is None:
        library, reason = build()
        if library is not None:
            return library
    summary.note(MOUNT_TESTS, "SKIPPED passthrough: " + reason)
    pytest.skip(f"FUSE passthrough cannot be tested here: {reason}")


def probe(base: str, library: str | None, *arguments: str) -> dict[str, typing.Any]:
    """Run :mod:`tests.support.passthrough_probe` with ``library`` (``None``: the system's)."""
    environment = dict(os.environ, PYTHONPATH=REPOSITORY)
    environment.pop("FUSE_LIBRARY_PATH", None)
    if library is not None:
        environment["FUSE_LIBRARY_PATH"] = library
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.passthrough_probe", base, *arguments],
        capture_output=True, text=True, env=environment, timeout=300, cwd=REPOSITORY,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report: dict[str, typing.Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def check_data(steps: dict[str, typing.Any]) -> None:
    """The bytes and sizes each step saw are right, however they were served."""
    assert steps["write new"]["result"] == 4 << 20
    assert steps["read new"]["result"] is True
    assert steps["append"]["result"] == [(4 << 20) + 4, 1]  # the size and a later mtime
    assert steps["rewrite"]["result"] is True
    assert steps["mmap"]["result"] is True
    assert steps["stat after writes"]["result"] == [(4 << 20) + 4, 1, 1]  # as the upper's
    assert steps["read lower"]["result"] is True
    assert steps["read zip"]["result"] is True
    assert steps["copy-up lower"]["result"] == [True, 3 << 20]


@in_a_child
def test_passthrough_reads_and_writes_reach_no_handler_of_the_daemon(
    libfuse_with_passthrough, tmp_path
):
    report = probe(str(tmp_path), libfuse_with_passthrough)
    assert report["refusal"] is None
    steps = report["steps"]
    check_data(steps)
    for name in PASSED_STEPS:
        assert steps[name]["data_requests"] == 0, name
    assert report["upper_new_size"] == (4 << 20) + 4
    assert report["lower_unchanged"] is True


@in_a_child
def test_zip_and_copy_up_prone_lower_files_still_go_through_the_daemon(
    libfuse_with_passthrough, tmp_path
):
    """A zip layer has no host descriptor; a lower file on a writable mount may be copied up
    while it is read, and a kernel backing could not follow (the daemon's descriptors do)."""
    steps = probe(str(tmp_path), libfuse_with_passthrough)["steps"]
    assert steps["read zip"]["data_requests"] > 0
    assert steps["read lower"]["data_requests"] > 0
    assert steps["copy-up lower"]["data_requests"] > 0  # the write that copies up


@in_a_child
def test_a_read_only_mount_passes_lower_files_through(libfuse_with_passthrough, tmp_path):
    report = probe(str(tmp_path), libfuse_with_passthrough, "--read-only")
    assert report["refusal"] is None
    steps = report["steps"]
    assert steps["read lower"] == {"result": True, "data_requests": 0}
    assert steps["read zip"]["result"] is True and steps["read zip"]["data_requests"] > 0
    assert report["lower_unchanged"] is True


@in_a_child
def test_the_system_libfuse_falls_back_and_says_why(tmp_path):
    """Debian 12's libfuse 3.14: every read and write is served by the daemon, correctly."""
    fuse_or_skip()
    found = libfuse_version()
    report = probe(str(tmp_path), None)
    steps = report["steps"]
    check_data(steps)
    if found is not None and found < PASSTHROUGH_LIBFUSE:
        assert report["refusal"] == f"unavailable: libfuse {found[0]}.{found[1]} < 3.17"
        assert report["passed"] == 0
        for name in ("write new", "read new", "append", "rewrite"):
            assert steps[name]["data_requests"] > 0, name
    else:
        assert report["refusal"] is None or report["refusal"].startswith("unavailable")


# -- the book, without FUSE -----------------------------------------------------


class FakeRegistry:
    """Stands in for the kernel's ``FUSE_DEV_IOC_BACKING_OPEN``/``CLOSE``."""

    def __init__(self) -> None:
        self.opened: list[int] = []
        self.closed: list[int] = []

    def register(self, descriptor: int) -> int:
        self.opened.append(descriptor)
        return len(self.opened)

    def close(self, backing_id: int) -> None:
        self.closed.append(backing_id)


@pytest.fixture
def book(monkeypatch) -> tuple[Passthrough, FakeRegistry]:
    """A :class:`Passthrough` that negotiated passthrough, with a fake kernel registry."""
    made = Passthrough(refusal=None)
    registry = FakeRegistry()
    monkeypatch.setattr(Passthrough, "_register", lambda self, number: registry.register(number))
    monkeypatch.setattr(Passthrough, "_close_backing", lambda self, found: registry.close(found))
    return made, registry


class FileInfo:
    """A zeroed ``fuse_file_info`` of libfuse 3.17 (64 bytes) and its ``backing_id``."""

    def __init__(self) -> None:
        import ctypes

        self.buffer = ctypes.create_string_buffer(64)
        self.address = ctypes.addressof(self.buffer)

    @property
    def backing_id(self) -> int:
        import ctypes

        return ctypes.c_int32.from_address(self.address + passthrough.BACKING_ID_OFFSET).value


def descriptor(path: str, flags: int = os.O_RDONLY) -> int:
    return os.open(path, flags)


def test_opens_of_one_file_share_one_backing_closed_with_the_last(book, tmp_path):
    made, registry = book
    target = tmp_path / "f"
    target.write_bytes(b"x")
    first, second = FileInfo(), FileInfo()
    fds = [descriptor(str(target)), descriptor(str(target), os.O_RDWR)]
    try:
        assert made.attach(first.address, 1, "/f", fds[0], lower=False, writing=False)
        assert made.attach(second.address, 2, "/f", fds[1], lower=False, writing=True)
        assert first.backing_id == second.backing_id == 1
        assert len(registry.opened) == 1
        assert made.release(1) is True and registry.closed == []
        assert made.release(2) is True and registry.closed == [1]
    finally:
        for number in fds:
            os.close(number)


def test_a_file_the_daemon_serves_stays_with_the_daemon_while_open(book, tmp_path):
    """The kernel refuses a passthrough open of an inode open in caching mode (and back)."""
    made, registry = book
    target = tmp_path / "f"
    target.write_bytes(b"x")
    number = descriptor(str(target))
    try:
        assert not made.attach(FileInfo().address, 1, "/f", None, lower=False, writing=True)
        later = FileInfo()
        assert not made.attach(later.address, 2, "/f", number, lower=False, writing=False)
        assert later.backing_id == 0 and registry.opened == []
        made.release(1)
        made.release(2)
        assert made.attach(later.address, 3, "/f", number, lower=False, writing=False)
    finally:
        os.close(number)


def test_hard_linked_and_lower_files_are_left_to_the_daemon(book, tmp_path):
    made, registry = book
    target = tmp_path / "f"
    target.write_bytes(b"x")
    os.link(target, tmp_path / "g")
    lower = tmp_path / "lower"
    lower.write_bytes(b"y")
    numbers = [descriptor(str(target)), descriptor(str(lower))]
    try:
        assert not made.attach(FileInfo().address, 1, "/f", numbers[0], lower=False, writing=False)
        assert not made.attach(FileInfo().address, 2, "/l", numbers[1], lower=True, writing=False)
        made.lowers = True  # a read-only mount
        made.release(2)
        assert made.attach(FileInfo().address, 3, "/l", numbers[1], lower=True, writing=False)
        assert registry.opened == [numbers[1]]  # a lower file's own read-only descriptor
    finally:
        for number in numbers:
            os.close(number)


def test_a_refused_mount_serves_everything_and_keeps_no_backing(tmp_path):
    made = Passthrough()  # refusal: not negotiated
    target = tmp_path / "f"
    target.write_bytes(b"x")
    number = descriptor(str(target))
    try:
        assert not made.attach(FileInfo().address, 1, "/f", number, lower=False, writing=False)
        assert made.release(1) is False
    finally:
        os.close(number)


def test_negotiation_says_why_and_asks_only_where_offered(monkeypatch):
    monkeypatch.setattr(passthrough.capabilities, "passthrough_refusal", lambda: None)
    monkeypatch.setattr(passthrough, "session_descriptor", lambda: 7)
    offered = types.SimpleNamespace(capable=0, capable_ext=passthrough.FUSE_CAP_PASSTHROUGH,
                                    want=0)
    made = Passthrough(excluded=None)
    made.negotiate(offered)
    assert made.refusal is None and offered.want & passthrough.FUSE_CAP_PASSTHROUGH
    kernel_without = types.SimpleNamespace(capable=0, capable_ext=0, want=0)
    made = Passthrough(excluded=None)
    made.negotiate(kernel_without)
    assert "does not offer" in str(made.refusal) and kernel_without.want == 0
    excluded = types.SimpleNamespace(capable=0, capable_ext=passthrough.FUSE_CAP_PASSTHROUGH,
                                     want=0)
    made = Passthrough(excluded="off: the writeback_cache option excludes passthrough")
    made.negotiate(excluded)
    assert made.refusal == "off: the writeback_cache option excludes passthrough"
    assert excluded.want == 0


def test_options_that_exclude_passthrough_are_named():
    assert excluded_by({"kernel_cache": False, "use_ino": True}) is None
    assert "kernel_cache" in str(excluded_by({"kernel_cache": True}))
    assert "writeback_cache" in str(excluded_by({"writeback_cache": True}))
    assert "auto_cache" in str(excluded_by({"auto_cache": True}))


def test_kernel_cache_is_marked_by_the_daemon_where_passthrough_may_be_used(monkeypatch):
    monkeypatch.setattr(passthrough.capabilities, "passthrough_refusal", lambda: None)
    made, options = Passthrough(), {"kernel_cache": True, "use_ino": True}
    made.arrange(options)
    assert options["kernel_cache"] is False and made.keeps_cache and made.excluded is None
    made, options = Passthrough(), {"kernel_cache": True, "writeback_cache": True}
    made.arrange(options)
    assert options["kernel_cache"] is True and not made.keeps_cache
    assert "writeback_cache" in str(made.excluded)
    monkeypatch.setattr(passthrough.capabilities, "passthrough_refusal", lambda: "unavailable")
    made, options = Passthrough(), {"kernel_cache": True}
    made.arrange(options)
    assert options["kernel_cache"] is True and not made.keeps_cache


def test_operations_never_set_up_by_serve_do_not_ask_for_passthrough(monkeypatch):
    """Without :meth:`Passthrough.arrange` libfuse's ``kernel_cache`` would break passthrough."""
    monkeypatch.setattr(passthrough.capabilities, "passthrough_refusal", lambda: None)
    offered = types.SimpleNamespace(capable=0, capable_ext=passthrough.FUSE_CAP_PASSTHROUGH,
                                    want=0)
    made = Passthrough()
    made.negotiate(offered)
    assert str(made.refusal).startswith("off:") and offered.want == 0


def test_the_kernel_here_is_known():
    assert kernel_version() is not None or sys.platform != "linux"


# -- why the kernel's security.capability read before each write stays ----------


def write_as_nobody(path: str) -> str:
    """Open ``path`` here, append to it from a child that dropped to uid 65534; return the errno."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND)

    def append() -> str:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)  # no CAP_FSETID from here on
        try:
            os.write(descriptor, b"appended\n")
        except OSError as error:
            return str(error.errno)
        return "ok"

    try:
        return forked_text(append)
    finally:
        os.close(descriptor)


def setuid_modes_after_unprivileged_write(base: str, kind: str) -> list[str]:
    """Mount ``kind`` over fresh layers, write as nobody to a 06777 file; return what is seen."""
    made = {name: os.path.join(base, name) for name in ("lower", "upper", "work", "merged")}
    for path in made.values():
        os.mkdir(path, 0o755)
    layers = ([made["lower"]], made["upper"], made["work"])
    merged = made["merged"]
    with contextlib.ExitStack() as stack:
        if kind == "kernel":
            stack.enter_context(KernelMount(*layers, merged))
        else:
            stack.enter_context(DaemonMount(mount_options(*layers, "allow_other"), merged))
        path = os.path.join(merged, "setuid")
        with open(path, "wb") as handle:
            handle.write(b"#!/bin/sh\n")
        os.chown(path, 65534, 65534)
        os.chmod(path, 0o6777)
        written = write_as_nobody(path)
        seen = oct(os.stat(path).st_mode & 0o7777)
    upper = oct(os.lstat(os.path.join(made["upper"], "setuid")).st_mode & 0o7777)
    return [written, seen, upper]


@in_a_child
@pytest.mark.parametrize("libfuse", ["system", "passthrough"])
def test_a_write_without_cap_fsetid_clears_setuid_and_setgid_as_the_kernel_overlay_does(
    libfuse, request, monkeypatch
):
    """The kernel sends ``getxattr security.capability`` before each write to a FUSE file
    (FUSE does not mark its superblock ``SB_NOSEC``), passthrough writes too: that is how it
    learns to clear the set-user-ID bits. ``FUSE_CAP_HANDLE_KILLPRIV_V2`` would drop the request
    and leave the clearing to the daemon, which the high-level API does not tell whether the
    writer had ``CAP_FSETID``: the mount does not ask for it, and pays the request."""
    fuse_or_skip()
    kernel_overlay_or_skip()
    monkeypatch.delenv("FUSE_LIBRARY_PATH", raising=False)
    if libfuse == "passthrough":
        monkeypatch.setenv("FUSE_LIBRARY_PATH", request.getfixturevalue("libfuse_with_passthrough"))
    base = tempfile.mkdtemp(prefix="mount-setuid-")  # reachable by user 65534
    try:
        os.chmod(base, 0o755)
        for name in ("kernel", "ours"):
            os.mkdir(os.path.join(base, name))
        kernel = setuid_modes_after_unprivileged_write(os.path.join(base, "kernel"), "kernel")
        ours = setuid_modes_after_unprivileged_write(os.path.join(base, "ours"), "ours")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert kernel == ["ok", "0o777", "0o777"]
    assert ours == kernel
    compared()
