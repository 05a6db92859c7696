"""Attacks through opening: an untrusted URL must not write before the caller writes.

Opening an ``overlay://`` URL (or a description, or a ``lazy://`` cache, or an
fsspec overlay's upper) creates a missing upper only when the caller asks
(``create=True``, ``create=1``), and an archive URL never replaces an existing
file with a new, empty archive. The victim is the file or directory the URL
names.
"""

from __future__ import annotations

import os
import typing
import urllib.parse

import fs
import fs.errors
import pytest
from fs.osfs import OSFS

from unionfs_lib import OverlayFS
from unionfs_lib.__main__ import main

from ..support.victim import Victim


def quoted(url: str) -> str:
    """Percent-encode a layer URL for an ``overlay://`` query."""
    return urllib.parse.quote(url, safe="")


@pytest.fixture
def lower(tmp_path):
    """A lower directory with one file."""
    path = tmp_path / "lower"
    path.mkdir()
    (path / "base.txt").write_text("base")
    return path


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_an_archive_upper_url_does_not_overwrite_the_file(victim: Victim, lower, kind):
    url = f"overlay://?upper={quoted(f'{kind}://' + victim.join('keep.txt'))}"
    url += f"&lower={quoted('osfs://' + str(lower))}"
    with pytest.raises(fs.errors.CreateFailed):
        with fs.open_fs(url) as overlay:
            overlay.listdir("/")


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_an_archive_upper_asked_to_be_created_never_replaces_a_file(victim: Victim, lower, kind):
    description: dict[str, typing.Any] = {
        "format": "unionfs_lib/1",
        "upper": f"{kind}://" + victim.join("main.c"),
        "lowers": [{"url": "osfs://" + str(lower), "fingerprint": None}],
    }
    with pytest.raises(fs.errors.CreateFailed) as raised:
        OverlayFS.from_description(description, create=True)
    assert "replace" in str(raised.value)
    url = f"overlay://?upper={quoted(description['upper'])}&lower={quoted('osfs://' + str(lower))}"
    with pytest.raises(fs.errors.CreateFailed):
        fs.open_fs(url + "&create=1").close()
    with pytest.raises(fs.errors.CreateFailed):
        fs.open_fs(url, create=True).close()


def test_a_missing_upper_is_not_created(victim: Victim, lower):
    upper = victim.join("sub", "planted")
    url = f"overlay://?upper={quoted('osfs://' + upper)}&lower={quoted('osfs://' + str(lower))}"
    with pytest.raises(fs.errors.CreateFailed) as raised:
        fs.open_fs(url).close()
    assert "create" in str(raised.value), "the message says how to create it"
    with pytest.raises(fs.errors.CreateFailed):
        OverlayFS.from_description(fs_description(upper, lower)).close()


def fs_description(upper: str, lower: os.PathLike[str]) -> dict[str, object]:
    """A description of an OSFS upper over an OSFS lower, no fingerprints."""
    return {
        "format": "unionfs_lib/1",
        "upper": "osfs://" + upper,
        "lowers": [{"url": "osfs://" + os.fspath(lower), "fingerprint": None}],
    }


def test_a_missing_upper_is_created_when_asked(tmp_path, lower):
    for number, how in enumerate(["url", "open_fs", "description"]):
        upper = tmp_path / f"new{number}" / "upper"
        url = f"overlay://?upper={quoted('osfs://' + str(upper))}"
        url += f"&lower={quoted('osfs://' + str(lower))}"
        if how == "url":
            opened = fs.open_fs(url + "&create=1")
        elif how == "open_fs":
            opened = fs.open_fs(url, create=True)
        else:
            opened = OverlayFS.from_description(fs_description(str(upper), lower), create=True)
        with opened:
            opened.writetext("/new.txt", how)
        assert (upper / "new.txt").read_text() == how
    with fs.open_fs(url) as reopened:  # it exists now: no create needed
        assert reopened.readtext("/new.txt") == "description"


def test_a_new_archive_upper_is_written_when_asked(tmp_path, lower):
    target = tmp_path / "changes.tar"
    url = f"overlay://?upper={quoted('tar://' + str(target))}"
    url += f"&lower={quoted('osfs://' + str(lower))}"
    with fs.open_fs(url + "&create=1") as overlay:
        overlay.writetext("/added.txt", "added")
    assert target.is_file()
    with fs.open_fs("tar://" + str(target)) as archive:
        assert archive.readtext("/added.txt") == "added"


def test_a_lazy_cache_url_neither_overwrites_nor_creates(victim: Victim, lower):
    source = quoted("osfs://" + str(lower))
    for cache in ("tar://" + victim.join("keep.txt"), "osfs://" + victim.join("sub", "cache")):
        with pytest.raises(fs.errors.CreateFailed):
            fs.open_fs(f"lazy://?source={source}&cache={quoted(cache)}").close()
        nested = quoted(f"lazy://?source={source}&cache={quoted(cache)}")
        with pytest.raises(fs.errors.CreateFailed):
            fs.open_fs(f"overlay://?lower={nested}").close()


def test_a_lazy_cache_is_created_when_asked(tmp_path, lower):
    cache = tmp_path / "cache"
    source = quoted("osfs://" + str(lower))
    url = f"lazy://?source={source}&cache={quoted('osfs://' + str(cache))}&create=1"
    with fs.open_fs(url) as lazy:
        assert lazy.readtext("/base.txt") == "base"
    assert cache.is_dir()


def test_an_upperdir_url_creates_no_directory(victim: Victim, tmp_path, lower):
    (tmp_path / "up").mkdir()
    for upper, work in [(victim.join("new-up"), str(tmp_path / "w")),
                        (str(tmp_path / "up"), victim.join("sub", "new-work"))]:
        url = f"upperdir://{urllib.parse.quote(upper)}?workdir={quoted(work)}"
        with pytest.raises(fs.errors.CreateFailed):
            fs.open_fs(url).close()
    assert not (tmp_path / "w").exists()


def test_command_line_targets_never_replace_a_file(victim: Victim, lower, tmp_path):
    upper = tmp_path / "upper"
    upper.mkdir()
    with OverlayFS(OSFS(str(upper)), [OSFS(str(lower))]) as overlay:
        overlay.writetext("/new.txt", "new")
        url = overlay.describe(fingerprints="none")["url"]
    assert main(["squash", url, "tar://" + victim.join("keep.txt"), "--no-progress"]) == 1
    assert main(["commit", url, "zip://" + victim.join("main.c"), "--no-progress"]) == 1
    assert main(["commit", url, "osfs://" + victim.join("sub", "new"), "--no-progress"]) == 1


def test_an_fsspec_overlay_upper_never_replaces_a_file(victim: Victim, lower):
    fsspec = pytest.importorskip("fsspec")
    for upper in ("pyfs+tar://" + victim.join("keep.txt"), "zip://" + victim.join("main.c")):
        with pytest.raises((fs.errors.CreateFailed, OSError, ValueError)):
            filesystem = fsspec.filesystem(
                "overlay", upper=upper, lowers=["pyfs+osfs://" + str(lower)],
                skip_instance_cache=True,
            )
            filesystem.ls("/")
