"""End to end: an Azure Blob lower and upper (adlfs over HTTP to Azurite).

Azurite, Microsoft's storage emulator, runs as a node process on 127.0.0.1
(``tests/support/endpoints.py``; installed from npm into a cache directory on first
use, and the tests skip saying why when npm cannot). The lower container is
compared blob by blob, byte for byte, before and after.
"""

from __future__ import annotations

import typing

import fs
import pytest

from unionfs_lib import OverlayFS
from unionfs_lib.fsspec import FSSpecFS

from ..support.endpoints import AZURITE_KEY, azurite_blob
from ..support.store_scenario import check_store_overlay, lower_files

adlfs = pytest.importorskip("adlfs")

LOWER = "fsspec-lower"
UPPER = "fsspec-upper"
FILES = lower_files(b"127.0.0.1 azure")


def azure(connection_string: str) -> typing.Any:
    """A fresh adlfs filesystem on Azurite (no instance cache)."""
    return adlfs.AzureBlobFileSystem(
        connection_string=connection_string, skip_instance_cache=True
    )


@pytest.fixture(scope="module")
def connection_string():
    """Azurite with a filled lower container and an empty upper container."""
    with azurite_blob() as secret:
        client = azure(secret)
        client.mkdir(LOWER)
        client.mkdir(UPPER)
        for key, data in FILES.items():
            client.pipe_file(f"{LOWER}/base/{key}", data)
        yield secret


def azure_layer(connection_string: str, path: str) -> dict:
    """A layer spec: an abfs:// URL with its own storage options."""
    return {
        "url": f"abfs://{path}",
        "storage_options": {"connection_string": connection_string, "skip_instance_cache": True},
    }


def container_blobs(connection_string: str, container: str) -> dict[str, bytes]:
    """Every blob of ``container`` and its bytes, read by a fresh client."""
    client = azure(connection_string)
    return {name: client.cat_file(name) for name in client.find(container)}


def test_azure_lower_and_azure_upper(connection_string):
    check_store_overlay(
        azure_layer(connection_string, f"{UPPER}/run1"),
        [azure_layer(connection_string, f"{LOWER}/base")],
        lower_contents=lambda: container_blobs(connection_string, LOWER),
        upper_names=lambda: list(container_blobs(connection_string, UPPER)),
        upper_prefix=f"{UPPER}/run1/",
        hosts=FILES["etc/hosts"],
    )

def test_azure_layers_described_without_credentials_and_reopened(connection_string):
    before = container_blobs(connection_string, LOWER)
    secret_fs = azure(connection_string)
    upper = FSSpecFS(secret_fs, f"{UPPER}/run2")
    lower = FSSpecFS(secret_fs, f"{LOWER}/base", read_only=True)
    with OverlayFS(upper, [lower]) as overlay:
        overlay.writetext("/etc/motd", "hello")
        overlay.remove("/etc/hosts")
        assert overlay.listdir("/etc") == ["motd"]
        description = overlay.describe(fingerprints="none")
    text = repr(description)
    assert AZURITE_KEY not in text and "AccountKey" not in text
    assert description["lowers"][0]["url"].startswith("fsspec://?url=abfs%3A%2F%2Ffsspec-lower")
    # The reopened layers find the connection string where adlfs looks by default.
    with fs.open_fs(description["url"]) as reopened:
        assert reopened.readtext("/etc/motd") == "hello"
        assert not reopened.exists("/etc/hosts")
        assert reopened.readtext("/usr/share/doc/README") == "read me"
    assert container_blobs(connection_string, LOWER) == before
