"""Reopen persistence: everything the overlay knows lives in the upper.

The overlay is built over on-disk layers (an OSFS upper, a zip file and an
OSFS directory as lowers), changed in every way that leaves markers
(whiteouts, opaque directories, redirects, metadata-only copy-ups), closed,
and reopened from fresh FS objects: in this process and in a new Python
process. The view must be identical each time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

from fs.base import FS
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS
from fs.zipfs import ZipFS

from unionfs_lib import OverlayFS

from ..support.layers import content_hash, fill, memory_layer, zip_bytes

ZIP_LOWER = {
    "/docs": None,
    "/docs/guide.txt": b"guide",
    "/docs/old.txt": b"old",
    "/src": None,
    "/src/pkg": None,
    "/src/pkg/mod.py": b"mod",
    "/src/pkg/deep": None,
    "/src/pkg/deep/x.py": b"x",
    "/src/main.py": b"main",
    "/shadow": b"a file in the zip",
    "/empty": None,
}

DIR_LOWER = {
    "/docs": None,
    "/docs/extra.txt": b"extra",
    "/src": None,
    "/src/pkg": None,
    "/src/pkg/other.py": b"other",
    "/shadow": None,
    "/shadow/hidden": b"hidden by the zip's file",
    "/logs": None,
    "/logs/a.log": b"a",
    "/logs/b.log": b"b",
    "/gone.txt": b"gone",
}


def view(overlay: FS) -> dict[str, typing.Any]:
    """The overlay's whole tree: path -> contents (str) or None, plus file times."""
    found: dict[str, typing.Any] = {}
    for path, info in overlay.walk.info("/", namespaces=["details"]):
        if info.is_dir:
            found[path] = None
        else:
            data = overlay.readbytes(path).decode("latin-1")
            modified = info.modified
            assert modified is not None
            found[path] = [data, int(modified.timestamp())]
    return found


def change_everything(overlay: FS) -> None:
    """Changes that leave every kind of marker in the upper."""
    overlay.remove("/gone.txt")  # a whiteout
    overlay.remove("/docs/old.txt")  # a whiteout in a merged directory
    overlay.appendtext("/docs/guide.txt", " edited")  # copy-up
    overlay.setinfo("/docs/extra.txt", {"details": {"modified": 1_234_567}})  # metadata only
    overlay.removetree("/logs")
    overlay.makedir("/logs")  # an opaque directory over a whiteout
    overlay.writebytes("/logs/new.log", b"new")
    overlay.movedir("/src/pkg", "/pkg", create=True)  # a redirect
    overlay.movedir("/pkg/deep", "/deep", create=True)  # a redirect below a redirect
    overlay.writebytes("/pkg/added.py", b"added")
    overlay.makedir("/src/pkg")  # the old name again, opaque
    overlay.removedir("/empty")
    overlay.writebytes("/empty", b"a file where a directory was")
    overlay.move("/src/main.py", "/main.py")


def _layers(base: Path) -> tuple[FS, list[FS]]:
    return OSFS(str(base / "upper")), [
        ZipFS(str(base / "lower.zip")),
        OSFS(str(base / "lower")),
    ]


def _build(base: Path) -> None:
    (base / "upper").mkdir()
    (base / "lower").mkdir()
    (base / "lower.zip").write_bytes(zip_bytes(ZIP_LOWER))
    with OSFS(str(base / "lower")) as lower:
        fill(lower, DIR_LOWER)


READ_VIEW = textwrap.dedent(
    """
    import json, sys
    from fs.osfs import OSFS
    from fs.zipfs import ZipFS
    from unionfs_lib import OverlayFS
    from tests.layers.test_persistence import view
    base = sys.argv[1]
    overlay = OverlayFS(OSFS(base + "/upper"), [ZipFS(base + "/lower.zip"), OSFS(base + "/lower")])
    print(json.dumps(view(overlay), sort_keys=True))
    overlay.close()
    """
)


def test_reopen_gives_the_identical_view(tmp_path):
    _build(tmp_path)
    upper, lowers = _layers(tmp_path)
    hashes = [content_hash(layer) for layer in lowers]
    overlay = OverlayFS(upper, lowers)
    change_everything(overlay)
    expected = view(overlay)
    assert expected["/docs/guide.txt"][0] == "guide edited"
    assert expected["/docs/extra.txt"] == ["extra", 1_234_567]
    assert "/deep/x.py" in expected and "/pkg/mod.py" in expected
    assert "/src/pkg/mod.py" not in expected and "/gone.txt" not in expected
    overlay.close()  # closes the layers too

    for _ in range(2):
        upper, lowers = _layers(tmp_path)
        with OverlayFS(upper, lowers) as reopened:
            assert view(reopened) == expected
            assert [content_hash(layer) for layer in lowers] == hashes


def test_reopen_in_a_new_process_gives_the_identical_view(tmp_path):
    _build(tmp_path)
    upper, lowers = _layers(tmp_path)
    with OverlayFS(upper, lowers) as overlay:
        change_everything(overlay)
        expected = json.loads(json.dumps(view(overlay), sort_keys=True))
    root = Path(__file__).resolve().parent.parent.parent
    result = subprocess.run(
        [sys.executable, "-c", READ_VIEW, str(tmp_path)],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(result.stdout) == expected


def test_changes_after_a_reopen_persist_too(tmp_path):
    _build(tmp_path)
    upper, lowers = _layers(tmp_path)
    with OverlayFS(upper, lowers) as overlay:
        change_everything(overlay)
    upper, lowers = _layers(tmp_path)
    with OverlayFS(upper, lowers) as overlay:
        overlay.movedir("/pkg", "/renamed", create=True)  # a redirected dir renamed again
        overlay.removetree("/deep")
        overlay.makedir("/deep")
        overlay.writebytes("/gone.txt", b"back")
        overlay.remove("/logs/new.log")
        overlay.removedir("/logs")
        expected = view(overlay)
    assert "/renamed/mod.py" in expected and "/renamed/added.py" in expected
    assert "/logs" not in expected
    upper, lowers = _layers(tmp_path)
    with OverlayFS(upper, lowers) as overlay:
        assert view(overlay) == expected


def test_a_memory_upper_kept_open_persists_across_overlays():
    lower = memory_layer(DIR_LOWER)
    upper = MemoryFS()
    overlay = OverlayFS(upper, [lower], auto_close=False)
    overlay.remove("/gone.txt")
    overlay.removetree("/logs")
    overlay.makedir("/logs")
    overlay.movedir("/src", "/code", create=True)
    expected = view(overlay)
    overlay.close()
    assert not upper.isclosed() and not lower.isclosed()
    with OverlayFS(upper, [lower], auto_close=False) as reopened:
        assert view(reopened) == expected
