"""Fixtures of the mount tests."""

from __future__ import annotations

import os
import typing
from pathlib import Path

import pytest

from ..support.mounting import fill_os_dir, posix_tree


class UnchangedLowers:
    """Lower directories built for a test and checked byte for byte unchanged after it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.watched: list[tuple[str, object]] = []

    def make(
        self,
        entries: dict[str, bytes | None],
        modes: dict[str, int] | None = None,
        links: dict[str, str] | None = None,
        name: str = "lower",
    ) -> str:
        """Create ``base/name`` with ``entries``, ``modes`` and symbolic ``links``; watch it."""
        root = self.base / name
        root.mkdir()
        fill_os_dir(str(root), entries, modes)
        for path, target in (links or {}).items():
            os.symlink(target, str(root) + path)
        return self.watch(str(root))

    def watch(self, root: str) -> str:
        """Check the directory ``root`` unchanged at the end of the test; return it."""
        self.watched.append((root, posix_tree(root)))
        return root

    def check(self) -> None:
        """Fail if a watched lower changed."""
        for root, before in self.watched:
            assert posix_tree(root) == before, "a lower layer was written"


@pytest.fixture
def unchanged_lowers(tmp_path: Path) -> typing.Iterator[UnchangedLowers]:
    """Build lower directories that must be unchanged when the test ends."""
    lowers = UnchangedLowers(tmp_path)
    yield lowers
    lowers.check()
