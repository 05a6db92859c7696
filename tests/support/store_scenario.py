"""The end-to-end scenario every object-store layer goes through (S3, GCS, Azure Blob).

A lower holding :data:`files` under ``base`` and an upper under ``run1``,
both on the store: copy-up on append, a whiteout, a directory ``mv`` by
redirect, a new file; the lower byte for byte unchanged; the upper holding
the markers and no copied lower content; and a reopened overlay showing it
all.
"""

from __future__ import annotations

import typing

import fsspec


def lower_files(first_line: bytes) -> dict[str, bytes]:
    """The lower tree, its ``etc/hosts`` starting with ``first_line``."""
    return {
        "etc/hosts": first_line,
        "usr/lib/libsmall.so": b"small",
        "usr/share/doc/README": b"read me",
        "usr/share/doc/COPYING": b"copying",
    }


def check_store_overlay(
    upper: typing.Any,
    lowers: list[typing.Any],
    *,
    lower_contents: typing.Callable[[], dict[str, bytes]],
    upper_names: typing.Callable[[], list[str]],
    upper_prefix: str,
    hosts: bytes,
) -> None:
    """Run the scenario with layer specs ``upper``/``lowers`` (``OverlayFileSystem`` arguments).

    ``lower_contents`` reads every lower object and its bytes; ``upper_names``
    lists the upper's object names, which start with ``upper_prefix``;
    ``hosts`` is the lower ``etc/hosts``.
    """
    before = lower_contents()
    overlay = fsspec.filesystem("overlay", upper=upper, lowers=lowers)
    assert overlay.ls("/", detail=False) == ["/etc", "/usr"]
    assert overlay.info("/usr/share/doc/README")["size"] == 7
    assert overlay.cat_file("/etc/hosts", start=4, end=9) == b"0.0.1"
    with overlay.open("/etc/hosts", "ab") as handle:  # copy-up
        handle.write(b" local")
    overlay.rm("/usr/lib/libsmall.so")  # whiteout
    overlay.mv("/usr/share/doc", "/docs")  # redirect
    overlay.pipe_file("/new/file.txt", b"new")

    assert lower_contents() == before, "the lower was written"
    names = sorted(upper_names())
    assert f"{upper_prefix}usr/lib/.wh.libsmall.so" in names
    assert f"{upper_prefix}docs/.wh..wh..redirect" in names
    assert f"{upper_prefix}docs/README" not in names, "a directory mv copied lower content"

    reopened = fsspec.filesystem("overlay", upper=upper, lowers=lowers)  # persistence
    assert reopened.cat_file("/etc/hosts") == hosts + b" local"
    assert reopened.find("") == ["/docs/COPYING", "/docs/README", "/etc/hosts", "/new/file.txt"]
    assert reopened.cat_file("/docs/README") == b"read me"
