"""End to end: OverlayFileSystem with an S3 lower and an S3 upper (s3fs over HTTP to moto).

The moto server runs in a thread on 127.0.0.1, as in ``tests/layers/test_lazy_s3.py``;
s3fs talks to it over real HTTP. Credentials come from the environment only,
so the layer URLs ``describe`` writes must reopen without them.
"""

from __future__ import annotations

import boto3
import fs
import pytest

from unionfs_lib import OverlayFS
from unionfs_lib.fsspec import FSSpecFS, OverlayFileSystem

from ..support.helpers import moto_s3
from ..support.store_scenario import check_store_overlay, lower_files

LOWER_BUCKET = "fsspec-lower"
UPPER_BUCKET = "fsspec-upper"
FILES = lower_files(b"127.0.0.1 s3")


@pytest.fixture(scope="module")
def endpoint():
    """A moto S3 server with a filled lower bucket and an empty upper bucket."""
    with moto_s3() as url:
        client = boto3.client("s3", endpoint_url=url)
        client.create_bucket(Bucket=LOWER_BUCKET)
        client.create_bucket(Bucket=UPPER_BUCKET)
        for key, data in FILES.items():
            client.put_object(Bucket=LOWER_BUCKET, Key=f"base/{key}", Body=data)
        yield url


def s3_layer(endpoint: str, path: str) -> dict:
    """A layer spec: an s3:// URL with storage options of its own (no credentials)."""
    return {
        "url": f"s3://{path}",
        "storage_options": {
            "client_kwargs": {"endpoint_url": endpoint},
            "skip_instance_cache": True,
        },
    }


def lower_objects(endpoint: str) -> dict[str, bytes]:
    client = boto3.client("s3", endpoint_url=endpoint)
    listed = client.list_objects_v2(Bucket=LOWER_BUCKET).get("Contents", [])
    return {
        item["Key"]: client.get_object(Bucket=LOWER_BUCKET, Key=item["Key"])["Body"].read()
        for item in listed
    }


def test_s3_lower_and_s3_upper(endpoint):
    def upper_names() -> list[str]:
        written = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=UPPER_BUCKET)
        return [item["Key"] for item in written["Contents"]]

    check_store_overlay(
        s3_layer(endpoint, f"{UPPER_BUCKET}/run1"),
        [s3_layer(endpoint, f"{LOWER_BUCKET}/base")],
        lower_contents=lambda: lower_objects(endpoint),
        upper_names=upper_names,
        upper_prefix="run1/",
        hosts=FILES["etc/hosts"],
    )

def test_s3_layers_described_without_credentials_and_reopened(endpoint):
    s3fs = pytest.importorskip("s3fs")
    secret_fs = s3fs.S3FileSystem(
        key="testing",
        secret="testing",
        client_kwargs={"endpoint_url": endpoint},
        skip_instance_cache=True,
    )
    upper = FSSpecFS(secret_fs, f"{UPPER_BUCKET}/run2")
    lower = FSSpecFS(secret_fs, f"{LOWER_BUCKET}/base", read_only=True)
    with OverlayFS(upper, [lower]) as overlay:
        overlay.writetext("/etc/motd", "hello")
        description = overlay.describe(fingerprints="none")
    assert "testing" not in description["url"]
    assert description["lowers"][0]["url"].startswith("fsspec://?url=s3%3A%2F%2Ffsspec-lower")
    with fs.open_fs(description["url"]) as reopened:
        assert reopened.readtext("/etc/motd") == "hello"
        assert reopened.readtext("/usr/share/doc/README") == "read me"


def test_a_remote_directory_is_listed_once(endpoint, monkeypatch):
    s3fs = pytest.importorskip("s3fs")
    lower_fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)
    listings: list[str] = []
    original = type(lower_fs)._lsdir

    async def counted(self, path, *args, **kwargs):
        listings.append(path)
        return await original(self, path, *args, **kwargs)

    monkeypatch.setattr(type(lower_fs), "_lsdir", counted)
    overlay = OverlayFileSystem(upper=None, lowers=[FSSpecFS(lower_fs, f"{LOWER_BUCKET}/base")])
    assert overlay.ls("/usr/share/doc", detail=False) == [
        "/usr/share/doc/COPYING", "/usr/share/doc/README",
    ]
    first = len(listings)
    for _ in range(3):
        overlay.ls("/usr/share/doc")
        overlay.info("/usr/share/doc/README")
        assert overlay.cat_file("/usr/share/doc/README") == b"read me"
    assert len(listings) == first, f"listed again: {listings[first:]}"
