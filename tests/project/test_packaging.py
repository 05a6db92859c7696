"""Packaging: build the release files and install them as a user would, in fresh venvs.

From a clean copy of the checkout (the files git tracks, plus new ones it does
not ignore), ``python -m build`` makes the sdist and the wheel (no setuptools
deprecation warning), ``twine check --strict`` accepts both, the wheel
carries ``py.typed``, the classifiers and the entry points, and the sdist the
tests, docs and benchmarks the suite needs. Then, in a fresh venv holding
the newest setuptools (82 or later, without ``pkg_resources``), the wheel
installs *without changing setuptools* (``pkg-resources-backport`` provides
``pkg_resources`` for PyFilesystem2), and everything imports and opens with no
warning from this project: the PyFilesystem2 opener, the fsspec protocol,
``UPath``, the pytest plugin (a test using ``overlay_sandbox``), both console
scripts; part of the suite runs from the unpacked sdist. Last, the Sphinx site
builds in a fresh venv exactly as ``.readthedocs.yaml`` says.

Every test needs a package index (pip's configured one: PyPI or a local
mirror) and is marked ``packaging``; where none answers, they skip saying why
(also in the summary at the end of the run). Deselect them with
``-m "not packaging"``.
"""

from __future__ import annotations

import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import typing
import venv
import zipfile
from pathlib import Path

import attrs
import pytest

import unionfs_lib

from ..support import summary

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGING = "packaging tests"
summary.declare(PACKAGING)

#: Left out of a copy of a checkout that git cannot list.
NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
              ".hypothesis")

#: What the sdist must carry besides the package, so that the suite runs from it.
SDIST_FOLDERS = ("tests", "docs", "benchmarks", "contrib")
SDIST_FILES = ("pyproject.toml", "README.rst", "LICENSE", "CHANGELOG.md", "tasks.py",
               "MANIFEST.in", ".readthedocs.yaml")


def run(args: typing.Sequence[str | os.PathLike[str]], cwd: Path,
        env: typing.Mapping[str, str] | None = None, timeout: float = 900) -> str:
    """Run a command without this checkout on ``PYTHONPATH``; return stdout and stderr."""
    clean = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1",
             **(env or {})}
    clean.pop("PYTHONPATH", None)
    result = subprocess.run([str(arg) for arg in args], cwd=cwd, env=clean,
                            capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{output[-6000:]}"
    return output


def fresh_venv(where: Path) -> Path:
    """Create a venv with pip; return its python."""
    venv.EnvBuilder(with_pip=True).create(where)
    return where / "bin" / "python"


def skip_loudly(reason: str) -> typing.NoReturn:
    """Skip the calling test and say why in the run's summary too."""
    summary.note(PACKAGING, "SKIPPED: " + reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip unless pip's package index answers with a setuptools of 82 or later."""
    where = tmp_path_factory.mktemp("index-probe")
    try:
        probe = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--retries", "1",
             "--timeout", "30", "--dest", str(where), "setuptools>=82"],
            capture_output=True, text=True, timeout=300,
        )
    except subprocess.TimeoutExpired:
        skip_loudly("no package index answered pip within 300 s")
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        skip_loudly(f"no package index with setuptools>=82 answered pip: {last}")


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean copy of the checkout: what git tracks, and new files it does not ignore."""
    copy = tmp_path_factory.mktemp("checkout") / "unionfs-lib"
    listed = None
    if shutil.which("git") is not None:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], cwd=ROOT, capture_output=True, timeout=60)
    if listed is None or listed.returncode != 0:  # no git, or run from an unpacked sdist
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*NOT_SOURCE))
        return copy
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    return copy


@attrs.frozen
class Dist:
    """The files ``python -m build`` made, and what it printed."""

    sdist: Path
    wheel: Path
    log: str


@pytest.fixture(scope="module")
def dist(index: None, checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """Build the sdist, then the wheel from it, as ``python -m build`` does by default."""
    pytest.importorskip("build", reason="python -m build needs the build package (test extra)")
    out = tmp_path_factory.mktemp("dist")
    log = run([sys.executable, "-m", "build", "--outdir", out, checkout], cwd=checkout)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    summary.count(PACKAGING)
    return Dist(sdist, wheel, log)


def wheel_metadata(wheel: Path) -> tuple[email.message.Message, str]:
    """Return the METADATA and entry_points.txt of a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        info = next(name.split("/")[0] for name in archive.namelist()
                    if name.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    return metadata, entry_points


def pyproject() -> dict[str, typing.Any]:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


# -- building ------------------------------------------------------------------


def test_build_warns_of_nothing_deprecated(dist):
    found = [line for line in dist.log.splitlines() if re.search("deprecat", line, re.I)]
    assert found == [], "\n".join(found)
    assert dist.sdist.name == f"unionfs_lib-{unionfs_lib.__version__}.tar.gz"
    assert dist.wheel.name == f"unionfs_lib-{unionfs_lib.__version__}-py3-none-any.whl"


def test_twine_check_passes(dist, tmp_path):
    pytest.importorskip("twine", reason="twine check needs the twine package (test extra)")
    output = run([sys.executable, "-m", "twine", "check", "--strict", dist.sdist, dist.wheel],
                 cwd=tmp_path)
    assert output.count("PASSED") == 2, output


def test_the_wheel_carries_types_classifiers_and_entry_points(dist):
    with zipfile.ZipFile(dist.wheel) as archive:
        names = set(archive.namelist())
    assert {"unionfs_lib/py.typed", "unionfs_lib/data/sample.zip",
            "unionfs_lib/fsspec/upath.py"} <= names
    assert not [name for name in names if name.startswith("tests/")]
    metadata, entry_points = wheel_metadata(dist.wheel)
    project = pyproject()["project"]
    assert metadata["Version"] == unionfs_lib.__version__
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["Requires-Python"] == project["requires-python"]
    assert set(metadata.get_all("Classifier", [])) == set(project["classifiers"])
    requires = metadata.get_all("Requires-Dist", [])
    assert not [each for each in requires if each.startswith("setuptools")]
    assert "pkg-resources-backport>=1.0.1" in requires
    assert any(each.startswith("universal_pathlib") and 'extra == "upath"' in each
               for each in requires)
    urls = dict(each.split(", ", 1) for each in metadata.get_all("Project-URL", []))
    assert urls == project["urls"]
    for group, points in project["entry-points"].items():
        assert f"[{group}]" in entry_points
        for name, target in points.items():
            assert f"{name} = {target}" in entry_points


def test_the_sdist_carries_what_the_suite_needs(dist, checkout):
    with tarfile.open(dist.sdist) as archive:
        top = f"unionfs_lib-{unionfs_lib.__version__}/"
        names = {name[len(top):] for name in archive.getnames() if name.startswith(top)}
    needed = {str(path.relative_to(checkout)) for folder in SDIST_FOLDERS
              for path in (checkout / folder).rglob("*") if path.is_file()}
    needed |= set(SDIST_FILES)
    assert sorted(needed - names) == []
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


# -- installing beside the newest setuptools --------------------------------------

#: Run in the fresh venv: import and open everything, recording every warning.
CHECK = r"""
import json, os, sys, tempfile, urllib.parse, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import fs, fsspec, setuptools, unionfs_lib
    from upath import UPath
    from unionfs_lib.fsspec.upath import OverlayPath
    lower, upper = tempfile.mkdtemp(), tempfile.mkdtemp()
    with open(os.path.join(lower, "f.txt"), "w") as handle:
        handle.write("lower")
    quote = lambda url: urllib.parse.quote(url, safe="")
    # PyFilesystem2: the overlay:// opener (fs.opener entry point).
    url = f"overlay://?upper={quote('osfs://' + upper)}&lower={quote('osfs://' + lower)}"
    pyfs = fs.open_fs(url)
    assert pyfs.readtext("/f.txt") == "lower"
    pyfs.remove("/f.txt")
    assert not pyfs.exists("/f.txt") and os.path.exists(os.path.join(lower, "f.txt"))
    pyfs.close()
    # fsspec: the overlay protocol (fsspec.specs entry point).
    fsspec.filesystem("memory").pipe("/check/base/a.txt", b"a")
    layers = {"upper": "memory:///check/top", "lowers": ["memory:///check/base"]}
    spec = fsspec.filesystem("overlay", **layers)
    spec.pipe_file("/b.txt", b"b")
    assert spec.ls("/", detail=False) == ["/a.txt", "/b.txt"]
    # universal_pathlib: UPath (universal_pathlib.implementations entry point).
    root = UPath("overlay://", **layers)
    assert type(root) is OverlayPath
    (root / "d").mkdir()
    (root / "d" / "c.txt").write_text("c")
    (root / "a.txt").rename(root / "d" / "a.txt")
    assert sorted(str(path) for path in root.glob("**/*.txt")) == [
        "overlay://b.txt", "overlay://d/a.txt", "overlay://d/c.txt"]
    (root / "b.txt").unlink()
    assert [path.name for path in root.iterdir()] == ["d"] and root.stat().st_size == 0
print(json.dumps({
    "location": unionfs_lib.__file__,
    "version": unionfs_lib.__version__,
    "setuptools": setuptools.__version__,
    "warnings": [[warning.category.__name__, str(warning.message), warning.filename]
                 for warning in caught],
}))
"""

#: A test of a user of the pytest plugin.
PLUGIN_TEST = """
def test_sandbox(overlay_sandbox, tmp_path):
    (tmp_path / "keep.txt").write_text("kept")
    overlay = overlay_sandbox(str(tmp_path))
    overlay.remove("/keep.txt")
    assert [change.line() for change in overlay.changes()] == ["D /keep.txt"]
    assert (tmp_path / "keep.txt").read_text() == "kept"
"""


def setuptools_version(python: Path, cwd: Path) -> str:
    return run([python, "-c", "import setuptools; print(setuptools.__version__)"], cwd).strip()


def not_ours(warning: list[str]) -> bool:
    """Tell whether a recorded warning comes from PyFilesystem2's use of ``pkg_resources``."""
    category, message, filename = warning
    return ("pkg_resources" in filename or f"{os.sep}fs{os.sep}" in filename) and (
        "unionfs" not in filename and "overlay" not in message.lower())


def test_the_wheel_installs_beside_the_newest_setuptools_and_everything_opens(dist, tmp_path):
    python = fresh_venv(tmp_path / "venv")
    run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip", "setuptools>=82"],
        tmp_path)
    before = setuptools_version(python, tmp_path)
    assert int(before.split(".")[0]) >= 82, before
    print(f"the newest setuptools from the index: {before}", file=sys.stderr)

    installed = run([python, "-m", "pip", "install", f"{dist.wheel}[fsspec,upath]", "pytest",
                     "pytest-timeout"], tmp_path)
    assert "setuptools" not in re.findall(r"Uninstalling (\S+?)-", installed)
    assert setuptools_version(python, tmp_path) == before, "installing changed setuptools"
    run([python, "-m", "pip", "check"], tmp_path)

    report = json.loads(run([python, "-c", CHECK], tmp_path).strip().splitlines()[-1])
    assert Path(report["location"]).is_relative_to(tmp_path / "venv"), report["location"]
    assert report["version"] == unionfs_lib.__version__
    assert report["setuptools"] == before
    assert [each for each in report["warnings"] if not not_ours(each)] == []

    # The pytest plugin (pytest11 entry point) gives its fixture to a user's test.
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "test_user.py").write_text(PLUGIN_TEST)
    plugin = run([python, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--trace-config",
                  "test_user.py"], tmp_path / "user")
    assert "unionfs_lib.pytest_plugin" in plugin and "1 passed" in plugin, plugin[-3000:]

    check_console_scripts(tmp_path / "venv" / "bin", tmp_path)
    demo = run([python, "-m", "unionfs_lib.demo"], tmp_path)
    assert "merged view" in demo and "README.md" in demo

    # Part of the suite runs from the unpacked sdist, against the installed wheel.
    with tarfile.open(dist.sdist) as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(tmp_path / "sdist", filter="data")
        else:  # pragma: no cover - Python 3.10 before 3.10.12
            archive.extractall(tmp_path / "sdist")
    (unpacked,) = (tmp_path / "sdist").iterdir()
    # (Sphinx, which test_the_docs_show_the_package_version needs, is not installed here.)
    suite = run([python, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-k", "not docs_show",
                 "tests/fsspec/test_upath.py", "tests/project/test_release.py"], unpacked)
    assert re.search(r"\d+ passed", suite) and "failed" not in suite, suite[-3000:]


def check_console_scripts(bin_dir: Path, cwd: Path) -> None:
    """Both console scripts start; where they have ``--version``, it is the package's."""
    for program in ("unionfs-lib", "unionfs-lib-mount"):
        result = subprocess.run([bin_dir / program, "--version"], cwd=cwd, capture_output=True,
                                text=True, timeout=120)
        if result.returncode == 0:
            assert unionfs_lib.__version__ in result.stdout.split(), result.stdout
        else:  # no --version before issue #22: the script must still start and explain
            assert "Traceback" not in result.stderr, result.stderr
            assert "usage" in result.stderr or "unknown flag" in result.stderr, result.stderr


# -- Read the Docs -----------------------------------------------------------------


def test_the_docs_build_as_read_the_docs_says(index, checkout, tmp_path):
    """A fresh venv, the install steps of .readthedocs.yaml, then its Sphinx build."""
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((checkout / ".readthedocs.yaml").read_text())
    wanted = config["build"]["tools"]["python"]
    if f"{sys.version_info[0]}.{sys.version_info[1]}" != wanted:
        print(f"Read the Docs builds with Python {wanted}; this is {sys.version}", file=sys.stderr)
    for package in config["build"].get("apt_packages", []):
        if shutil.which("dpkg-query") is None:
            skip_loudly(f"cannot tell whether {package} (apt_packages) is installed")
        found = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                               capture_output=True, text=True)
        if "install ok installed" not in found.stdout:
            skip_loudly(f"Read the Docs installs {package}; it is not installed here")
    python = fresh_venv(tmp_path / "venv")
    for step in config["python"]["install"]:
        if "requirements" in step:
            run([python, "-m", "pip", "install", "--quiet", "-r", checkout / step["requirements"]],
                checkout)
        else:
            assert step["method"] == "pip"
            extras = ",".join(step.get("extra_requirements", []))
            target = f"{checkout / step['path']}[{extras}]" if extras else checkout / step["path"]
            run([python, "-m", "pip", "install", "--quiet", target], checkout)
    sphinx = config["sphinx"]
    source = (checkout / sphinx["configuration"]).parent
    warnings_are_errors = ["-W", "--keep-going"] if sphinx.get("fail_on_warning") else []
    run([python, "-m", "sphinx", "-T", *warnings_are_errors, "-b", "html", source,
         tmp_path / "html"], checkout)
    assert (tmp_path / "html" / "index.html").is_file()
    assert unionfs_lib.__version__ in (tmp_path / "html" / "index.html").read_text()
