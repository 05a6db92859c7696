"""The mount programs: ``unionfs-lib-mount`` (fuse-overlayfs's command line) and
``unionfs-lib mount OVERLAY_URL``: options, errors, daemonising, signals, crashes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.parse
import zipfile

import pytest

from unionfs_lib.mount.options import DEFAULT_TIMEOUT, UsageError, parse_args
from unionfs_lib.mount.readahead import DEFAULT_READAHEAD_KB, SPLICE_CAPABILITIES

from .kernel import KernelMount, kernel_overlay_or_skip
from .mounting import (
    SCRIPT,
    DaemonMount,
    cleanup,
    fill,
    fuse_or_skip,
    mount_options,
    posix_tree,
    wait_for,
)


def test_parse_fuse_overlayfs_convention(tmp_path):
    request = parse_args([
        "overlay", str(tmp_path / "m"), "-o",
        "lowerdir=/l1:/l\\:2,upperdir=u,workdir=w", "-o", "ro,allow_other,timeout=5,noauto", "-f",
    ])
    assert request.lowerdirs == ("/l1", "/l:2")
    assert request.upperdir == os.path.abspath("u") and request.workdir == os.path.abspath("w")
    assert request.read_only and request.foreground and not request.debug
    assert request.fuse_options == ("allow_other",)
    assert request.timeout == 5.0
    assert parse_args(["s", "m", "-olowerdir=/l", "-d"]).foreground
    assert parse_args(["s", "m", "-olowerdir=/l,ro,rw"]).timeout == DEFAULT_TIMEOUT
    assert not parse_args(["s", "m", "-olowerdir=/l,ro,rw"]).read_only
    assert parse_args(["s", "m", "-olowerdir=/l"]).readahead_kb == DEFAULT_READAHEAD_KB == 256
    assert parse_args(["s", "m", "-olowerdir=/l,readahead=0"]).readahead_kb == 0


@pytest.mark.parametrize("argv, message", [
    (["s", "m"], "missing lowerdir"),
    (["s", "m", "-o", "lowerdir=/l,bogus=1"], "unknown mount option"),
    (["s", "m", "-o", "lowerdir=/l,upperdir=/u"], "go together"),
    (["s", "m", "-o", "lowerdir="], "needs a value"),
    (["s", "-o", "lowerdir=/l"], "usage"),
    (["s", "m", "-x", "-o", "lowerdir=/l"], "unknown flag"),
    (["s", "m", "-o", "lowerdir=/l,timeout=soon"], "not a number"),
    (["s", "m", "-o", "lowerdir=/l,readahead=1.5"], "whole number of KiB"),
    (["s", "m", "-o", "lowerdir=/l,readahead=-1"], "cannot be negative"),
])
def test_bad_command_lines_are_refused(argv, message):
    with pytest.raises(UsageError, match=message):
        parse_args(argv)


def mounts(under: object = "") -> str:
    """Return the lines of /proc/mounts that mention ``under`` (other tests mount too)."""
    with open("/proc/mounts") as table:
        return "".join(line for line in table if str(under) in line)


@pytest.fixture
def dirs(tmp_path):
    names = ("lower", "upper", "work", "merged")
    made = {name: str(tmp_path / name) for name in names}
    for path in made.values():
        os.mkdir(path)
    fill(made["lower"], {"/f": b"lower f", "/d": None, "/d/g": b"lower g"})
    yield made
    cleanup(made["merged"])


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60)


def test_errors_give_one_line_and_mount_nothing(dirs, tmp_path):
    fuse_or_skip()
    before = mounts(tmp_path)
    missing = str(tmp_path / "nowhere")
    cases = [
        ["overlay", dirs["merged"], "-o", "upperdir=x"],
        ["overlay", dirs["merged"], "-o", f"lowerdir={missing}"],
        ["overlay", dirs["merged"], "-o", f"lowerdir={dirs['lower']},frobnicate"],
        ["overlay", missing, "-o", f"lowerdir={dirs['lower']}"],
    ]
    for argv in cases:
        result = run_script(*argv)
        assert result.returncode == 1, argv
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("unionfs-lib-mount: ")
        assert mounts(tmp_path) == before == ""


def test_busy_mountpoint_is_refused(dirs):
    fuse_or_skip()
    options = mount_options([dirs["lower"]], dirs["upper"], dirs["work"])
    with DaemonMount(options, dirs["merged"]):
        result = run_script("overlay", dirs["merged"], "-o", f"lowerdir={dirs['lower']}")
        assert result.returncode == 1 and "busy" in result.stderr
        assert result.stderr.count("\n") == 1


def daemons_serving(target: str) -> list[int]:
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


def test_daemonises_once_ready_and_leaves_on_unmount(dirs):
    fuse_or_skip()
    options = mount_options([dirs["lower"]], dirs["upper"], dirs["work"])
    result = run_script("overlay", dirs["merged"], "-o", options)
    try:
        assert result.returncode == 0, result.stderr
        assert os.path.ismount(dirs["merged"])  # ready when the command returns
        with open(os.path.join(dirs["merged"], "d", "g"), "rb") as handle:
            assert handle.read() == b"lower g"
        assert f"{dirs['merged']} fuse.unionfs-lib-mount" in mounts()
        assert daemons_serving(dirs["merged"])
    finally:
        cleanup(dirs["merged"])
    assert wait_for(lambda: not daemons_serving(dirs["merged"])), "the daemon stayed"


def test_sigterm_unmounts_and_closes_cleanly(dirs):
    fuse_or_skip()
    options = mount_options([dirs["lower"]], dirs["upper"], dirs["work"])
    with DaemonMount(options, dirs["merged"]) as daemon:
        with open(os.path.join(dirs["merged"], "d", "g"), "ab") as handle:
            handle.write(b" and more")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
        assert not os.path.ismount(dirs["merged"])
    with open(os.path.join(dirs["upper"], "d", "g"), "rb") as handle:
        assert handle.read() == b"lower g and more"
    assert [name for name in os.listdir(dirs["work"]) if name != "work"] == []


def digest(root: str) -> str:
    return hashlib.sha256(repr(sorted(posix_tree(root).items())).encode()).hexdigest()


def test_kill_9_during_a_large_copy_up_loses_nothing(dirs):
    """Every entry is old or new after a crash mid copy-up, and the lowers are unchanged."""
    fuse_or_skip()
    big = os.path.join(dirs["lower"], "big")
    with open(big, "wb") as handle:
        for index in range(96):
            handle.write(bytes([index]) * (1 << 20))
    lower_digest = digest(dirs["lower"])
    options = mount_options([dirs["lower"]], dirs["upper"], dirs["work"])
    writer: subprocess.Popen[bytes] | None = None
    with DaemonMount(options, dirs["merged"]) as daemon:
        with open(os.path.join(dirs["merged"], "f"), "wb") as handle:
            handle.write(b"new f")
        append = "import sys; open(sys.argv[1], 'ab').write(b'tail')"
        writer = subprocess.Popen([sys.executable, "-c", append,
                                   os.path.join(dirs["merged"], "big")], stderr=subprocess.PIPE)
        work = os.path.join(dirs["work"], "work")
        copying = wait_for(lambda: os.path.isdir(work) and bool(os.listdir(work)), seconds=10)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        cleanup(dirs["merged"])
        writer.wait(timeout=60)
        writer.stderr.close()  # type: ignore[union-attr]
    assert copying, "the copy-up had not started when the daemon was killed"
    assert digest(dirs["lower"]) == lower_digest
    with DaemonMount(options, dirs["merged"]):
        assert os.listdir(work) == [], "the half copy-up was not cleaned at remount"
        root = dirs["merged"]
        with open(os.path.join(root, "big"), "rb") as handle:
            data = handle.read()
        original_size = 96 << 20
        assert len(data) in (original_size, original_size + 4)
        assert data[:original_size:1 << 20] == bytes(range(96))
        assert data[original_size:] in (b"", b"tail")
        with open(os.path.join(root, "f"), "rb") as handle:
            assert handle.read() in (b"lower f", b"new f")
        with open(os.path.join(root, "d", "g"), "rb") as handle:
            assert handle.read() == b"lower g"
        assert sorted(os.listdir(root)) == ["big", "d", "f"]
    assert digest(dirs["lower"]) == lower_digest


def test_mount_t_fuse_goes_through_mount_fuse3(dirs):
    fuse_or_skip()
    if not os.path.exists("/sbin/mount.fuse3") and not os.path.exists("/usr/sbin/mount.fuse3"):
        pytest.skip("mount.fuse3 is missing")
    options = mount_options([dirs["lower"]], dirs["upper"], dirs["work"])
    # mount(8) runs helpers with a fixed PATH, so name the script by its path
    # ("-t fuse.unionfs-lib-mount overlay" is the same once it is on that PATH).
    result = subprocess.run(
        ["mount", "-t", "fuse3", f"{SCRIPT}#overlay", dirs["merged"], "-o", options],
        capture_output=True, text=True, timeout=60,
    )
    try:
        assert result.returncode == 0, result.stderr
        with open(os.path.join(dirs["merged"], "f"), "rb") as handle:
            assert handle.read() == b"lower f"
    finally:
        subprocess.run(["umount", dirs["merged"]], capture_output=True)
        cleanup(dirs["merged"])
    assert wait_for(lambda: not daemons_serving(dirs["merged"]))


def test_cli_mounts_an_overlay_url_with_a_zip_layer(tmp_path):
    fuse_or_skip()
    archive = tmp_path / "layer.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("pkg/readme", b"from the zip")
    upper = tmp_path / "upper"
    upper.mkdir()
    target = tmp_path / "merged"
    target.mkdir()
    quote = urllib.parse.quote
    url = (f"overlay://?upper={quote('osfs://' + str(upper), safe='')}"
           f"&lower={quote('zip://' + str(archive), safe='')}")
    result = subprocess.run([sys.executable, "-m", "unionfs_lib", "mount", url, str(target)],
                            capture_output=True, text=True, timeout=60)
    try:
        assert result.returncode == 0, result.stderr
        assert (target / "pkg" / "readme").read_bytes() == b"from the zip"
        (target / "pkg" / "readme").write_bytes(b"changed")
        os.rename(target / "pkg", target / "pkg2")
        assert (target / "pkg2" / "readme").read_bytes() == b"changed"
    finally:
        cleanup(str(target))
    with zipfile.ZipFile(archive) as zipped:
        assert zipped.read("pkg/readme") == b"from the zip"
    busy = subprocess.run([sys.executable, "-m", "unionfs_lib", "mount", url, str(tmp_path / "x")],
                          capture_output=True, text=True, timeout=60)
    assert busy.returncode == 1 and busy.stderr.count("\n") == 1


def test_upper_written_through_the_mount_is_read_by_the_kernel(dirs, tmp_path):
    fuse_or_skip()
    kernel_overlay_or_skip()
    options = mount_options([dirs["lower"]], dirs["upper"], dirs["work"])
    with DaemonMount(options, dirs["merged"]):
        root = dirs["merged"]
        os.unlink(os.path.join(root, "f"))
        os.rename(os.path.join(root, "d"), os.path.join(root, "d2"))
        with open(os.path.join(root, "d2", "new"), "wb") as handle:
            handle.write(b"new")
        os.chmod(os.path.join(root, "d2", "g"), 0o600)
        ours = posix_tree(root, with_nlink=False)
    kernel_target = str(tmp_path / "kernel")
    with KernelMount([dirs["lower"]], dirs["upper"], dirs["work"], kernel_target) as root:
        assert posix_tree(root, with_nlink=False) == ours




def test_read_only_mount_shows_the_upper_and_answers_erofs(dirs):
    fuse_or_skip()
    with open(os.path.join(dirs["upper"], "from-upper"), "wb") as handle:
        handle.write(b"upper")
    before = posix_tree(dirs["upper"])
    options = mount_options([dirs["lower"]], dirs["upper"], dirs["work"], "ro")
    with DaemonMount(options, dirs["merged"]):
        root = dirs["merged"]
        assert sorted(os.listdir(root)) == ["d", "f", "from-upper"]
        attempts = [
            lambda: open(os.path.join(root, "f"), "ab"),
            lambda: os.mkdir(os.path.join(root, "new")),
            lambda: os.unlink(os.path.join(root, "f")),
            lambda: os.rename(os.path.join(root, "d"), os.path.join(root, "d2")),
            lambda: os.chmod(os.path.join(root, "f"), 0o600),
        ]
        for attempt in attempts:
            with pytest.raises(OSError) as caught:
                attempt()
            assert caught.value.errno == errno.EROFS
    assert posix_tree(dirs["upper"]) == before


PROBE = """
import os, sys
root = sys.argv[1]
results = []
for attempt in (lambda: open(os.path.join(root, "secret"), "rb"),
                lambda: open(os.path.join(root, "d", "new"), "wb"),
                lambda: os.listdir(os.path.join(root, "d"))):
    try:
        attempt()
        results.append("ok")
    except OSError as error:
        results.append(str(error.errno))
print(" ".join(results))
"""


def test_the_kernel_checks_permissions_for_other_users():
    fuse_or_skip()
    if os.geteuid() != 0:
        pytest.skip("needs root to run a probe as another user")
    base = tempfile.mkdtemp(prefix="mount-perms-")  # reachable by another user
    try:
        os.chmod(base, 0o755)
        made = {name: os.path.join(base, name) for name in ("lower", "upper", "work", "merged")}
        for path in made.values():
            os.mkdir(path, 0o755)
        fill(made["lower"], {"/secret": b"root only", "/d": None, "/d/f": b"f"}, {"/secret": 0o600})
        os.chmod(os.path.join(made["lower"], "d"), 0o755)
        options = mount_options([made["lower"]], made["upper"], made["work"], "allow_other")
        with DaemonMount(options, made["merged"]):
            probe = subprocess.run(
                [sys.executable, "-c", PROBE, made["merged"]], capture_output=True, text=True,
                user=65534, group=65534, timeout=60,
            )
    finally:
        cleanup(os.path.join(base, "merged"))
        shutil.rmtree(base, ignore_errors=True)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == [str(errno.EACCES), str(errno.EACCES), "ok"]


_COLLECTOR_PROBE = """
import gc, sys
from unionfs_lib.mount import daemon
from unionfs_lib.mount.options import parse_args
seen = []
daemon.serve = lambda *args, **kwargs: seen.append((gc.get_threshold()[0], gc.get_freeze_count()))
default = gc.get_threshold()[0]
request = parse_args(["overlay", sys.argv[1], "-o", "lowerdir=" + sys.argv[2]])
daemon.run_request(request, None)
print(default, *seen[0])
"""


def test_a_mount_daemon_runs_the_garbage_collector_rarely(tmp_path):
    """The daemon's collector runs every 50,000 allocations, not 700; startup objects are frozen."""
    (tmp_path / "lower").mkdir()
    (tmp_path / "mnt").mkdir()
    probe = [sys.executable, "-c", _COLLECTOR_PROBE, str(tmp_path / "mnt"), str(tmp_path / "lower")]
    default, threshold, frozen = map(int, subprocess.check_output(probe, text=True).split())
    assert default == 700
    assert threshold == 50_000
    assert frozen > 0


def _readahead_kb(mountpoint: str) -> int:
    """Return the read-ahead window of the mount on ``mountpoint``, in KiB."""
    device = os.stat(mountpoint).st_dev
    with open(f"/sys/class/bdi/{os.major(device)}:{os.minor(device)}/read_ahead_kb") as control:
        return int(control.read())


@pytest.mark.parametrize("option, expected", [("", 256), (",readahead=512", 512)])
def test_the_mount_reads_ahead_as_asked(dirs, option, expected):
    """The window is 256 KiB unless ``readahead=`` says otherwise (the kernel's is 128)."""
    fuse_or_skip()
    if os.geteuid() != 0:
        pytest.skip("only root may set a mount's read-ahead window")
    options = mount_options([dirs["lower"]], dirs["upper"], dirs["work"]) + option
    with DaemonMount(options, dirs["merged"]):
        assert _readahead_kb(dirs["merged"]) == expected
        with open(os.path.join(dirs["merged"], "f"), "rb") as handle:
            assert handle.read() == b"lower f"


def test_read_replies_are_spliced_where_the_kernel_offers_it():
    """``init`` asks libfuse for ``SPLICE_WRITE`` and ``SPLICE_MOVE``, as fuse-overlayfs does."""
    mfusepy = pytest.importorskip("mfusepy", exc_type=ImportError)
    from fs.memoryfs import MemoryFS

    from unionfs_lib import OverlayFS
    from unionfs_lib.mount.operations import OverlayOperations

    for capable, wanted in [(0xFFFFFFFF, SPLICE_CAPABILITIES), (0, 0)]:
        operations = OverlayOperations(OverlayFS(MemoryFS(), [MemoryFS()]))
        conn = mfusepy.fuse_conn_info()
        conn.capable, conn.want = capable, 1
        operations.init_with_config(conn, None)
        try:
            assert conn.want == 1 | wanted
            assert operations.started.is_set()
        finally:
            operations.destroy("/")
