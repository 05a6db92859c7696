"""Mounting at boot: the fstab line and the systemd mount unit in ``contrib/systemd``.

``contrib/systemd/fstab.example`` is mounted as written (its ``/srv`` paths
moved under a temporary directory) with ``mount -T FSTAB MOUNTPOINT``, which
goes ``mount`` -> ``mount.fuse3`` -> ``unionfs-lib-mount`` as at boot. mount
runs its helpers without ``PATH`` (``/bin/sh`` then looks in its default
``/usr/local/bin:/usr/bin:...``), so the test runs in a private mount namespace
(``unshare --mount``) where a directory holding this environment's
``unionfs-lib-mount`` is bind-mounted on ``/usr/local/bin``: nothing outside
the namespace changes. ``systemd-analyze verify`` checks the unit
``contrib/systemd/srv-merged.mount`` and the unit systemd's fstab generator
makes of the fstab line; nothing is started. Each test skips, saying why,
where its tools are missing.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from ..support.mounting import (
    SCRIPT,
    daemons_serving,
    fill_os_dir,
    fuse_or_skip,
    posix_tree,
    wait_for,
)

pytestmark = pytest.mark.out_of_process  # layers used by other processes only

ROOT = Path(__file__).resolve().parent.parent.parent
CONTRIB = ROOT / "contrib" / "systemd"
UNIT = CONTRIB / "srv-merged.mount"
FSTAB = CONTRIB / "fstab.example"
GENERATORS = ("/usr/lib/systemd/system-generators", "/lib/systemd/system-generators")

#: Run in the private mount namespace: mount from the fstab, use, unmount.
IN_NAMESPACE = """
set -eu
trap 'umount -l "$MERGED" 2>/dev/null || true' EXIT
mount --bind "$HELPERS" /usr/local/bin
mount -T "$FSTAB" "$MERGED"
grep " $MERGED " /proc/self/mounts
cat "$MERGED/f"
echo written > "$MERGED/new"
rm "$MERGED/d/g"
umount "$MERGED"
trap - EXIT
"""


def fstab_fields(text: str) -> list[str]:
    """Return the six fields of the one entry of an fstab text."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 1, lines
    fields = lines[0].split()
    assert len(fields) == 6, fields
    return fields


def unit_settings(text: str) -> dict[str, str]:
    """Return the ``Key=value`` lines of a unit file (the last of each key)."""
    pairs = (line.split("=", 1) for line in text.splitlines()
             if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def test_the_unit_and_the_fstab_line_describe_one_mount():
    what, where, kind, options, dump, passno = fstab_fields(FSTAB.read_text())
    unit = unit_settings(UNIT.read_text())
    assert (unit["What"], unit["Where"], unit["Type"]) == (what, where, kind)
    assert kind == "fuse.unionfs-lib-mount"
    assert UNIT.name == where.strip("/").replace("/", "-") + ".mount"
    plain = [each for each in options.split(",") if not each.startswith("x-") and each != "nofail"]
    assert unit["Options"].split(",") == plain
    assert any(each.startswith("x-systemd.requires=") for each in options.split(","))
    assert (dump, passno) == ("0", "0")


def test_mount_t_fuse_unionfs_lib_mount_from_an_fstab_line(tmp_path):
    fuse_or_skip()
    if os.geteuid() != 0:
        pytest.skip("mount -T needs root")
    for tool in ("unshare", "mount", "umount"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing")
    if not any(os.path.exists(f"{where}/mount.fuse3") for where in ("/sbin", "/usr/sbin")):
        pytest.skip("mount.fuse3 is missing (Debian's fuse3)")
    srv = tmp_path / "srv"
    for name in ("base", "upper", "work", "merged"):
        (srv / name).mkdir(parents=True)
    fill_os_dir(str(srv / "base"), {"/f": b"lower f", "/d": None, "/d/g": b"lower g"})
    lower_before = posix_tree(str(srv / "base"))
    fstab = tmp_path / "fstab"
    fstab.write_text(FSTAB.read_text().replace("/srv/", f"{srv}/"))
    if not os.path.exists(SCRIPT):
        pytest.skip(f"{SCRIPT} is missing: install the project (pip install -e .)")
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    (helpers / "unionfs-lib-mount").symlink_to(SCRIPT)
    merged = str(srv / "merged")
    env = {**os.environ, "HELPERS": str(helpers), "FSTAB": str(fstab), "MERGED": merged}
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", IN_NAMESPACE],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    mounted, content = result.stdout.splitlines()
    assert mounted.split()[:3] == ["overlay", merged, "fuse.unionfs-lib-mount"]
    assert content == "lower f"
    assert wait_for(lambda: not daemons_serving(merged)), "the daemon stayed after umount"
    assert (srv / "upper" / "new").read_text() == "written\n"
    assert stat.S_ISCHR(os.lstat(srv / "upper" / "d" / "g").st_mode)  # the kernel's whiteout
    assert posix_tree(str(srv / "base")) == lower_before
    assert not os.path.ismount(merged)


def systemd_analyze_or_skip() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is missing (Debian's systemd): the unit is not verified")
    return found


def test_systemd_analyze_verifies_the_mount_unit():
    analyze = systemd_analyze_or_skip()
    result = subprocess.run([analyze, "verify", str(UNIT)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert UNIT.name not in result.stderr, result.stderr  # no warning about it either


def test_the_fstab_generator_makes_a_valid_unit_of_the_line(tmp_path):
    analyze = systemd_analyze_or_skip()
    generator = next((f"{where}/systemd-fstab-generator" for where in GENERATORS
                      if os.path.exists(f"{where}/systemd-fstab-generator")), None)
    if generator is None:
        pytest.skip("systemd-fstab-generator is missing")
    outputs = [tmp_path / name for name in ("normal", "early", "late")]
    for output in outputs:
        output.mkdir()
    env = {**os.environ, "SYSTEMD_FSTAB": str(FSTAB)}
    made = subprocess.run([generator, *map(str, outputs)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    unit = outputs[0] / UNIT.name
    settings = unit_settings(unit.read_text())
    assert settings["Type"] == "fuse.unionfs-lib-mount"
    assert settings["Requires"] == "srv-base.mount"
    assert settings["RequiresMountsFor"] == "/srv/upper"
    # The unit it requires, as a stand-in for the real mount of the lower.
    (outputs[0] / "srv-base.mount").write_text(
        "[Mount]\nWhat=/dev/disk/by-label/base\nWhere=/srv/base\nType=ext4\n")
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert UNIT.name not in result.stderr, result.stderr
