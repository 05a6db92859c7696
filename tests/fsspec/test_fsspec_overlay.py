"""OverlayFileSystem: overlay semantics and what fsspec callers expect, over real layers."""

from __future__ import annotations

import json
import typing

import fs
import fsspec
import pytest
from fs.memoryfs import MemoryFS
from fs.tempfs import TempFS

from unionfs_lib import OverlayFS
from unionfs_lib.fsspec import FSSpecFS, OverlayFileSystem

from ..support.fsspec_layers import fsspec_memory_layer, memory_prefix
from ..support.layers import content_hash

BASE = {
    "/data": None,
    "/data/a.csv": b"x,y\n1,2\n",
    "/data/b.txt": b"0123456789",
    "/data/sub": None,
    "/data/sub/deep.txt": b"deep",
    "/top.txt": b"top",
}


@pytest.fixture
def prefix():
    """A fresh directory of fsspec's memory filesystem, removed afterwards."""
    found = memory_prefix()
    yield found
    fsspec.filesystem("memory").rm(found, recursive=True)


@pytest.fixture
def lower(prefix):
    return fsspec_memory_layer(prefix + "/base", BASE)


@pytest.fixture
def overlay(prefix, lower):
    """An overlay with an fsspec memory upper (by URL) over an fsspec memory lower."""
    before = content_hash(lower)
    yield fsspec.filesystem("overlay", upper=f"memory://{prefix}/upper", lowers=[lower])
    assert content_hash(lower) == before, "a lower layer was written"


def upper_files(prefix):
    return sorted(fsspec.filesystem("memory").find(prefix + "/upper"))


def test_registered_protocol_builds_an_overlay_file_system(overlay):
    assert isinstance(overlay, OverlayFileSystem)
    assert fsspec.get_filesystem_class("overlay") is OverlayFileSystem


def test_ls_merges_layers_with_and_without_detail(overlay):
    overlay.pipe_file("/data/new.txt", b"new")
    assert overlay.ls("/data", detail=False) == [
        "/data/a.csv", "/data/b.txt", "/data/new.txt", "/data/sub",
    ]
    detail = {entry["name"]: entry for entry in overlay.ls("overlay://data", detail=True)}
    assert detail["/data/b.txt"]["size"] == 10 and detail["/data/b.txt"]["type"] == "file"
    assert detail["/data/sub"]["type"] == "directory"
    assert overlay.ls("/data/b.txt", detail=False) == ["/data/b.txt"]


def test_paths_with_and_without_protocol_and_slash_are_one(overlay):
    assert overlay.info("overlay://data/b.txt") == overlay.info("data/b.txt")
    assert overlay.info("/data/b.txt/")["name"] == "/data/b.txt"


def test_cat_file_ranges(overlay):
    assert overlay.cat_file("/data/b.txt") == b"0123456789"
    assert overlay.cat_file("/data/b.txt", start=2, end=5) == b"234"
    assert overlay.cat_file("/data/b.txt", start=-3) == b"789"
    assert overlay.cat_file("/data/b.txt", start=1, end=-7) == b"12"
    assert overlay.cat_file("/data/b.txt", start=8, end=100) == b"89"
    assert overlay.cat_file("/data/b.txt", start=20) == b""


def test_rm_leaves_a_whiteout_in_the_upper_and_persists(overlay, prefix, lower):
    overlay.rm("/data/a.csv")
    overlay.rm("/data/sub", recursive=True)
    assert not overlay.exists("/data/a.csv") and not overlay.exists("/data/sub")
    assert lower.exists("/data/a.csv") and lower.exists("/data/sub/deep.txt")
    assert upper_files(prefix) == [
        f"{prefix}/upper/data/.wh.a.csv",
        f"{prefix}/upper/data/.wh.sub",
    ]
    reopened = OverlayFileSystem(upper=f"memory://{prefix}/upper", lowers=[lower])
    assert reopened.find("/") == ["/data/b.txt", "/top.txt"]


def test_rm_without_recursive_refuses_a_full_directory(overlay):
    with pytest.raises(OSError):
        overlay.rm("/data/sub")
    assert overlay.exists("/data/sub/deep.txt")


def test_writing_a_lower_file_copies_it_up(overlay, prefix):
    with overlay.open("/data/b.txt", "ab") as handle:
        handle.write(b"AB")
    assert overlay.cat_file("/data/b.txt") == b"0123456789AB"
    assert fsspec.filesystem("memory").cat_file(f"{prefix}/upper/data/b.txt") == b"0123456789AB"
    with overlay.open("/data/b.txt", "wb") as handle:
        handle.write(b"w")
    assert overlay.cat_file("/data/b.txt") == b"w"


def test_mv_of_a_lower_directory_records_a_redirect_not_a_copy(overlay, prefix):
    overlay.mv("/data/sub", "/moved")
    assert overlay.cat_file("/moved/deep.txt") == b"deep"
    assert not overlay.exists("/data/sub")
    written = upper_files(prefix)
    assert f"{prefix}/upper/moved/.wh..wh..redirect" in written
    assert f"{prefix}/upper/moved/deep.txt" not in written, "the lower content was copied"
    overlay.mv("/moved", "/data")  # onto an existing directory: into it
    assert overlay.cat_file("/data/moved/deep.txt") == b"deep"


def test_mv_and_cp_file_of_files(overlay):
    overlay.cp_file("/top.txt", "/copies/top.txt")
    overlay.mv("/data/b.txt", "/renamed.txt")
    assert overlay.cat_file("/copies/top.txt") == b"top"
    assert overlay.cat_file("/renamed.txt") == b"0123456789"
    assert not overlay.exists("/data/b.txt")


def test_directories(overlay):
    overlay.mkdir("/made/deeper")
    with pytest.raises(FileExistsError):
        overlay.mkdir("/made")
    with pytest.raises(FileNotFoundError):
        overlay.mkdir("/absent/child", create_parents=False)
    overlay.makedirs("/made", exist_ok=True)
    with pytest.raises(FileExistsError):
        overlay.makedirs("/made")
    overlay.rmdir("/made/deeper")
    assert overlay.ls("/made", detail=False) == []
    with pytest.raises(OSError):
        overlay.rmdir("/data")


def test_touch_created_modified(overlay):
    overlay.touch("/t.txt")
    assert overlay.cat_file("/t.txt") == b""
    before = overlay.modified("/top.txt")
    overlay.touch("/top.txt", truncate=False)
    assert overlay.cat_file("/top.txt") == b"top"
    assert overlay.modified("/top.txt") >= before
    assert overlay.created("/t.txt").tzinfo is not None


def test_find_glob_walk_du(overlay):
    overlay.rm("/data/a.csv")
    assert overlay.find("/data") == ["/data/b.txt", "/data/sub/deep.txt"]
    assert overlay.find("", withdirs=True, detail=False) == [
        "/data", "/data/b.txt", "/data/sub", "/data/sub/deep.txt", "/top.txt",
    ]
    assert overlay.glob("/data/*.txt") == ["/data/b.txt"]
    assert overlay.glob("**/*.txt") == ["/data/b.txt", "/data/sub/deep.txt", "/top.txt"]
    walked = {root: sorted(files) for root, _, files in overlay.walk("/")}
    assert walked == {"": ["top.txt"], "/data": ["b.txt"], "/data/sub": ["deep.txt"]}
    assert overlay.du("/data") == 14


def test_ukey_and_checksum_are_stable_and_follow_changes(overlay):
    first = overlay.ukey("/data/b.txt"), overlay.checksum("/data/b.txt")
    assert first == (overlay.ukey("/data/b.txt"), overlay.checksum("/data/b.txt"))
    overlay.pipe_file("/data/b.txt", b"changed")
    assert overlay.ukey("/data/b.txt") != first[0]
    assert overlay.checksum("/data/b.txt") != first[1]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda o: o.info("/missing"), FileNotFoundError),
        (lambda o: o.cat_file("/missing"), FileNotFoundError),
        (lambda o: o.open("/missing", "rb"), FileNotFoundError),
        (lambda o: o.ls("/missing"), FileNotFoundError),
        (lambda o: o.cat_file("/data"), IsADirectoryError),
        (lambda o: o.open("/data", "rb"), IsADirectoryError),
        (lambda o: o.ls("/top.txt/x"), FileNotFoundError),
        (lambda o: o.mkdir("/top.txt/x", create_parents=False), FileNotFoundError),
        (lambda o: o.rmdir("/top.txt"), NotADirectoryError),
        (lambda o: o.rm_file("/data"), IsADirectoryError),
        (lambda o: o.pipe_file("/top.txt", b"", mode="create"), FileExistsError),
    ],
)
def test_fsspec_exceptions(overlay, call, error):
    with pytest.raises(error):
        call(overlay)


def test_read_only_overlay_raises_permission_error(lower):
    overlay = OverlayFileSystem(lowers=[lower])
    assert overlay.cat_file("/top.txt") == b"top"
    for write in (
        lambda: overlay.pipe_file("/top.txt", b"x"),
        lambda: overlay.open("/new", "wb"),
        lambda: overlay.rm("/top.txt"),
        lambda: overlay.mkdir("/d"),
        lambda: overlay.mv("/top.txt", "/moved"),
        lambda: overlay.touch("/top.txt"),
    ):
        with pytest.raises(PermissionError):
            write()
    assert overlay.cat_file("/top.txt") == b"top"


def test_layers_by_url_instance_mapping_and_pyfilesystem(prefix, tmp_path):
    memory = fsspec.filesystem("memory")
    memory.pipe(f"{prefix}/url/u.txt", b"url")
    memory.pipe(f"{prefix}/instance/i.txt", b"instance")
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "l.txt").write_bytes(b"local")
    pyfs = MemoryFS()
    pyfs.writebytes("/p.txt", b"pyfs")
    with TempFS() as osdir:
        osdir.writebytes("/o.txt", b"osfs")
        overlay = OverlayFileSystem(
            upper=None,
            lowers=[
                f"memory://{prefix}/url",
                FSSpecFS(memory, f"{prefix}/instance"),
                {"url": f"file://{tmp_path}/local", "storage_options": {"auto_mkdir": False}},
                pyfs,
                "pyfs+osfs://" + osdir.getsyspath("/"),
            ],
        )
        assert overlay.ls("/", detail=False) == ["/i.txt", "/l.txt", "/o.txt", "/p.txt", "/u.txt"]
        assert overlay.cat_file("/o.txt") == b"osfs"
        plain = OverlayFileSystem(lowers="osfs://" + osdir.getsyspath("/"))  # PyFS-only scheme
        assert plain.ls("/", detail=False) == ["/o.txt"]
        assert type(plain.overlay.lowers[0]).__name__ in ("OSFS", "LowerGuard")
    with pytest.raises(TypeError):
        OverlayFileSystem(lowers=[42])


def test_fsspec_instance_lower_is_wrapped_read_only(prefix):
    memory = fsspec.filesystem("memory")
    memory.pipe(f"{prefix}/whole.txt", b"w")
    overlay = OverlayFileSystem(upper=MemoryFS(), lowers=[memory])
    lower: typing.Any = overlay.overlay.lowers[0]
    assert (lower._wrap_fs if hasattr(lower, "_wrap_fs") else lower).read_only


def test_existing_overlay_is_served(lower):
    inner = OverlayFS(MemoryFS(), [lower])
    overlay = OverlayFileSystem(overlay=inner)
    overlay.pipe_file("/x", b"1")
    assert inner.readbytes("/x") == b"1"


def test_fsspec_open_text_with_layers_as_options(prefix, lower):
    options = {"upper": f"memory://{prefix}/upper", "lowers": [lower]}
    with fsspec.open("overlay://data/a.csv", "rt", **options) as handle:
        assert handle.read() == "x,y\n1,2\n"
    with fsspec.open("overlay://out/n.txt", "wt", **options) as handle:
        handle.write("written")
    assert fsspec.filesystem("memory").cat_file(f"{prefix}/upper/out/n.txt") == b"written"


def test_pandas_reads_and_writes_through_storage_options(prefix, lower):
    pandas = pytest.importorskip("pandas")
    options = {"upper": f"memory://{prefix}/upper", "lowers": [lower]}
    frame = pandas.read_csv("overlay://data/a.csv", storage_options=options)
    assert frame.to_dict("list") == {"x": [1], "y": [2]}
    frame["z"] = frame["x"] + frame["y"]
    frame.to_csv("overlay://data/a.csv", index=False, storage_options=options)
    again = pandas.read_csv("overlay://data/a.csv", storage_options=options)
    assert again.to_dict("list") == {"x": [1], "y": [2], "z": [3]}
    assert lower.readbytes("/data/a.csv") == b"x,y\n1,2\n"


def test_describe_names_fsspec_layers_by_url_and_reopens_them(prefix, lower):
    memory = fsspec.filesystem("memory")
    upper = FSSpecFS(memory, f"{prefix}/upper")
    memory.makedirs(f"{prefix}/upper", exist_ok=True)
    with OverlayFS(upper, [lower]) as overlay:
        overlay.writebytes("/top.txt", b"changed")
        description = overlay.describe()
    assert description["upper"].startswith("fsspec://?url=memory%3A%2F%2F")
    with fs.open_fs(description["url"]) as reopened:
        assert isinstance(reopened, OverlayFS)
        assert reopened.readbytes("/top.txt") == b"changed"
        assert reopened.readbytes("/data/b.txt") == b"0123456789"
        assert reopened.lowers[0].getmeta()["read_only"]


def test_layer_url_never_holds_credentials():
    s3fs = pytest.importorskip("s3fs")
    filesystem = s3fs.S3FileSystem(
        key="AKIDSECRETKEY",
        secret="very-secret",
        token="session-token",
        client_kwargs={"endpoint_url": "http://127.0.0.1:9", "aws_secret_access_key": "s3cr3t"},
        skip_instance_cache=True,
    )
    url = FSSpecFS(filesystem, "bucket/prefix").fs_url
    for secret in ("AKIDSECRETKEY", "very-secret", "session-token", "s3cr3t"):
        assert secret not in url
    from unionfs_lib.fsspec.urls import parse_layer_url

    target, options = parse_layer_url(url)
    assert target == "s3://bucket/prefix"
    assert options == {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}}
    json.dumps(options)


@pytest.mark.parametrize(
    "url",
    ["fsspec://", "fsspec://?url=a&bogus=1", "fsspec://?url=a&options=%5B%5D", "fsspec://?options=x"],
)
def test_bad_fsspec_urls_are_create_failed(url):
    with pytest.raises(fs.errors.CreateFailed):
        fs.open_fs(url)


def test_the_subpackage_does_not_shadow_fsspec():
    import unionfs_lib.fsspec as ours

    assert fsspec.AbstractFileSystem.__module__ == "fsspec.spec"
    assert ours.__name__ == "unionfs_lib.fsspec" and ours is not fsspec


def test_overlay_with_url_layers_pickles_as_dask_needs(prefix):
    import pickle

    fsspec.filesystem("memory").pipe(f"{prefix}/base/a.txt", b"a")
    overlay = OverlayFileSystem(upper=f"memory://{prefix}/upper", lowers=[f"memory://{prefix}/base"])
    overlay.pipe_file("/b.txt", b"b")
    copy = pickle.loads(pickle.dumps(overlay))
    assert copy is not overlay
    assert copy.cat_file("/a.txt") == b"a" and copy.cat_file("/b.txt") == b"b"


def test_fsspec_zip_filesystem_as_a_lower_described_and_reopened(tmp_path):
    from ..support.layers import zip_bytes

    archive = tmp_path / "base.zip"
    archive.write_bytes(zip_bytes({"/etc": None, "/etc/hosts": b"h", "/etc/motd": b"m"}))
    lower = FSSpecFS(fsspec.filesystem("zip", fo=str(archive)), read_only=True)
    with OverlayFS(MemoryFS(), [lower]) as overlay:
        assert overlay.listdir("/etc") == ["hosts", "motd"]
        overlay.remove("/etc/motd")
        assert overlay.listdir("/etc") == ["hosts"]
        url = overlay.describe(urls={0: "mem://"})["lowers"][0]["url"]
    from unionfs_lib.fsspec.urls import parse_layer_url

    assert parse_layer_url(url) == ("zip://", {"fo": str(archive)})
    with fs.open_fs(url) as reopened:
        assert reopened.readbytes("/etc/motd") == b"m"
        with pytest.raises(fs.errors.ResourceReadOnly):
            reopened.writebytes("/x", b"")


def test_kept_listings_follow_every_change(overlay, lower):
    first = overlay.ls("/data/sub")
    first[0]["size"] = -1  # a caller's change to a returned dict is its own
    assert overlay.ls("/data/sub")[0]["size"] == 4
    assert overlay.ls("/data/sub") is not overlay.ls("/data/sub")

    with overlay.open("/data/sub/new.txt", "wb") as handle:  # through a file
        handle.write(b"12345")
    sizes = {entry["name"]: entry["size"] for entry in overlay.ls("/data/sub")}
    assert sizes == {"/data/sub/deep.txt": 4, "/data/sub/new.txt": 5}

    assert overlay.ls("/data", detail=False)[0] == "/data/a.csv"
    overlay.overlay.remove("/data/a.csv")  # through the PyFilesystem2 face
    assert "/data/a.csv" not in overlay.ls("/data", detail=False)

    read_only = OverlayFileSystem(lowers=[lower])
    assert read_only.ls("/data", detail=False) == read_only.ls("/data", detail=False)
    assert len(read_only._listings) == 1, "a lower-only directory is kept"
    read_only.invalidate_cache()
    assert len(read_only._listings) == 0
