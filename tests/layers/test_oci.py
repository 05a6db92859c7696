"""OCI image layers: open layer tarballs as lowers, export the upper as a layer.

The exported layer is checked by the real ``tar`` and by :func:`apply_layers`,
a small OCI applier written here independently of unionfs_lib: it extracts
layer tarballs in order onto a directory, applying each layer's whiteouts to
what the layers before it left.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from contextlib import closing

import fs.errors
import pytest
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS
from fs.tempfs import TempFS

from unionfs_lib.model.progress import ProgressEvent
from unionfs_lib.oci import export_layer, image_layers, open_image, open_layers

from ..support.helpers import tree
from ..support.layers import content_hash

# -- building layers and applying them, without unionfs_lib --------------------


def make_layer(path, entries: dict[str, bytes | None], dot_prefix: bool = False) -> str:
    """Write an OCI layer tarball: name -> bytes (file) or None (directory)."""
    now = int(time.time())
    with tarfile.open(path, "w") as archive:
        for name, data in entries.items():
            member = tarfile.TarInfo(("./" if dot_prefix else "") + name)
            member.mtime = now
            if data is None:
                member.type = tarfile.DIRTYPE
                member.mode = 0o755
                archive.addfile(member)
            else:
                member.size = len(data)
                member.mode = 0o644
                archive.addfile(member, io.BytesIO(data))
    return str(path)


def apply_layers(layers: list, root) -> None:
    """Apply OCI layer tarballs (bottom-first) onto directory ``root``."""
    for layer in layers:
        with tarfile.open(layer) as archive:
            members = archive.getmembers()
            # Whiteouts apply to the layers beneath only: handle them first.
            for member in members:
                parent, name = os.path.split(os.path.normpath(member.name))
                target_dir = os.path.join(root, parent)
                if name == ".wh..wh..opq":
                    if os.path.isdir(target_dir):
                        for child in os.listdir(target_dir):
                            remove(os.path.join(target_dir, child))
                elif name.startswith(".wh."):
                    remove(os.path.join(target_dir, name[len(".wh."):]))
            for member in members:
                name = os.path.normpath(member.name)
                if os.path.basename(name).startswith(".wh.") or name == ".":
                    continue
                target = os.path.join(root, name)
                if member.isdir():
                    if os.path.lexists(target) and not os.path.isdir(target):
                        os.remove(target)
                    os.makedirs(target, exist_ok=True)
                else:
                    if os.path.isdir(target):
                        shutil.rmtree(target)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    extracted = archive.extractfile(member)
                    assert extracted is not None
                    with open(target, "wb") as out:
                        out.write(extracted.read())


def remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def applied_tree(layers: list, tmp_path) -> dict[str, bytes | None]:
    root = tmp_path / f"applied-{len(os.listdir(tmp_path))}"
    root.mkdir()
    apply_layers(layers, str(root))
    with OSFS(str(root)) as result:
        return tree(result)


# -- an image of three layers ------------------------------------------------


@pytest.fixture
def image(tmp_path):
    base = make_layer(
        tmp_path / "base.tar",
        {
            "etc/": None,
            "etc/passwd": b"root:x:0:0",
            "etc/group": b"root:x:0:",
            "etc/hosts": b"127.0.0.1 base",
            "usr/lib/libc.so": b"libc",
            "usr/lib/libm.so": b"libm",
            "usr/share/doc/README": b"docs",
            "var/cache/apt/pkg": b"cache",
            "opt": b"opt was a file",
        },
    )
    middle = make_layer(
        tmp_path / "middle.tar",
        {
            "etc/.wh.group": b"",
            "etc/hosts": b"127.0.0.1 middle",
            "usr/lib/.wh..wh..opq": b"",
            "usr/lib/libnew.so": b"new lib",
            "var/.wh.cache": b"",
            "opt/": None,
            "opt/app/bin": b"app",
        },
        dot_prefix=True,
    )
    top = make_layer(
        tmp_path / "top.tar",
        {"etc/.wh.hosts": b"", "app.conf": b"conf", "usr/share/doc/.wh.README": b""},
    )
    return [base, middle, top]


def test_open_layers_applies_each_layers_whiteouts_beneath_it(image, tmp_path):
    with closing(open_layers(image)) as overlay:
        assert overlay.upper is None
        assert tree(overlay) == applied_tree(image, tmp_path)
        assert overlay.readtext("/opt/app/bin") == "app"
        assert overlay.listdir("/usr/lib") == ["libnew.so"]
        assert not overlay.exists("/etc/hosts")
        assert not overlay.exists("/var/cache")
        assert overlay.listdir("/usr/share/doc") == []
        assert overlay.which("/etc/passwd").index == 3
        assert overlay.which("/app.conf").index == 1


def test_export_reproduces_the_merged_view(image, tmp_path):
    hashes = [content_hash(layer) for layer in map(_tarfs, image)]
    with closing(open_layers(image, upper=MemoryFS())) as overlay:
        overlay.writetext("/etc/hosts", "127.0.0.1 upper")  # over a whiteout
        overlay.remove("/etc/passwd")
        overlay.appendtext("/usr/lib/libnew.so", "+patched")
        overlay.removetree("/opt")
        overlay.makedir("/opt")  # opaque over a removed directory
        overlay.writetext("/opt/fresh", "fresh")
        overlay.makedirs("/srv/www")
        overlay.writetext("/srv/www/index.html", "<html/>")
        overlay.movedir("/usr/lib", "/usr/lib64", create=True)  # redirect, expanded
        overlay.writetext("/usr/lib64/added", "added after the rename")
        overlay.remove("/app.conf")
        overlay.writebytes("/big.bin", os.urandom(3 << 20))
        expected = tree(overlay)
        events: list[ProgressEvent] = []
        out = tmp_path / "upper.tar"
        count = export_layer(overlay, str(out), progress=events.append)
    listing = subprocess.run(["tar", "-tf", str(out)], capture_output=True, text=True, check=True)
    names = [name.rstrip("/") for name in listing.stdout.split()]
    assert len(names) == count == events[-1].done == events[-1].total
    assert not [name for name in names if ".wh..wh." in name and not name.endswith(".wh..wh..opq")]
    assert "usr/lib64/.wh..wh..opq" in names and "usr/lib64/libnew.so" in names
    assert "etc/.wh.passwd" in names and ".wh.app.conf" in names
    assert "opt/.wh..wh..opq" in names
    assert applied_tree([*image, str(out)], tmp_path) == expected
    assert [content_hash(layer) for layer in map(_tarfs, image)] == hashes


def _tarfs(path):
    from fs.tarfs import TarFS

    return TarFS(path)


def test_export_of_an_os_upper_gzip_and_reopen_as_a_layer(image, tmp_path):
    upper = TempFS()
    with closing(open_layers(image, upper=upper, auto_close=False)) as overlay:
        overlay.writetext("/etc/motd", "hi")
        overlay.remove("/etc/passwd")
        expected = tree(overlay)
        with open(tmp_path / "layer.tar.gz", "wb") as out:
            export_layer(overlay, out, compression="gz")
    upper.close()
    listing = subprocess.run(
        ["tar", "-tzf", str(tmp_path / "layer.tar.gz")], capture_output=True, text=True
    )
    assert sorted(listing.stdout.split()) == ["etc/", "etc/.wh.passwd", "etc/motd"]
    with closing(open_layers([*image, str(tmp_path / "layer.tar.gz")])) as stacked:
        assert tree(stacked) == expected


def test_export_after_copy_up_tree_and_of_an_empty_upper(image, tmp_path):
    with closing(open_layers(image, upper=MemoryFS())) as overlay:
        export_layer(overlay, str(tmp_path / "empty.tar"))
        with tarfile.open(tmp_path / "empty.tar") as archive:
            assert archive.getnames() == []
        overlay.remove("/etc/passwd")
        overlay.copy_up_tree()
        expected = tree(overlay)
        export_layer(overlay, str(tmp_path / "all.tar"))
    assert applied_tree([*image, str(tmp_path / "all.tar")], tmp_path) == expected
    # The whole view is in the upper and opaque: it applies over nothing too.
    assert applied_tree([str(tmp_path / "all.tar")], tmp_path) == expected


def test_export_refuses_a_read_only_overlay_and_bad_options(image, tmp_path):
    with closing(open_layers(image)) as overlay:
        with pytest.raises(fs.errors.ResourceReadOnly):
            export_layer(overlay, str(tmp_path / "x.tar"))
    with closing(open_layers(image, upper=MemoryFS())) as overlay:
        with pytest.raises(ValueError):
            export_layer(overlay, str(tmp_path / "x.tar"), compression="zstd")


def test_open_image_from_an_oci_layout_and_docker_save(image, tmp_path):
    layout = tmp_path / "layout"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    digests = []
    for path in image:
        data = open(path, "rb").read()
        import hashlib

        digest = hashlib.sha256(data).hexdigest()
        (layout / "blobs" / "sha256" / digest).write_bytes(data)
        digests.append({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": "sha256:" + digest})
    manifest = json.dumps({"schemaVersion": 2, "layers": digests}).encode()
    manifest_digest = __import__("hashlib").sha256(manifest).hexdigest()
    (layout / "blobs" / "sha256" / manifest_digest).write_bytes(manifest)
    (layout / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "manifests": [{"digest": "sha256:" + manifest_digest}]})
    )
    expected = applied_tree(image, tmp_path)
    with OSFS(str(layout)) as layout_fs:
        assert len(image_layers(layout_fs)) == 3
        with open_image(layout_fs) as overlay:
            assert tree(overlay) == expected
    saved = tmp_path / "saved"
    saved.mkdir()
    for index, path in enumerate(image):
        (saved / f"l{index}").mkdir()
        shutil.copy(path, saved / f"l{index}" / "layer.tar")
    (saved / "manifest.json").write_text(
        json.dumps([{"Layers": [f"l{index}/layer.tar" for index in range(3)]}])
    )
    with tarfile.open(tmp_path / "saved.tar", "w") as archive:
        archive.add(saved, arcname=".")
    from fs.tarfs import TarFS

    with TarFS(str(tmp_path / "saved.tar")) as saved_fs:
        with open_image(saved_fs) as overlay:
            assert tree(overlay) == expected
    with OSFS(str(tmp_path)) as not_an_image:
        with pytest.raises(fs.errors.CreateFailed):
            image_layers(not_an_image)


def test_export_of_a_kernel_format_upper(image, tmp_path):
    """The export reads the upper through its whiteout store: 0/0 devices and xattrs too."""
    from unionfs_lib import OverlayFS
    from unionfs_lib.errors import KernelFormatUnsupported

    lower = tmp_path / "lower"
    lower.mkdir()
    apply_layers(image, str(lower))
    for name in ("upper", "work"):
        (tmp_path / name).mkdir()
    try:
        overlay = OverlayFS.from_dirs(str(lower), str(tmp_path / "upper"), str(tmp_path / "work"))
    except KernelFormatUnsupported as error:
        pytest.skip(f"the kernel on-disk format is refused here: {error}")
    with overlay:
        overlay.remove("/etc/passwd")
        overlay.removetree("/usr/lib")
        overlay.makedir("/usr/lib")
        overlay.writetext("/usr/lib/only", "only")
        overlay.movedir("/opt", "/opt2", create=True)
        expected = tree(overlay)
        export_layer(overlay, str(tmp_path / "kernel.tar"))
    with tarfile.open(tmp_path / "kernel.tar") as archive:
        names = archive.getnames()
    assert "etc/.wh.passwd" in names and "usr/lib/.wh..wh..opq" in names
    assert "opt2/.wh..wh..opq" in names and "opt2/app/bin" in names and ".wh.opt" in names
    assert applied_tree([*image, str(tmp_path / "kernel.tar")], tmp_path) == expected


# -- OCI layers get OCI's markers only ------------------------------------------


def _extracted(layer: str, root) -> OSFS:
    """Extract a layer tarball into a directory (an OCI layer already unpacked)."""
    root.mkdir()
    with tarfile.open(layer) as archive:
        archive.extractall(root, filter="tar")
    return OSFS(str(root))


@pytest.mark.parametrize("form", ["tarball", "extracted"])
def test_oci_layers_honour_only_oci_markers(tmp_path, form):
    # This library's own extensions (a redirect marker, identity records,
    # generations) and markers that are directories are no markers in an OCI
    # layer: only the files ``.wh.<name>`` and ``.wh..wh..opq`` are.
    base = make_layer(
        tmp_path / "base.tar",
        {"a/": None, "a/base.txt": b"base", "b/": None, "b/below.txt": b"below",
         "c/": None, "c/gone.txt": b"gone", "x": b"x", "y": b"y", "d/": None, "d/f": b"f"},
    )
    top = make_layer(
        tmp_path / "top.tar",
        {
            "moved/": None,
            "moved/.wh..wh..redirect": b"/a",  # ours, not OCI's: no redirect
            "b/.wh..wh..opq/": None,  # a directory: no opaque marker
            "b/.wh..wh..opq/inside": b"?",
            "c/.wh..wh..opq": b"",  # OCI's opaque file
            ".wh.x/": None,  # a directory: no whiteout
            ".wh.y": b"",  # OCI's whiteout file
            "d/.wh..wh..rec.f": b'{"ino": 77, "data": [1, "/x"]}',  # ours: no record
            "d/.wh..wh..vac.f": b"9",
        },
    )
    layers: list = [base, top]
    if form == "extracted":
        layers = [_extracted(base, tmp_path / "base"), _extracted(top, tmp_path / "top")]
    with closing(open_layers(layers)) as overlay:
        assert overlay.listdir("/moved") == []
        assert overlay.listdir("/b") == ["below.txt"]
        assert overlay.listdir("/c") == []
        assert overlay.exists("/x") and not overlay.exists("/y")
        assert overlay.readbytes("/d/f") == b"f"
        assert overlay.getinfo("/d/f", ["overlay"]).raw["overlay"]["ino"] != 77
        assert sorted(overlay.listdir("/")) == ["a", "b", "c", "d", "moved", "x"]
        for path in ("/moved", "/b", "/c"):  # the same through lookups one name at a time
            assert [name for name in overlay.listdir(path)] == [
                info.name for info in overlay.scandir(path)
            ]
        assert not overlay.exists("/moved/base.txt")
        assert overlay.exists("/b/below.txt") and not overlay.exists("/c/gone.txt")


def test_a_plain_lower_keeps_this_librarys_markers(tmp_path):
    # The same redirect in a lower that is no OCI layer (an upper of before) is followed.
    from unionfs_lib import OverlayFS

    base = MemoryFS()
    base.makedirs("/a")
    base.writebytes("/a/base.txt", b"base")
    middle = MemoryFS()
    middle.makedirs("/moved")
    middle.writebytes("/moved/.wh..wh..redirect", b"/a")
    with closing(OverlayFS(None, [middle, base])) as overlay:
        assert overlay.listdir("/moved") == ["base.txt"]
