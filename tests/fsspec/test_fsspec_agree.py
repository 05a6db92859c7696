"""Instances of ``fsspec.filesystem("overlay", ...)`` over the same layers agree.

pandas (and ``fsspec.open``) make a new filesystem instance for every call
from ``storage_options``; a caller often also holds one. Whatever one
instance writes, every other over the same layers sees at once: no old
bytes, no ``FileNotFoundError`` for a file just written, no stale listing.
"""

from __future__ import annotations

import threading
import typing

import fsspec
import pytest

from unionfs_lib.fsspec import OverlayFileSystem

from ..support.fsspec_layers import fsspec_memory_layer, memory_prefix

pandas = pytest.importorskip("pandas")

BASE = {"/data": None, "/data/a.csv": b"x,y\n1,2\n", "/data/b.csv": b"b\n0\n"}


@pytest.fixture(params=["memory-urls", "local-paths", "layer-objects"])
def options(request, tmp_path):
    """``storage_options`` naming the same layers the way callers do."""
    prefix = memory_prefix()
    memory = fsspec.filesystem("memory")
    if request.param == "memory-urls":
        fsspec_memory_layer(prefix + "/base", BASE)
        yield {"upper": f"memory://{prefix}/upper", "lowers": [f"memory://{prefix}/base"]}
    elif request.param == "local-paths":
        base = tmp_path / "base"
        (base / "data").mkdir(parents=True)
        for path, data in BASE.items():
            if data is not None:
                (base / path.lstrip("/")).write_bytes(data)
        yield {"upper": str(tmp_path / "upper"), "lowers": [str(base)]}
    else:
        lower = fsspec_memory_layer(prefix + "/base", BASE)
        yield {"upper": f"memory://{prefix}/upper", "lowers": [lower]}
    memory.rm(prefix, recursive=True) if memory.exists(prefix) else None


def rows(frame: typing.Any) -> dict[str, list[int]]:
    return {str(key): list(value) for key, value in frame.to_dict("list").items()}


def test_a_held_instance_sees_what_pandas_wrote(options):
    held = fsspec.filesystem("overlay", **options)
    assert held.cat_file("/data/a.csv") == b"x,y\n1,2\n"  # where its bytes live is kept
    with pytest.raises(FileNotFoundError):
        held.cat_file("/data/new.csv")  # and that this one is absent
    assert held.ls("/data", detail=False) == ["/data/a.csv", "/data/b.csv"]

    frame = pandas.read_csv("overlay://data/a.csv", storage_options=options)
    frame["z"] = frame["x"] + frame["y"]
    frame.to_csv("overlay://data/a.csv", index=False, storage_options=options)
    frame.to_csv("overlay://data/new.csv", index=False, storage_options=options)

    expected = {"x": [1], "y": [2], "z": [3]}
    with held.open("/data/a.csv", "rb") as handle:
        assert rows(pandas.read_csv(handle)) == expected
    with held.open("/data/new.csv", "rb") as handle:
        assert rows(pandas.read_csv(handle)) == expected
    assert held.cat_file("/data/new.csv") == held.cat_file("/data/a.csv")
    assert held.ls("/data", detail=False) == ["/data/a.csv", "/data/b.csv", "/data/new.csv"]
    assert held.info("/data/new.csv")["size"] == len(b"x,y,z\n1,2,3\n")
    again = pandas.read_csv("overlay://data/new.csv", storage_options=options)
    assert rows(again) == expected


def test_pandas_sees_what_a_held_instance_wrote(options):
    held = fsspec.filesystem("overlay", **options)
    assert rows(pandas.read_csv("overlay://data/b.csv", storage_options=options)) == {"b": [0]}
    held.pipe_file("/data/b.csv", b"b\n7\n")
    assert rows(pandas.read_csv("overlay://data/b.csv", storage_options=options)) == {"b": [7]}
    held.rm("/data/b.csv")
    with pytest.raises(FileNotFoundError):
        pandas.read_csv("overlay://data/b.csv", storage_options=options)
    assert fsspec.filesystem("overlay", **options).ls("/data", detail=False) == ["/data/a.csv"]


def test_two_held_instances_agree_also_across_threads(options):
    first = fsspec.filesystem("overlay", **options)
    assert first.exists("/data/c.csv") is False
    made: list[OverlayFileSystem] = []
    writer = threading.Thread(target=lambda: made.append(
        fsspec.filesystem("overlay", **options)))
    writer.start()
    writer.join()
    second = made[0]
    assert second is not first
    second.pipe_file("/data/c.csv", b"c\n1\n")
    assert first.cat_file("/data/c.csv") == b"c\n1\n"
    first.mv("/data", "/moved")
    assert second.ls("/", detail=False) == ["/moved"]


def test_other_layers_or_options_make_another_overlay(options):
    first = fsspec.filesystem("overlay", **options)
    read_only = fsspec.filesystem("overlay", lowers=options["lowers"])
    assert read_only.overlay is not first.overlay
    tuned = fsspec.filesystem("overlay", overlay_options={"cache_entries": 8}, **options)
    assert tuned.overlay is not first.overlay
    assert fsspec.filesystem("overlay", **options).overlay is first.overlay


def test_a_closed_overlay_is_not_handed_out_again(options):
    first = fsspec.filesystem("overlay", **options)
    first.pipe_file("/data/d.csv", b"d\n1\n")
    first.overlay.close()
    second = fsspec.filesystem("overlay", **options)
    assert not second.overlay.isclosed()
    assert second.cat_file("/data/d.csv") == b"d\n1\n"


def test_a_new_instance_sees_the_layers_as_they_are_now(options):
    """Sharing keeps what a new instance always did: it looks at the layers afresh."""
    held = fsspec.filesystem("overlay", **options)
    with pytest.raises(FileNotFoundError):
        held.cat_file("/data/e.csv")  # that it is absent is kept
    assert held.cat_file("/data/a.csv") == b"x,y\n1,2\n"
    lower = options["lowers"][0]
    if isinstance(lower, str):  # written behind the overlay's back, as another program would
        base = fsspec.core.url_to_fs(lower)
        base[0].pipe_file(base[1] + "/data/e.csv", b"e\n5\n")
    else:
        lower.filesystem.pipe_file(lower.root + "/data/e.csv", b"e\n5\n")
    frame = pandas.read_csv("overlay://data/e.csv", storage_options=options)
    assert rows(frame) == {"e": [5]}
    assert held.cat_file("/data/e.csv") == b"e\n5\n"  # and the held one agrees
