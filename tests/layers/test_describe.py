"""describe(), from_description(), the overlay:// opener and fingerprints kept in the upper."""

from __future__ import annotations

import json
import logging
import os
import tarfile
from contextlib import closing

import fs
import fs.errors
import pytest
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS
from fs.tarfs import TarFS
from fs.zipfs import ZipFS

from unionfs_lib import CopyUpEngine, OverlayFS
from unionfs_lib.checkpoint import (
    LAYERS_RECORD,
    check_lowers,
    fingerprint,
    layer_url,
    parse_url,
    record_lowers,
)
from unionfs_lib.errors import LayerMismatch, NoLayerURL

from ..support.helpers import tree
from ..support.layers import content_hash, fill, zip_bytes


@pytest.fixture
def layers(tmp_path):
    """An OSFS upper over an OSFS, a zip and a tar lower, with some changes made."""
    (tmp_path / "upper").mkdir()
    os_lower = tmp_path / "lower1"
    os_lower.mkdir()
    with OSFS(str(os_lower)) as lower:
        fill(lower, {"/etc": None, "/etc/hosts": b"127.0.0.1", "/shared": None, "/shared/a": b"1"})
    zip_path = tmp_path / "lower2.zip"
    zip_path.write_bytes(zip_bytes({"/shared": None, "/shared/b": b"2", "/z.txt": b"zip"}))
    tar_path = tmp_path / "lower3.tar"
    source = tmp_path / "tarsrc"
    (source / "shared").mkdir(parents=True)
    (source / "shared" / "c").write_bytes(b"3")
    (source / "t.txt").write_bytes(b"tar")
    with tarfile.open(tar_path, "w") as archive:
        archive.add(source, arcname=".")
    return tmp_path


def open_overlay(root) -> OverlayFS:
    return OverlayFS(
        OSFS(str(root / "upper")),
        [
            OSFS(str(root / "lower1")),
            ZipFS(str(root / "lower2.zip")),
            TarFS(str(root / "lower3.tar")),
        ],
    )


def test_describe_is_json_and_restores_the_same_view(layers):
    with closing(open_overlay(layers)) as overlay:
        overlay.writetext("/shared/new", "upper")
        overlay.remove("/z.txt")
        overlay.appendtext("/etc/hosts", "\n::1")
        before = tree(overlay)
        description = json.loads(json.dumps(overlay.describe()))
    assert description["upper"] == "osfs://" + str(layers / "upper")
    assert [entry["url"] for entry in description["lowers"]] == [
        "osfs://" + str(layers / "lower1"),
        "zip://" + str(layers / "lower2.zip"),
        "tar://" + str(layers / "lower3.tar"),
    ]
    assert all(entry["fingerprint"].startswith("tree:") for entry in description["lowers"])
    options = description["strategies"]["copy_up"]["options"]
    assert options == {"chunk_size": 1 << 20, "kernel_copy": True}
    with OverlayFS.from_description(description) as restored:
        assert tree(restored) == before
        restored.writetext("/after", "x")
    with fs.open_fs(description["url"]) as reopened:
        assert isinstance(reopened, OverlayFS)
        assert tree(reopened) == {**before, "/after": b"x"}


def test_overlay_url_syntax_by_hand(layers):
    lower = "osfs://" + str(layers / "lower1")
    upper = "osfs://" + str(layers / "upper")
    with fs.open_fs(f"overlay://?upper={upper}&lower={lower}") as overlay:
        assert overlay.readtext("/etc/hosts") == "127.0.0.1"
        overlay.writetext("/etc/extra", "e")
    with fs.open_fs(f"overlay://?lower={lower}") as read_only:
        assert isinstance(read_only, OverlayFS)
        assert read_only.upper is None
        assert not read_only.exists("/etc/extra")
        with pytest.raises(fs.errors.ResourceReadOnly):
            read_only.writetext("/x", "x")


def test_nested_overlay_and_strategy_options_round_trip(layers):
    inner = OverlayFS(OSFS(str(layers / "upper")), [OSFS(str(layers / "lower1"))])
    inner.writetext("/inner.txt", "inner")
    outer_upper = layers / "outer"
    outer_upper.mkdir()
    outer = OverlayFS(OSFS(str(outer_upper)), [inner], copy_up=CopyUpEngine(chunk_size=4096))
    outer.writetext("/outer.txt", "outer")
    inner_url = layer_url(inner)
    assert inner_url.startswith("overlay://")
    with fs.open_fs(inner_url) as inner_again:
        assert tree(inner_again) == tree(inner)
    description = outer.describe()
    # The outer may hold the inner overlay itself or its layers (flattened).
    assert description["lowers"][0]["url"] in (inner_url, "osfs://" + str(layers / "upper"))
    assert "copy_up=" in description["url"]
    before = tree(outer)
    outer.close()
    with fs.open_fs(description["url"]) as restored:
        assert isinstance(restored, OverlayFS)
        assert tree(restored) == before
        assert restored._sb.copier == CopyUpEngine(chunk_size=4096)


def test_memory_layers_have_no_url_but_can_be_given_one(layers):
    overlay = OverlayFS(MemoryFS(), [OSFS(str(layers / "lower1"))])
    with pytest.raises(NoLayerURL) as raised:
        overlay.describe()
    assert isinstance(raised.value, fs.errors.FSError)
    assert "MemoryFS" in str(raised.value) or "mem" in str(raised.value).lower()
    description = overlay.describe(urls={0: "osfs://" + str(layers / "upper")})
    assert description["upper"] == "osfs://" + str(layers / "upper")
    zip_from_bytes = ZipFS(open(layers / "lower2.zip", "rb"))
    with pytest.raises(NoLayerURL):
        OverlayFS(None, [zip_from_bytes]).describe()


def test_changed_lower_is_refused_unless_opted_out(layers, caplog):
    with closing(open_overlay(layers)) as overlay:
        description = overlay.describe()
    hosts = layers / "lower1" / "etc" / "hosts"
    hosts.write_bytes(b"10.0.0.1 changed")
    with pytest.raises(LayerMismatch) as raised:
        OverlayFS.from_description(description)
    assert "lower layer 1" in str(raised.value)
    assert isinstance(raised.value, fs.errors.CreateFailed)
    with pytest.raises(LayerMismatch):
        fs.open_fs(description["url"])
    with OverlayFS.from_description(description, verify=False) as overlay:
        assert overlay.readtext("/etc/hosts") == "10.0.0.1 changed"
    with fs.open_fs(description["url"] + "&verify=off") as overlay:
        assert overlay.readtext("/etc/hosts") == "10.0.0.1 changed"
    with caplog.at_level(logging.WARNING, logger="unionfs_lib"):
        with fs.open_fs(description["url"] + "&verify=warn") as overlay:
            assert overlay.exists("/etc/hosts")
    assert "does not match" in caplog.text


def test_swapped_lower_is_refused(layers):
    with closing(open_overlay(layers)) as overlay:
        description = overlay.describe()
    os.rename(layers / "lower2.zip", layers / "old.zip")
    (layers / "lower2.zip").write_bytes(zip_bytes({"/other": b"other"}))
    with pytest.raises(LayerMismatch) as raised:
        OverlayFS.from_description(description)
    assert "lower layer 2" in str(raised.value)


def test_content_fingerprint_sees_what_tree_fingerprint_cannot(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"aaaa")
    with OSFS(str(tmp_path)) as layer:
        tree_before = fingerprint(layer, "tree")
        content_before = fingerprint(layer, "content")
        stat = path.stat()
        path.write_bytes(b"bbbb")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert fingerprint(layer, "tree") == tree_before
        assert fingerprint(layer, "content") != content_before
        assert fingerprint(layer, "none") is None
        with pytest.raises(ValueError):
            fingerprint(layer, "md5")


def test_describe_without_fingerprints(layers):
    with closing(open_overlay(layers)) as overlay:
        description = overlay.describe(fingerprints="none")
    assert [entry["fingerprint"] for entry in description["lowers"]] == [None] * 3
    (layers / "lower1" / "etc" / "hosts").write_bytes(b"changed")
    with OverlayFS.from_description(description) as overlay:
        assert overlay.readtext("/etc/hosts") == "changed"


@pytest.mark.parametrize(
    "url",
    [
        "overlay://",
        "overlay://?",
        "overlay://?bogus=1",
        "overlay://?fingerprint=tree:00",
        "overlay://?lower=mem%3A%2F%2F&verify=maybe",
        "overlay://?lower=mem%3A%2F%2F&whiteouts=not-json",
        "overlay://?lower=mem%3A%2F%2F&whiteouts=%7B%22class%22%3A%22os.system%22%7D",
        "overlay://?lower=nosuchproto%3A%2F%2Fx",
    ],
)
def test_malformed_urls_raise_fs_errors(url):
    with pytest.raises(fs.errors.FSError):
        fs.open_fs(url)


def test_description_naming_foreign_code_is_refused(layers):
    with closing(open_overlay(layers)) as overlay:
        description = overlay.describe()
    for spec in (
        {"class": "subprocess.Popen", "options": {}},
        {"class": "unionfs_lib.__main__.main", "options": {"argv": ["squash", "a", "b"]}},
        {"class": "unionfs_lib.copy_up.CopyUpEngine", "options": {"no_such_option": 1}},
        {"class": "unionfs_lib.copy_up.CopyUpEngine", "options": ["not", "a", "mapping"]},
        {"class": "unionfs_lib.nosuchmodule.Thing", "options": {}},
    ):
        description["strategies"]["copy_up"] = spec
        with pytest.raises(fs.errors.CreateFailed):
            OverlayFS.from_description(description)
    description["format"] = "something else"
    with pytest.raises(fs.errors.CreateFailed):
        OverlayFS.from_description(description)


def test_parse_url_keeps_fingerprints_with_their_lowers():
    description, verify = parse_url(
        "overlay://?lower=a%3A%2F%2F1&fingerprint=tree%3Aaa&lower=b%3A%2F%2F2&fingerprint=-"
    )
    assert verify == "error"
    assert description["lowers"] == [
        {"url": "a://1", "fingerprint": "tree:aa"},
        {"url": "b://2", "fingerprint": None},
    ]


def test_fingerprints_recorded_in_the_upper(layers, caplog):
    hashes = [content_hash(OSFS(str(layers / "lower1")))]
    with closing(open_overlay(layers)) as overlay:
        record_lowers(overlay)
        assert overlay.upper is not None and overlay.upper.isfile(LAYERS_RECORD)
        assert LAYERS_RECORD.lstrip("/") not in overlay.listdir("/")
        assert check_lowers(overlay) == []
    (layers / "lower1" / "etc" / "new").write_bytes(b"added offline")
    with closing(open_overlay(layers)) as overlay:
        with pytest.raises(LayerMismatch):
            check_lowers(overlay)
        with caplog.at_level(logging.WARNING, logger="unionfs_lib"):
            assert check_lowers(overlay, "warn") == [1]
        assert "changed" in caplog.text
        assert check_lowers(overlay, "off") == []
    with closing(OverlayFS(OSFS(str(layers / "upper")), [OSFS(str(layers / "lower1"))])) as fewer:
        assert check_lowers(fewer, "warn") == [1, 2, 3]
    (layers / "lower1" / "etc" / "new").unlink()
    assert [content_hash(OSFS(str(layers / "lower1")))] == hashes


def test_kernel_layout_overlay_round_trips(tmp_path):
    from unionfs_lib.errors import KernelFormatUnsupported

    for name in ("lower", "upper", "work"):
        (tmp_path / name).mkdir()
    (tmp_path / "lower" / "d").mkdir()
    (tmp_path / "lower" / "d" / "gone").write_bytes(b"gone")
    (tmp_path / "lower" / "d" / "kept").write_bytes(b"kept")
    try:
        overlay = OverlayFS.from_dirs(
            str(tmp_path / "lower"), str(tmp_path / "upper"), str(tmp_path / "work")
        )
    except KernelFormatUnsupported as error:
        pytest.skip(f"the kernel on-disk format is refused here: {error}")
    overlay.remove("/d/gone")
    overlay.writetext("/d/new", "new")
    description = overlay.describe()
    overlay.close()
    assert description["upper"].startswith("upperdir://")
    assert "KernelWhiteouts" in description["strategies"]["whiteouts"]["class"]
    with fs.open_fs(description["url"]) as restored:
        assert sorted(restored.listdir("/d")) == ["kept", "new"]
        restored.writetext("/d/more", "more")
        assert not (tmp_path / "upper" / ".wh..wh..work").exists()
    assert (tmp_path / "upper" / "d" / "more").read_bytes() == b"more"


def test_verify_lowers_at_open(layers, caplog):
    def reopen(**options):
        return OverlayFS(
            OSFS(str(layers / "upper")), [OSFS(str(layers / "lower1"))], **options
        )

    with reopen(verify_lowers="error") as overlay:
        assert overlay.upper.isfile(LAYERS_RECORD), "the first open records the lowers"
        assert overlay.listdir("/") == ["etc", "shared"]
    with reopen(verify_lowers="error") as overlay:
        assert overlay.readtext("/etc/hosts") == "127.0.0.1"
    (layers / "lower1" / "etc" / "hosts").write_bytes(b"changed offline")
    with pytest.raises(LayerMismatch):
        reopen(verify_lowers="error")
    with caplog.at_level(logging.WARNING, logger="unionfs_lib"):
        with reopen(verify_lowers="warn") as overlay:
            assert overlay.readtext("/etc/hosts") == "changed offline"
    assert "changed since their fingerprints were recorded" in caplog.text
    with reopen() as overlay:
        assert overlay.readtext("/etc/hosts") == "changed offline"
    with pytest.raises(ValueError):
        reopen(verify_lowers="sometimes")


def test_detach_keeps_the_fingerprint_record_in_step(layers):
    with closing(open_overlay(layers)) as overlay:
        record_lowers(overlay)
        overlay.copy_up_tree("/shared")
        overlay.copy_up_tree("/z.txt")
        overlay.detach_lower(2).close()
    lowers = [OSFS(str(layers / "lower1")), TarFS(str(layers / "lower3.tar"))]
    with closing(OverlayFS(OSFS(str(layers / "upper")), lowers, verify_lowers="error")) as overlay:
        assert overlay.readtext("/z.txt") == "zip"
        assert check_lowers(overlay) == []


def test_kernel_layout_keeps_the_record_in_the_workdir(tmp_path):
    from unionfs_lib.errors import KernelFormatUnsupported

    for name in ("lower", "upper", "work"):
        (tmp_path / name).mkdir()
    (tmp_path / "lower" / "f").write_bytes(b"f")
    dirs = (str(tmp_path / "lower"), str(tmp_path / "upper"), str(tmp_path / "work"))
    try:
        overlay = OverlayFS.from_dirs(*dirs, verify_lowers="error")
    except KernelFormatUnsupported as error:
        pytest.skip(f"the kernel on-disk format is refused here: {error}")
    with overlay:
        assert overlay.listdir("/") == ["f"]
    assert (tmp_path / "work" / "unionfs-layers.json").is_file()
    assert os.listdir(tmp_path / "upper") == []
    (tmp_path / "lower" / "g").write_bytes(b"g")
    with pytest.raises(LayerMismatch):
        OverlayFS.from_dirs(*dirs, verify_lowers="error")
