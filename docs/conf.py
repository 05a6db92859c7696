"""Sphinx configuration of the unionfs_lib documentation.

Build the site with ``python -m sphinx -W --keep-going -b html docs build/docs``
and run every ``>>>`` example in it with ``-b doctest`` (``python3 tasks.py
test`` does both). Nothing here needs the network: intersphinx is off.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

project = "unionfs_lib"
author = "the unionfs_lib authors"
copyright = "2026, the unionfs_lib authors"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build"]
root_doc = "index"
html_theme = "alabaster"
html_static_path: list[str] = []

# The docstrings are Google style with "Arguments:" and "Attributes:" sections.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

# Plain ``>>>`` blocks are tests too; each page shares one namespace, as
# ``doctest.testfile`` gives it.
doctest_test_doctest_blocks = "default"
