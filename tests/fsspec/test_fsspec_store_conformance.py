"""PyFilesystem2's own test suite against ``FSSpecFS`` over real object-store protocols.

gcsfs against ``gcp-storage-emulator`` and adlfs against Azurite, each on
127.0.0.1 over HTTP (``tests/support/endpoints.py``); every test gets a fresh prefix
of one bucket or container.
"""

from __future__ import annotations

import typing
import unittest
import uuid

import pytest
from fs.test import FSTestCases

from unionfs_lib.fsspec import FSSpecFS

from ..support.endpoints import azurite_blob, gcs_emulator

BUCKET = "conformance"


@pytest.fixture(scope="class")
def gcs_client(request: pytest.FixtureRequest) -> typing.Iterator[None]:
    """One GCS emulator and bucket for the whole class."""
    gcsfs = pytest.importorskip("gcsfs")
    with gcs_emulator() as endpoint:
        client = gcsfs.core.GCSFileSystem(
            endpoint_url=endpoint, token="anon", project="test", skip_instance_cache=True
        )
        client.mkdir(BUCKET)
        request.cls.client = client
        yield


@pytest.fixture(scope="class")
def azure_client(request: pytest.FixtureRequest) -> typing.Iterator[None]:
    """One Azurite blob service and container for the whole class."""
    adlfs = pytest.importorskip("adlfs")
    with azurite_blob() as connection_string:
        client = adlfs.AzureBlobFileSystem(
            connection_string=connection_string, skip_instance_cache=True
        )
        client.mkdir(BUCKET)
        request.cls.client = client
        yield


class _OnAStore(FSTestCases):
    """``make_fs``: an FSSpecFS over a fresh prefix of the class's store client."""

    client: typing.Any

    def make_fs(self) -> FSSpecFS:
        return FSSpecFS(self.client, f"{BUCKET}/{uuid.uuid4().hex}")


@pytest.mark.usefixtures("gcs_client")
class TestFSSpecGCS(_OnAStore, unittest.TestCase):
    """FSSpecFS over gcsfs."""


@pytest.mark.usefixtures("azure_client")
class TestFSSpecAzure(_OnAStore, unittest.TestCase):
    """FSSpecFS over adlfs."""
