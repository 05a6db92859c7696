"""Fixtures of the changeset tests."""

from __future__ import annotations

import pytest

from ..support.changesets import LAYOUTS


@pytest.fixture(params=LAYOUTS)
def layout(request: pytest.FixtureRequest) -> str:
    """Each layout of a changeset test's upper: OCI markers, the kernel's format."""
    return str(request.param)
