"""``tasks.py``: ``demo`` installs the library alone, ``test`` everything, each once.

The choice is tested with the commands recorded instead of run (so the
project's own .venv is never touched); one ``packaging`` test runs
``python3 tasks.py demo`` for real in a copy of the project with a fresh
.venv (it needs the package index).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

pytestmark = pytest.mark.out_of_process  # layers used by other processes only

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def tasks(tmp_path, monkeypatch):
    """``tasks.py`` loaded as a module, its .venv in ``tmp_path``, its commands recorded."""
    spec = importlib.util.spec_from_file_location("tasks_under_test", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    env = tmp_path / ".venv"
    monkeypatch.setattr(module, "VENV", env)
    monkeypatch.setattr(module, "PYTHON", env / "bin" / "python")
    monkeypatch.setattr(module, "STAMPS", {name: env / f".installed-{name}"
                                           for name in module.REQUIREMENTS})
    ran: list[str] = []
    module.__dict__["ran"] = ran

    def run(*args: object, env: object = None) -> None:
        ran.append(" ".join(str(arg) for arg in args[1:]))

    def create(self: object, target: Path) -> None:
        (Path(target) / "bin").mkdir(parents=True)
        (Path(target) / "bin" / "python").touch()

    monkeypatch.setattr(module, "run", run)
    monkeypatch.setattr(module.venv.EnvBuilder, "create", create)
    return module


def installs(tasks: types.ModuleType, command: str) -> list[str]:
    """Run ``ensure_venv(command)``; return the pip commands it ran."""
    tasks.ran.clear()
    tasks.ensure_venv(command)
    return list(tasks.ran)


def test_the_demo_installs_the_library_alone(tasks):
    assert installs(tasks, "demo") == ["-m pip install --quiet -e ."]
    assert installs(tasks, "demo") == []  # once


def test_switching_between_demo_and_test(tasks):
    assert installs(tasks, "demo") == ["-m pip install --quiet -e ."]
    assert installs(tasks, "test") == ["-m pip install --quiet --upgrade pip",
                                       "-m pip install --quiet -e .[test]"]
    assert installs(tasks, "demo") == []  # the test install serves the demo
    assert installs(tasks, "test") == []
    assert installs(tasks, "demo") == []


def test_a_newer_pyproject_reinstalls(tasks):
    installs(tasks, "test")
    old = (ROOT / "pyproject.toml").stat().st_mtime - 10  # the install came before the edit
    for stamp in tasks.STAMPS.values():
        if stamp.exists():
            os.utime(stamp, (old, old))
    assert installs(tasks, "demo") == ["-m pip install --quiet -e ."]
    assert installs(tasks, "test") == ["-m pip install --quiet --upgrade pip",
                                       "-m pip install --quiet -e .[test]"]


def _copy_project(target: Path) -> None:
    """Copy what ``pip install -e .`` needs (no .venv, no .git, no build output)."""
    for name in ("pyproject.toml", "README.rst", "tasks.py"):
        shutil.copy2(ROOT / name, target / name)
    shutil.copytree(ROOT / "unionfs_lib", target / "unionfs_lib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))


@pytest.mark.packaging
@pytest.mark.timeout(600)
def test_tasks_demo_in_a_fresh_copy_installs_no_test_tools(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    _copy_project(project)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "tasks.py", "demo"], cwd=project, env=env,
                            capture_output=True, text=True, timeout=600)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "merged view" in result.stdout
    python = str(project / ".venv" / "bin" / "python")
    for tool in ("pytest", "mypy", "pandas", "boto3"):
        found = subprocess.run([python, "-c", f"import {tool}"], capture_output=True, env=env)
        assert found.returncode != 0, f"the demo installed {tool}"
    print(f"tasks.py demo in a fresh copy took {took:.1f}s", file=sys.stderr)
