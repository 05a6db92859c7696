"""Every example of docs/mount.rst runs as written.

* the ``>>>`` examples, as a doctest;
* each ``python`` block, a complete test module, through pytest (it mounts);
* every ``console`` block (bar the installation commands), one shell session
  in page order: ``$``/``#`` lines are commands, the lines under one are its
  expected output. The session runs as root in a mount namespace of its own,
  with empty file systems on ``/srv``, ``/mnt`` and ``/opt`` (the page's
  paths), the scripts of this virtualenv on ``PATH`` and, since mount(8)
  runs helpers without ``PATH``, in ``/usr/local/sbin``; the ``/etc/fstab``
  line is mounted with ``mount --fstab``;
* the ``toml`` block parses, and every option the command line knows is
  named on the page.
"""

from __future__ import annotations

import doctest
import os
import re
import shutil
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import attrs
import pytest

from unionfs_lib.mount.options import IGNORED, PASSED_TO_FUSE, UNSUPPORTED, VALUED_FOR_FUSE

from ..support.mounting import SCRIPT, fuse_or_skip

pytestmark = pytest.mark.out_of_process  # layers used by other processes only

ROOT = Path(__file__).resolve().parent.parent.parent
PAGE = ROOT / "docs" / "mount.rst"

#: Commands that install the prerequisites: shown, not run.
INSTALLING = ("pip install", "apt-get install")


@attrs.frozen
class Block:
    """A ``code-block`` of the page: its language, first line number and text."""

    language: str
    line: int
    text: str


@attrs.frozen
class Command:
    """A console command and the output the page shows under it."""

    text: str
    expected: tuple[str, ...]


def blocks(language: str) -> list[Block]:
    """Return the page's ``.. code-block:: LANGUAGE`` blocks, dedented."""
    lines = PAGE.read_text().splitlines()
    found = []
    for index, line in enumerate(lines):
        if line.strip() != f".. code-block:: {language}":
            continue
        body: list[str] = []
        for following in lines[index + 1:]:
            if following.strip() and not following.startswith(" "):
                break
            body.append(following)
        found.append(Block(language, index + 1, textwrap.dedent("\n".join(body)).strip("\n")))
    return found


def commands(block: Block) -> list[Command]:
    """Split a console block into commands (``$``/``#`` prompts, ``\\`` continues a line)."""
    found: list[Command] = []
    text: list[str] = []
    expected: list[str] = []
    continued = False
    for line in block.text.splitlines():
        if continued:
            text.append(line)
        elif line.startswith(("$ ", "# ")):
            if text:
                found.append(Command("\n".join(text), tuple(expected)))
            text, expected = [line[2:]], []
        else:
            expected.append(line)
        continued = line.endswith("\\")
    if text:
        found.append(Command("\n".join(text), tuple(expected)))
    return found


def session() -> list[Command]:
    """Return the commands of every console block to run, in page order."""
    run = []
    for block in blocks("console"):
        found = commands(block)
        if all(command.text.startswith(INSTALLING) for command in found):
            continue
        run.extend(found)
    return run


def fstab_commands() -> list[Command]:
    """Mount the page's ``/etc/fstab`` line from a file of its own, look, unmount."""
    (table,) = [block for block in blocks("text") if block.text.startswith("# /etc/fstab")]
    return [
        Command(f"cat > /srv/fstab <<'EOF'\n{table.text}\nEOF", ()),
        Command("mount --fstab /srv/fstab /mnt/merged", ()),
        Command("cat /mnt/merged/etc/motd", ("changed",)),
        Command("umount /mnt/merged", ()),
    ]


PRELUDE = """
cleanup() {
    for target in $(awk '$2 ~ "^/mnt/" {print $2}' /proc/self/mounts); do
        fusermount3 -u -z "$target" 2>/dev/null || umount -l "$target"
    done
}
trap cleanup EXIT
for dir in /srv /mnt /opt; do mount -t tmpfs tmpfs "$dir"; done
mkdir -p /opt/venv/bin
ln -s "$SCRIPT" /opt/venv/bin/unionfs-lib-mount
mount --bind "$HELPERS" /usr/local/sbin
export PATH="$VENV_BIN:$PATH"
cd /srv
"""


def script(steps: typing.Sequence[Command]) -> str:
    """Return a shell script running ``steps``, marking each one's output and status."""
    parts = [PRELUDE]
    for index, step in enumerate(steps):
        parts.append(f"printf '::cmd {index}::\\n'\n{step.text}\n"
                     f"status=$?; printf '\\n::rc {index} %d::\\n' $status\n"
                     f'[ "$status" -eq 0 ] || exit 1\n')
    return "\n".join(parts)


def outputs(stdout: str) -> dict[int, tuple[int, list[str]]]:
    """Return each step's status and output lines from the marked ``stdout``."""
    found = {}
    pattern = re.compile(r"::cmd (\d+)::\n(.*?)\n::rc \1 (\d+)::\n", re.S)
    for match in pattern.finditer(stdout):
        text = match.group(2).rstrip("\n")
        found[int(match.group(1))] = (int(match.group(3)), text.splitlines() if text else [])
    return found


def test_the_console_examples_run_as_written(tmp_path):
    fuse_or_skip()
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a mount namespace of its own")
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    for name in ("unionfs-lib-mount", "unionfs-lib"):
        os.symlink(Path(SCRIPT).parent / name, helpers / name)
    steps = session() + fstab_commands()
    env = {**os.environ, "SCRIPT": SCRIPT, "HELPERS": str(helpers),
           "VENV_BIN": os.path.dirname(SCRIPT)}
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script(steps)],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    found = outputs(result.stdout)
    for index, step in enumerate(steps):
        assert index in found, f"never ran: {step.text}\n{result.stdout}\n{result.stderr}"
        status, output = found[index]
        assert status == 0, f"failed ({status}): {step.text}\n{output}\n{result.stderr}"
        if step.expected:
            assert output == list(step.expected), step.text
    assert result.returncode == 0, result.stderr


def test_the_session_covers_every_console_block():
    ran = {command.text for command in session()}
    for block in blocks("console"):
        for command in commands(block):
            assert command.text in ran or command.text.startswith(INSTALLING), command


def test_the_python_examples_are_complete_test_modules(tmp_path):
    fuse_or_skip()
    (example,) = blocks("python")
    test_file = tmp_path / "test_example.py"
    test_file.write_text(example.text + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(test_file), "-p", "no:randomly",
         "-p", "no:cacheprovider", "-q", "--no-header"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_doctests_run():
    result = doctest.testfile(str(PAGE), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_the_storage_conf_example_parses():
    tomllib = pytest.importorskip("tomllib")
    (config,) = blocks("toml")
    parsed = tomllib.loads(config.text)
    assert parsed["storage"]["options"]["overlay"]["mount_program"].endswith("/unionfs-lib-mount")


def test_every_option_is_documented():
    text = PAGE.read_text()
    for name in PASSED_TO_FUSE | IGNORED | UNSUPPORTED | VALUED_FOR_FUSE:
        assert re.search(rf"``{re.escape(name)}(=[A-Z]*)?``", text), name


def test_the_readme_workflow_is_part_of_the_tested_session():
    """README.rst's mount -> review -> commit block shows commands this page's session runs."""
    readme = (ROOT / "README.rst").read_text().splitlines()
    start = readme.index("Mount, review, commit")
    block_at = readme.index(".. code-block:: console", start)
    shown = []
    for line in readme[block_at + 1:]:
        if line.strip() and not line.startswith(" "):
            break
        if line.strip():
            shown.append(line.strip())
    session = [
        line.strip() for block in blocks("console") for line in block.text.splitlines()
        if line.strip()
    ]
    position = 0
    for line in shown:  # in order, each line (command or output) found in the session
        assert line in session[position:], f"README line not in docs/mount.rst's session: {line}"
        position = session.index(line, position) + 1
