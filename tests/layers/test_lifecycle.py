"""copy_up_tree (opaquify), detach_lower, squash, progress events and the command line."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import fs
import fs.errors
import pytest
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS

from unionfs_lib import OverlayFS
from unionfs_lib.errors import LayerInUse
from unionfs_lib.model.progress import ProgressBar, ProgressEvent

from ..support.guard import unwrap
from ..support.helpers import tree
from ..support.layers import content_hash, fill, memory_layer

TOP = {
    "/etc": None,
    "/etc/hosts": b"top hosts",
    "/etc/.wh.passwd": b"",
    "/usr": None,
    "/usr/bin": None,
    "/usr/bin/tool": b"tool" * 1000,
}
BOTTOM = {
    "/etc": None,
    "/etc/hosts": b"bottom hosts",
    "/etc/passwd": b"root:x:0:0",
    "/etc/group": b"root:x:0:",
    "/usr": None,
    "/usr/lib": None,
    "/usr/lib/deep": None,
    "/usr/lib/deep/lib.so": b"\x7fELF" + bytes(range(256)) * 40,
    "/var": None,
    "/var/log": None,
}


@pytest.fixture
def lowers():
    layers = [memory_layer(TOP), memory_layer(BOTTOM)]
    hashes = [content_hash(layer) for layer in layers]
    yield layers
    assert [content_hash(layer) for layer in layers] == hashes, "a lower was written"


def changed_overlay(lowers) -> OverlayFS:
    overlay = OverlayFS(MemoryFS(), lowers, auto_close=False)
    overlay.writetext("/etc/motd", "hello")
    overlay.remove("/etc/group")
    overlay.appendtext("/etc/hosts", "\n::1")
    overlay.movedir("/usr/lib", "/usr/lib64", create=True)
    return overlay


def test_copy_up_tree_moves_everything_and_opaquifies(lowers):
    overlay = changed_overlay(lowers)
    before = tree(overlay)
    events: list[ProgressEvent] = []
    copied = overlay.copy_up_tree(progress=events.append)
    assert copied > 0
    assert tree(overlay) == before
    for path in before:
        assert overlay.which(path).index == 0, path
    store, upper = overlay.whiteouts, overlay.upper
    assert upper is not None
    for path in ("/", "/etc", "/usr", "/usr/lib64", "/usr/lib64/deep", "/var", "/var/log"):
        assert store.read_dir(upper, path, with_info=False).opaque, path
    assert [event.done for event in events] == list(range(1, len(events) + 1))
    assert events[-1].total == len(before) + 1
    assert events[-1].bytes_done >= len(BOTTOM["/usr/lib/deep/lib.so"] or b"")
    assert {event.operation for event in events} == {"copy-up-tree"}
    assert overlay.copy_up_tree() == 0, "a second run has nothing left to copy"


def test_copy_up_tree_of_a_subtree_only(lowers):
    overlay = changed_overlay(lowers)
    assert overlay.copy_up_tree("/usr/bin/tool") == 1
    assert overlay.which("/usr/bin/tool").index == 0
    overlay.copy_up_tree("/usr/lib64")
    assert overlay.which("/usr/lib64/deep/lib.so").index == 0
    assert overlay.which("/var/log").index == 2
    store, upper = overlay.whiteouts, overlay.upper
    assert upper is not None
    assert store.read_dir(upper, "/usr/lib64", with_info=False).opaque
    assert not store.read_dir(upper, "/usr", with_info=False).opaque


def test_copy_up_tree_refuses_read_only_and_missing(lowers):
    with pytest.raises(fs.errors.ResourceReadOnly):
        OverlayFS(None, lowers, auto_close=False).copy_up_tree()
    with pytest.raises(fs.errors.ResourceNotFound):
        OverlayFS(MemoryFS(), lowers, auto_close=False).copy_up_tree("/nope")


def test_detach_after_copy_up_keeps_the_view(lowers):
    overlay = changed_overlay(lowers)
    before = tree(overlay)
    with pytest.raises(LayerInUse) as raised:
        overlay.detach_lower(2)
    assert isinstance(raised.value, fs.errors.OperationFailed)
    assert raised.value.path in before
    overlay.copy_up_tree()
    bottom = overlay.detach_lower(2)
    assert unwrap(bottom) is lowers[1]
    assert [unwrap(layer) for layer in overlay.lowers] == [lowers[0]]
    top = overlay.detach_lower(1)
    assert unwrap(top) is lowers[0]
    assert overlay.lowers == ()
    assert tree(overlay) == before
    overlay.writetext("/etc/after", "still writable")
    assert overlay.readtext("/etc/after") == "still writable"


def test_detach_refuses_a_layer_that_hides_something(lowers):
    overlay = OverlayFS(MemoryFS(), lowers, auto_close=False)
    overlay.copy_up_tree("/usr")
    overlay.copy_up_tree("/var")
    # Layer 1 provides /etc and /etc/hosts; its whiteout hides /etc/passwd of layer 2.
    with pytest.raises(LayerInUse) as raised:
        overlay.detach_lower(1)
    assert raised.value.path == "/etc"
    overlay.writetext("/etc/new", "copies /etc up")
    with pytest.raises(LayerInUse) as raised:
        overlay.detach_lower(1)
    assert raised.value.path == "/etc/passwd", "it would reappear"
    assert "'/etc/passwd' is hidden or provided by it" in str(raised.value)
    overlay.copy_up_tree("/etc/hosts")
    with pytest.raises(LayerInUse) as raised:
        overlay.detach_lower(1)
    assert raised.value.path == "/etc/passwd"
    assert len(overlay.lowers) == 2, "a refused detach changes nothing"
    before = tree(overlay)
    overlay.copy_up_tree("/etc")  # /etc becomes opaque: the whiteout is no longer needed
    assert unwrap(overlay.detach_lower(1)) is lowers[0]
    assert tree(overlay) == before


def test_detach_refuses_while_a_metadata_only_copy_up_needs_a_layer_number(lowers):
    overlay = OverlayFS(MemoryFS(), lowers, auto_close=False)
    overlay.setinfo("/usr/lib/deep/lib.so", {"details": {"modified": 1000}})
    backing = overlay.which("/usr/lib/deep/lib.so")
    if backing.data_index == backing.index:
        pytest.skip("setinfo copied the data up: no metadata-only copy-up here")
    assert (backing.index, backing.data_index) == (0, 2)
    with pytest.raises(LayerInUse):
        overlay.detach_lower(2)  # it provides most of the tree
    overlay.copy_up_tree("/etc")
    overlay.copy_up_tree("/usr/bin")
    with pytest.raises(LayerInUse) as raised:
        overlay.detach_lower(1)
    assert raised.value.path == "/usr/lib/deep/lib.so"
    assert "shift" in str(raised.value)
    overlay.copy_up_tree()
    assert overlay.which("/usr/lib/deep/lib.so").data_index == 0
    assert overlay.detach_lower(1) and overlay.detach_lower(1)
    assert overlay.readbytes("/usr/lib/deep/lib.so") == BOTTOM["/usr/lib/deep/lib.so"]


def test_detach_renumbers_the_layers_beneath(lowers):
    middle = memory_layer({"/middle": b"m"})
    overlay = OverlayFS(MemoryFS(), [middle, *lowers], auto_close=False)
    overlay.copy_up_tree("/middle")
    assert overlay.which("/usr/lib/deep/lib.so").index == 3
    assert unwrap(overlay.detach_lower(1)) is middle
    assert overlay.which("/usr/lib/deep/lib.so").index == 2
    assert overlay.getinfo("/usr/lib/deep/lib.so", ["overlay"]).raw["overlay"]["layer"] == 2
    assert overlay.readtext("/middle") == "m"


def test_detach_index_out_of_range(lowers):
    overlay = OverlayFS(MemoryFS(), lowers, auto_close=False)
    for index in (0, 3, -1):
        with pytest.raises(fs.errors.ResourceNotFound):
            overlay.detach_lower(index)


def test_detached_os_layer_can_be_closed(tmp_path):
    lower_dir = tmp_path / "lower"
    lower_dir.mkdir()
    (lower_dir / "a").write_bytes(b"a")
    overlay = OverlayFS(OSFS(str(tmp_path / "up"), create=True), [OSFS(str(lower_dir))])
    overlay.copy_up_tree()
    overlay.detach_lower(1).close()
    os.rename(lower_dir, tmp_path / "gone")
    overlay.invalidate()
    assert overlay.readtext("/a") == "a"
    assert overlay.listdir("/") == ["a"]
    overlay.close()


def test_squash_writes_the_merged_view(lowers):
    overlay = changed_overlay(lowers)
    target = MemoryFS()
    events: list[ProgressEvent] = []
    assert overlay.squash(target, progress=events.append) is target
    assert tree(target) == tree(overlay)
    assert not [path for path in target.walk.files() if "/.wh." in path]
    assert events[-1].done == events[-1].total == len(tree(overlay)) + 1
    again = OverlayFS(MemoryFS(), [target])
    assert tree(again) == tree(overlay)
    with pytest.raises(fs.errors.DirectoryNotEmpty):
        overlay.squash(target)


def test_squash_keeps_modification_times(lowers, tmp_path):
    overlay = changed_overlay(lowers)
    with OSFS(str(tmp_path)) as target:
        overlay.squash(target)
        for path in ("/usr/lib64/deep/lib.so", "/etc/motd"):
            want = overlay.getinfo(path, ["details"]).modified
            got = target.getinfo(path, ["details"]).modified
            assert want is not None and got is not None
            assert abs((want - got).total_seconds()) < 1


def test_progress_bar_renders_only_on_a_terminal():
    quiet = io.StringIO()
    ProgressBar(stream=quiet)(ProgressEvent("squash", "/a", 1, 2, 10))
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    bar = ProgressBar(stream=loud, width=10, force=True)
    bar(ProgressEvent("squash", "/a", 1, 2, 10))
    bar(ProgressEvent("squash", "/b", 2, 2, 3 << 20))
    bar.finish()
    assert "[#####.....] 1/2 entries 10 B" in loud.getvalue()
    assert "[##########] 2/2 entries 3.0 MiB" in loud.getvalue()
    assert loud.getvalue().endswith("\n")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "unionfs_lib", *args], capture_output=True, text=True, timeout=120
    )


def test_command_line_copy_up_squash_export_describe(tmp_path):
    lower = tmp_path / "lower"
    lower.mkdir()
    with OSFS(str(lower)) as layer:
        fill(layer, {"/d": None, "/d/a": b"a" * 5000, "/d/b": b"b", "/c": b"c"})
    (tmp_path / "upper").mkdir()
    url = f"overlay://?upper=osfs://{tmp_path}/upper&lower=osfs://{lower}"
    with fs.open_fs(url) as overlay:
        overlay.remove("/c")
        overlay.writetext("/d/new", "new")
    described = run_cli("describe", url)
    assert described.returncode == 0, described.stderr
    assert '"fingerprint": "tree:' in described.stdout
    squashed = run_cli("squash", "--progress", url, f"osfs://{tmp_path}/squashed")
    assert squashed.returncode == 0, squashed.stderr
    assert "squash [" in squashed.stderr and "entries" in squashed.stderr
    with OSFS(str(tmp_path / "squashed")) as target:
        assert sorted(target.walk.files()) == ["/d/a", "/d/b", "/d/new"]
    exported = run_cli("export", url, str(tmp_path / "layer.tar"))
    assert exported.returncode == 0, exported.stderr
    assert exported.stderr == "", "no bar when standard error is not a terminal"
    listing = subprocess.run(["tar", "-tf", str(tmp_path / "layer.tar")], capture_output=True)
    assert set(listing.stdout.decode().split()) == {".wh.c", "d/", "d/new"}
    copied = run_cli("copy-up-tree", "--progress", url)
    assert copied.returncode == 0, copied.stderr
    assert "copied up 2 entries" in copied.stdout
    which = run_cli("which", url, "/d/a")
    assert which.returncode == 0 and which.stdout.split()[0] == "0"
    missing = run_cli("which", url, "/nope")
    assert missing.returncode != 0 and "nope" in missing.stderr


def test_command_line_draws_the_bar_on_a_terminal(tmp_path):
    pty = pytest.importorskip("pty")
    lower = tmp_path / "lower"
    lower.mkdir()
    (lower / "f").write_bytes(b"f" * 1000)
    (tmp_path / "upper").mkdir()
    url = f"overlay://?upper=osfs://{tmp_path}/upper&lower=osfs://{lower}"
    master, slave = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "unionfs_lib", "copy-up-tree", url],
            stdout=subprocess.PIPE, stderr=slave, timeout=120,
        )
        os.close(slave)
        slave = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)
    assert done.returncode == 0
    assert b"copy-up-tree [" in drawn and b"2/2 entries" in drawn
    assert b"copied up 1 entry\n" in done.stdout


def test_export_layer_takes_a_path_object(tmp_path):
    """``export_layer(tmp_path / "layer.tar")``: a path object is a file path (issue 22)."""
    import tarfile

    with OverlayFS(MemoryFS(), [MemoryFS()]) as overlay:
        overlay.writetext("/added.txt", "added")
        assert overlay.export_layer(tmp_path / "layer.tar") == 1
    with tarfile.open(tmp_path / "layer.tar") as archive:
        assert archive.getnames() == ["added.txt"]
