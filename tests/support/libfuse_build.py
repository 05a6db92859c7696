"""libfuse 3.19, built at test time from ``../shared/ext`` to test FUSE passthrough.

Debian 12's libfuse is 3.14; passthrough needs 3.17. The source archive lives
outside the repository (``../shared/ext/`` beside the repository root, or
beside the main checkout of a ``git worktree``; see its README), as
pjdfstest's does (:mod:`tests.support.pjdfstest`). :func:`build` compiles
the library alone (no examples, utilities or tests: about half a minute on
two cores) once into ``~/.cache/unionfs-lib-tests/libfuse-<version>`` and
returns the path of ``libfuse3.so`` for ``FUSE_LIBRARY_PATH``, or ``None``
with the reason (no archive, no compiler, ``meson``/``ninja``/``pkg-config``
missing, a failed build) for the caller to skip loudly. Where ``meson`` or
``ninja`` is not on ``PATH`` they are installed from PyPI into a virtual
environment in the same cache directory (CI may use pip). Users get libfuse
from their system, never from us: this build serves the tests and the
benchmark only.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

VERSION = "e8d407c"
NAME = f"libfuse-{VERSION}.tar.gz"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "unionfs-lib-tests", f"libfuse-{VERSION}")
#: Seconds a step of the build may take (the whole build takes well under a minute).
STEP_TIMEOUT = 600


def archive() -> str | None:
    """Return the path of the libfuse archive in ``../shared/ext``, or ``None``.

    Looked for beside this checkout and beside the main checkout of a ``git
    worktree`` (its common ``.git`` directory's parent).
    """
    roots = [ROOT]
    try:
        found = subprocess.run(["git", "rev-parse", "--git-common-dir"], cwd=ROOT,
                               capture_output=True, text=True)
    except OSError:  # no git: this checkout's own ../shared only
        found = subprocess.CompletedProcess([], 1, "", "")
    if found.returncode == 0 and found.stdout.strip():
        common = os.path.abspath(os.path.join(ROOT, found.stdout.strip()))
        roots.append(os.path.dirname(common))
    for root in roots:
        path = os.path.join(os.path.dirname(root), "shared", "ext", NAME)
        if os.path.exists(path):
            return path
    return None


def built() -> str | None:
    """Return the cached ``libfuse3.so.*`` if it was built already."""
    found = sorted(glob.glob(os.path.join(CACHE, "prefix", "lib*", "**", "libfuse3.so.*.*.*"),
                             recursive=True))
    return found[0] if found else None


def build() -> tuple[str | None, str]:
    """Return ``(path of libfuse3.so, "")``, or ``(None, why not)``."""
    library = built()
    if library is not None:
        return library, ""
    source_archive = archive()
    if source_archive is None:
        return None, f"libfuse 3.19 needs ../shared/ext/{NAME} beside the repository"
    missing = [tool for tool in ("cc", "pkg-config") if shutil.which(tool) is None]
    if missing:
        return None, (f"building libfuse 3.19 needs {', '.join(missing)} "
                      "(apt-get install build-essential pkg-config)")
    tools, why = _build_tools()
    if tools is None:
        return None, why
    os.makedirs(os.path.dirname(CACHE), exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="libfuse-build-", dir=os.path.dirname(CACHE))
    try:
        with tarfile.open(source_archive) as unpacked:
            unpacked.extractall(scratch, filter="data")
        source = os.path.join(scratch, "libfuse")
        prefix = os.path.join(CACHE, "prefix")
        environment = dict(os.environ, PATH=os.pathsep.join([tools, os.environ.get("PATH", "")]))
        for command in (
            ["meson", "setup", "build", f"--prefix={prefix}", "-Dexamples=false",
             "-Dutils=false", "-Dtests=false"],
            ["ninja", "-C", "build", "install"],
        ):
            result = subprocess.run(command, cwd=source, capture_output=True, text=True,
                                    env=environment, timeout=STEP_TIMEOUT)
            if result.returncode != 0:
                shutil.rmtree(prefix, ignore_errors=True)
                output = (result.stdout + result.stderr)[-500:]
                return None, f"libfuse 3.19 build failed at {command[0]}: {output}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    library = built()
    return (library, "") if library else (None, "libfuse 3.19 built, but no libfuse3.so found")


def _build_tools() -> tuple[str | None, str]:
    """Return a directory to put first on ``PATH`` that has ``meson`` and ``ninja``."""
    if shutil.which("meson") and shutil.which("ninja"):
        return "", ""
    tools = os.path.join(CACHE + "-tools")
    binaries = os.path.join(tools, "bin")
    if not os.path.exists(os.path.join(binaries, "meson")):
        steps = (
            [sys.executable, "-m", "venv", tools],
            [os.path.join(binaries, "python"), "-m", "pip", "install", "-q", "meson", "ninja"],
        )
        for command in steps:
            result = subprocess.run(command, capture_output=True, text=True, timeout=STEP_TIMEOUT)
            if result.returncode != 0:
                shutil.rmtree(tools, ignore_errors=True)
                return None, ("building libfuse 3.19 needs meson and ninja "
                              f"(pip install meson ninja failed: {result.stderr[-300:]})")
    return binaries, ""


if __name__ == "__main__":  # pragma: no cover - a helper for the benchmark
    path, reason = build()
    print(path or reason)
    sys.exit(0 if path else 1)
