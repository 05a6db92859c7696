"""End to end: a GCS lower and a GCS upper (gcsfs over HTTP to ``gcp-storage-emulator``).

The emulator runs in memory in a thread on 127.0.0.1 (``tests/support/endpoints.py``);
gcsfs talks to it over its JSON API. The lower bucket is compared object by
object, byte for byte, before and after.
"""

from __future__ import annotations

import typing

import fs
import pytest

from unionfs_lib import OverlayFS
from unionfs_lib.fsspec import FSSpecFS

from ..support.endpoints import gcs_emulator
from ..support.store_scenario import check_store_overlay, lower_files

gcsfs = pytest.importorskip("gcsfs")
pytest.importorskip("gcp_storage_emulator")

LOWER_BUCKET = "fsspec-lower"
UPPER_BUCKET = "fsspec-upper"
FILES = lower_files(b"127.0.0.1 gcs")
#: An OAuth access token (sent as a bearer header, which the emulator ignores); never written.
ACCESS_TOKEN = "ya29.never-written-token"


def gcs(endpoint: str, **options: typing.Any) -> typing.Any:
    """A fresh gcsfs filesystem on the emulator (no instance cache)."""
    options.setdefault("token", "anon")
    return gcsfs.core.GCSFileSystem(
        endpoint_url=endpoint, project="test", skip_instance_cache=True, **options
    )


@pytest.fixture(scope="module")
def endpoint():
    """The emulator with a filled lower bucket and an empty upper bucket."""
    with gcs_emulator() as url:
        client = gcs(url)
        client.mkdir(LOWER_BUCKET)
        client.mkdir(UPPER_BUCKET)
        for key, data in FILES.items():
            client.pipe_file(f"{LOWER_BUCKET}/base/{key}", data)
        yield url


def gcs_layer(endpoint: str, path: str) -> dict:
    """A layer spec: a gs:// URL with storage options of its own (no credentials)."""
    return {
        "url": f"gs://{path}",
        "storage_options": {
            "endpoint_url": endpoint,
            "token": "anon",
            "project": "test",
            "skip_instance_cache": True,
        },
    }


def bucket_objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    """Every object of ``bucket`` and its bytes, read by a fresh client."""
    client = gcs(endpoint)
    return {name: client.cat_file(name) for name in client.find(bucket)}


def test_gcs_lower_and_gcs_upper(endpoint):
    check_store_overlay(
        gcs_layer(endpoint, f"{UPPER_BUCKET}/run1"),
        [gcs_layer(endpoint, f"{LOWER_BUCKET}/base")],
        lower_contents=lambda: bucket_objects(endpoint, LOWER_BUCKET),
        upper_names=lambda: list(bucket_objects(endpoint, UPPER_BUCKET)),
        upper_prefix=f"{UPPER_BUCKET}/run1/",
        hosts=FILES["etc/hosts"],
    )

def test_gcs_layers_described_without_credentials_and_reopened(endpoint):
    before = bucket_objects(endpoint, LOWER_BUCKET)
    from google.oauth2.credentials import Credentials

    secret_fs = gcs(endpoint, token=Credentials(token=ACCESS_TOKEN))
    upper = FSSpecFS(secret_fs, f"{UPPER_BUCKET}/run2")
    lower = FSSpecFS(secret_fs, f"{LOWER_BUCKET}/base", read_only=True)
    with OverlayFS(upper, [lower]) as overlay:
        overlay.writetext("/etc/motd", "hello")
        overlay.remove("/etc/hosts")
        assert overlay.listdir("/etc") == ["motd"]
        description = overlay.describe(fingerprints="none")
    assert ACCESS_TOKEN not in repr(description)
    assert description["lowers"][0]["url"].startswith("fsspec://?url=gs%3A%2F%2Ffsspec-lower")
    with fs.open_fs(description["url"]) as reopened:  # anonymous, through the emulator
        assert reopened.readtext("/etc/motd") == "hello"
        assert not reopened.exists("/etc/hosts")
        assert reopened.readtext("/usr/share/doc/README") == "read me"
    assert bucket_objects(endpoint, LOWER_BUCKET) == before
