"""fsspec's own test-suite for implementations, run against ``OverlayFileSystem``.

Each configuration has two lowers: the top one holds whiteouts that hide
every name the suite uses, the bottom one real files and trees at those
names. The suite therefore runs over an empty-looking overlay whose every
create lands on a whiteout, and every lower must be unchanged afterwards.
"""

from __future__ import annotations

import fsspec
import pytest
from fsspec.tests.abstract import (
    AbstractCopyTests,
    AbstractFixtures,
    AbstractGetTests,
    AbstractOpenTests,
    AbstractPipeTests,
    AbstractPutTests,
)

from unionfs_lib.fsspec import OverlayFileSystem

from ..support.fsspec_layers import (
    ABSTRACT_SUITE_NAMES,
    fsspec_memory_layer,
    hidden_entries,
    local_layer,
    memory_prefix,
    whiteouts_for,
)
from ..support.layers import content_hash


def _check_lowers_unchanged(lowers, hashes) -> None:
    assert [content_hash(layer) for layer in lowers] == hashes


class OverlayFixtures(AbstractFixtures):
    """What both overlays share: paths joined with ``/``, from the root of the file system."""

    @pytest.fixture
    def fs_join(self):
        return lambda *args: "/".join(args)

    @pytest.fixture
    def fs_path(self):
        return ""


class OverlayOverMemoryFixtures(OverlayFixtures):
    """fsspec memory upper over a memory lower of whiteouts and a memory lower of files."""

    @pytest.fixture
    def fs(self):
        prefix = memory_prefix()
        lowers = [
            fsspec_memory_layer(prefix + "/hide", whiteouts_for(ABSTRACT_SUITE_NAMES)),
            fsspec_memory_layer(prefix + "/base", hidden_entries(ABSTRACT_SUITE_NAMES)),
        ]
        hashes = [content_hash(layer) for layer in lowers]
        overlay = OverlayFileSystem(upper=f"memory://{prefix}/upper", lowers=lowers)
        assert overlay.ls("/", detail=False) == []
        yield overlay
        _check_lowers_unchanged(lowers, hashes)
        fsspec.filesystem("memory").rm(prefix, recursive=True)


class OverlayOverLocalFixtures(OverlayFixtures):
    """fsspec local upper over local lowers (whiteouts above files), all on disk."""

    @pytest.fixture
    def fs(self, tmp_path):
        lowers = [
            local_layer(str(tmp_path / "hide"), whiteouts_for(ABSTRACT_SUITE_NAMES)),
            local_layer(str(tmp_path / "base"), hidden_entries(ABSTRACT_SUITE_NAMES)),
        ]
        hashes = [content_hash(layer) for layer in lowers]
        upper = fsspec.filesystem("file")
        upper.makedirs(str(tmp_path / "upper"))
        overlay = OverlayFileSystem(upper=f"file://{tmp_path}/upper", lowers=lowers)
        yield overlay
        _check_lowers_unchanged(lowers, hashes)


class TestOverlayOverMemoryCopy(AbstractCopyTests, OverlayOverMemoryFixtures):
    pass


class TestOverlayOverMemoryGet(AbstractGetTests, OverlayOverMemoryFixtures):
    pass


class TestOverlayOverMemoryPut(AbstractPutTests, OverlayOverMemoryFixtures):
    pass


class TestOverlayOverMemoryPipe(AbstractPipeTests, OverlayOverMemoryFixtures):
    pass


class TestOverlayOverMemoryOpen(AbstractOpenTests, OverlayOverMemoryFixtures):
    pass


class TestOverlayOverLocalCopy(AbstractCopyTests, OverlayOverLocalFixtures):
    pass


class TestOverlayOverLocalGet(AbstractGetTests, OverlayOverLocalFixtures):
    pass


class TestOverlayOverLocalPut(AbstractPutTests, OverlayOverLocalFixtures):
    pass


class TestOverlayOverLocalPipe(AbstractPipeTests, OverlayOverLocalFixtures):
    pass


class TestOverlayOverLocalOpen(AbstractOpenTests, OverlayOverLocalFixtures):
    pass
