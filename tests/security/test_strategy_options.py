"""Strategy, record and overlay options are checked when they are built, never at first use.

The attacker writes a description or an ``overlay://`` URL (data nobody
checked) or passes options from configuration: ``CopyUpEngine(chunk_size=0)``
used to copy up empty files (and commit carried the loss into the target),
``10**12``, ``"abc"`` or ``1.5`` failed only at the first write, and
``KernelWhiteouts(userxattr="no", redirect_dir=[])`` was accepted. Every
option of every built-in strategy is tried here with a table of bad values
(and hypothesis), directly, through a description and through a URL: each
is refused at once, naming the option, and a description or URL raises
``fs.errors.CreateFailed``. A failing ``OverlayFS.__init__`` leaves no error
behind in ``__del__`` and closes none of the layers it was given.
"""

from __future__ import annotations

import gc
import json
import math
import sys
import typing
import urllib.parse

import attrs
import fs
import fs.errors
import pytest
from fs.memoryfs import MemoryFS
from hypothesis import given, settings
from hypothesis import strategies as st

from unionfs_lib import CopyUpEngine, DirIterator, KernelWhiteouts, MarkerWhiteouts, OverlayFS
from unionfs_lib.errors import InvalidOption
from unionfs_lib.layers.description import FORMAT
from unionfs_lib.layers.strategy_registry import BUILTIN, build_strategy, builtin_name
from unionfs_lib.mount.options import (
    MAX_READAHEAD_KB,
    MountRequest,
    UsageError,
    parse_options,
)
from unionfs_lib.ops.copy_up_engine import MAX_CHUNK_SIZE
from unionfs_lib.ops.dir_iterator import MAX_BATCH_SIZE

#: Values of the wrong type for any option (JSON values, as a description holds).
NOT_NUMBERS: list[typing.Any] = ["abc", "1", "", None, [], [1], {}, {"x": 1}, True, False]
NOT_FLAGS: list[typing.Any] = ["no", "yes", "true", "", 0, 1, 1.0, None, [], {}, "False"]


@attrs.frozen
class Option:
    """One option of one strategy: its class, its name, a good value and bad ones."""

    cls: type
    name: str
    good: tuple[typing.Any, ...]
    bad: tuple[typing.Any, ...]


def _whole(low: int, high: int) -> tuple[typing.Any, ...]:
    """Bad values for a whole number from ``low`` to ``high``."""
    return (low - 1, -1, high + 1, 10**12, 2**64, 1.5, float(low), math.inf, *NOT_NUMBERS)


OPTIONS = [
    Option(CopyUpEngine, "chunk_size", (1, 7, MAX_CHUNK_SIZE), (0, *_whole(1, MAX_CHUNK_SIZE))),
    Option(CopyUpEngine, "kernel_copy", (True, False), tuple(NOT_FLAGS)),
    Option(KernelWhiteouts, "userxattr", (True, False), tuple(NOT_FLAGS)),
    Option(KernelWhiteouts, "redirect_dir", (True, False), tuple(NOT_FLAGS)),
    Option(DirIterator, "batch_size", (4, 5, MAX_BATCH_SIZE), (3, 0, *_whole(4, MAX_BATCH_SIZE))),
    Option(DirIterator, "use_cache", (True, False), tuple(NOT_FLAGS)),
]
CASES = [(option, value) for option in OPTIONS for value in option.bad]


def _case_id(case: tuple[Option, typing.Any]) -> str:
    option, value = case
    return f"{option.cls.__name__}.{option.name}={value!r}"[:60]


def test_the_table_covers_every_option_of_every_builtin_strategy() -> None:
    covered = {(option.cls, option.name) for option in OPTIONS}
    for cls in BUILTIN.values():
        for field in attrs.fields(cls):
            if field.init:
                assert (cls, field.name) in covered, f"add {cls.__name__}.{field.name} to OPTIONS"
    assert MarkerWhiteouts() == MarkerWhiteouts()  # no options at all


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: f"{o.cls.__name__}.{o.name}")
def test_good_values_are_kept(option: Option) -> None:
    for value in option.good:
        assert getattr(option.cls(**{option.name: value}), option.name) == value


@pytest.mark.parametrize(("option", "value"), CASES, ids=[_case_id(case) for case in CASES])
def test_a_bad_option_is_refused_when_built_naming_it(option: Option, value: typing.Any) -> None:
    with pytest.raises(InvalidOption, match=rf"{option.cls.__name__} option {option.name} must"):
        option.cls(**{option.name: value})
    with pytest.raises(ValueError):  # InvalidOption is a ValueError
        option.cls(**{option.name: value})


def _lower_only(strategies: dict[str, typing.Any]) -> dict[str, typing.Any]:
    return {
        "format": FORMAT,
        "upper": None,
        "lowers": [{"url": "mem://", "fingerprint": None}],
        "strategies": strategies,
    }


_KEY: dict[type, str] = {
    CopyUpEngine: "copy_up", DirIterator: "readdir", KernelWhiteouts: "whiteouts"
}


def _spec(option: Option, value: typing.Any) -> dict[str, typing.Any]:
    return {"class": builtin_name(option.cls), "options": {option.name: value}}


def _jsonable(value: typing.Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        return False
    return True


JSON_CASES = [(option, value) for option, value in CASES if _jsonable(value)]


@pytest.mark.parametrize(
    ("option", "value"), JSON_CASES, ids=[_case_id(case) for case in JSON_CASES]
)
def test_a_bad_option_in_a_description_is_create_failed(
    option: Option, value: typing.Any
) -> None:
    description = _lower_only({_KEY[option.cls]: _spec(option, value)})
    with pytest.raises(fs.errors.CreateFailed) as caught:
        OverlayFS.from_description(description)
    assert f"option {option.name}" in str(caught.value)
    quoted = urllib.parse.quote(json.dumps(_spec(option, value)), safe="")
    url = f"overlay://?lower=mem%3A%2F%2F&{_KEY[option.cls]}={quoted}"
    with pytest.raises(fs.errors.CreateFailed) as caught:
        fs.open_fs(url)
    assert f"option {option.name}" in str(caught.value)


def test_chunk_size_zero_in_a_description_copies_nothing_up() -> None:
    # What used to happen: an empty copy-up, carried into the target by commit.
    lower = MemoryFS()
    lower.writebytes("/data.bin", b"precious")
    description = _lower_only({"copy_up": _spec(OPTIONS[0], 0)})
    with pytest.raises(fs.errors.CreateFailed, match="chunk_size"):
        OverlayFS.from_description(description)
    with pytest.raises(InvalidOption):
        OverlayFS(MemoryFS(), [lower], copy_up=CopyUpEngine(chunk_size=0))
    assert lower.readbytes("/data.bin") == b"precious"


@pytest.mark.parametrize(
    "spec",
    ["copy_up", 7, None, ["class"], {"class": ["x"]}, {"class": "unionfs_lib.copy_up.CopyUpEngine",
                                                       "options": [1, 2]},
     {"class": "unionfs_lib.copy_up.CopyUpEngine", "options": {"nonsense": 1}},
     {"class": "unionfs_lib.whiteout.MarkerWhiteouts", "options": {"userxattr": True}}],
)
def test_malformed_strategy_descriptions_are_create_failed(spec: typing.Any) -> None:
    with pytest.raises(fs.errors.CreateFailed):
        build_strategy(spec)


def _bad_whole_numbers(low: int, high: int) -> st.SearchStrategy[typing.Any]:
    return st.one_of(
        st.integers(max_value=low - 1),
        st.integers(min_value=high + 1),
        st.floats(allow_nan=True),
        st.text(max_size=5),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=2),
    )


_BAD_FLAGS = st.one_of(
    st.integers(), st.floats(), st.text(max_size=5), st.none(), st.lists(st.booleans(), max_size=2)
)


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    option=st.sampled_from(OPTIONS),
)
def test_any_bad_value_of_any_option_is_refused(data: st.DataObject, option: Option) -> None:
    if isinstance(option.good[0], bool):
        value = data.draw(_BAD_FLAGS)
    else:
        value = data.draw(_bad_whole_numbers(option.good[0], option.good[-1]))
    with pytest.raises(InvalidOption, match=option.name):
        option.cls(**{option.name: value})
    if _jsonable(value):
        with pytest.raises(fs.errors.CreateFailed, match=option.name):
            build_strategy(_spec(option, value))


# -- the overlay's own options ---------------------------------------------------------


OVERLAY_BAD: list[tuple[str, typing.Any]] = [
    ("verify_lowers", "nope"),
    ("verify_lowers", None),
    ("verify_lowers", ["error"]),
    ("cache_entries", "x"),
    ("cache_entries", -1),
    ("cache_entries", 1.5),
    ("cache_entries", True),
    ("cache_entries", 2**80),
    ("auto_close", "no"),
    ("auto_close", None),
    ("whiteouts", "x"),
    ("whiteouts", CopyUpEngine()),
    ("copy_up", 3),
    ("copy_up", DirIterator()),
    ("readdir", MemoryFS()),
    ("readdir", MarkerWhiteouts()),
]


@pytest.mark.parametrize(("name", "value"), OVERLAY_BAD, ids=[f"{n}={v!r}" for n, v in OVERLAY_BAD])
def test_bad_overlay_options_are_refused_and_leave_nothing_behind(
    name: str, value: typing.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    upper, lower = MemoryFS(), MemoryFS()
    lower.writebytes("/f", b"lower")
    unraisable: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda found: unraisable.append(found.exc_value))
    with pytest.raises(InvalidOption, match=rf"OverlayFS option {name} must"):
        OverlayFS(upper, [lower], **{name: value})
    gc.collect()
    assert unraisable == []
    assert not upper.isclosed() and not lower.isclosed()  # the caller's layers are the caller's
    assert upper.listdir("/") == []


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((None, []), {}, ValueError),
        ((MemoryFS(), ["not a layer"]), {}, TypeError),
        (("upper", []), {}, TypeError),
        ((MemoryFS(),), {"no_such_option": 1}, TypeError),
    ],
)
def test_a_failing_init_raises_no_error_in_del(
    args: tuple[typing.Any, ...],
    kwargs: dict[str, typing.Any],
    error: type[Exception],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unraisable: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda found: unraisable.append(found.exc_value))
    with pytest.raises(error):
        OverlayFS(*args, **kwargs)
    gc.collect()
    assert unraisable == []


def test_a_failing_init_after_the_layers_were_taken_closes_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A crafted fingerprint record: verify_lowers fails once the superblock exists.
    upper, lower = MemoryFS(), MemoryFS()
    upper.writebytes("/.wh..wh..layers.json", b"not json")
    unraisable: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda found: unraisable.append(found.exc_value))
    with pytest.raises(fs.errors.CreateFailed):
        OverlayFS(upper, [lower], verify_lowers="error")
    gc.collect()
    assert not upper.isclosed() and not lower.isclosed()
    assert unraisable == []


# -- mount options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "timeout=nan",
        "timeout=inf",
        "timeout=-inf",
        "timeout=1e400",
        "timeout=1e30",
        "timeout=-1",
        "timeout=abc",
        f"readahead={MAX_READAHEAD_KB + 1}",
        "readahead=99999999999999999999999",
        "readahead=-1",
        "readahead=1.5",
    ],
)
def test_bad_mount_numbers_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_options(f"lowerdir=/l,{text}", "overlay", "/mnt")


def test_good_mount_numbers_are_kept() -> None:
    request = parse_options(f"lowerdir=/l,timeout=0.5,readahead={MAX_READAHEAD_KB}", "o", "/m")
    assert (request.timeout, request.readahead_kb) == (0.5, MAX_READAHEAD_KB)


@pytest.mark.parametrize(
    ("name", "value"),
    [("timeout", math.nan), ("timeout", math.inf), ("timeout", -1.0), ("timeout", "1"),
     ("readahead_kb", -1), ("readahead_kb", 1.5), ("readahead_kb", MAX_READAHEAD_KB + 1),
     ("readahead_kb", True)],
)
def test_a_mount_request_checks_its_numbers(name: str, value: typing.Any) -> None:
    with pytest.raises(InvalidOption, match=name):
        MountRequest(source="overlay", mountpoint="/mnt", **{name: value})
