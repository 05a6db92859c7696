"""The ``unionfs-lib`` command's manners: help, version, program name, pipes, terminals."""

from __future__ import annotations

import os
import pty
import re
import select
import shlex
import subprocess
import sys

import pytest

import unionfs_lib

from ..support.changesets import make_lower, open_overlay
from ..support.cli import run_cli

pytestmark = pytest.mark.out_of_process  # layers used by other processes only

COMMANDS = ("describe", "which", "copy-up-tree", "squash", "export", "diff", "commit",
            "discard", "mount")


@pytest.fixture
def url(tmp_path):
    """The URL of an overlay with a few changes (several diff lines)."""
    lower = make_lower(tmp_path / "lower")
    with open_overlay(tmp_path / "upper", lower, "markers") as overlay:
        for index in range(2000):
            overlay.writetext(f"/many-{index:05}.txt", "x\n")
        return overlay.describe(fingerprints="none")["url"]


@pytest.fixture
def clean_url(tmp_path):
    """The URL of an overlay without changes."""
    lower = make_lower(tmp_path / "lower")
    with open_overlay(tmp_path / "upper", lower, "markers") as overlay:
        return overlay.describe(fingerprints="none")["url"]


def test_a_closed_pipe_ends_the_diff_quietly(url):
    """``unionfs-lib diff URL | head -1`` prints one line and no error (issue 22)."""
    command = (f"{shlex.quote(sys.executable)} -m unionfs_lib diff {shlex.quote(url)}"
               f" | head -1; echo \"status=${{PIPESTATUS[0]}}\" >&2")
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                            timeout=120, env={**os.environ})
    assert result.stdout == "A /many-00000.txt\n"
    lines = result.stderr.splitlines()
    assert lines[-1] in ("status=141", "status=0"), result.stderr
    assert lines[:-1] == [], result.stderr


def test_version_prints_the_program_and_the_package_version():
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"unionfs-lib {unionfs_lib.__version__}\n"


@pytest.mark.parametrize("args", [[], *[[command] for command in COMMANDS]],
                         ids=lambda args: args[0] if args else "main")
def test_help_names_the_program_explains_every_argument_and_has_no_markup(args):
    result = run_cli(*args, "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith("usage: unionfs-lib"), text
    assert "python -m" not in text and "__main__" not in text
    assert "``" not in text and ":ref:" not in text and ":func:" not in text
    assert not re.search(r":[a-z]+:`", text), text
    # every positional and option has a help text: no entry line stands alone
    entries = _help_entries(text)
    assert entries, text
    for name, described in entries:
        assert described, f"{name} has no help text in:\n{text}"


def _help_entries(text: str) -> list[tuple[str, bool]]:
    """``(argument, has help)`` of every argument listed in a ``--help`` text."""
    entries: list[tuple[str, bool]] = []
    section = False
    for line in text.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            section = line.startswith(("positional arguments", "options"))
            continue
        if not section or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 2:
            parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            entries.append((parts[0], len(parts) > 1))
        elif indent > 2 and entries and not entries[-1][1]:
            entries[-1] = (entries[-1][0], True)
    return [entry for entry in entries if not entry[0].startswith("{")]


def test_commit_counts_one_entry_in_the_singular(tmp_path):
    lower = make_lower(tmp_path / "lower")
    with open_overlay(tmp_path / "upper", lower, "markers") as overlay:
        overlay.writetext("/top.txt", "one change\n")
        url = overlay.describe(fingerprints="none")["url"]
    result = run_cli("commit", url, f"osfs://{lower}", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "committed 1 entry\n"
    (lower / "two").mkdir()
    with open_overlay(tmp_path / "upper2", lower, "markers") as overlay:
        overlay.writetext("/two/a.txt", "a\n")
        overlay.writetext("/two/b.txt", "b\n")
        url = overlay.describe(fingerprints="none")["url"]
    result = run_cli("commit", url, f"osfs://{lower}", "--no-progress")
    assert result.stdout == "committed 2 entries\n"


def test_copy_up_counts_one_entry_in_the_singular(tmp_path):
    lower = make_lower(tmp_path / "lower")
    with open_overlay(tmp_path / "upper", lower, "markers") as overlay:
        url = overlay.describe(fingerprints="none")["url"]
    result = run_cli("copy-up-tree", url, "/top.txt", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "copied up 1 entry\n"


def test_diff_without_changes_says_so_on_a_terminal_only(clean_url):
    piped = run_cli("diff", clean_url)
    assert piped.returncode == 0 and piped.stdout == "", piped
    status, output = _run_on_terminal([sys.executable, "-m", "unionfs_lib", "diff", clean_url])
    assert status == 0, output
    assert output.replace("\r\n", "\n") == "no changes\n"
    status, output = _run_on_terminal(
        [sys.executable, "-m", "unionfs_lib", "diff", clean_url, "--patch"])
    assert (status, output.replace("\r\n", "\n")) == (0, "no changes\n")


def _run_on_terminal(command: list[str]) -> tuple[int, str]:
    """Run ``command`` with its standard output on a pseudo-terminal; return status and output."""
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(command, stdout=follower, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL)
    finally:
        os.close(follower)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the terminal's other side closed
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    process.wait(timeout=60)
    assert process.stderr is not None
    errors = process.stderr.read().decode()
    process.stderr.close()
    return process.returncode, b"".join(chunks).decode() + errors
