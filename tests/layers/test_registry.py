"""Strategies survive describe/restore by registered name, never by import path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import fs.errors
import pytest
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS

from unionfs_lib import OverlayFS
from unionfs_lib.errors import UnregisteredStrategy
from unionfs_lib.layers.strategy_registry import (
    ENTRY_POINT_GROUP,
    build_strategy,
    describe_strategy,
)
from unionfs_lib.ops.dir_iterator import DirIterator

PLUGIN = '''
import attrs

from unionfs_lib.ops.dir_iterator import DirIterator


@attrs.frozen
class SmallBatches(DirIterator):
    """A third-party iterator: the default one with a label of its own."""

    label: str = "plugin"
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type:
    """Install a tiny distribution that registers ``small-batches`` (a real entry point)."""
    site = tmp_path / "site"
    (site / "unionfs_test_plugin").mkdir(parents=True)
    (site / "unionfs_test_plugin" / "__init__.py").write_text(PLUGIN)
    info = site / "unionfs_test_plugin-1.0.dist-info"
    info.mkdir()
    metadata = "Metadata-Version: 2.1\nName: unionfs-test-plugin\nVersion: 1.0\n"
    (info / "METADATA").write_text(metadata)
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            f"""\
            [{ENTRY_POINT_GROUP}]
            small-batches = unionfs_test_plugin:SmallBatches
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    import unionfs_test_plugin  # type: ignore[import-not-found]

    return unionfs_test_plugin.SmallBatches  # type: ignore[no-any-return]


def test_a_registered_strategy_is_described_by_name_and_restored(
    tmp_path: Path, plugin: type
) -> None:
    (tmp_path / "upper").mkdir()
    (tmp_path / "lower").mkdir()
    (tmp_path / "lower" / "file.txt").write_text("lower")
    strategy = plugin(batch_size=8, label="mine")
    overlay = OverlayFS(
        OSFS(str(tmp_path / "upper")), [OSFS(str(tmp_path / "lower"))], readdir=strategy
    )
    description = overlay.describe()
    assert description["strategies"]["readdir"] == {
        "name": "small-batches",
        "options": {"batch_size": 8, "use_cache": True, "label": "mine"},
    }
    overlay.close()
    restored = OverlayFS.from_description(description)
    assert restored.strategies.readdir == strategy
    assert type(restored.strategies.readdir) is plugin
    assert restored.readtext("/file.txt") == "lower"
    restored.close()


def test_an_unregistered_strategy_cannot_be_described() -> None:
    import attrs

    @attrs.frozen
    class Unregistered(DirIterator):
        pass

    overlay = OverlayFS(MemoryFS(), [], readdir=Unregistered())
    with pytest.raises(UnregisteredStrategy):
        describe_strategy(overlay.strategies.readdir)


@pytest.mark.parametrize(
    "spec",
    [
        {"class": "os.system"},
        {"class": "unionfs_lib.overlay.OverlayFS"},  # a package class, but no strategy
        {"class": "unionfs_lib.host.util.LRUCache"},
        {"name": "no-such-strategy"},
        {"name": ["not", "a", "name"]},
        {"class": "unionfs_lib.readdir.DirIterator", "options": ["not", "a", "mapping"]},
        {"class": "unionfs_lib.readdir.DirIterator", "options": {"batch_size": 1}},
    ],
)
def test_a_description_never_names_arbitrary_code(spec: dict) -> None:
    with pytest.raises(fs.errors.CreateFailed):
        build_strategy(spec)


def test_builtin_strategies_keep_their_qualified_names() -> None:
    assert describe_strategy(DirIterator(batch_size=16)) == {
        "class": "unionfs_lib.readdir.DirIterator",
        "options": {"batch_size": 16, "use_cache": True},
    }
    assert build_strategy({"class": "unionfs_lib.readdir.DirIterator"}) == DirIterator()
