#!/usr/bin/env python3
"""Set up and run unionfs_lib's demo or test suite with nothing but python3.

    python3 tasks.py demo    # create .venv, install, run the demo
    python3 tasks.py test    # create .venv, install with test extras, lint, type-check,
                             # build the docs and run their examples, test, then
                             # test again with every lower layer guarded

Extra arguments after ``test`` go to pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAMP = VENV / ".installed"


def run(*args: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    """Run a command from the project root (with extra ``env``), stopping on failure."""
    shown = " ".join(f"{key}={value}" for key, value in (env or {}).items())
    print("+", shown, " ".join(str(arg) for arg in args), flush=True)
    subprocess.run(
        [str(arg) for arg in args], cwd=ROOT, check=True, env={**os.environ, **(env or {})}
    )


def ensure_venv() -> None:
    """Create .venv and install the project with its test extras, once per change."""
    inputs = max(
        (ROOT / "pyproject.toml").stat().st_mtime, Path(__file__).stat().st_mtime
    )
    if STAMP.exists() and STAMP.stat().st_mtime >= inputs and PYTHON.exists():
        return
    if not PYTHON.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[test]")
    STAMP.touch()


def ensure_fuse() -> None:
    """Install libfuse 3 (Debian's ``fuse3``) when running as root and it is missing.

    The FUSE mount tests need ``fusermount3`` and ``libfuse3.so.3``; elsewhere
    they skip with the reason in the summary.
    """
    import shutil

    if os.name != "posix" or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    if shutil.which("fusermount3") is not None:
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    try:
        run("apt-get", "update", "-qq", env=env)
        run("apt-get", "install", "-y", "-qq", "fuse3", env=env)
    except subprocess.CalledProcessError as error:
        print(f"could not install fuse3 ({error}); FUSE tests will skip", flush=True)


def demo() -> None:
    """Run the demo of the main job."""
    run(PYTHON, "-m", "unionfs_lib.demo")


def docs() -> None:
    """Build the Sphinx site with warnings as errors, and run every example in it."""
    for builder, out in (("html", "build/docs"), ("doctest", "build/doctest")):
        run(PYTHON, "-m", "sphinx", "-W", "--keep-going", "-b", builder, "docs", out)


def test(pytest_args: list[str]) -> None:
    """Lint, type-check, build the docs and run the whole test suite, then run it again guarded.

    The docs are built with warnings as errors and every ``>>>`` example in
    them runs (``sphinx-build -b doctest``). The second pass wraps every lower
    layer in a guard that fails the test on any write call
    (``UNIONFS_GUARD_LOWERS=1``, see ``tests/guard.py``); only the packaging
    test, which builds a fresh virtualenv, is left out of it.
    """
    ensure_fuse()
    run(PYTHON, "-m", "ruff", "check", "unionfs_lib", "tests", "benchmarks", "tasks.py", "docs")
    run(PYTHON, "-m", "mypy", "--strict", "unionfs_lib")
    run(PYTHON, "-m", "mypy", "tests")
    docs()
    full_pass = {"UNIONFS_FULL_GUARD_PASS": "1"}
    run(PYTHON, "-m", "pytest", *pytest_args, env=full_pass)
    guarded = {**full_pass, "UNIONFS_GUARD_LOWERS": "1"}
    run(PYTHON, "-m", "pytest", "-m", "not packaging", *pytest_args, env=guarded)


def main(argv: list[str]) -> int:
    """Dispatch ``demo`` or ``test``."""
    if not argv or argv[0] not in {"demo", "test"}:
        print(__doc__)
        return 2
    ensure_venv()
    try:
        if argv[0] == "demo":
            demo()
        else:
            test(argv[1:])
    except subprocess.CalledProcessError as error:
        return error.returncode or 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
