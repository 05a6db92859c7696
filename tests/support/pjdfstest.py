"""pjdfstest, built at test time from ``../shared/ext`` and run with ``prove`` inside a mount.

The source archive lives outside the repository (``../shared/ext/`` beside
the repository root, see its README); :func:`build` unpacks and compiles it
once into ``~/.cache/unionfs-lib-tests/pjdfstest-<version>`` and returns the
directory, or ``None`` with the reason (no archive, no compiler, a failed
build) for the caller to skip loudly. :func:`run` runs ``prove`` on test
directories with the current directory inside the file system under test
and returns the failed subtests of each test file.

Run as a script, it measures the kernel overlay, ``fuse-overlayfs`` and our
mount in one go (the numbers of ``docs/mount.rst``)::

    PYTHONPATH=. python -m tests.support.pjdfstest [DIRECTORY...]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import typing

VERSION = "85a8aea"
ARCHIVE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
    "shared", "ext", f"pjdfstest-{VERSION}.tar.gz",
)
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "unionfs-lib-tests", f"pjdfstest-{VERSION}")

#: ``prove``'s summary line of a test file with failures: ``tests/x/00.t (Wstat: ...)``.
_FILE = re.compile(r"^(?P<file>\S+\.t)\s+\(Wstat:")
#: A section of a file's summary: ``  Failed tests:  3, 5-7``, ``  TODO passed:   4``,
#: ``  Parse errors: Bad plan...`` (the numbers may go on over several lines).
_SECTION = re.compile(r"^\s+(?P<label>[A-Z][\w ]+?):\s+(?P<rest>.*)$")
_MORE = re.compile(r"^\s+(?P<numbers>\d[\d, -]*)$")
#: Sections that are no failure: TODO subtests that passed (``prove`` passes such a file).
_HARMLESS = frozenset({"TODO passed"})


def build() -> tuple[str | None, str]:
    """Return ``(directory of the built pjdfstest, "")``, or ``(None, why not)``."""
    binary = os.path.join(CACHE, "pjdfstest", "pjdfstest")
    if os.path.exists(binary):
        return os.path.join(CACHE, "pjdfstest"), ""
    if not os.path.exists(ARCHIVE):
        return None, f"pjdfstest needs {ARCHIVE} (../shared/ext beside the repository)"
    missing = [tool for tool in ("cc", "make", "autoreconf", "prove") if shutil.which(tool) is None]
    if missing:
        return None, f"pjdfstest needs {', '.join(missing)} (autoconf, automake, libtool, perl)"
    scratch = tempfile.mkdtemp(prefix="pjdfstest-build-", dir=os.path.dirname(CACHE) or None)
    try:
        with tarfile.open(ARCHIVE) as archive:
            archive.extractall(scratch, filter="data")
        source = os.path.join(scratch, "pjdfstest")
        for command in (["autoreconf", "-ifs"], ["./configure"], ["make", "pjdfstest"]):
            result = subprocess.run(command, cwd=source, capture_output=True, text=True)
            if result.returncode != 0:
                return None, f"pjdfstest build failed at {command[0]}: {result.stderr[-500:]}"
        shutil.rmtree(CACHE, ignore_errors=True)
        os.rename(scratch, CACHE)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return os.path.join(CACHE, "pjdfstest"), ""


def run(
    suite: str, root: str, directories: typing.Sequence[str] = ()
) -> tuple[dict[str, set[int]], str]:
    """Run ``prove -r`` on ``directories`` (all by default) inside ``root``.

    Returns ``({test file: failed subtest numbers}, prove's output)``, test
    files named relative to ``tests/`` (``mknod/03.t``).
    """
    return run_side_by_side(suite, root, [directories])


def run_side_by_side(
    suite: str, root: str, groups: typing.Sequence[typing.Sequence[str]]
) -> tuple[dict[str, set[int]], str]:
    """Run one ``prove -r`` per group of test directories or files at the same time.

    What :func:`run` returns, for all groups together (their outputs one
    after the other). Test files that wait more than they work
    (``chown/00.t`` sleeps 80 s to see ``ctime`` move) are worth a group of
    their own. With more than one group, each runs in a directory of its
    own under ``root`` (``group-1``...), so that no group sees another's
    changes to the directory it works in.
    """
    tests = os.path.join(suite, "tests")
    places = [root] if len(groups) == 1 else [
        os.path.join(root, f"group-{number}") for number in range(1, len(groups) + 1)
    ]
    for place in places if len(groups) > 1 else ():
        os.mkdir(place, 0o755)
    running = [
        subprocess.Popen(
            ["prove", "-r", *([os.path.join(tests, name) for name in group] or [tests])],
            cwd=place, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        for group, place in zip(groups, places)
    ]
    failures: dict[str, set[int]] = {}
    outputs: list[str] = []
    for process in running:
        output, _ = process.communicate(timeout=1800)
        outputs.append(output)
        for name, numbers in parse(output, tests).items():
            failures.setdefault(name, set()).update(numbers)
    return failures, "\n".join(outputs)


def parse(output: str, tests: str) -> dict[str, set[int]]:
    """Return the failed subtests per test file of ``prove``'s summary.

    A file in the summary without a ``Failed tests`` line (it exited early,
    or its plan was wrong) gets subtest number 0; TODO subtests that passed
    (``TODO passed``) are no failure, and a file listed for them only is left out.
    """
    failures: dict[str, set[int]] = {}
    troubled: set[str] = set()
    current: str | None = None
    label = ""
    for line in output.splitlines():
        found = _FILE.match(line)
        if found:
            current, label = os.path.relpath(found["file"], tests), ""
            failures.setdefault(current, set())
            continue
        if current is None or not line.startswith(" "):
            current = None
            continue
        section = _SECTION.match(line)
        more = None if section else _MORE.match(line)
        if section:
            label = section["label"]
            troubled.update(() if label in _HARMLESS else (current,))
        numbers = section["rest"] if section else more["numbers"] if more else None
        if label == "Failed tests" and numbers is not None:
            failures[current] |= _numbers(numbers)
    # A file listed for more than passed TODOs without failed subtests died or broke
    # its plan: subtest 0 stands for it.
    return {
        name: numbers or {0}
        for name, numbers in failures.items()
        if numbers or name in troubled
    }


def _numbers(text: str) -> set[int]:
    """``"3, 5-7"`` -> ``{3, 5, 6, 7}``."""
    found: set[int] = set()
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        first, _, last = part.partition("-")
        found.update(range(int(first), int(last or first) + 1))
    return found


def _measure(directories: list[str]) -> None:  # pragma: no cover - a measuring script
    """Run pjdfstest on the kernel overlay, fuse-overlayfs and our mount; print the numbers."""
    from tests.support.kernel import KernelMount
    from tests.support.mounting import DaemonMount, mount_options

    suite, why = build()
    if suite is None:
        sys.exit(why)
    base = tempfile.mkdtemp(prefix="pjdfstest-measure-")
    os.chmod(base, 0o755)

    def dirs(name: str) -> dict[str, str]:
        made = {key: os.path.join(base, name, key) for key in ("lower", "upper", "work", "merged")}
        for path in made.values():
            os.makedirs(path, mode=0o755)
        return made

    def report(name: str, made: dict[str, str]) -> None:
        start = time.monotonic()
        failures, output = run(suite, made["merged"], directories)
        seconds = time.monotonic() - start
        cases = sum(len(numbers) for numbers in failures.values())
        print(f"{name}: {seconds:.0f} s, {cases} failed subtests in {len(failures)} files")
        print(output.splitlines()[-1] if output else "")
        for file, numbers in sorted(failures.items()):
            print(f"  {file}: {sorted(numbers)}")

    made = dirs("kernel")
    with KernelMount([made["lower"]], made["upper"], made["work"], made["merged"]):
        report("kernel overlay", made)
    made = dirs("fuse-overlayfs")
    options = mount_options([made["lower"]], made["upper"], made["work"], "allow_other")
    subprocess.run(["fuse-overlayfs", "-o", options, made["merged"]], check=True)
    try:
        report("fuse-overlayfs", made)
    finally:
        subprocess.run(["fusermount3", "-u", made["merged"]], check=False)
    made = dirs("ours")
    with DaemonMount(mount_options([made["lower"]], made["upper"], made["work"]), made["merged"]):
        report("unionfs-lib-mount", made)
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover
    _measure(sys.argv[1:])
