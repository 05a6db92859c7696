"""Every example of docs/fsspec.rst runs and shows what it says."""

from __future__ import annotations

import doctest
from pathlib import Path

import fsspec

DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "fsspec.rst"


def test_fsspec_page_examples_run() -> None:
    memory = fsspec.filesystem("memory")
    if memory.exists("/docs"):
        memory.rm("/docs", recursive=True)
    try:
        result = doctest.testfile(str(DOC), module_relative=False, verbose=False)
    finally:
        if memory.exists("/docs"):
            memory.rm("/docs", recursive=True)
    assert result.attempted > 20
    assert result.failed == 0
