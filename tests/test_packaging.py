"""Packaging: the project installs and imports in a fresh venv with the newest pip/setuptools.

``fs`` imports ``pkg_resources``, which setuptools 82 removed; the project pins
``setuptools<82`` at runtime so that ``import fs`` works anyway. This test
proves it end to end: a fresh venv, pip and setuptools upgraded to the newest
from PyPI, then ``pip install <repo>`` (non-editable), then imports and a demo
run from outside the repository. It needs PyPI; deselect it with
``-m "not packaging"``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import importlib.metadata as metadata
import fs, setuptools, unionfs_lib
from fs.memoryfs import MemoryFS
from unionfs_lib import OverlayFS
lower = MemoryFS(); lower.writetext("/f", "lower")
overlay = OverlayFS(MemoryFS(), [lower])
overlay.remove("/f")
assert not overlay.exists("/f") and lower.exists("/f")
print("location", unionfs_lib.__file__)
print("setuptools", setuptools.__version__)
print("fs", metadata.version("fs"))
"""


def _run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _major(version: str) -> int:
    return int(version.split(".")[0])


@pytest.mark.packaging
@pytest.mark.timeout(900)
def test_fresh_venv_with_newest_setuptools_installs_and_imports(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    _run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip", "setuptools"], tmp_path)
    newest = _run(
        [python, "-c", "import setuptools; print(setuptools.__version__)"], tmp_path
    ).strip()
    print(f"newest setuptools from PyPI: {newest}", file=sys.stderr)

    _run([python, "-m", "pip", "install", "--quiet", str(ROOT)], tmp_path)
    report = dict(
        line.split(" ", 1) for line in _run([python, "-c", CHECK], tmp_path).splitlines()
    )
    # Installed into the venv (not imported from the checkout), non-editable.
    assert Path(report["location"]).is_relative_to(env_dir), report["location"]
    assert _major(report["setuptools"]) < 82, report
    if _major(newest) >= 82:
        # The upgrade really brought a setuptools without pkg_resources: the
        # runtime pin is what made the install work.
        assert report["setuptools"] != newest

    demo = _run([python, "-m", "unionfs_lib.demo"], tmp_path)
    assert "merged view" in demo and "README.md" in demo
