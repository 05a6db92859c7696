"""End to end: a GitHub lower (fsspec's ``GithubFileSystem`` over ``requests``).

GitHub itself is out of reach of CI. A server on 127.0.0.1 answers the REST
endpoints the client calls (``git/trees`` and ``contents``) in GitHub's JSON
shapes, and the client's API addresses point at it (``tests/support/endpoints.py``).
"""

from __future__ import annotations

import fs
import fsspec
import pytest
from fs.memoryfs import MemoryFS

from unionfs_lib import OverlayFS
from unionfs_lib.fsspec import FSSpecFS

from ..support.endpoints import github_api
from ..support.fsspec_layers import memory_prefix
from ..support.helpers import tree

pytest.importorskip("requests")

FILES = {
    "README.md": b"# base",
    "src/pkg/__init__.py": b"VERSION = 1\n",
    "src/pkg/old.py": b"old",
    "docs/index.rst": b"index",
}
TOKEN = "ghp_never-written-token"


@pytest.fixture(scope="module")
def api():
    """The fake GitHub API serving ``FILES`` as ``octo/base`` at ``main``."""
    with github_api(FILES, org="octo", repo="base", ref="main") as url:
        yield url


def github_lower(**options) -> FSSpecFS:
    """A read-only layer over the root of ``octo/base`` at ``main``."""
    from fsspec.implementations.github import GithubFileSystem

    filesystem = GithubFileSystem(
        org="octo", repo="base", sha="main", skip_instance_cache=True, **options
    )
    return FSSpecFS(filesystem, "", read_only=True)


def test_a_github_lower_under_a_memory_upper(api):
    lower = github_lower()
    assert sorted(lower.listdir("/")) == ["README.md", "docs", "src"]
    assert lower.getinfo("/src/pkg/old.py", ["details"]).size == 3
    upper = MemoryFS()
    with OverlayFS(upper, [lower]) as overlay:
        assert tree(overlay) == {"/" + name: data for name, data in FILES.items()} | {
            "/docs": None, "/src": None, "/src/pkg": None,
        }  # fmt: skip
        with overlay.openbin("/src/pkg/__init__.py", "a") as handle:  # copy-up
            handle.write(b"LOCAL = True\n")
        overlay.remove("/src/pkg/old.py")  # whiteout
        overlay.movedir("/docs", "/documentation", create=True)
        assert overlay.readtext("/src/pkg/__init__.py") == "VERSION = 1\nLOCAL = True\n"
        assert overlay.listdir("/src/pkg") == ["__init__.py"]
        assert overlay.readtext("/documentation/index.rst") == "index"
        assert upper.exists("/src/pkg/.wh.old.py")
        assert not upper.exists("/README.md")


def test_a_github_lower_is_described_without_credentials_and_reopened(api):
    lower = github_lower(username="reader", token=TOKEN)
    upper = FSSpecFS(fsspec.filesystem("memory"), memory_prefix())
    with OverlayFS(upper, [lower]) as overlay:
        overlay.remove("/README.md")
        description = overlay.describe(fingerprints="none")
    url = description["lowers"][0]["url"]
    assert TOKEN not in repr(description) and "reader" not in repr(description)
    assert url.startswith("fsspec://?url=github%3A%2F%2F")
    with fs.open_fs(url) as reopened:  # anonymous: GitHub serves public repositories so
        assert reopened.readtext("/src/pkg/old.py") == "old"
        assert sorted(reopened.listdir("/src/pkg")) == ["__init__.py", "old.py"]
    with fs.open_fs(description["url"]) as overlay:
        assert sorted(overlay.listdir("/")) == ["docs", "src"]
