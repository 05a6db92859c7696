"""End to end: an Azure Blob lower and upper (adlfs over HTTP to Azurite).

Azurite, Microsoft's storage emulator, runs as a node process on 127.0.0.1
(``tests/endpoints.py``; installed from npm into a cache directory on first
use, and the tests skip saying why when npm cannot). The lower container is
compared blob by blob, byte for byte, before and after.
"""

from __future__ import annotations

import typing

import fs
import fsspec
import pytest

from unionfs_lib import OverlayFS
from unionfs_lib.fsspec import FSSpecFS

from .endpoints import AZURITE_KEY, azurite_blob

adlfs = pytest.importorskip("adlfs")

LOWER = "fsspec-lower"
UPPER = "fsspec-upper"
FILES = {
    "etc/hosts": b"127.0.0.1 azure",
    "usr/lib/libsmall.so": b"small",
    "usr/share/doc/README": b"read me",
    "usr/share/doc/COPYING": b"copying",
}


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
    before = container_blobs(connection_string, LOWER)
    upper = azure_layer(connection_string, f"{UPPER}/run1")
    lowers = [azure_layer(connection_string, f"{LOWER}/base")]
    overlay = fsspec.filesystem("overlay", upper=upper, lowers=lowers)

    assert overlay.ls("/", detail=False) == ["/etc", "/usr"]
    assert overlay.info("/usr/share/doc/README")["size"] == 7
    assert overlay.cat_file("/etc/hosts", start=4, end=9) == b"0.0.1"
    with overlay.open("/etc/hosts", "ab") as handle:  # copy-up
        handle.write(b" local")
    overlay.rm("/usr/lib/libsmall.so")  # whiteout
    overlay.mv("/usr/share/doc", "/docs")  # redirect
    overlay.pipe_file("/new/file.txt", b"new")

    assert container_blobs(connection_string, LOWER) == before, "the Azure lower was written"
    names = sorted(container_blobs(connection_string, UPPER))
    assert f"{UPPER}/run1/usr/lib/.wh.libsmall.so" in names
    assert f"{UPPER}/run1/docs/.wh..wh..redirect" in names
    assert f"{UPPER}/run1/docs/README" not in names, "a directory mv copied lower content"

    reopened = fsspec.filesystem("overlay", upper=upper, lowers=lowers)  # persistence
    assert reopened.cat_file("/etc/hosts") == b"127.0.0.1 azure local"
    assert reopened.find("") == [
        "/docs/COPYING", "/docs/README", "/etc/hosts", "/new/file.txt",
    ]  # fmt: skip
    assert reopened.cat_file("/docs/README") == b"read me"


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
