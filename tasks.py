#!/usr/bin/env python3
"""Set up and run unionfs_lib's demo or test suite with nothing but python3.

    python3 tasks.py demo    # create .venv, install the library alone, run the demo
    python3 tasks.py test    # create .venv, install with test extras, lint, type-check,
                             # build the docs and run their examples, test, then
                             # test again with every lower layer guarded

Extra arguments after ``test`` go to pytest. Each command installs what it
needs once (again after a change to pyproject.toml or this file): the demo
only the library and its dependencies, a matter of seconds; the tests all the
test extras. An install for the tests also serves the demo.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import typing
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
#: What each command installs into .venv (``pip install -e``): the demo needs the library only.
REQUIREMENTS = {"demo": ".", "test": ".[test]"}
#: The mark of each finished install (its time is compared with the inputs').
STAMPS = {command: VENV / f".installed-{command}" for command in REQUIREMENTS}
#: The installs that give each command what it needs.
COVERED_BY = {"demo": ("demo", "test"), "test": ("test",)}


def run(*args: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    """Run a command from the project root (with extra ``env``), stopping on failure."""
    shown = " ".join(f"{key}={value}" for key, value in (env or {}).items())
    print("+", shown, " ".join(str(arg) for arg in args), flush=True)
    subprocess.run(
        [str(arg) for arg in args], cwd=ROOT, check=True, env={**os.environ, **(env or {})}
    )


def needs_install(command: str) -> bool:
    """Tell whether .venv lacks an install, newer than its inputs, that serves ``command``."""
    inputs = max((ROOT / "pyproject.toml").stat().st_mtime, Path(__file__).stat().st_mtime)
    if not PYTHON.exists():
        return True
    for covering in COVERED_BY[command]:
        stamp = STAMPS[covering]
        if stamp.exists() and stamp.stat().st_mtime >= inputs:
            return False
    return True


def ensure_venv(command: str) -> None:
    """Create .venv and install what ``command`` needs (:data:`REQUIREMENTS`), once per change."""
    if not needs_install(command):
        return
    if not PYTHON.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    if command == "test":
        run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", REQUIREMENTS[command])
    STAMPS[command].touch()


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
    """Lint, type-check, build the docs and run the whole test suite twice, side by side.

    The docs are built with warnings as errors and every ``>>>`` example in
    them runs (``sphinx-build -b doctest``). The suite runs twice at once, a
    core each: the first pass as it is, the second (started first, beside the
    lint, type-check and docs) wrapping every lower layer in a guard that
    fails the test on any write call (``UNIONFS_GUARD_LOWERS=1``, see
    ``tests/support/guard.py``). The packaging tests, which build fresh
    virtualenvs, and the modules whose layers only other processes use (marker
    ``out_of_process``: the guard cannot wrap them) are left out of the
    guarded pass. pjdfstest through the mount (a daemon of its own, which the
    guard cannot wrap) runs once, in the guarded pass, which has a core to
    spare at its end. The guarded pass's output is shown once the first pass has
    ended; both passes print their slowest tests. The command fails when any
    step does.
    """
    ensure_fuse()
    full_pass = {"UNIONFS_FULL_GUARD_PASS": "1"}
    guarded = {**full_pass, "UNIONFS_GUARD_LOWERS": "1"}
    once = "not packaging and not out_of_process"
    with tempfile.TemporaryFile("w+") as guarded_log:
        second = start(
            PYTHON, "-m", "pytest", "-m", once, "--durations=15", *pytest_args,
            env=guarded, output=guarded_log,
        )  # fmt: skip
        try:
            check_and_build_docs()
            first = subprocess.run(pytest_command("--durations=15", *pytest_args), cwd=ROOT,
                                   env={**os.environ, **full_pass})  # fmt: skip
            second.wait()
        finally:
            if second.poll() is None:
                second.kill()
                second.wait()
            guarded_log.seek(0)
            print("+ output of the guarded pass:", flush=True)
            sys.stdout.write(guarded_log.read())
            sys.stdout.flush()
    for name, code in (("first pass", first.returncode), ("guarded pass", second.returncode)):
        if code != 0:
            raise subprocess.CalledProcessError(code, f"pytest ({name})")


def check_and_build_docs() -> None:
    """Lint (ruff), type-check (mypy, the package strictly) and build the docs."""
    run(PYTHON, "-m", "ruff", "check", "unionfs_lib", "tests", "benchmarks", "tasks.py", "docs")
    run(PYTHON, "-m", "mypy", "--strict", "unionfs_lib")
    run(PYTHON, "-m", "mypy", "tests")
    docs()


def pytest_command(*args: str) -> list[str]:
    """Return the command line of one pytest pass with ``args``, after showing it."""
    print("+", PYTHON, "-m pytest", " ".join(args), flush=True)
    return [str(PYTHON), "-m", "pytest", *args]


def start(
    *args: str | os.PathLike[str], env: dict[str, str], output: typing.IO[str]
) -> subprocess.Popen[bytes]:
    """Start a command from the project root with extra ``env``, its output into ``output``."""
    shown = " ".join(f"{key}={value}" for key, value in env.items())
    print("+", shown, " ".join(str(arg) for arg in args), "(alongside)", flush=True)
    return subprocess.Popen(
        [str(arg) for arg in args], cwd=ROOT, env={**os.environ, **env},
        stdout=output, stderr=subprocess.STDOUT,
    )  # fmt: skip


def main(argv: list[str]) -> int:
    """Dispatch ``demo`` or ``test``."""
    if not argv or argv[0] not in {"demo", "test"}:
        print(__doc__)
        return 2
    ensure_venv(argv[0])
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
