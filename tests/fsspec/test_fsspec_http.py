"""End to end: an HTTP lower (fsspec's ``HTTPFileSystem`` over aiohttp) under a local upper.

The lower is a directory served with index pages by a real HTTP server on
127.0.0.1 (``tests/support/endpoints.py``); fsspec lists it by following the links of
those pages. The served directory is compared byte for byte afterwards.
"""

from __future__ import annotations

import fs
import fsspec
import pytest
from fs.memoryfs import MemoryFS

from unionfs_lib import OverlayFS
from unionfs_lib.fsspec import FSSpecFS

from ..support.endpoints import http_directory
from ..support.helpers import os_tree, tree

pytest.importorskip("aiohttp")

FILES = {
    "etc/hosts": b"127.0.0.1 http",
    "usr/lib/libsmall.so": b"small",
    "usr/share/doc/README": b"read me",
    "usr/share/doc/COPYING": b"copying",
    "top.txt": b"top",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A directory tree under ``base/`` served over HTTP; yields (base URL, served root)."""
    root = tmp_path_factory.mktemp("served")
    for name, data in FILES.items():
        path = root / "base" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    links = root / "links"
    links.mkdir()
    (links / "present.txt").write_bytes(b"here")
    (links / "index.html").write_text(
        '<html><body><a href="present.txt">present</a> <a href="gone.txt">gone</a></body></html>'
    )
    with http_directory(root) as url:
        yield f"{url}/base", root


def http_lower(url: str) -> FSSpecFS:
    """A read-only layer over ``url`` through a fresh fsspec HTTP filesystem."""
    return FSSpecFS(fsspec.filesystem("http", skip_instance_cache=True), url, read_only=True)


def test_an_http_layer_lists_and_reads_as_far_as_http_allows(served):
    url, _ = served
    layer = http_lower(url)
    assert sorted(layer.listdir("/")) == ["etc", "top.txt", "usr"]
    assert layer.getinfo("/usr").is_dir, "a directory is known by its redirect to an index page"
    assert not layer.getinfo("/etc/hosts").is_dir
    sizes = {info.name: info.size for info in layer.scandir("/usr/share/doc", ["details"])}
    assert sizes == {"README": 7, "COPYING": 7}, "sizes come from HEAD when the index has none"
    assert layer.getinfo("/top.txt", ["details"]).modified is not None  # Last-Modified
    assert layer.readbytes("/usr/share/doc/README") == b"read me"
    with layer.openbin("/etc/hosts") as handle:
        assert handle.read() == b"127.0.0.1 http"
    with pytest.raises(fs.errors.ResourceNotFound):
        layer.getinfo("/missing")
    with pytest.raises(fs.errors.DirectoryExpected):
        layer.listdir("/top.txt")
    with pytest.raises(fs.errors.ResourceReadOnly):
        layer.writebytes("/x", b"")


def test_an_http_lower_under_a_memory_upper(served):
    url, root = served
    before = os_tree(root)
    upper = MemoryFS()
    with OverlayFS(upper, [http_lower(url)]) as overlay:
        assert tree(overlay) == {"/" + name: data for name, data in FILES.items()} | {
            "/etc": None, "/usr": None, "/usr/lib": None, "/usr/share": None,
            "/usr/share/doc": None,
        }  # fmt: skip
        with overlay.openbin("/etc/hosts", "a") as handle:  # copy-up
            handle.write(b" local")
        overlay.remove("/usr/lib/libsmall.so")  # whiteout
        overlay.writetext("/usr/share/doc/NEW", "new")
        assert overlay.readbytes("/etc/hosts") == b"127.0.0.1 http local"
        assert overlay.listdir("/usr/lib") == []
        assert sorted(overlay.listdir("/usr/share/doc")) == ["COPYING", "NEW", "README"]
        assert upper.readbytes("/etc/hosts") == b"127.0.0.1 http local"
        assert upper.exists("/usr/lib/.wh.libsmall.so")
        assert not upper.exists("/usr/share/doc/README"), "a read copied the file up"
    assert os_tree(root) == before, "the HTTP lower was written"


def test_an_http_lower_is_described_without_credentials_and_reopened(served, tmp_path):
    url, root = served
    before = os_tree(root)
    secret_url = url.replace("http://", "http://reader:hunter2@")
    upper = FSSpecFS(fsspec.filesystem("file"), str(tmp_path))
    lower = FSSpecFS(
        fsspec.filesystem(
            "http",
            headers={"X-Api-Key": "tok-hunter3", "User-Agent": "unionfs-test"},
            skip_instance_cache=True,
        ),
        secret_url,
        read_only=True,
    )
    with OverlayFS(upper, [lower]) as overlay:
        overlay.remove("/top.txt")
        overlay.writetext("/etc/motd", "hello")
        description = overlay.describe(fingerprints="none")
    text = repr(description)
    assert "hunter2" not in text and "hunter3" not in text and "reader" not in text
    assert description["lowers"][0]["url"].startswith("fsspec://?url=http%3A%2F%2F127.0.0.1")
    assert "unionfs-test" in description["lowers"][0]["url"], "a harmless header was dropped"
    with fs.open_fs(description["url"]) as reopened:
        assert reopened.readtext("/etc/motd") == "hello"
        assert reopened.readtext("/usr/share/doc/README") == "read me"
        assert not reopened.exists("/top.txt")
    assert os_tree(root) == before


def test_overlay_filesystem_over_an_http_url(served):
    url, root = served
    before = os_tree(root)
    prefix = f"memory:///http-upper-{id(root)}"
    overlay = fsspec.filesystem("overlay", upper=prefix, lowers=[url])
    assert overlay.ls("/usr/share/doc", detail=False) == [
        "/usr/share/doc/COPYING", "/usr/share/doc/README",
    ]  # fmt: skip
    assert overlay.info("/etc/hosts")["size"] == len(FILES["etc/hosts"])
    assert overlay.cat_file("/etc/hosts", start=4, end=9) == b"0.0.1"
    overlay.rm("/top.txt")
    overlay.pipe_file("/etc/hosts", b"replaced")
    assert overlay.find("") == [
        "/etc/hosts", "/usr/lib/libsmall.so", "/usr/share/doc/COPYING", "/usr/share/doc/README",
    ]  # fmt: skip
    assert overlay.cat_file("/etc/hosts") == b"replaced"
    assert os_tree(root) == before


def test_a_dead_link_of_an_index_page_is_listed_as_an_empty_file(served):
    url, _ = served
    layer = http_lower(url.replace("/base", "/links"))
    assert sorted(layer.listdir("/")) == ["gone.txt", "present.txt"]
    sizes = {info.name: info.size for info in layer.scandir("/", ["details"])}
    assert sizes == {"gone.txt": 0, "present.txt": 4}
    with pytest.raises(fs.errors.ResourceNotFound):
        layer.readbytes("/gone.txt")
