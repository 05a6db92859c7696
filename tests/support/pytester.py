"""Run a written test file through ``pytest`` in a fresh process, with a sample ``tree`` fixture."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path


def fill_sample_tree(root: Path) -> None:
    """Lay the sample tree in ``root``: ``docs/a.txt``, ``b.txt`` and ``logs/old.log``."""
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.txt").write_text("a\n")
    (root / "b.txt").write_text("b\n")
    (root / "logs").mkdir()
    (root / "logs" / "old.log").write_text("old\n")


#: Source of a ``tree`` fixture (the sample tree under ``tmp_path/tree``) for a written test file.
TREE_FIXTURE = inspect.getsource(fill_sample_tree) + '''

@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    fill_sample_tree(root)
    return root
'''


def run_written_tests(
    tmp_path: Path, name: str, header: str, body: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Write ``header`` and the dedented ``body`` as ``tmp_path/name``; run pytest on it there."""
    test_file = tmp_path / name
    test_file.write_text(header + textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(test_file), "-p", "no:randomly",
         "-p", "no:cacheprovider", "-q", "--no-header"],
        cwd=tmp_path, capture_output=True, text=True, timeout=timeout,
    )
