"""``UPath("overlay://...")``: universal_pathlib's own test cases, run on an overlay.

:class:`TestOverlayPath` subclasses universal_pathlib's ``BaseTests`` (its wheel
ships no tests: :mod:`tests.support.upath_suite` fetches them from its sdist at test time) the
way universal_pathlib tests its memory implementation: a ``path`` fixture sets
``self.path``. Here the test files live in a *lower* directory, so every read
goes through the overlay's lookup, every write copies up, ``unlink`` leaves a
whiteout and a directory ``rename`` a redirect; the lower is checked unchanged
after each test. The fixtures ``local_testdir``, ``pathlib_base`` and
``clear_fsspec_memory_cache`` are those of universal_pathlib's ``conftest.py``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest

upath = pytest.importorskip("upath", reason="the UPath tests need universal_pathlib")

from fsspec import get_filesystem_class  # noqa: E402
from upath import UPath  # noqa: E402
from upath.registry import available_implementations, register_implementation  # noqa: E402

from unionfs_lib.fsspec.upath import OverlayPath  # noqa: E402

from ..support.upath_suite import load_cases  # noqa: E402

_cases = load_cases()
BaseTests: typing.Any = _cases.BaseTests
from upath.tests.utils import OverrideMeta, overrides_base  # noqa: E402

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent.parent
GROUP = "universal_pathlib.implementations"

if "overlay" not in available_implementations():
    # The installed metadata predates the entry point (an older editable
    # install); test_the_declared_entry_point_* checks the entry point itself.
    register_implementation("overlay", OverlayPath)


def tree_digest(root: str) -> str:
    """Return a digest of every name, type and content under ``root``."""
    entries = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            with open(os.path.join(folder, name), "rb") as handle:
                entries.append((os.path.relpath(os.path.join(folder, name), root), handle.read()))
        entries.extend((os.path.relpath(os.path.join(folder, name), root), b"<dir>")
                       for name in dirs)
    return hashlib.sha256(repr(sorted(entries)).encode()).hexdigest()


# -- universal_pathlib's fixtures (upath/tests/conftest.py) ------------------


@pytest.fixture
def clear_fsspec_memory_cache() -> typing.Iterator[None]:
    memory = get_filesystem_class("memory")
    pseudo_dirs, store = memory.pseudo_dirs.copy(), memory.store.copy()
    try:
        yield
    finally:
        memory.pseudo_dirs, memory.store = pseudo_dirs, store


@pytest.fixture
def local_testdir(tmp_path: Path) -> str:
    folder1 = tmp_path / "folder1"
    folder1.mkdir()
    for name in ("file1.txt", "file2.txt"):
        (folder1 / name).write_text(name)
    (tmp_path / "file1.txt").write_text("hello world")
    (tmp_path / "file2.txt").write_bytes(b"hello world")
    return str(tmp_path)


@pytest.fixture
def pathlib_base(local_testdir: str) -> Path:
    return Path(local_testdir)


# -- the overlay ---------------------------------------------------------------


@pytest.fixture
def overlay_dirs(local_testdir: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A lower holding universal_pathlib's test files, and an empty upper."""
    lower = tmp_path_factory.mktemp("lower")
    shutil.copytree(local_testdir, lower, dirs_exist_ok=True)
    upper = tmp_path_factory.mktemp("upper")
    return {"lower": str(lower), "upper": str(upper)}


def overlay_root(dirs: dict[str, str]) -> UPath:
    """The root of an overlay: a PyFilesystem2 lower, an fsspec upper (both URLs)."""
    return UPath("overlay://", upper=f"file://{dirs['upper']}", lowers=[f"osfs://{dirs['lower']}"])


class TestOverlayPath(BaseTests, metaclass=OverrideMeta):
    """universal_pathlib's full suite (read, write, iterdir, glob, rename ...) on an overlay."""

    # universal_pathlib's convention: the fixture ``path`` sets the attribute ``path``.
    @pytest.fixture(autouse=True)
    def path(  # type: ignore[override]
        self, overlay_dirs: dict[str, str]
    ) -> typing.Iterator[None]:
        before = tree_digest(overlay_dirs["lower"])
        self.path = overlay_root(overlay_dirs)  # type: ignore[assignment]
        self.prepare_file_system()
        yield
        assert tree_digest(overlay_dirs["lower"]) == before, "the lower was written"

    def prepare_file_system(self) -> None:
        """Leave the test files in the lower (the base class would write them to the upper)."""
        self.make_top_folder()

    @overrides_base
    def test_is_correct_class(self) -> None:
        assert isinstance(self.path, OverlayPath)


# -- overlay semantics through UPath -------------------------------------------


def test_unlink_and_rename_leave_the_lower_alone(overlay_dirs):
    root = overlay_root(overlay_dirs)
    (root / "file1.txt").unlink()
    (root / "folder1").rename(root / "moved")
    (root / "file2.txt").write_text("changed")
    assert sorted(path.name for path in root.iterdir()) == ["file2.txt", "moved"]
    assert sorted(path.name for path in root.glob("moved/*.txt")) == ["file1.txt", "file2.txt"]
    assert (root / "moved" / "file1.txt").read_text() == "file1.txt"
    lower = Path(overlay_dirs["lower"])
    assert (lower / "file1.txt").read_text() == "hello world"
    assert (lower / "folder1" / "file2.txt").read_text() == "file2.txt"
    assert (lower / "file2.txt").read_text() == "hello world"
    upper = Path(overlay_dirs["upper"])
    assert (upper / ".wh.file1.txt").exists()  # a whiteout hides the lower file
    assert (upper / "file2.txt").read_text() == "changed"
    # A new overlay over the same layers sees the same tree: it is all in the upper.
    again = overlay_root(overlay_dirs)
    assert sorted(path.name for path in again.rglob("*")) == sorted(
        path.name for path in root.rglob("*"))


def test_stat_of_the_root_warns_nothing(overlay_dirs, recwarn):
    """The overlay keeps no times for its root; stat reads them as 0, silently."""
    result = overlay_root(overlay_dirs).stat()
    assert result.st_mtime == 0 and result.st_size == 0
    assert [str(warning.message) for warning in recwarn] == []


@pytest.mark.parametrize(
    "url, expected",
    [
        ("overlay://", "overlay://"),
        ("overlay:///", "overlay://"),
        ("overlay://a", "overlay://a"),
        ("overlay:///a/b", "overlay://a/b"),
        ("overlay://a/b", "overlay://a/b"),
    ],
)
def test_string_representation(url, expected):
    path = UPath(url, upper=None, lowers=[])
    assert str(path) == expected
    assert path == UPath(expected, upper=None, lowers=[])


# -- the entry point ---------------------------------------------------------------

ENTRY_POINT_CHECK = """
import warnings
warnings.simplefilter("error")
# PyFilesystem2's own use of pkg_resources warns (as it does without this project).
warnings.filterwarnings("ignore", message="Deprecated call to `pkg_resources.declare_namespace")
warnings.filterwarnings("ignore", message="pkg_resources is deprecated as an API")
import sys
from upath import UPath
from unionfs_lib.fsspec.upath import OverlayPath
root = UPath("overlay://", upper="memory:///ep/upper", lowers=[])
(root / "d").mkdir()
(root / "d" / "f.txt").write_text("x")
assert type(root) is OverlayPath, type(root)
print(sorted(str(path) for path in root.glob("**/*.txt")))
"""


def test_the_declared_entry_point_gives_overlay_path_without_a_warning(tmp_path):
    """Install the entry points pyproject.toml declares (a bare dist-info), warnings as errors."""
    with open(ROOT / "pyproject.toml", "rb") as handle:
        project = tomllib.load(handle)["project"]
    declared = project["entry-points"][GROUP]
    assert declared == {"overlay": "unionfs_lib.fsspec.upath:OverlayPath"}
    info = tmp_path / "unionfs_lib_entry_points-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: unionfs-lib-entry-points\n"
                                   "Version: 0\n")
    lines = [f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in names.items())
             for group, names in project["entry-points"].items()]
    (info / "entry_points.txt").write_text("\n".join(lines))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    result = subprocess.run([sys.executable, "-c", ENTRY_POINT_CHECK], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['overlay://d/f.txt']"


def test_the_installed_entry_point_if_any_is_ours():
    """Where the project is installed with its entry points, ``overlay`` names OverlayPath."""
    found = [point for point in importlib.metadata.entry_points(group=GROUP)
             if point.name == "overlay"]
    if not found:
        pytest.skip("the installed unionfs-lib metadata predates the entry point")
    assert {point.value for point in found} == {"unionfs_lib.fsspec.upath:OverlayPath"}
