"""The README's and the documentation pages' ``>>>`` examples run as tests.

``python3 tasks.py test`` also runs the pages through ``sphinx-build -b
doctest``; running them here too puts them under guard mode, so no example
can write a lower layer, and shows a broken example in a plain pytest run.
"""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

#: Pages whose examples are plain ``>>>`` blocks (no Sphinx-only directives).
PAGES = [
    "README.rst",
    "docs/guide.rst",
    "docs/semantics.rst",
    "docs/kernel.rst",
    "docs/lifecycle.rst",
    "docs/reliability.rst",
    "docs/performance.rst",
    "docs/architecture.rst",
    "docs/strategies.rst",
]


@pytest.mark.parametrize("page", PAGES)
def test_examples_run(page):
    result = doctest.testfile(
        str(ROOT / page), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False
    )
    assert result.attempted > 0, f"{page} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {page} failed"
