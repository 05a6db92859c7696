"""LazyFS over a real S3 endpoint: fs-s3fs talking HTTP to moto's threaded server.

Requests are counted with botocore's ``before-send`` event, which fires once
per HTTP request the S3 client sends, so "no request" below means nothing
went over the wire to the server.
"""

from __future__ import annotations

import json
from contextlib import closing

import boto3
import fs
import fs.errors
import fs.wrapfs
import pytest
from fs.memoryfs import MemoryFS
from fs.tempfs import TempFS
from fs_s3fs import S3FS

from unionfs_lib import OverlayFS
from unionfs_lib.layers.lazy_fs import LazyFS

from ..support.guard import unwrap
from ..support.helpers import moto_s3

BUCKET = "layers"
FILES = {
    "/etc/hosts": b"127.0.0.1 s3",
    "/usr/lib/libbig.so": bytes(range(256)) * 8192,  # 2 MiB: several chunks
    "/usr/lib/libsmall.so": b"small",
    "/usr/share/doc/README": b"read me",
}


@pytest.fixture(scope="module")
def endpoint():
    """A moto S3 server on 127.0.0.1 and a bucket filled through fs-s3fs."""
    with moto_s3() as url:
        boto3.client("s3", endpoint_url=url).create_bucket(Bucket=BUCKET)
        with S3FS(BUCKET, endpoint_url=url) as bucket:
            for path, data in FILES.items():
                bucket.makedirs(fs.path.dirname(path), recreate=True)
                bucket.writebytes(path, data)
        yield url


@pytest.fixture
def requests():
    """A list that receives the URL of every HTTP request sent by new S3 clients."""
    sent: list[str] = []
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register(
        "before-send", lambda request, **_: sent.append(request.url)
    )
    yield sent
    boto3.DEFAULT_SESSION = None


def test_second_read_and_listing_do_not_hit_s3(endpoint, requests):
    with closing(LazyFS(S3FS(BUCKET, endpoint_url=endpoint))) as lazy:
        assert lazy.readbytes("/usr/lib/libbig.so") == FILES["/usr/lib/libbig.so"]
        assert lazy.downloads == 1
        assert any("libbig.so" in url for url in requests), "the first read went to S3"
        sent = len(requests)
        for _ in range(3):
            assert lazy.readbytes("/usr/lib/libbig.so") == FILES["/usr/lib/libbig.so"]
            with lazy.openbin("/usr/lib/libbig.so") as handle:
                handle.seek(1000)
                assert handle.read(4) == FILES["/usr/lib/libbig.so"][1000:1004]
        assert len(requests) == sent, "later reads are served from the cache"
        assert lazy.downloads == 1

        assert lazy.listdir("/usr/lib") == ["libbig.so", "libsmall.so"]
        sent = len(requests)
        assert lazy.listdir("/usr/lib") == ["libbig.so", "libsmall.so"]
        assert lazy.getinfo("/usr/lib/libsmall.so", ["details"]).size == 5
        assert lazy.isdir("/usr/share") and not lazy.exists("/usr/nope")
        assert len(requests) == sent, "listings and infos come from the cached listing"


def test_lazy_lower_under_an_overlay_then_detached(endpoint, requests):
    source = S3FS(BUCKET, endpoint_url=endpoint)
    lazy = LazyFS(source)
    overlay = OverlayFS(MemoryFS(), [lazy], auto_close=False)
    assert overlay.readtext("/etc/hosts") == "127.0.0.1 s3"
    overlay.writetext("/etc/motd", "local")
    overlay.remove("/usr/share/doc/README")
    assert lazy.downloads == 1, "only what was read was fetched"
    expected = {path: overlay.readbytes(path) for path in overlay.walk.files()}

    overlay.copy_up_tree()
    assert unwrap(overlay.detach_lower(1)) is lazy
    lazy.close()
    assert source.isclosed()
    sent = len(requests)
    assert {path: overlay.readbytes(path) for path in overlay.walk.files()} == expected
    dirs = ["/etc", "/usr", "/usr/lib", "/usr/share", "/usr/share/doc"]
    assert sorted(overlay.walk.dirs()) == dirs
    assert len(requests) == sent, "the detached remote layer is not used any more"


def test_lazy_layer_is_read_only_and_reports_missing_paths(endpoint):
    with closing(LazyFS(S3FS(BUCKET, endpoint_url=endpoint))) as lazy:
        for call in (
            lambda: lazy.writebytes("/x", b"x"),
            lambda: lazy.makedir("/d"),
            lambda: lazy.remove("/etc/hosts"),
            lambda: lazy.removedir("/etc"),
            lambda: lazy.setinfo("/etc/hosts", {}),
            lambda: lazy.openbin("/etc/hosts", "r+"),
        ):
            with pytest.raises(fs.errors.ResourceReadOnly):
                call()
        with pytest.raises(fs.errors.ResourceNotFound):
            lazy.readbytes("/etc/nope")
        with pytest.raises(fs.errors.FileExpected):
            lazy.readbytes("/etc")
        with pytest.raises(fs.errors.DirectoryExpected):
            lazy.listdir("/etc/hosts")
        assert lazy.getmeta()["read_only"] is True


def test_persistent_cache_is_reused_and_prefetch(endpoint, requests):
    with TempFS() as cache:
        with closing(LazyFS(S3FS(BUCKET, endpoint_url=endpoint), cache)) as lazy:
            events: list[object] = []
            assert lazy.prefetch(progress=events.append) == len(FILES)
            assert len(events) == len(FILES)
            assert all(lazy.is_fetched(path) for path in FILES)
        assert not cache.isclosed(), "a cache passed in is the caller's"
        assert sorted(cache.walk.files(exclude_dirs=[".lazyfs-partial"])) == sorted(FILES)
        with closing(LazyFS(S3FS(BUCKET, endpoint_url=endpoint), cache)) as again:
            assert again.readbytes("/usr/lib/libbig.so") == FILES["/usr/lib/libbig.so"]
            assert again.downloads == 0, "a cached file of the right size is trusted"


def test_describe_and_reopen_an_s3_backed_overlay(endpoint, tmp_path):
    with TempFS() as cache_dir:
        cache_url = "osfs://" + cache_dir.getsyspath("/")
        lazy = LazyFS(S3FS(BUCKET, endpoint_url=endpoint), fs.open_fs(cache_url))
        upper_url = "osfs://" + str(tmp_path)
        overlay = OverlayFS(fs.open_fs(upper_url), [lazy])
        overlay.writetext("/etc/motd", "local")
        description = json.loads(json.dumps(overlay.describe()))
        overlay.close()
        lower_url = description["lowers"][0]["url"]
        assert lower_url.startswith("lazy://?source=s3%3A%2F%2Flayers")
        assert "testing" not in json.dumps(description), "no credentials are written"
        with fs.open_fs(description["url"]) as reopened:
            assert isinstance(reopened, OverlayFS)
            assert isinstance(unwrap(reopened.lowers[0]), LazyFS)
            assert reopened.readtext("/etc/motd") == "local"
            assert reopened.readtext("/usr/lib/libsmall.so") == "small"
        with fs.open_fs(f"s3://{BUCKET}?endpoint_url={endpoint}") as plain:
            assert plain.readbytes("/etc/hosts") == FILES["/etc/hosts"]


def test_concurrent_first_reads_download_once(endpoint):
    from concurrent.futures import ThreadPoolExecutor

    with closing(LazyFS(S3FS(BUCKET, endpoint_url=endpoint))) as lazy:
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(lambda _: lazy.readbytes("/usr/lib/libbig.so"), range(12)))
        assert all(data == FILES["/usr/lib/libbig.so"] for data in results)
        assert lazy.downloads == 1


class _FailingReads(fs.wrapfs.WrapFS):
    """A source whose file reads fail after the first chunk (a dropped connection)."""

    failing = True

    def openbin(self, path, mode="r", buffering=-1, **options):
        handle = super().openbin(path, mode, buffering, **options)
        if not self.failing:
            return handle
        class Broken:
            def __init__(self):
                self.calls = 0

            def read(self, size=-1):
                self.calls += 1
                if self.calls > 1:
                    raise fs.errors.RemoteConnectionError(msg="connection dropped")
                return handle.read(size)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                handle.close()

        return Broken()


def test_failed_download_leaves_no_partial_file():
    data = bytes(range(256)) * 16384  # 4 MiB: more than one chunk
    memory = MemoryFS()
    memory.writebytes("/big", data)
    source = _FailingReads(memory)
    with TempFS() as cache:
        with closing(LazyFS(source, cache)) as lazy:
            with pytest.raises(fs.errors.RemoteConnectionError):
                lazy.readbytes("/big")
            assert not cache.exists("/big") and not lazy.is_fetched("/big")
            assert cache.listdir("/.lazyfs-partial") == []
            source.failing = False
            assert lazy.readbytes("/big") == data
            assert lazy.downloads == 1
