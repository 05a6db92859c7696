"""Fixtures of the core tests."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from ..support.link_layouts import LINK_LAYOUTS, Layout, layout_checked


@pytest.fixture(params=LINK_LAYOUTS)
def layout(request: pytest.FixtureRequest, tmp_path: Path) -> typing.Iterator[Layout]:
    """An overlay layout over an OS lower with links, whose lower must be unchanged at the end.

    Tests that take ``layout`` from ``pytest.mark.parametrize`` get theirs instead.
    """
    yield from layout_checked(request.param, tmp_path)
