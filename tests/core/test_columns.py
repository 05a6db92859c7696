"""Columnar listings and merged tables: every value given back, the same merge as the dict form."""

from __future__ import annotations

import typing

import pytest
from fs.info import Info
from fs.memoryfs import MemoryFS
from hypothesis import given, settings
from hypothesis import strategies as st

from unionfs_lib import OverlayFS
from unionfs_lib.model.listing_columns import (
    ColumnarEntries,
    ColumnarInfos,
    ColumnsBuilder,
    columnar_listing,
    listing_columns,
)
from unionfs_lib.model.packed_info import PackedInfo
from unionfs_lib.model.records import Candidate, DirListing, LayerRef
from unionfs_lib.resolve.caches import LRUCache
from unionfs_lib.resolve.merged_table import MergedTable
from unionfs_lib.resolve.merging import merge_listings

_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.floats(allow_nan=False),
    st.text(max_size=3),
    st.lists(st.text(max_size=3), max_size=2),
)
_DETAILS = st.dictionaries(st.sampled_from(["size", "type", "modified", "_write", "x"]), _VALUES)
_NAMES = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=6)


@st.composite
def _rows(draw: st.DrawFn) -> list[tuple[str, bool, Info | None]]:
    """Entries of one directory: unique names, each with an info of some kind, or none."""
    names = draw(st.lists(_NAMES, unique=True, max_size=30))
    rows: list[tuple[str, bool, Info | None]] = []
    for name in names:
        is_dir = draw(st.booleans())
        kind = draw(st.sampled_from(["details", "details", "none", "other namespace"]))
        raw: dict[str, typing.Any] = {"basic": {"name": name, "is_dir": is_dir}}
        if kind == "none":
            rows.append((name, is_dir, None))
            continue
        raw["details"] = draw(_DETAILS)
        if kind == "other namespace":
            raw["access"] = {"user": draw(st.text(max_size=3))}
        rows.append((name, is_dir, Info(raw)))
    return rows


def _build(rows: list[tuple[str, bool, Info | None]], scanned: bool) -> ColumnsBuilder:
    """Add ``rows`` one by one, or (``scanned``) as a layer's scan with a reserved prefix."""
    builder = ColumnsBuilder()
    if not scanned:
        for name, is_dir, info in rows:
            builder.add(name, is_dir, info)
        return builder
    with_info = [(name, info) for name, _, info in rows if info is not None]
    set_aside = builder.add_infos([info for _, info in with_info], "\0reserved")
    assert set_aside == []
    for name, is_dir, info in rows:
        if info is None:
            builder.add(name, is_dir, None)
    return builder


@settings(max_examples=300, deadline=None)
@given(rows=_rows(), scanned=st.booleans())
def test_columns_give_back_every_value(
    rows: list[tuple[str, bool, Info | None]], scanned: bool
) -> None:
    columns = _build(rows, scanned).build()
    assert columns.names == sorted(name for name, _, _ in rows)
    listed = list(columns.in_listing_order())
    assert sorted(listed) == columns.names and len(set(listed)) == len(listed)
    for name, is_dir, info in rows:
        assert columns.is_dir(name) is is_dir
        found = columns.info(name)
        if info is None:
            assert found is None
        else:
            assert found is not None and found.raw == info.raw and found == info
            assert found.name == name and found.is_dir is is_dir
    assert columns.index("\0not there") == -1 and columns.info("\0not there") is None
    entries = ColumnarEntries(columns)
    assert entries == {name: is_dir for name, is_dir, _ in rows}
    infos = ColumnarInfos(columns)
    assert {name: info.raw for name, info in infos.items()} == {
        name: info.raw for name, _, info in rows if info is not None
    }


def test_details_are_packed_into_the_columns_and_odd_info_kept_as_it_is() -> None:
    builder = ColumnsBuilder()
    plain = Info({"basic": {"name": "b", "is_dir": False}, "details": {"size": 5, "type": 2}})
    odd = Info({"basic": {"name": "a", "is_dir": False}, "details": {"size": "five"}})
    builder.add("b", False, plain)
    builder.add("a", False, odd)
    columns = builder.build()
    assert isinstance(columns.info("b"), PackedInfo) and columns.info("a") is odd
    assert columns.loose == {"a": odd} and not columns.plain
    assert list(columns.in_listing_order()) == ["b", "a"] and columns.names == ["a", "b"]


# -- merged tables against the dict merge -----------------------------------------


@st.composite
def _layers(draw: st.DrawFn) -> list[tuple[LayerRef, DirListing]]:
    """One directory in 1-4 layers (the first may be the upper): entries and whiteouts."""
    pool = ["a", "b", "c", "d", "e", "f"]
    count = draw(st.integers(1, 4))
    first = draw(st.sampled_from([0, 1]))
    layers = []
    for layer in range(first, first + count):
        names = draw(st.lists(st.sampled_from(pool), unique=True))
        kinds = {name: draw(st.booleans()) for name in names}
        whiteouts = frozenset(draw(st.lists(st.sampled_from(pool), unique=True)))
        path = draw(st.sampled_from(["/", "/x", "/x/y"]))
        ref = LayerRef(layer, path)
        if layer == 0:
            layers.append((ref, DirListing(kinds, None, whiteouts)))
            continue
        builder = ColumnsBuilder()
        for name in reversed(names):  # a listing order other than name order
            details: dict[str, object] = {"size": len(name) + layer}
            raw: dict[str, dict[str, object]] = {
                "basic": {"name": name, "is_dir": kinds[name]},
                "details": details,
            }
            builder.add(name, kinds[name], Info(raw))
        listing = DirListing({}, None, whiteouts)
        layers.append((ref, columnar_listing(builder.build(), listing)))
    return layers


def _same_candidates(table: typing.Mapping[str, Candidate], expected: dict[str, Candidate]) -> None:
    assert list(table) == list(expected)
    assert len(table) == len(expected)
    for name, candidate in expected.items():
        found = table[name]
        assert (found.is_dir, found.refs) == (candidate.is_dir, candidate.refs), name
        assert (found.info and found.info.raw) == (candidate.info and candidate.info.raw), name
    assert "z" not in table and table.get("z") is None


@settings(max_examples=300, deadline=None)
@given(layers=_layers())
def test_a_merged_table_is_the_dict_merge(layers: list[tuple[LayerRef, DirListing]]) -> None:
    table = MergedTable.merge(layers, LRUCache(4))
    _same_candidates(table, merge_listings(layers))
    if len(layers) == 1 and layers[0][0].layer != 0:
        assert table.top is None  # the layer's columns are the table


_EDITS = st.lists(
    st.tuples(st.sampled_from(["set", "delete"]), st.sampled_from(["a", "b", "c", "g", "h"])),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(layers=_layers(), edits=_EDITS)
def test_edits_to_a_merged_table_act_as_on_a_dict(
    layers: list[tuple[LayerRef, DirListing]], edits: list[tuple[str, str]]
) -> None:
    table = MergedTable.merge(layers, LRUCache(4))
    expected = merge_listings(layers)
    for action, name in edits:
        if action == "set":
            candidate = Candidate(False, [LayerRef(0, "/over/" + name)], None)
            table[name] = expected[name] = candidate
        else:
            assert (table.pop(name, None) is None) == (expected.pop(name, None) is None)
    _same_candidates(table, expected)
    assert table.sorted_names() == sorted(expected)


# -- through an overlay -------------------------------------------------------------


def _overlay(lowers: int) -> OverlayFS:
    """An overlay over ``lowers`` MemoryFS lowers, each with 300 files in ``/big``."""
    layers = []
    for index in range(lowers):
        layer = MemoryFS()
        layer.makedir("/big")
        for entry in range(300):
            layer.writebytes(f"/big/l{index}-{entry:03d}", b"x" * index)
        layers.append(layer)
    return OverlayFS(MemoryFS(), layers)


@pytest.mark.parametrize("lowers", [1, 3])
def test_listings_build_no_object_per_entry(lowers: int) -> None:
    overlay = _overlay(lowers)
    resolver = overlay._sb.resolver
    assert len(overlay.listdir("/big")) == 300 * lowers
    assert len(list(overlay.scandir("/big"))) == 300 * lowers
    built = [name for _, name in resolver._memo.keys()]
    assert not [name for name in built if name.startswith("l")]  # none for an entry
    node = resolver.lookup("/big")
    assert node is not None
    table = resolver.children(node)
    assert isinstance(table, MergedTable)
    assert (table.top is None) == (lowers == 1)
    listing = resolver.listing(node.refs[-1])
    assert listing_columns(listing) is not None
    overlay.close()


def test_a_looked_up_lower_file_keeps_its_node() -> None:
    overlay = _overlay(2)
    resolver = overlay._sb.resolver
    first = resolver.lookup("/big/l1-007")
    assert first is not None and first is resolver.lookup("/big/l1-007")
    assert overlay.getinfo("/big/l1-007", ["details"]).size == 1
    overlay.writebytes("/big/l1-007", b"new")  # copied up: the kept node is dropped
    assert overlay.getinfo("/big/l1-007", ["details"]).size == 3
    assert resolver.lookup("/big/l1-007") is not first
    overlay.close()


@pytest.mark.parametrize("lowers", [1, 3])
def test_iterating_keeps_the_nodes_that_lookups_made(lowers: int) -> None:
    """A directory looked up name by name, then iterated, builds each entry once.

    The FUSE mount's ``readdirplus`` looks every name up and then iterates:
    iteration must take the candidates (and their nodes) the lookups made,
    not build a second set.
    """
    overlay = _overlay(lowers)
    resolver = overlay._sb.resolver
    names = overlay.listdir("/big")
    looked_up = {name: resolver.lookup(f"/big/{name}") for name in names}
    directory = resolver.lookup("/big")
    assert directory is not None
    iterated = resolver.children_in_name_order(directory, build=True)
    assert [candidate.node for candidate in iterated] == [looked_up[name] for name in names]
    assert all(candidate.node is looked_up[name] for candidate, name in zip(iterated, names))
    overlay.close()


def test_a_change_in_a_columnar_directory_edits_its_table_without_copying_it() -> None:
    overlay = _overlay(1)
    resolver = overlay._sb.resolver
    names = overlay.listdir("/big")
    node = resolver.lookup("/big")
    assert node is not None
    table = resolver.children(node)
    assert isinstance(table, MergedTable) and table.columns is not None
    columns = table.columns
    overlay.remove("/big/l0-001")
    overlay.writebytes("/big/new", b"n")
    node = resolver.lookup("/big")
    assert node is not None and resolver.children(node) is table  # edited, not merged again
    assert table.columns is columns and columns.names == names  # the columns are unchanged
    expected = sorted({*names, "new"} - {"l0-001"})
    assert overlay.listdir("/big") == expected
    assert [info.name for info in overlay.scandir("/big")] == expected
    overlay.close()


@pytest.mark.parametrize("move", ["movedir", "move", "removetree"])
def test_a_new_directory_at_a_used_path_shows_none_of_the_old_candidates(move: str) -> None:
    lower = MemoryFS()
    lower.makedirs("/src/sub")
    lower.writebytes("/src/x", b"lower x")
    overlay = OverlayFS(MemoryFS(), [lower])
    assert overlay.readbytes("/src/x") == b"lower x" and overlay.isdir("/src/sub")
    if move == "removetree":
        overlay.removetree("/src")
    elif move == "movedir":
        overlay.movedir("/src", "/dst", create=True)
    else:
        overlay.makedir("/dst")
        overlay.move("/src/x", "/dst/x")
        overlay.removetree("/src")
    overlay.makedir("/src")
    overlay.writebytes("/src/sub", b"now a file")
    assert overlay.listdir("/src") == ["sub"]
    assert not overlay.exists("/src/x") and overlay.isfile("/src/sub")
    if move != "removetree":
        assert overlay.readbytes("/dst/x") == b"lower x"
    overlay.close()
