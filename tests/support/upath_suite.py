"""universal_pathlib's own test cases for UPath implementations, fetched at test time.

universal_pathlib's wheel ships no tests, and this project commits no copy of
them: the source distribution of the installed version is downloaded once
with ``pip download`` into a cache (``$XDG_CACHE_HOME/unionfs-lib-tests``,
else ``~/.cache/unionfs-lib-tests``), its ``upath/tests`` folder is extracted
there, and that folder is added to the installed ``upath`` package's search
path, so ``upath.tests.cases`` imports exactly as released. Where the cache is
empty and no package index answers, :func:`load_cases` skips the calling test
module with the reason.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tarfile
import tempfile
import types
from pathlib import Path

import pytest

DISTRIBUTION = "universal_pathlib"


def cache_dir(version: str) -> Path:
    """Return the folder that holds the extracted ``upath/tests`` of ``version``."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "unionfs-lib-tests" / f"{DISTRIBUTION}-{version}"


def _download_tests(version: str, target: Path) -> None:
    """Fetch the sdist of ``version`` and extract its ``upath/tests`` below ``target``."""
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--no-binary", ":all:", f"{DISTRIBUTION}=={version}", "-d", scratch],
            check=True, capture_output=True, timeout=300,
        )
        archive = next(Path(scratch).glob("*.tar.gz"))
        staging = Path(tempfile.mkdtemp(dir=target.parent))
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if len(parts) > 2 and parts[1:3] == ("upath", "tests") and (
                    member.isfile() or member.isdir()
                ):
                    member.name = str(Path(*parts[1:]))
                    tar.extract(member, staging, filter="data")
        os.replace(staging, target)


def load_cases() -> types.ModuleType:
    """Import and return ``upath.tests.cases`` of the installed universal_pathlib."""
    import upath

    version = importlib.metadata.version(DISTRIBUTION)
    target = cache_dir(version)
    if not (target / "upath" / "tests" / "cases.py").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            _download_tests(version, target)
        except (subprocess.SubprocessError, OSError, StopIteration) as error:
            # A concurrent run (the guarded pass) may have placed it meanwhile.
            if not (target / "upath" / "tests" / "cases.py").is_file():
                pytest.skip(
                    f"universal_pathlib {version}'s test cases could not be fetched "
                    f"(no package index?): {error}",
                    allow_module_level=True,
                )
    extra = str(target / "upath")
    if extra not in upath.__path__:
        upath.__path__.append(extra)
    from upath.tests import cases

    return cases
