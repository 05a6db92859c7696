"""Attacks through layer URLs: a directory name that reads as URL syntax reopens another directory.

Every layer URL (``osfs://``, ``zip://``, ``tar://``, ``upperdir://``, and the
``overlay://`` that nests them) percent-encodes the layer's path, so a name
holding ``@ ? # % ! ; & space :`` reopens that very directory and no other one.
The attacker here chooses a directory name; the victim is the directory a
wrong parse of that name would reach.
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile

import fs
import fs.errors
import pytest
from fs.osfs import OSFS
from fs.tarfs import TarFS
from fs.zipfs import ZipFS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unionfs_lib import OverlayFS
from unionfs_lib.__main__ import main
from unionfs_lib.errors import NoLayerURL
from unionfs_lib.layers import layer_urls as layer_urls
from unionfs_lib.layers.layer_urls import layer_url

from ..support.victim import Victim

#: Names a careless URL builder lets the parser read as syntax.
ATTACK_NAMES = [
    "proj@home", "up?x=1", "up%2Fevil", "up!sub", "a#b", "a;b", "a&b=c", "a b", "a:b",
    "a+b", "x%", "%41", "ünïcødé", "a\nb", "a\\b", "~user", "overlay:", "a=b",
]  # fmt: skip

#: ``$NAME`` and ``${NAME}`` are expanded by PyFilesystem2's osfs opener: not representable.
EXPANDED = re.compile(r"\$(\w|\{)", re.ASCII)


def same_dir(layer: fs.base.FS, path: str) -> bool:
    """Tell whether an OS-path layer is rooted at directory ``path``."""
    return os.path.realpath(layer.getsyspath("/")) == os.path.realpath(path)


@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_an_osfs_layer_reopens_its_own_directory(tmp_path, monkeypatch, name):
    for decoy in ("home", "up", "up/evil", "a", "x", "A", "proj"):
        (tmp_path / decoy).mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(tmp_path)
    target = tmp_path / name
    target.mkdir()
    (target / "mine").write_text("mine")
    url = layer_url(OSFS(str(target)))
    with fs.open_fs(url) as reopened:
        assert same_dir(reopened, str(target)), url
        assert reopened.readtext("/mine") == "mine"


@pytest.mark.parametrize("kind", ["zip", "tar"])
@pytest.mark.parametrize("name", ["base@evil", "base?x=1", "base!evil", "base%40evil", "b c#d"])
def test_an_archive_layer_reopens_its_own_file(tmp_path, monkeypatch, kind, name):
    monkeypatch.chdir(tmp_path)  # "base@evil" was read as user "base", file "evil" here
    for decoy in (f"evil.{kind}", "base", f"base@evil.{kind}"):
        if decoy != f"{name}.{kind}":
            make_archive(tmp_path / decoy, kind, b"decoy")
    path = tmp_path / f"{name}.{kind}"
    make_archive(path, kind, b"mine")
    opened = ZipFS(str(path)) if kind == "zip" else TarFS(str(path))
    url = layer_url(opened)
    opened.close()
    with fs.open_fs(url) as reopened:
        assert reopened.readbytes("/mine") == b"mine", url


def make_archive(path: os.PathLike[str], kind: str, data: bytes) -> None:
    """Write a zip or tar holding ``/mine`` with ``data``."""
    if kind == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("mine", data)
        return
    with TarFS(os.fspath(path), write=True) as archive:
        archive.writebytes("/mine", data)


@pytest.mark.parametrize(
    "upper_name, cwd_in_parent",
    [
        ("{victim}?x=1", False),    # osfs:///.../victim0?x=1 was /.../victim0
        ("{victim}!sub", False),    # the "!path" part was dropped
        ("{victim}%2Fsub", False),  # decoded to /.../victim0/sub
        ("x@{victim}", True),       # "/.../x" taken as a user name, "victim0" relative
    ],
)
def test_discard_by_url_empties_only_the_right_upper(
    tmp_path, monkeypatch, victim: Victim, upper_name, cwd_in_parent
):
    parent, base = os.path.split(victim.path)
    upper = os.path.join(parent, upper_name.format(victim=base))
    os.makedirs(upper)
    lower = tmp_path / "lower"
    lower.mkdir()
    (lower / "keep.txt").write_text("lower keep\n")
    with OverlayFS(OSFS(upper), [OSFS(str(lower))]) as overlay:
        overlay.writetext("/written.txt", "the sandbox wrote this")
        url = overlay.describe(fingerprints="none")["url"]
    if cwd_in_parent:
        monkeypatch.chdir(parent)
    assert main(["discard", url]) == 0
    assert [name for name in os.listdir(upper) if not name.startswith(".wh.")] == []
    assert (lower / "keep.txt").read_text() == "lower keep\n"


def test_describe_then_reopen_through_the_command_line(tmp_path, victim: Victim, capsys):
    upper = victim.path + "?x=1"
    os.makedirs(upper)
    with OverlayFS(OSFS(upper), [OSFS(victim.path)]) as overlay:
        overlay.writetext("/mine.txt", "mine")
        url = overlay.describe(fingerprints="none")["url"]
    assert main(["diff", url]) == 0
    assert "A /mine.txt" in capsys.readouterr().out.splitlines()


def test_upperdir_urls_are_quoted(tmp_path, monkeypatch):
    from unionfs_lib.host.workdir import UpperDirFS

    for name in ("up", "work"):
        (tmp_path / name).mkdir()
    upper, work = tmp_path / "up?workdir=x", tmp_path / "w@rk#1"
    upper.mkdir()
    work.mkdir()
    (upper / "mine").write_text("mine")
    url = layer_url(UpperDirFS(str(upper), str(work)))
    with fs.open_fs(url) as reopened:
        assert isinstance(reopened, UpperDirFS)
        assert same_dir(reopened, str(upper)) and reopened.workdir == str(work)
        assert reopened.readtext("/mine") == "mine"


def test_environment_variables_in_a_name_are_refused_not_expanded(tmp_path, monkeypatch):
    """PyFilesystem2's osfs opener expands ``$HOME``: such a name cannot be a URL."""
    monkeypatch.setenv("UNIONFS_TEST_TARGET", "elsewhere")
    target = tmp_path / "a$UNIONFS_TEST_TARGET"
    target.mkdir()
    with pytest.raises(NoLayerURL):
        layer_url(OSFS(str(target), expand_vars=False))
    plain = tmp_path / "price$ 5"  # a "$" that expands nothing is fine
    plain.mkdir()
    with fs.open_fs(layer_url(OSFS(str(plain)))) as reopened:
        assert same_dir(reopened, str(plain))


def test_a_relative_osfs_layer_is_described_by_its_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "rel").mkdir()
    monkeypatch.chdir(tmp_path)
    url = layer_url(OSFS("rel"))
    monkeypatch.chdir("/")
    with fs.open_fs(url) as reopened:
        assert same_dir(reopened, str(tmp_path / "rel"))


def test_quote_url_text_leaves_nothing_the_parser_reads():
    text = "a@b?c#d%e!f;g&h i:j+k=l/m\nñ"
    quote = layer_urls.quote_url_text  # type: ignore[attr-defined]
    assert quote(text, keep="/") == "a%40b%3Fc%23d%25e%21f%3Bg%26h%20i%3Aj%2Bk%3Dl/m%0A%C3%B1"
    assert "/" not in quote(text)


#: Path components: anything a directory may be named, but "." and "..".
COMPONENTS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/\x00"),  # no surrogates
    min_size=1,
    max_size=20,
).filter(lambda name: name not in (".", ".."))

URLISH = st.sampled_from(
    ["a@b", "?x=1", "%2F", "!sub", "#frag", "a;b&c", " ", "x://y", "osfs:", "%", "%%25", "~"]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(st.one_of(COMPONENTS, URLISH), min_size=1, max_size=3))
def test_round_trip_over_arbitrary_names(names):
    """describe -> URL -> open reaches the same directory and archive, for any names."""
    with tempfile.TemporaryDirectory() as root:
        cwd = os.getcwd()
        os.chdir(root)  # a relative misparse lands here, among the decoys
        try:
            check_round_trip(root, names)
        finally:
            os.chdir(cwd)


def check_round_trip(root: str, names: list[str]) -> None:
    """Make ``root/names...`` (dir) and ``.../names-last.zip``, and reopen both by URL."""
    path = os.path.join(root, *names)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:  # a name too long for this filesystem
        return
    with open(os.path.join(path, "mine"), "w") as handle:
        handle.write("mine")
    archive = path + ".zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("mine", "zipped")
    lower = os.path.join(root, "lower")
    os.makedirs(lower, exist_ok=True)
    expanded = EXPANDED.search(path) is not None
    try:
        overlay = OverlayFS(OSFS(path, expand_vars=False), [ZipFS(archive), OSFS(lower)])
        with overlay:
            url = overlay.describe(fingerprints="none")["url"]
    except NoLayerURL:
        assert expanded, path
        return
    assert not expanded, path
    with fs.open_fs(url) as reopened:
        assert isinstance(reopened, OverlayFS) and reopened.upper is not None
        assert same_dir(reopened.upper, path)
        assert reopened.lowers[0].readtext("/mine") == "zipped"
        assert reopened.readtext("/mine") == "mine"
    check_other_layer_kinds(root, path)


def check_other_layer_kinds(root: str, path: str) -> None:
    """A sub-directory of an OSFS and a kernel-layout upper reopen as themselves too."""
    from unionfs_lib.host.workdir import UpperDirFS

    with OSFS(root).opendir(os.path.relpath(path, root)) as sub:
        with fs.open_fs(layer_url(sub)) as reopened:
            assert reopened.readtext("/mine") == "mine"
    work = path + ".work"
    os.makedirs(work, exist_ok=True)
    with UpperDirFS(path, work) as upper:
        url = layer_url(upper)
    with fs.open_fs(url) as reopened:
        assert isinstance(reopened, UpperDirFS)
        assert same_dir(reopened, path) and reopened.workdir == os.path.normpath(work)


# -- fsspec layers ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["up?a b", "c?token=1", "a::b", "a#b", "a%41", "s?x=1#f"])
def test_an_fsspec_file_layer_reopens_its_own_directory(tmp_path, name):
    """``file://`` roots are paths: no query, fragment or credential is stripped from them."""
    fsspec = pytest.importorskip("fsspec")
    from unionfs_lib.fsspec.pyfs import FSSpecFS

    for decoy in ("up?a+b=", "c", "a", "s"):
        (tmp_path / decoy).mkdir()
    target = tmp_path / name
    target.mkdir()
    (target / "mine").write_text("mine")
    layer = FSSpecFS(fsspec.filesystem("file"), str(target))
    try:
        url = layer.fs_url
    except NoLayerURL:
        assert "::" in name, "fsspec reads '::' as a chain of filesystems: no URL"
        return
    with fs.open_fs(url) as reopened:
        assert reopened.readtext("/mine") == "mine", url


def test_discard_of_an_fsspec_upper_empties_only_that_upper(tmp_path, victim: Victim):
    fsspec = pytest.importorskip("fsspec")
    from unionfs_lib.fsspec.pyfs import FSSpecFS

    upper = victim.path + "?token=1"  # a "secret" query was stripped: the victim reopened
    os.makedirs(upper)
    lower = tmp_path / "lower"
    lower.mkdir()
    overlay = OverlayFS(FSSpecFS(fsspec.filesystem("file"), upper), [OSFS(str(lower))])
    with overlay:
        overlay.writetext("/written.txt", "the sandbox wrote this")
        url = overlay.describe(fingerprints="none")["url"]
    assert main(["discard", url]) == 0
    assert [name for name in os.listdir(upper) if not name.startswith(".wh.")] == []
