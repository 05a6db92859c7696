"""Sphinx configuration of the unionfs_lib documentation.

Build the site with ``python -m sphinx -W --keep-going -b html docs build/docs``
and run every ``>>>`` example in it with ``-b doctest`` (``python3 tasks.py
test`` does both). Nothing here needs the network: intersphinx is off.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sphinx.application import Sphinx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import unionfs_lib  # noqa: E402  (from the checkout, just put on sys.path)

project = "unionfs_lib"
author = "the unionfs_lib authors"
copyright = "2026, the unionfs_lib authors"
# The version lives in one place, unionfs_lib.__version__ (pyproject.toml reads it too).
release = unionfs_lib.__version__
version = ".".join(release.split(".")[:2])

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


# Napoleon reads the docstring of an attribute as "type: text" and takes what
# comes before its first colon for a type. The ``#:`` comments of this package
# are plain sentences ("Identity records are not kept: ..."), so the docstrings
# of attributes, properties and module data are kept as written: saved before
# napoleon runs, put back after.
_PLAIN_KINDS = ("attribute", "property", "data")
_AS_WRITTEN: dict[str, list[str]] = {}


def _save_as_written(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """Remember an attribute's docstring as written, before napoleon rewrites it."""
    if what in _PLAIN_KINDS:
        _AS_WRITTEN[name] = list(lines)


def _restore_as_written(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """Put an attribute's docstring back as written."""
    if what in _PLAIN_KINDS and name in _AS_WRITTEN:
        lines[:] = _AS_WRITTEN.pop(name)


def setup(app: Sphinx) -> None:
    """Wrap napoleon (which listens at the default priority, 500) for attributes."""
    app.connect("autodoc-process-docstring", _save_as_written, priority=400)
    app.connect("autodoc-process-docstring", _restore_as_written, priority=600)
