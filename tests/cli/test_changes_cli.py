"""The ``diff``, ``commit`` and ``discard`` commands, run as real subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from fs.osfs import OSFS

from ..support.changesets import file_tree, make_lower, merged_files, open_overlay, scripted_changes
from ..support.cli import run_cli


@pytest.fixture
def layers(tmp_path):
    """A lower directory, an upper with every kind of change, and the overlay's URL."""
    lower = make_lower(tmp_path / "lower")
    upper = tmp_path / "upper"
    with open_overlay(upper, lower, "markers") as overlay:
        scripted_changes(overlay)
        lines = [change.line() for change in overlay.changes()]
        url = overlay.describe(fingerprints="none")["url"]
        files = merged_files(overlay)
    return {"lower": lower, "upper": upper, "url": url, "lines": lines, "files": files}


def test_diff_prints_one_line_per_change(layers):
    result = run_cli("diff", layers["url"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == layers["lines"]
    assert "R /move -> /moved" in result.stdout
    below = run_cli("diff", layers["url"], "/a")
    assert below.stdout.splitlines() == ["A /a/b/new.txt", "M /a/x.txt"]


def test_diff_json_and_patch(layers, tmp_path):
    result = run_cli("diff", layers["url"], "--json")
    records = json.loads(result.stdout)
    assert {"path": "/moved", "kind": "added", "is_dir": True, "source": "/move"} in records
    patch = run_cli("diff", layers["url"], "--patch").stdout
    assert patch.startswith("diff --git ")
    if shutil.which("git"):
        copy = tmp_path / "copy"
        shutil.copytree(layers["lower"], copy)
        subprocess.run(["git", "apply", "-"], input=patch.encode(), cwd=copy, check=True)
        assert file_tree(copy) == layers["files"]


def test_commit_with_discard_and_the_console_script(layers, tmp_path):
    target = tmp_path / "target"
    shutil.copytree(layers["lower"], target)
    result = run_cli("commit", layers["url"], f"osfs://{target}", "--discard", "--no-progress",
                     script=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("committed ")
    assert {path: data for path, data in file_tree(target).items()} == layers["files"]
    assert run_cli("diff", layers["url"]).stdout == ""


def test_discard_chosen_paths(layers):
    result = run_cli("discard", layers["url"], "/top.txt", "/gone")
    assert result.returncode == 0, result.stderr
    lines = run_cli("diff", layers["url"]).stdout.splitlines()
    assert "M /top.txt" not in lines and "D /gone" not in lines
    assert "M /a/x.txt" in lines


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["diff", "nosuchproto://x"], "not supported"),
        (["diff", "{url}", "/no/such/path"], "/no/such/path"),
        (["discard", "{url}", "/no/such/path"], "/no/such/path"),
        (["commit", "{url}", "osfs://{target}"], "changed in the commit target"),
    ],
    ids=["bad-url", "missing-path", "discard-missing", "refused-commit"],
)
def test_user_errors_are_one_line_without_traceback(layers, tmp_path, args, fragment):
    target = tmp_path / "target"
    shutil.copytree(layers["lower"], target)
    (target / "a" / "x.txt").write_text("changed meanwhile\n")
    before = file_tree(target)
    values = {"url": layers["url"], "target": str(target)}
    result = run_cli(*[arg.format(**values) for arg in args])
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ") and fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert file_tree(target) == before
    assert OSFS(str(layers["upper"])).exists("/a/x.txt")


@pytest.mark.parametrize("args", [["diff"], ["describe"], ["which", "/a"]], ids=lambda a: a[0])
def test_read_only_commands_refuse_a_missing_upper_and_create_nothing(layers, tmp_path, args):
    """A typo in the upper's name is an error, not "no changes" over a new upper (issue 22)."""
    from urllib.parse import quote

    typo = tmp_path / "uper"
    url = (f"overlay://?upper={quote('osfs://' + str(typo), safe='')}"
           f"&lower={quote('osfs://' + str(layers['lower']), safe='')}")
    result = run_cli(args[0], url, *args[1:])
    assert result.returncode == 1, result.stdout
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and "uper" in result.stderr
    assert "does not exist" in result.stderr and "create=1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not typo.exists()


def test_the_command_line_takes_path_objects(layers, tmp_path, capsys):
    """``main()`` takes ``os.PathLike`` arguments; a plain target path is taken literally."""
    from unionfs_lib.__main__ import main

    target = tmp_path / "squashed?x=1"
    assert main(["squash", layers["url"], target, "--no-progress"]) == 0
    assert file_tree(target) == layers["files"]


# -- the mount's own options in place of the URL (issue 22) ----------------------


@pytest.fixture
def mount_layers(tmp_path):
    """A kernel-format upper as a mount leaves it, and the ``-o`` options naming its layers."""
    lower = make_lower(tmp_path / "lower")
    upper, work = tmp_path / "upper", tmp_path / "work"
    with open_overlay(upper, lower, "kernel") as overlay:  # work is upper + ".work"
        scripted_changes(overlay)
        lines = [change.line() for change in overlay.changes()]
        files = merged_files(overlay)
    work = tmp_path / "upper.work"
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    return {"lower": lower, "upper": upper, "work": work, "options": options,
            "lines": lines, "files": files}


def test_diff_commit_and_discard_take_the_mounts_options(mount_layers, tmp_path):
    options = mount_layers["options"]
    result = run_cli("diff", "-o", options)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == mount_layers["lines"]
    assert "R /move -> /moved" in result.stdout
    below = run_cli("diff", "-o", options, "/a")
    assert below.stdout.splitlines() == ["A /a/b/new.txt", "M /a/x.txt"]
    patch = run_cli("diff", "/a", "--patch", "-o", options)
    assert patch.returncode == 0 and patch.stdout.startswith("diff --git a/a/"), patch
    target = tmp_path / "target"
    shutil.copytree(mount_layers["lower"], target)
    committed = run_cli("commit", "-o", options, str(target), "--no-progress")
    assert committed.returncode == 0, committed.stderr
    assert committed.stdout.startswith("committed ")
    assert file_tree(target) == mount_layers["files"]
    discarded = run_cli("discard", "-o", options, "/top.txt")
    assert discarded.returncode == 0, discarded.stderr
    lines = run_cli("diff", "-o", options).stdout.splitlines()
    assert "M /top.txt" not in lines and "M /a/x.txt" in lines
    assert run_cli("discard", "-o", options).returncode == 0
    assert run_cli("diff", "-o", options).stdout == ""
    assert os.listdir(mount_layers["upper"]) == []


def test_commit_of_the_mounts_options_into_the_lower_then_discard(mount_layers):
    """The workflow: keep what the mount wrote in the lower directory, then empty the upper."""
    options = mount_layers["options"]
    result = run_cli("commit", "-o", options, f"osfs://{mount_layers['lower']}", "--discard",
                     "--no-progress")
    assert result.returncode == 0, result.stderr
    assert file_tree(mount_layers["lower"]) == mount_layers["files"]
    assert run_cli("diff", "-o", options).stdout == ""


def test_describe_and_which_take_the_mounts_options(mount_layers):
    options = mount_layers["options"]
    which = run_cli("which", "-o", options, "/a/x.txt")
    assert which.returncode == 0, which.stderr
    assert which.stdout.split()[0] == "0" and which.stdout.split()[-1] == "/a/x.txt"
    described = run_cli("describe", "-o", options, "--fingerprints", "none")
    assert described.returncode == 0, described.stderr
    assert json.loads(described.stdout)["upper"].startswith("upperdir://")


@pytest.mark.parametrize(
    "options, fragment",
    [
        ("upperdir={upper},workdir={work}", "missing lowerdir="),
        ("lowerdir={lower},upperdir={upper}", "upperdir= and workdir= go together"),
        ("lowerdir={lower},upperdir={missing},workdir={work}", "is not a directory"),
        ("lowerdir={lower},frobnicate", "unknown mount option"),
    ],
    ids=["no-lowerdir", "no-workdir", "missing-upper", "unknown-option"],
)
def test_bad_mount_options_are_one_line_and_create_nothing(mount_layers, tmp_path, options,
                                                          fragment):
    values = {key: mount_layers[key] for key in ("lower", "upper", "work")}
    missing = tmp_path / "typo"
    result = run_cli("diff", "-o", options.format(missing=missing, **values))
    assert result.returncode == 1, result
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and fragment in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not missing.exists()


def test_a_url_and_the_mounts_options_are_not_both_needed(mount_layers):
    result = run_cli("diff")
    assert result.returncode == 2 and "OVERLAY_URL (or -o lowerdir=...)" in result.stderr
    extra = run_cli("which", "-o", mount_layers["options"], "/a", "/b")
    assert extra.returncode == 2 and "unrecognized arguments: /b" in extra.stderr
