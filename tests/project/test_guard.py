"""Lower layers are never written: the guard itself, and a guarded suite run.

``python3 tasks.py test`` (and so CI) runs the whole suite a second time with
``UNIONFS_GUARD_LOWERS=1``: every lower wrapped in :class:`tests.support.guard.LowerGuard`.
A plain ``pytest`` run gets a representative subset (the PyFilesystem2
conformance classes and the hypothesis model) run that way in a subprocess.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import fs.errors
import pytest
from fs.memoryfs import MemoryFS

from unionfs_lib import OverlayFS

from ..support import guard

ROOT = Path(__file__).resolve().parent.parent.parent
GUARDED_SUBSET = ["tests/core/test_conformance.py", "tests/core/test_model.py"]


def test_guard_records_and_refuses_every_write():
    layer = MemoryFS()
    layer.writebytes("/f", b"data")
    guarded = guard.LowerGuard(layer)
    guard.take_violations()
    assert guarded.readbytes("/f") == b"data"
    with guarded.openbin("/f") as handle:
        assert handle.read() == b"data"
    calls = [
        lambda: guarded.writebytes("/g", b"x"),
        lambda: guarded.openbin("/f", "r+"),
        lambda: guarded.open("/f", "a"),
        lambda: guarded.makedir("/d"),
        lambda: guarded.remove("/f"),
        lambda: guarded.setinfo("/f", {}),
        lambda: guarded.move("/f", "/h"),
        lambda: guarded.removetree("/"),
    ]
    for call in calls:
        with pytest.raises(fs.errors.ResourceReadOnly):
            call()
    found = guard.take_violations()
    assert len(found) == len(calls)
    assert layer.listdir("/") == ["f"] and layer.readbytes("/f") == b"data"
    assert guarded.getmeta()["read_only"] is True


def test_guard_catches_a_write_the_library_swallows(monkeypatch):
    """A write swallowed inside the library is still recorded, so the test fails."""
    layer = MemoryFS()
    layer.writebytes("/f", b"data")
    guarded = guard.LowerGuard(layer)
    guard.take_violations()
    try:
        guarded.touch("/f")
    except fs.errors.FSError:
        pass  # what a careless library might do
    assert [entry.split("(")[0] for entry in guard.take_violations()] == ["touch"]


def test_install_wraps_every_lower(monkeypatch):
    guard.install(monkeypatch)
    lower = MemoryFS()
    lower.writebytes("/f", b"lower")
    overlay = OverlayFS(MemoryFS(), [lower])
    assert isinstance(overlay.lowers[0], guard.LowerGuard)
    overlay.appendbytes("/f", b"+upper")
    overlay.remove("/f")
    assert lower.readbytes("/f") == b"lower"
    assert guard.take_violations() == []
    overlay.close()
    assert lower.isclosed()


@pytest.mark.skipif(guard.guard_enabled(), reason="already running in guard mode")
@pytest.mark.skipif(
    bool(os.environ.get("UNIONFS_FULL_GUARD_PASS")),
    reason="tasks.py runs the whole suite in guard mode in a second pass",
)
def test_conformance_and_model_pass_with_guarded_lowers():
    env = {**os.environ, guard.ENV_VAR: "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *GUARDED_SUBSET],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    output = result.stdout + result.stderr
    assert "unionfs guard mode" in output, output[-3000:]
    assert result.returncode == 0, output[-6000:]
    passed = re.search(r"(\d+) passed", output)
    assert passed is not None and int(passed.group(1)) > 100, output[-3000:]
    print(f"guarded subset: {passed.group(0)}")
