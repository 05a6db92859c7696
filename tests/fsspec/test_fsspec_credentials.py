"""Layer URLs never carry credentials: the options and URL parts each store's client takes."""

from __future__ import annotations

import pytest

from unionfs_lib.fsspec.urls import is_secret, public_options, public_url


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("https://reader:pw@example.com/data", "https://example.com/data"),
        ("http://token@127.0.0.1:8080/base", "http://127.0.0.1:8080/base"),
        ("https://acct.blob.core.windows.net/c?sv=2022&sig=abc%2F", "https://acct.blob.core.windows.net/c?sv=2022"),
        ("https://example.com/x?access_token=t&page=2", "https://example.com/x?page=2"),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
        ("memory:///docs/base", "memory:///docs/base"),
        ("zip://::file:///srv/base.zip", "zip://::file:///srv/base.zip"),
        ("github://", "github://"),
    ],
)  # fmt: skip
def test_urls_lose_their_credentials(url, public):
    assert public_url(url) == public


@pytest.mark.parametrize(
    "name",
    ["connection_string", "account_key", "sas_token", "token", "username", "credential",
     "client_secret", "aws_session_token", "X-Api-Key", "Authorization", "sig"],
)  # fmt: skip
def test_credential_option_names(name):
    assert is_secret(name)


def test_store_options_keep_what_reopens_the_layer():
    options = {
        "account_name": "devstoreaccount1",
        "connection_string": "DefaultEndpointsProtocol=http;AccountKey=abc==;",
        "endpoint_url": "http://127.0.0.1:4443",
        "project": "test",
        "token": {"private_key": "-----BEGIN"},
        "org": "octo", "repo": "base", "sha": "main", "username": "reader",
        "headers": {"User-Agent": "x", "X-Api-Key": "k"},
    }  # fmt: skip
    assert public_options(options) == {
        "account_name": "devstoreaccount1",
        "endpoint_url": "http://127.0.0.1:4443",
        "project": "test",
        "org": "octo", "repo": "base", "sha": "main",
        "headers": {"User-Agent": "x"},
    }  # fmt: skip
