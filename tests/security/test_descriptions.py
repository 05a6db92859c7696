"""Crafted descriptions and ``overlay://`` URLs: a clear ``fs.errors`` exception, nothing else.

A description is data from outside (a checkpoint file, a URL in a
configuration). Depth bombs, wrong types, bad JSON, unknown keys and huge
numbers must each raise ``fs.errors.CreateFailed`` (an ``FSError``) before any
layer is opened, never ``IndexError``, ``TypeError``, ``RecursionError``,
``AttributeError`` or a bare ``ValueError``. URLs that PyFilesystem2's own
parser refuses raise its ``fs.opener.errors.OpenerError`` or ``ParseError``
(a ``ValueError``), before any code of ours runs.
"""

from __future__ import annotations

import copy
import json
import os
import urllib.parse

import fs
import fs.errors
import pytest
from fs.opener.errors import OpenerError, ParseError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unionfs_lib import OverlayFS
from unionfs_lib.checkpoint import parse_url

#: What opening a crafted description or URL may raise (PyFilesystem2's parser raises the last two).
DOCUMENTED = (fs.errors.FSError, OpenerError, ParseError)


def quoted(text: str) -> str:
    """Percent-encode a value of an ``overlay://`` query (a lone surrogate as invalid UTF-8)."""
    return urllib.parse.quote(text, safe="", errors="surrogatepass")


@pytest.fixture
def valid(tmp_path) -> dict[str, object]:
    """A valid description of an OSFS upper over an OSFS lower."""
    for name in ("upper", "lower"):
        (tmp_path / name).mkdir()
    (tmp_path / "lower" / "f").write_text("f")
    return {
        "format": "unionfs_lib/1",
        "upper": "osfs://" + str(tmp_path / "upper"),
        "lowers": [{"url": "osfs://" + str(tmp_path / "lower"), "fingerprint": None}],
        "strategies": {
            "copy_up": {"class": "unionfs_lib.copy_up.CopyUpEngine", "options": {}},
        },
    }


def test_the_valid_description_opens(valid):
    with OverlayFS.from_description(valid) as overlay:
        assert overlay.readtext("/f") == "f"


def deep_list(depth: int) -> object:
    """A list nested ``depth`` levels deep, built without recursion."""
    value: object = []
    for _ in range(depth):
        value = [value]
    return value


CRAFTED = {
    "not a mapping": lambda d: ["format", "unionfs_lib/1"],
    "a string": lambda d: "unionfs_lib/1",
    "no format": lambda d: {k: v for k, v in d.items() if k != "format"},
    "format is a list": lambda d: {**d, "format": ["unionfs_lib/1"]},
    "unknown key": lambda d: {**d, "extra": 1},
    "upper is a number": lambda d: {**d, "upper": 5},
    "upper is a dict": lambda d: {**d, "upper": {"url": "osfs:///"}},
    "lowers is a number": lambda d: {**d, "lowers": 5},
    "lowers is a string": lambda d: {**d, "lowers": "osfs:///"},
    "lowers is a dict": lambda d: {**d, "lowers": {"url": "osfs:///"}},
    "a lower is a string": lambda d: {**d, "lowers": ["osfs:///"]},
    "a lower without url": lambda d: {**d, "lowers": [{"fingerprint": None}]},
    "a lower url is a list": lambda d: {**d, "lowers": [{"url": ["osfs:///"]}]},
    "a lower with an unknown key": lambda d: {**d, "lowers": [{"url": "mem://", "x": 1}]},
    "fingerprint is a number": lambda d: {**d, "lowers": [{"url": "mem://", "fingerprint": 5}]},
    "fingerprint of an unknown kind": lambda d: {
        **d, "lowers": [{"url": "mem://", "fingerprint": "md5:00"}]
    },
    "fingerprint without kind": lambda d: {**d, "lowers": [{"url": "mem://", "fingerprint": ""}]},
    "no layer at all": lambda d: {**d, "upper": None, "lowers": []},
    "strategies is a list": lambda d: {**d, "strategies": [1, 2]},
    "unknown strategy key": lambda d: {**d, "strategies": {"bogus": {"class": "x"}}},
    "strategy is a number": lambda d: {**d, "strategies": {"copy_up": 5}},
    "strategy is a list": lambda d: {**d, "strategies": {"copy_up": ["class"]}},
    "strategy class is a number": lambda d: {**d, "strategies": {"copy_up": {"class": 5}}},
    "strategy with class and name": lambda d: {
        **d, "strategies": {"copy_up": {"class": "unionfs_lib.copy_up.CopyUpEngine", "name": "x"}}
    },
    "strategy with an unknown key": lambda d: {
        **d, "strategies": {"copy_up": {"class": "unionfs_lib.copy_up.CopyUpEngine", "x": 1}}
    },
    "options is a list": lambda d: {
        **d, "strategies": {"copy_up": {"class": "unionfs_lib.copy_up.CopyUpEngine",
                                        "options": [1]}}
    },
    "options with a number key": lambda d: {
        **d, "strategies": {"copy_up": {"class": "unionfs_lib.copy_up.CopyUpEngine",
                                        "options": {1: 2}}}
    },
    "options nested as a depth bomb": lambda d: {
        **d, "strategies": {"copy_up": {"class": "unionfs_lib.copy_up.CopyUpEngine",
                                        "options": {"chunk_size": deep_list(100_000)}}}
    },
    "a huge number": lambda d: {
        **d, "strategies": {"copy_up": {"class": "unionfs_lib.copy_up.CopyUpEngine",
                                        "options": {"chunk_size": 2**200}}}
    },
    "an infinite number": lambda d: {
        **d, "strategies": {"copy_up": {"class": "unionfs_lib.copy_up.CopyUpEngine",
                                        "options": {"chunk_size": float("inf")}}}
    },
    "an option that is not JSON": lambda d: {
        **d, "strategies": {"copy_up": {"class": "unionfs_lib.copy_up.CopyUpEngine",
                                        "options": {"chunk_size": object()}}}
    },
    "an unknown option": lambda d: {
        **d, "strategies": {"copy_up": {"class": "unionfs_lib.copy_up.CopyUpEngine",
                                        "options": {"no_such_option": 1}}}
    },
}


@pytest.mark.parametrize("craft", list(CRAFTED.values()), ids=list(CRAFTED))
def test_a_crafted_description_raises_create_failed(valid, craft):
    with pytest.raises(fs.errors.CreateFailed):
        OverlayFS.from_description(craft(copy.deepcopy(valid))).close()


def overlay_url(valid: dict[str, object]) -> str:
    """The ``overlay://`` URL of the valid description, without strategies."""
    lower = valid["lowers"][0]["url"]  # type: ignore[index]
    return f"overlay://?upper={quoted(str(valid['upper']))}&lower={quoted(lower)}"


URL_TAILS = {
    "json depth bomb": "&copy_up=" + quoted("[" * 100_000 + "]" * 100_000),
    "dict depth bomb": "&whiteouts=" + quoted('{"a":' * 50_000 + "1" + "}" * 50_000),
    "bad json": "&copy_up=" + quoted("{class:"),
    "json of the wrong type": "&copy_up=" + quoted("[1, 2]"),
    "json number": "&readdir=" + quoted("5"),
    "huge json number": "&copy_up=" + quoted(
        '{"class": "unionfs_lib.copy_up.CopyUpEngine", "options": {"chunk_size": 1' + "0" * 5000
        + "}}"
    ),
    "infinite json number": "&copy_up=" + quoted(
        '{"class": "unionfs_lib.copy_up.CopyUpEngine", "options": {"chunk_size": 1e999}}'
    ),
    "NaN": "&copy_up=" + quoted(
        '{"class": "unionfs_lib.copy_up.CopyUpEngine", "options": {"chunk_size": NaN}}'
    ),
    "unknown parameter": "&bogus=1",
    "upper twice": "&upper=mem%3A%2F%2F",
    "verify twice": "&verify=off&verify=error",
    "two fingerprints for one lower": "&fingerprint=-&fingerprint=-",
    "bad fingerprint": "&fingerprint=" + quoted("md5:00"),
    "bad create": "&create=maybe",
    "bad percent encoding": "&lower=%FF%FE",
    "lower not a URL": "&lower=" + quoted("\x00"),
    "lower of an unknown protocol": "&lower=" + quoted("nosuchproto://x"),
    "lower a zip that is not a zip": "&lower=" + quoted("zip://" + os.devnull),
}


@pytest.mark.parametrize("tail", list(URL_TAILS.values()), ids=list(URL_TAILS))
def test_a_crafted_url_raises_create_failed(valid, tail):
    with pytest.raises(fs.errors.CreateFailed):
        fs.open_fs(overlay_url(valid) + tail).close()


def test_a_nesting_bomb_of_overlay_urls_raises_create_failed():
    unencoded = "overlay://?lower=" * 5_000 + "mem://"
    with pytest.raises(fs.errors.CreateFailed) as raised:
        fs.open_fs(unencoded).close()
    assert "nest" in str(raised.value)
    lazy = "mem://"
    for _ in range(40):
        lazy = "lazy://?source=" + quoted(lazy)
    with pytest.raises(fs.errors.CreateFailed):
        fs.open_fs(lazy).close()


def test_legitimate_nesting_still_opens(tmp_path):
    (tmp_path / "f").write_text("f")
    url = "osfs://" + str(tmp_path)
    for _ in range(4):
        url = "overlay://?lower=" + quoted(url)
    with fs.open_fs(url) as overlay:
        assert overlay.readtext("/f") == "f"


def test_error_messages_are_short_and_hold_no_raw_nul(valid):
    with pytest.raises(fs.errors.CreateFailed) as raised:
        fs.open_fs(overlay_url(valid) + "&lower=" + quoted("\x00" + "x" * 100_000)).close()
    assert "\x00" not in str(raised.value)
    assert len(str(raised.value)) < 2_000


# -- fuzzing ----------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
#: Layer URLs that cannot reach the real filesystem: memory, garbage, missing paths.
LAYER_URLS = st.one_of(
    st.sampled_from(["mem://", "temp://", "osfs:///nonexistent/x", "nosuch://", "zip://", ""]),
    st.text(alphabet=st.characters(blacklist_characters="/"), max_size=12),
)
KEYS = st.sampled_from(
    ["format", "url", "upper", "lowers", "strategies", "fingerprint", "class", "options", "x"]
)


def mutate(base: dict[str, object], data: st.DataObject) -> object:
    """Replace a few values anywhere in ``base`` by arbitrary JSON or layer URLs."""
    description: object = copy.deepcopy(base)
    for _ in range(data.draw(st.integers(1, 3))):
        path: list[object] = []
        node = description
        while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):
            key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict)
                                             else list(range(len(node)))))
            path.append(key)
            node = node[key]  # type: ignore[index]
        value = data.draw(st.one_of(JSON, LAYER_URLS))
        if not path:
            if isinstance(description, dict) and data.draw(st.booleans()):
                description[data.draw(KEYS)] = value
            else:
                description = value
            continue
        parent = description
        for key in path[:-1]:
            parent = parent[key]  # type: ignore[index]
        parent[path[-1]] = value  # type: ignore[index]
    return description


BASE: dict[str, object] = {
    "format": "unionfs_lib/1",
    "upper": "mem://",
    "lowers": [{"url": "mem://", "fingerprint": None}, {"url": "temp://", "fingerprint": None}],
    "strategies": {
        "whiteouts": {"class": "unionfs_lib.whiteout.MarkerWhiteouts", "options": {}},
        "copy_up": {"class": "unionfs_lib.copy_up.CopyUpEngine", "options": {"chunk_size": 4096}},
        "readdir": {"class": "unionfs_lib.readdir.DirIterator", "options": {}},
    },
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_descriptions_raise_only_fs_errors(data):
    description = mutate(BASE, data)
    try:
        OverlayFS.from_description(description).close()  # type: ignore[arg-type]
    except fs.errors.FSError:
        pass


PARAMS = st.sampled_from(
    ["upper", "lower", "fingerprint", "whiteouts", "copy_up", "readdir", "verify", "create", "x"]
)
VALUES = st.one_of(
    LAYER_URLS,
    JSON.map(lambda value: json.dumps(value, allow_nan=True)),
    st.sampled_from(["-", "tree:00", "error", "off", "warn", "1", "0", "%", "%FF", "&", "="]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pairs=st.lists(st.tuples(PARAMS, VALUES), max_size=6),
    encode=st.booleans(),
    junk=st.text(max_size=8),
)
def test_fuzzed_overlay_urls_raise_only_documented_errors(tmp_path_factory, pairs, encode, junk):
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.getbasetemp())  # a relative layer path lands in scratch space
    try:
        quote = quoted if encode else (lambda text: text)
        url = "overlay://?" + "&".join(f"{key}={quote(value)}" for key, value in pairs) + junk
        try:
            fs.open_fs(url).close()
        except DOCUMENTED:
            pass
        try:
            parse_url(url)  # ours alone: only CreateFailed
        except fs.errors.CreateFailed:
            pass
    finally:
        os.chdir(cwd)


@settings(max_examples=300, deadline=None)
@given(url=st.text(max_size=40))
def test_arbitrary_strings_as_overlay_urls_raise_only_documented_errors(tmp_path_factory, url):
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.getbasetemp())  # a relative layer path lands in scratch space
    try:
        for candidate in ("overlay://" + url, "overlay://?" + url, "lazy://?" + url,
                          "upperdir://" + url):
            if candidate.partition("://")[2].startswith("@"):
                continue  # PyFilesystem2's parse_fs_url raises AttributeError on "proto://@"
            try:
                fs.open_fs(candidate).close()
            except DOCUMENTED:
                pass
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize(
    "query",
    [
        "url=memory%3A%2F%2F&options=" + quoted("[" * 100_000 + "]" * 100_000),
        "url=memory%3A%2F%2F&options=" + quoted("[1]"),
        "url=memory%3A%2F%2Fa&url=file%3A%2F%2F%2F",
        "url=%FF",
    ],
    ids=["depth bomb", "not an object", "url twice", "bad percent encoding"],
)
def test_a_crafted_fsspec_layer_url_raises_create_failed(query):
    pytest.importorskip("fsspec")
    with pytest.raises(fs.errors.CreateFailed):
        fs.open_fs("fsspec://?" + query).close()
