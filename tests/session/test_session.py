"""OverlaySession on local files: forks, merge conflicts, commit, resume after SIGKILL, costs."""

from __future__ import annotations

import functools
import os
import pickle
import shutil
import typing
from pathlib import Path

import pytest
from fs.osfs import OSFS
from fs.wrapfs import WrapFS

from unionfs_lib.errors import CommitConflict
from unionfs_lib.session import MergeConflict, OverlaySession

from ..support import summary
from ..support.sessions import (
    LOWER,
    assert_final,
    assert_old_or_new,
    contents,
    fill,
    run_killed,
    three_forks,
)


@pytest.fixture
def lower(tmp_path: Path) -> Path:
    root = tmp_path / "lower"
    root.mkdir()
    with OSFS(str(root)) as layer:
        fill(layer, LOWER)
    return root


def make_session(tmp_path: Path, lower: Path, **options: typing.Any) -> OverlaySession:
    return OverlaySession([str(lower)], str(tmp_path / "staging"), **options)


def test_forks_are_plain_picklable_records(tmp_path, lower):
    session = make_session(tmp_path, lower)
    fork = session.fork("one")
    assert not (tmp_path / "staging").exists()  # no I/O until opened
    assert len(pickle.dumps(fork)) < 1000
    again = pickle.loads(pickle.dumps(fork))
    assert again == fork
    assert pickle.loads(pickle.dumps(session)).id == session.id
    with again.open() as overlay:
        overlay.writetext("/new.txt", "hi")
    assert (tmp_path / "staging" / session.id / "one" / "new.txt").read_text() == "hi"
    with pytest.raises(ValueError):
        session.fork("../escape")
    with pytest.raises(ValueError):
        session.changes([fork, fork])
    with pytest.raises(ValueError):
        make_session(tmp_path, lower).changes([fork])


def test_merge_and_commit_into_the_top_lower(tmp_path, lower):
    session = make_session(tmp_path, lower)
    forks = [pickle.loads(pickle.dumps(fork)) for fork in three_forks(session)]
    assert session.changes(forks)["idle"] == []
    lines = [change.line() for change in session.merge(forks)]
    assert lines == [
        "M /data/a.txt", "D /old", "A /out", "A /out/part-0.txt", "A /out/part-1.txt",
        "A /out/part-2.txt",
    ]  # fmt: skip
    assert session.commit(forks) == 6
    with OSFS(str(lower)) as layer:
        assert_final(contents(layer))
    assert session.commit(forks) == 6  # done: the journal says so, nothing is written
    session.discard(forks)
    assert os.listdir(tmp_path / "staging" / session.id) == [".commits"]


def test_commit_into_another_target_and_through_fsspec(tmp_path, lower):
    target = tmp_path / "target"
    shutil.copytree(lower, target)
    session = make_session(tmp_path, lower, target=str(target))
    fork = session.fork()
    filesystem = fork.fsspec()
    filesystem.pipe_file("/data/c.txt", b"see")
    assert session.commit([fork]) == 1
    assert (target / "data" / "c.txt").read_bytes() == b"see"
    assert not (lower / "data" / "c.txt").exists()


@pytest.mark.parametrize(
    "second",
    [
        pytest.param(lambda o: o.writebytes("/data/a.txt", b"other"), id="same-file"),
        pytest.param(lambda o: o.remove("/data/a.txt"), id="delete-against-modify"),
        pytest.param(lambda o: o.movedir("/data", "/moved", create=True), id="rename-vs-write"),
    ],
)
def test_conflicts_are_found_before_anything_is_written(tmp_path, lower, second):
    session = make_session(tmp_path, lower)
    first, other, bystander = session.fork("first"), session.fork("other"), session.fork("by")
    with first.open() as overlay:
        overlay.writebytes("/data/a.txt", b"first")
    with other.open() as overlay:
        second(overlay)
    with bystander.open() as overlay:
        overlay.writebytes("/keep.txt", b"kept")
    before = contents(OSFS(str(lower)))
    with pytest.raises(MergeConflict) as raised:
        session.commit([first, other, bystander])
    assert raised.value.conflicts["/data/a.txt"] == ("first", "other")
    assert all(forks == ("first", "other") for forks in raised.value.conflicts.values())
    assert "/data/a.txt (first, other)" in str(raised.value)
    assert pickle.loads(pickle.dumps(raised.value)).conflicts == raised.value.conflicts
    assert contents(OSFS(str(lower))) == before
    assert session.commit([first, bystander]) == 2  # a subset commits
    assert (lower / "keep.txt").read_bytes() == b"kept"


def test_a_directory_renamed_by_one_and_written_under_by_another(tmp_path, lower):
    session = make_session(tmp_path, lower)
    mover, writer = session.fork("mover"), session.fork("writer")
    with mover.open() as overlay:
        overlay.movedir("/old", "/new", create=True)
    with writer.open() as overlay:
        overlay.writebytes("/old/z.txt", b"zed")
    with pytest.raises(MergeConflict) as raised:
        session.merge([mover, writer])
    assert raised.value.conflicts["/old/z.txt"] == ("mover", "writer")


def test_the_target_changed_since_the_session_began(tmp_path, lower):
    target = tmp_path / "target"
    shutil.copytree(lower, target)
    session = make_session(tmp_path, lower, target=str(target))
    forks = three_forks(session)
    (target / "data" / "a.txt").write_bytes(b"another job")
    with pytest.raises(CommitConflict) as raised:
        session.commit(forks)
    assert raised.value.path == "/data/a.txt"
    assert not (target / "out").exists() and (target / "old").exists()


class Counting(WrapFS):
    """Counts the calls that read a layer."""

    def __init__(self, wrapped: typing.Any) -> None:
        super().__init__(wrapped)
        self.reads = 0

    def _count(self, name: str) -> typing.Any:
        self.reads += 1
        return getattr(super(), name)

    def getinfo(self, path, namespaces=None):
        return self._count("getinfo")(path, namespaces)

    def scandir(self, path, namespaces=None, page=None):
        return self._count("scandir")(path, namespaces, page)

    def listdir(self, path):
        return self._count("listdir")(path)

    def openbin(self, path, mode="r", buffering=-1, **options):
        return self._count("openbin")(path, mode, buffering, **options)


@pytest.mark.unguarded
def test_merge_cost_grows_with_changes_not_with_forks_or_data(tmp_path, lower):
    big = OSFS(str(lower))
    fill(big, {f"bulk/{index:04d}.txt": b"." for index in range(500)})
    counting = Counting(big)
    session = OverlaySession([counting], str(tmp_path / "staging"), target=str(lower))

    def reads_for(forks_count: int, files: int) -> int:
        forks = [session.fork() for _ in range(forks_count)]
        for number, fork in enumerate(forks):
            with fork.open() as overlay:
                for index in range(files):
                    overlay.writebytes(f"/new-{number}-{index}.txt", b"x")
        idle = [session.fork() for _ in range(20)]
        for fork in idle[:10]:
            fork.open().close()  # opened, changed nothing
        counting.reads = 0
        session.merge(forks + idle)
        return counting.reads

    small, large = reads_for(2, 10), reads_for(8, 10)
    assert reads_for(1, 0) == 0  # forks that changed nothing read no lower
    assert large <= 4 * small + 8, (small, large)
    assert reads_for(2, 40) <= 4 * small + 8


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_commit_killed_at_every_step_resumes(tmp_path, lower):
    template = tmp_path / "template"
    session = OverlaySession([str(lower)], str(template / "staging"), session_id="crash")
    names = [fork.name for fork in three_forks(session)]
    shutil.copytree(lower, template / "lower")

    def attempt(case: str) -> tuple[OverlaySession, Path, list]:
        root = tmp_path / case
        shutil.copytree(template, root)
        again = OverlaySession([str(root / "lower")], str(root / "staging"), session_id="crash")
        return again, root / "lower", [again.fork(name) for name in names]

    whole, _, forks = attempt("whole")
    steps = run_killed(lambda: whole.commit(forks), None)
    assert steps is not None and steps > 5
    for kill_at in range(steps):
        case, target, forks = attempt(f"k{kill_at}")
        assert run_killed(functools.partial(case.commit, forks), kill_at) is None
        with OSFS(str(target)) as layer:
            assert_old_or_new(contents(layer))
        case.commit(forks)
        with OSFS(str(target)) as layer:
            assert_final(contents(layer))
            assert not layer.exists("/.unionfs-commit")
        summary.count("session crash tests: SIGKILLed commits resumed (local)")
        shutil.rmtree(tmp_path / f"k{kill_at}")
