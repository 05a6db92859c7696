"""The mount programs: ``unionfs-lib-mount`` (fuse-overlayfs's command line) and
``unionfs-lib mount OVERLAY_URL``: options, errors, daemonising, signals, crashes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import urllib.parse
import zipfile
from pathlib import Path

import pytest

import unionfs_lib
from unionfs_lib.mount.daemon import fuse_options
from unionfs_lib.mount.daemon import main as daemon_main
from unionfs_lib.mount.options import (
    DEFAULT_TIMEOUT,
    IGNORED,
    PASSED_TO_FUSE,
    VALUED_FOR_FUSE,
    UsageError,
    parse_args,
)
from unionfs_lib.mount.readahead import DEFAULT_READAHEAD_KB, SPLICE_CAPABILITIES

from ..support.kernel import KernelMount, kernel_overlay_or_skip
from ..support.mounting import (
    SCRIPT,
    DaemonMount,
    cleanup,
    daemons_serving,
    fill_os_dir,
    fuse_or_skip,
    is_mounted,
    mount_options,
    posix_tree,
    probe_as_nobody,
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
    (["-o", "lowerdir=/l"], "usage"),
    (["s", "m", "x", "-o", "lowerdir=/l"], "usage"),
    (["s", "m", "-x", "-o", "lowerdir=/l"], "unknown flag"),
    (["s", "m", "-o", "lowerdir=/l,timeout=soon"], "not a number"),
    (["s", "m", "-o", "lowerdir=/l,readahead=1.5"], "whole number of KiB"),
    (["s", "m", "-o", "lowerdir=/l,readahead=-1"], "cannot be negative"),
    (["m", "-o", "lowerdir=/l,allow_other,allow_root"], "exclude each other"),
    (["m", "-o", "lowerdir=/l,fsname="], "needs a value"),
    (["m", "-o", 'lowerdir=/l,fsname="a,b"'], "cannot hold a comma"),
    (["m", "-o", "lowerdir=/l,allow_other=1"], "unknown mount option"),
])
def test_bad_command_lines_are_refused(argv, message):
    with pytest.raises(UsageError, match=message):
        parse_args(argv)


def test_fuse_overlayfs_form_without_source(tmp_path):
    """``-o OPTIONS MOUNTPOINT``, as podman and buildah run their ``mount_program``."""
    request = parse_args(["-o", "lowerdir=/l1:/l2,upperdir=/u,workdir=/w,volatile,fsync=0", "m"])
    assert request.mountpoint == os.path.abspath("m")
    assert request.lowerdirs == ("/l1", "/l2") and request.upperdir == "/u"
    assert request.source == "overlay" and not request.foreground
    assert request.fuse_options in ((), ("allow_other",))  # root adds allow_other


def test_mount_fuse3_options_pass_to_fuse_or_are_ignored():
    """Every option mount.fuse3(8) documents is accepted: passed to FUSE, or ignored."""
    passed = ("auto_unmount,allow_root,default_permissions,dev,nodev,suid,nosuid,exec,noexec,"
              "atime,noatime,sync,async,dirsync,kernel_cache,auto_cache,noforget,fsname=mine,subtype=kind,"
              "uid=12,gid=34,umask=022,entry_timeout=2,attr_timeout=3,negative_timeout=4,"
              "ac_attr_timeout=5,remember=6")
    ignored = ('blkdev,blksize=4096,max_read=65536,rootmode=40000,fd=3,user_id=0,group_id=0,'
               'defaults,nofail,_netdev,user,users,nouser,setuid=nobody,drop_privileges,x-systemd.automount,'
               'comment=x,clone_fd,max_idle_threads=5,max_threads=4,'
               'context="system_u:object_r:container_file_t:s0:c1,c2",fscontext=a,defcontext=b,'
               'rootcontext=c,volatile,fsync=0,noacl,threaded=1,fast_ino=1,writeback=1,'
               'static_nlink,relatime,norelatime,strictatime,nostrictatime,diratime,nodiratime,'
               'lazytime,nolazytime')
    request = parse_args(["-o", "lowerdir=/l", "-o", passed, "-o", ignored, "/m", "-s"])
    assert request.fuse_options == tuple(passed.split(","))
    options = fuse_options(request.source, read_only=False, timeout=request.timeout,
                           extra=request.fuse_options)
    assert options["fsname"] == "mine" and options["subtype"] == "kind"
    assert options["umask"] == "022" and "max_read" not in options
    assert options["entry_timeout"] == "2" and options["auto_unmount"] is True
    assert options["kernel_cache"] is False  # auto_cache asked for instead
    assert parse_args(["-o", "lowerdir=/l,debug", "/m"]).debug
    defaults = fuse_options("a,b", read_only=True, timeout=5.0)
    assert defaults["fsname"] == "a_b" and defaults["subtype"] == "unionfs-lib-mount"
    assert defaults["kernel_cache"] is True and defaults["entry_timeout"] == 5.0


@pytest.mark.parametrize("option", [
    "uidmapping=0:1000:1", "gidmapping=0:1000:1", "squash_to_root", "squash_to_uid=1",
    "squash_to_gid=1", "plugins=/x.so", "xattr_permissions=2", "noxattrs=1", "modules=subdir",
])
def test_options_that_would_change_what_the_mount_shows_are_refused(option):
    with pytest.raises(UsageError, match="not supported"):
        parse_args(["-o", f"lowerdir=/l,{option}", "/m"])


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(flag, capsys):
    assert daemon_main([flag]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: unionfs-lib-mount")
    for word in ("lowerdir=", "upperdir=", "auto_unmount", "fsname=", "--version"):
        assert word in out


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag, capsys):
    assert daemon_main(["-o", "lowerdir=/l", flag]) == 0
    assert capsys.readouterr().out == f"unionfs-lib-mount {unionfs_lib.__version__}\n"


def test_help_and_version_run_as_a_program():
    assert run_script("--help").stdout.startswith("usage: unionfs-lib-mount")
    result = run_script("-V")
    assert result.returncode == 0 and unionfs_lib.__version__ in result.stdout


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
    fill_os_dir(made["lower"], {"/f": b"lower f", "/d": None, "/d/g": b"lower g"})
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


def _storage_layer(
    home: Path, layer_id: str, short: str, files: dict[str, bytes | None]
) -> str:
    """Lay out one layer as containers/storage does; return its ``l/`` link (absolute)."""
    diff = home / layer_id / "diff"
    diff.mkdir(parents=True)
    fill_os_dir(str(diff), files)
    (home / "l").mkdir(exist_ok=True)
    os.symlink(f"../{layer_id}/diff", home / "l" / short)
    return str(home / "l" / short)


def test_podman_mount_program_argv(tmp_path):
    """The argv and working directory of containers/storage's overlay driver.

    ``drivers/overlay/overlay.go`` runs ``exec.Command(mountProgram, "-o",
    label, target)`` with ``Dir = d.home``: the lowers are the ``l/`` links
    top-most first, then the container's ``diff`` and ``work``, then
    ``volatile`` for a volatile container; it waits for the program to exit
    (a daemon serves the mount) and unmounts with ``fusermount3 -u``.
    """
    fuse_or_skip()
    home = tmp_path / "storage" / "overlay"
    base = _storage_layer(home, "base", "BASE", {"/etc": None, "/etc/os": b"base",
                                                 "/etc/motd": b"base motd", "/bin": None})
    app = _storage_layer(home, "app", "APP", {"/etc": None, "/etc/os": b"app", "/app": b"app"})
    for name in ("diff", "work", "merged"):
        (home / "ctr" / name).mkdir(parents=True)
    upper, merged = home / "ctr" / "diff", home / "ctr" / "merged"
    label = f"lowerdir={app}:{base},upperdir={upper},workdir={home / 'ctr' / 'work'},volatile"
    result = subprocess.run([SCRIPT, "-o", label, str(merged)], cwd=home,
                            capture_output=True, text=True, timeout=60)
    try:
        assert result.returncode == 0, result.stderr
        assert sorted(os.listdir(merged)) == ["app", "bin", "etc"]
        assert (merged / "etc" / "os").read_bytes() == b"app"
        (merged / "etc" / "hostname").write_bytes(b"ctr")
        os.unlink(merged / "etc" / "motd")
        assert sorted(os.listdir(merged / "etc")) == ["hostname", "os"]
    finally:
        unmounted = subprocess.run(["fusermount3", "-u", str(merged)], capture_output=True)
        cleanup(str(merged))
    assert unmounted.returncode == 0
    assert wait_for(lambda: not daemons_serving(str(merged)))
    assert (upper / "etc" / "hostname").read_bytes() == b"ctr"
    assert stat.S_ISCHR(os.lstat(upper / "etc" / "motd").st_mode)  # the kernel's whiteout
    assert (Path(base) / "etc" / "motd").read_bytes() == b"base motd"


def test_podman_read_only_layer_mount(tmp_path):
    """A committed layer is mounted with its ``diff`` on top of the lowers and no upper."""
    fuse_or_skip()
    home = tmp_path / "overlay"
    base = _storage_layer(home, "base", "BASE", {"/f": b"base", "/g": b"base g"})
    top = _storage_layer(home, "top", "TOP", {"/f": b"top"})
    merged = home / "top" / "merged"
    merged.mkdir()
    result = subprocess.run([SCRIPT, "-o", f"lowerdir={top}:{base}", str(merged)], cwd=home,
                            capture_output=True, text=True, timeout=60)
    try:
        assert result.returncode == 0, result.stderr
        assert (merged / "f").read_bytes() == b"top"
        assert (merged / "g").read_bytes() == b"base g"
        with pytest.raises(OSError) as caught:
            (merged / "new").write_bytes(b"x")
        assert caught.value.errno == errno.EROFS
    finally:
        cleanup(str(merged))


def _daemon_pids(target: str) -> list[int]:
    """Return the pids of the Python daemons serving ``target`` (not fusermount3 helpers)."""
    return [pid for pid in daemons_serving(target)
            if os.path.basename(os.readlink(f"/proc/{pid}/exe")).startswith("python")]


def test_fuse_options_reach_the_mount(dirs):
    """``fsname=``, ``subtype=``, ``uid=``, ``noatime`` go to FUSE; ``auto_unmount`` works."""
    fuse_or_skip()
    options = mount_options([dirs["lower"]], dirs["upper"], dirs["work"], "auto_unmount",
                            "fsname=layers", "subtype=kind", "noatime", "max_read=65536",
                            "uid=4242", "gid=4343", "volatile")
    result = run_script("-o", options, dirs["merged"])
    try:
        assert result.returncode == 0, result.stderr
        line = mounts(f" {dirs['merged']} ")
        assert line.startswith(f"layers {dirs['merged']} fuse.kind "), line
        assert "noatime" in line.split()[3]
        found = os.stat(os.path.join(dirs["merged"], "f"))
        assert (found.st_uid, found.st_gid) == (4242, 4343)
        assert {entry.stat().st_uid for entry in os.scandir(dirs["merged"])} == {4242}
        with open(os.path.join(dirs["merged"], "f"), "rb") as handle:
            assert handle.read() == b"lower f"
        daemons = _daemon_pids(dirs["merged"])
        assert len(daemons) == 1
        os.kill(daemons[0], signal.SIGKILL)
        # auto_unmount: the mount goes with the daemon, no "transport endpoint" left behind.
        assert wait_for(lambda: not is_mounted(dirs["merged"]), seconds=20)
    finally:
        cleanup(dirs["merged"])


_MOUNT_T = r"""
set -e
trap 'umount -l "$MERGED" 2>/dev/null || true' EXIT
# mount(8) runs helpers without PATH, so mount.fuse3's shell looks in the
# default one: show it the script there, as an installed package would be.
mount --bind "$BIN" /usr/local/sbin
mount -t fuse.unionfs-lib-mount overlay "$MERGED" -o "$OPTIONS"
grep " $MERGED " /proc/self/mounts
cat "$MERGED/f"; echo
echo new > "$MERGED/d/new"
umount "$MERGED"
echo unmounted
"""


#: A value for each valued option of the tables, as a user would write it.
_SAMPLE_VALUES = {
    "fsname": "layers", "subtype": "kind", "uid": "0", "gid": "0", "umask": "022",
    "entry_timeout": "2", "attr_timeout": "3", "negative_timeout": "0.5", "ac_attr_timeout": "1",
    "remember": "5", "comment": "x", "setuid": "root", "blksize": "4096", "max_read": "65536",
    "rootmode": "40000", "fd": "9", "user_id": "0", "group_id": "0",
    "context": '"system_u:object_r:container_file_t:s0:c1,c2"', "fscontext": "a:b:c:s0",
    "defcontext": "a:b:c:s0", "rootcontext": "a:b:c:s0", "max_idle_threads": "5",
    "max_threads": "4", "fsync": "0", "threaded": "1", "fast_ino": "1", "writeback": "1",
}


@pytest.mark.parametrize("exclusive", ["allow_other", "allow_root"])
def test_every_accepted_option_mounts(dirs, exclusive):
    """All the options of the tables at once (libfuse refuses what it does not know)."""
    fuse_or_skip()
    flags = (PASSED_TO_FUSE | VALUED_FOR_FUSE | IGNORED) - {"ro", "allow_other", "allow_root"}
    words = [f"{name}={_SAMPLE_VALUES[name]}" if name in _SAMPLE_VALUES else name
             for name in sorted(flags)]
    options = mount_options([dirs["lower"]], dirs["upper"], dirs["work"], exclusive,
                            "x-systemd.automount", *words)
    result = run_script("overlay", dirs["merged"], "-o", options)
    try:
        assert result.returncode == 0, result.stderr
        with open(os.path.join(dirs["merged"], "f"), "rb") as handle:
            assert handle.read() == b"lower f"
        assert mounts(f" {dirs['merged']} ").startswith(f"layers {dirs['merged']} fuse.kind ")
    finally:
        cleanup(dirs["merged"])


def test_mount_t_fuse_unionfs_lib_mount(dirs, tmp_path):
    """``mount -t fuse.unionfs-lib-mount SOURCE MOUNTPOINT -o ...`` and ``umount``, as root."""
    fuse_or_skip()
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private mount namespace")
    if not any(os.path.exists(f"{d}/mount.fuse3") for d in ("/sbin", "/usr/sbin")):
        pytest.skip("mount.fuse3 is missing")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(SCRIPT, bin_dir / "unionfs-lib-mount")
    env = {**os.environ, "BIN": str(bin_dir), "MERGED": dirs["merged"],
           "OPTIONS": mount_options([dirs["lower"]], dirs["upper"], dirs["work"], "nodev")}
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", _MOUNT_T],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    table_line, content, done = result.stdout.splitlines()
    assert table_line.startswith(f"overlay {dirs['merged']} fuse.unionfs-lib-mount ")
    assert (content, done) == ("lower f", "unmounted")
    with open(os.path.join(dirs["upper"], "d", "new")) as handle:
        assert handle.read() == "new\n"
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


def test_the_kernel_checks_permissions_for_other_users():
    fuse_or_skip()
    if os.geteuid() != 0:
        pytest.skip("needs root to run a probe as another user")
    found = probe_as_nobody(("allow_other",), prefix="mount-perms-")
    assert found == [str(errno.EACCES), str(errno.EACCES), "ok"]


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
            assert conn.want & 1  # what libfuse wanted is kept
            assert conn.want & SPLICE_CAPABILITIES == wanted  # (other capabilities may join)
            assert operations.started.is_set()
        finally:
            operations.destroy("/")
