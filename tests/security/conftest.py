"""Fixtures of the attack tests: a victim directory outside every layer."""

from __future__ import annotations

import typing

import pytest

from ..support.victim import Victim


@pytest.fixture
def victim(tmp_path_factory: pytest.TempPathFactory) -> typing.Iterator[Victim]:
    """A populated victim directory, checked unchanged after the test."""
    found = Victim(str(tmp_path_factory.mktemp("victim"))).populate()
    yield found
    found.assert_unchanged()
