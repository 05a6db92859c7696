"""The demo runs and shows the merged tree, the untouched lower and the upper's changes."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from unionfs_lib import demo

ROOT = Path(__file__).resolve().parent.parent.parent


def _sections(text: str) -> dict[str, str]:
    """Split the demo's output at its ``== title`` lines."""
    sections: dict[str, str] = {}
    title = ""
    for line in text.splitlines():
        if line.startswith("== "):
            title = line[3:].split(" (")[0]
            sections[title] = ""
        elif title:
            sections[title] += line + "\n"
    return sections


def _names(section: str) -> set[str]:
    """The entry names of a ``tree`` drawing."""
    names = set()
    for line in section.splitlines():
        if "-- " in line:
            names.add(line.split("-- ", 1)[1].strip())
    return names


def test_demo_shows_merged_lower_and_upper():
    out = io.StringIO()
    demo.main(out)
    sections = _sections(out.getvalue())
    assert set(sections) == {
        "merged view",
        "lower layer",
        "upper layer",
        "what changed",
        "the same as a patch",
        "a copy of the lower after overlay.commit(copy)",
        "after overlay.discard(): the sandbox shows the lower again",
    }

    merged = _names(sections["merged view"])
    assert {"README.md", "lib", "app.py", "util.py", "new.txt", "guide.txt"} <= merged
    assert not {"README.txt", "src", "old-notes.txt"} & merged
    assert not any(name.startswith(".wh.") for name in merged)
    assert "An edit that lives in the upper layer." in sections["merged view"]

    lower = _names(sections["lower layer"])
    assert {"README.txt", "src", "app.py", "old-notes.txt", "guide.txt"} <= lower
    assert not {"README.md", "lib", "new.txt"} & lower
    assert "An edit that lives in the upper layer." not in sections["lower layer"]

    upper = _names(sections["upper layer"])
    assert {".wh.old-notes.txt", ".wh.src", ".wh.README.txt", ".wh..wh..redirect"} <= upper
    assert {"README.md", "new.txt", "guide.txt", "lib"} <= upper
    # The renamed directory's files were not copied: only the redirect is there.
    assert not {"app.py", "util.py", "logo.txt"} & upper

    changed = sections["what changed"].split("\n")
    for line in ("A /README.md", "D /README.txt", "M /docs/guide.txt", "A /docs/new.txt",
                 "D /docs/old-notes.txt", "R /src -> /lib"):
        assert line in changed
    assert "+An edit that lives in the upper layer." in sections["the same as a patch"]
    committed = _names(sections["a copy of the lower after overlay.commit(copy)"])
    assert committed == merged
    assert "/README.txt is back: True; the upper holds 0 entries" in out.getvalue()


def test_demo_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "unionfs_lib.demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "== merged view" in result.stdout
    assert "== lower layer" in result.stdout
    assert "== upper layer" in result.stdout
    assert result.stderr == ""
