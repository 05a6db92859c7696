"""The release metadata, checked from the checkout (no network; the builds are in test_packaging).

The version lives in one place, ``unionfs_lib.__version__``: pyproject.toml
reads it, docs/conf.py reads it, and whatever prints a version prints it. The
classifiers, ``requires-python``, ruff's and mypy's target, the extras, the
source distribution's manifest and the Read the Docs configuration agree with
each other. CHANGELOG.md follows Keep a Changelog.
"""

from __future__ import annotations

import datetime
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import unionfs_lib

pytestmark = pytest.mark.out_of_process  # layers used by other processes only

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent.parent

#: Classifiers the issue asks for (the licence is ``License-Expression: MIT``:
#: PEP 639 forbids ``License ::`` classifiers beside a licence expression).
REQUIRED_CLASSIFIERS = {
    "Typing :: Typed",
    "Framework :: Pytest",
    "Topic :: System :: Filesystems",
    "Operating System :: POSIX :: Linux",
    "Programming Language :: Python :: 3 :: Only",
}


def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def oldest_python() -> tuple[int, int]:
    found = re.fullmatch(r">=\s*3\.(\d+)", pyproject()["project"]["requires-python"])
    assert found, "requires-python is a plain lower bound"
    return 3, int(found.group(1))


# -- one version ---------------------------------------------------------------


def test_pyproject_reads_the_version_from_the_package():
    config = pyproject()
    assert "version" not in config["project"]
    assert "version" in config["project"]["dynamic"]
    assert config["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "unionfs_lib.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", unionfs_lib.__version__)


def test_the_docs_show_the_package_version():
    conf = runpy.run_path(str(ROOT / "docs" / "conf.py"))
    assert conf["release"] == unionfs_lib.__version__
    assert unionfs_lib.__version__.startswith(conf["version"])


VERSION_COMMANDS = {
    "unionfs-lib": ["-m", "unionfs_lib", "--version"],
    "unionfs-lib-mount": ["-c", "import sys; from unionfs_lib.mount.daemon import main; "
                                "sys.exit(main(sys.argv[1:]))", "--version"],
}


@pytest.mark.parametrize("program", sorted(VERSION_COMMANDS))
def test_version_options_print_the_package_version(program):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, *VERSION_COMMANDS[program]], env=env,
                            capture_output=True, text=True, timeout=120)
    refused = ("unknown flag", "unrecognized arguments", "arguments are required")
    if result.returncode != 0 and any(word in result.stderr for word in refused):
        pytest.skip(f"{program} has no --version yet (issue #22 adds it): "
                    f"{result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, result.stderr
    assert unionfs_lib.__version__ in result.stdout.split(), result.stdout


# -- metadata that must agree ----------------------------------------------------


def test_classifiers_name_what_the_project_supports():
    project = pyproject()["project"]
    classifiers = set(project["classifiers"])
    assert REQUIRED_CLASSIFIERS <= classifiers
    assert not [each for each in classifiers if each.startswith("License ::")]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    versions = sorted(tuple(map(int, each.rsplit(":: ", 1)[1].split(".")))
                      for each in classifiers
                      if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", each))
    assert versions[0] == oldest_python()
    assert versions == [(3, minor) for minor in range(versions[0][1], versions[-1][1] + 1)]
    assert sys.version_info[:2] in versions, "the tests run on a Python not claimed"
    assert all(url.startswith("https://") for url in project["urls"].values())


def test_linters_target_the_oldest_supported_python():
    config = pyproject()
    major, minor = oldest_python()
    assert config["tool"]["ruff"]["target-version"] == f"py{major}{minor}"
    assert config["tool"]["mypy"]["python_version"] == f"{major}.{minor}"


def test_no_setuptools_pin_at_run_time():
    config = pyproject()
    dependencies = config["project"]["dependencies"]
    assert not [each for each in dependencies if each.startswith("setuptools")]
    assert any(each.startswith("pkg-resources-backport") for each in dependencies)
    assert not [each for each in config["build-system"]["requires"] if "<" in each]


def test_the_wheel_carries_py_typed():
    assert (ROOT / "unionfs_lib" / "py.typed").is_file()
    assert "py.typed" in pyproject()["tool"]["setuptools"]["package-data"]["unionfs_lib"]


def test_extras_name_their_packages():
    extras = pyproject()["project"]["optional-dependencies"]
    for extra in ("upath", "test", "docs"):
        assert any(each.startswith("universal_pathlib") for each in extras[extra]), extra
    entry_points = pyproject()["project"]["entry-points"]
    assert entry_points["universal_pathlib.implementations"] == {
        "overlay": "unionfs_lib.fsspec.upath:OverlayPath"}


def test_the_source_distribution_carries_the_suite():
    manifest = (ROOT / "MANIFEST.in").read_text().split("\n")
    for folder in ("tests", "docs", "benchmarks", "contrib"):
        assert f"graft {folder}" in manifest
    included = [line for line in manifest if line.startswith("include ")]
    for name in ("CHANGELOG.md", "LICENSE", "tasks.py", ".readthedocs.yaml"):
        assert any(name in line.split() for line in included), name


def test_read_the_docs_configuration_names_what_exists():
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / ".readthedocs.yaml").read_text())
    assert config["version"] == 2
    assert config["build"]["os"].startswith("ubuntu-")
    assert config["build"]["tools"]["python"] == "3.11"
    assert (ROOT / config["sphinx"]["configuration"]).is_file()
    assert config["sphinx"]["fail_on_warning"] is True
    extras = pyproject()["project"]["optional-dependencies"]
    for step in config["python"]["install"]:
        if "requirements" in step:
            assert (ROOT / step["requirements"]).is_file()
        else:
            assert step["method"] == "pip" and step["path"] == "."
            assert set(step.get("extra_requirements", [])) <= set(extras)


# -- the changelog -------------------------------------------------------------------


def test_the_changelog_follows_keep_a_changelog():
    """``## [Unreleased]`` first, then ``## [X.Y.Z] - YYYY-MM-DD`` with this version."""
    text = (ROOT / "CHANGELOG.md").read_text()
    if "## [Unreleased]" not in text:
        pytest.skip("CHANGELOG.md is not in Keep a Changelog form yet (the lead converts it, "
                    "see the report of issue #24)")
    assert text.startswith("# Changelog\n")
    assert "https://keepachangelog.com/en/1.1.0/" in text
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings[0] == "[Unreleased]"
    releases = []
    for heading in headings[1:]:
        release = re.fullmatch(r"\[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})", heading)
        assert release is not None, f"not a dated release: ## {heading}"
        datetime.date.fromisoformat(release.group(2))
        releases.append(release.group(1))
    assert releases and releases[0] == unionfs_lib.__version__, headings
    for version in ["Unreleased", *releases]:
        assert re.search(rf"^\[{re.escape(version)}\]: \S+$", text, flags=re.MULTILINE), version
