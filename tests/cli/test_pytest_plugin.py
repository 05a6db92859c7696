"""The ``overlay_sandbox`` fixture, exercised through real ``pytest`` subprocesses."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from unionfs_lib.pytest_plugin import Sandbox, first_difference

from ..support.pytester import TREE_FIXTURE, run_written_tests

HEADER = """
import os
from pathlib import Path

import pytest
from fs.memoryfs import MemoryFS

""" + TREE_FIXTURE


def run_pytest(tmp_path: Path, name: str, body: str) -> subprocess.CompletedProcess[str]:
    """Write a test file and run pytest on it in a fresh process."""
    return run_written_tests(tmp_path, name, HEADER, body, timeout=120)


def test_a_passing_sandboxed_test_leaves_the_tree_alone(tmp_path):
    result = run_pytest(tmp_path, "test_passing.py", '''
        def test_cleanup(overlay_sandbox, tree):
            overlay = overlay_sandbox(str(tree))
            overlay.removetree("/logs")
            overlay.writetext("/docs/a.txt", "edited\\n")
            assert [c.line() for c in overlay.changes()] == ["M /docs/a.txt", "D /logs"]
            assert (tree / "logs" / "old.log").exists()

        def test_layers_and_upper(overlay_sandbox, tree):
            upper = MemoryFS()
            top = MemoryFS()
            top.writetext("/b.txt", "top b\\n")
            overlay = overlay_sandbox([top, str(tree)], upper=upper)
            assert overlay.readtext("/b.txt") == "top b\\n"
            overlay.writetext("/new.txt", "x")
            assert upper.readtext("/new.txt") == "x"
    ''')
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert "overlay changes" not in result.stdout


def test_a_failing_test_reports_the_overlay_changes(tmp_path):
    result = run_pytest(tmp_path, "test_failing.py", '''
        def test_broken_cleanup(overlay_sandbox, tree):
            overlay = overlay_sandbox(tree.as_posix())
            overlay.writetext("/new.txt", "new\\n")
            overlay.appendtext("/b.txt", "more\\n")
            overlay.removetree("/logs")
            overlay.movedir("/docs", "/manual", create=True)
            assert overlay.exists("/logs"), "cleanup removed the logs"
    ''')
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cleanup removed the logs" in result.stdout
    section = result.stdout.split("overlay changes", 1)[1]
    for line in ("M /b.txt", "D /logs", "R /docs -> /manual", "A /new.txt"):
        assert line in section, result.stdout
    assert "D /docs" not in section and "A /manual/a.txt" not in section  # one line: R
    assert "1 failed" in result.stdout


def test_a_renamed_directory_of_ten_thousand_files_is_one_line_of_the_report(tmp_path):
    """The report lists a renamed directory as one line, not one per file (issue 22)."""
    result = run_pytest(tmp_path, "test_renaming.py", '''
        def test_rename(overlay_sandbox, tree):
            for index in range(10_000):
                (tree / "logs" / f"{index:05}.log").write_text("x")
            overlay = overlay_sandbox(tree)
            overlay.movedir("/logs", "/archive", create=True)
            overlay.writetext("/archive/00001.log", "edited")
            assert False, "show the report"
    ''')
    assert result.returncode == 1, result.stdout + result.stderr
    section = result.stdout.split("overlay changes", 1)[1].split("short test summary")[0]
    lines = []
    for line in section.splitlines()[1:]:
        if line.startswith("="):  # the next section (warnings summary, short summary)
            break
        if line:
            lines.append(line)
    assert lines == ["R /logs -> /archive", "M /archive/00001.log"], result.stdout


def test_a_lower_changed_behind_the_overlay_fails_the_test(tmp_path):
    result = run_pytest(tmp_path, "test_meddling.py", '''
        def test_meddles(overlay_sandbox, tree):
            overlay = overlay_sandbox(str(tree))
            overlay.writetext("/fine.txt", "through the overlay")
            (tree / "docs" / "a.txt").write_text("behind its back, longer\\n")
    ''')
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error" in result.stdout.lower()
    assert "changed behind the overlay" in result.stdout
    assert str(Path("tree")) in result.stdout and "/docs/a.txt" in result.stdout


def test_first_difference_and_bad_arguments():
    assert first_difference({"/a": (1,)}, {"/a": (1,), "/b": (2,)}) == "/b"
    assert first_difference({"/a": (1,)}, {"/a": (1,)}) is None
    with pytest.raises(ValueError):
        Sandbox()([])


def test_the_documented_example_test_passes(tmp_path):
    page = Path(__file__).resolve().parent.parent.parent / "docs" / "changesets.rst"
    text = page.read_text()
    start = text.index("    # test_cleanup.py")
    block = text[start:text.index("\nAt teardown", start)]
    test_file = tmp_path / "test_cleanup.py"
    test_file.write_text(textwrap.dedent(block))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(test_file), "-p", "no:randomly",
         "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_sandbox_takes_path_objects(tmp_path):
    """``overlay_sandbox(tmp_path)`` (issue 22): a path object is a directory, alone or listed."""
    result = run_pytest(tmp_path, "test_paths.py", '''
        def test_path_object(overlay_sandbox, tree):
            overlay = overlay_sandbox(tree)
            overlay.writetext("/b.txt", "edited\\n")
            assert [c.line() for c in overlay.changes()] == ["M /b.txt"]
            assert (tree / "b.txt").read_text() == "b\\n"

        def test_list_of_path_objects(overlay_sandbox, tree):
            overlay = overlay_sandbox([tree / "docs", tree])
            assert overlay.readtext("/a.txt") == "a\\n"
            assert overlay.readtext("/b.txt") == "b\\n"
    ''')
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
