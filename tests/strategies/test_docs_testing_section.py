"""The section "Testing your strategy" meant for ``docs/strategies.rst`` runs as written.

``tests/strategies/testing_your_strategy.rst`` holds the section exactly as
the page is to carry it, at its end. Its example uses the page's own
``LayerOrder`` iterator, so it runs here after the page: the page with the
section appended (or the page alone, once it holds the section), as
``tests/test_docs.py`` runs every page.
"""

from __future__ import annotations

import doctest
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECTION = pathlib.Path(__file__).with_name("testing_your_strategy.rst")


def test_the_testing_section_runs_after_the_strategies_page(tmp_path: pathlib.Path) -> None:
    page = (ROOT / "docs" / "strategies.rst").read_text(encoding="utf-8")
    section = SECTION.read_text(encoding="utf-8")
    if section not in page:
        page = page.rstrip("\n") + "\n\n" + section
    combined = tmp_path / "strategies.rst"
    combined.write_text(page, encoding="utf-8")
    result = doctest.testfile(
        str(combined), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False
    )
    assert result.attempted > 20 and result.failed == 0, result
