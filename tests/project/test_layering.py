"""The package's folders stack in layers, and the tree keeps the rules the layers stand for.

* no module imports one that (directly or not) imports it (no cycle);
* the layer folders stand in one declared order (:data:`LAYERS`), and a
  module imports only modules of its own layer or of layers beneath it (no
  arrow back up);
* only ``host/`` touches the OS (syscalls, ``ctypes``, ``fcntl``, OS paths,
  the internals of ``MemoryFS``): :data:`OS_EXCEPTIONS` lists, with a reason
  each, the core modules that still do;
* the front ends (:data:`FRONT_ENDS`) import only the public face
  (:data:`PUBLIC`), each other, and what :data:`FRONT_END_EXCEPTIONS` still
  allows them (TODO #23 step 3 takes those away).

Every import counts, wherever it stands: at the top, inside a function, or
under ``typing.TYPE_CHECKING``. ``docs/architecture.rst`` describes the layers.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent.parent / "unionfs_lib"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """Return the package modules that ``path`` imports, by absolute name."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = {f"{base}.{alias.name}" for alias in node.names} & modules
            found.update(submodules)
            if base in modules and len(submodules) < len(node.names):
                found.add(base)  # names taken from the module (or package) itself
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imported_modules(path, modules) for path in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one import cycle (a list of modules, first repeated last), or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = {
        module: {target for target in targets if target != "unionfs_lib"}
        for module, targets in import_graph().items()
        if module != "unionfs_lib"
    }
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_facade_is_imported_only_by_modules_built_on_it() -> None:
    built_on_it = {
        "unionfs_lib.checkpoint",
        "unionfs_lib.oci",
        "unionfs_lib.opener",
        "unionfs_lib.demo",
        "unionfs_lib.__main__",
        "unionfs_lib.pytest_plugin",
    }
    importers = {
        module
        for module, targets in import_graph().items()
        if "unionfs_lib.overlay" in targets and module != "unionfs_lib"
    }
    outside = {
        module
        for module in importers - built_on_it
        if not module.startswith(
            (
                "unionfs_lib.fsspec",
                "unionfs_lib.mount",
                "unionfs_lib.testing",
                "unionfs_lib.session",
            )
        )
    }
    assert not outside, f"modules beneath the façade import it: {sorted(outside)}"


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# -- layers ------------------------------------------------------------------------------------

#: The layers, bottom up: a module may import its own layer and those before it.
#: ``errors`` and the alias table ``_moved`` import nothing and stand at the bottom.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("unionfs_lib.errors", "unionfs_lib._moved"),
    ("unionfs_lib.model",),
    ("unionfs_lib.host",),
    ("unionfs_lib.stores",),
    ("unionfs_lib.resolve",),
    ("unionfs_lib.ops",),
    ("unionfs_lib.layers",),
    ("unionfs_lib.changesets",),
    ("unionfs_lib.overlay", "unionfs_lib.frontend_api"),
    # built on the façade
    (
        "unionfs_lib.checkpoint",
        "unionfs_lib.oci",
        "unionfs_lib.opener",
        "unionfs_lib.demo",
        "unionfs_lib.testing",
    ),
    # the front ends
    (
        "unionfs_lib.mount",
        "unionfs_lib.fsspec",
        "unionfs_lib.session",
        "unionfs_lib.pytest_plugin",
        "unionfs_lib.__main__",
    ),
)

#: The front ends: they use the overlay through its public face.
FRONT_ENDS = LAYERS[-1]

#: The public face the front ends may import: the package, the façade, the errors, and
#: the documented names front ends build on (``unionfs_lib.frontend_api``).
PUBLIC = frozenset(
    {"unionfs_lib", "unionfs_lib.overlay", "unionfs_lib.errors", "unionfs_lib.frontend_api"}
)

#: What front ends still import from beneath the façade, exactly (a stale
#: entry fails :func:`test_the_front_end_exceptions_are_still_needed`). None
#: now: the façade offers ``generation``, ``rename(..., noreplace=, exchange=)``,
#: a typed ``which()`` whose ``Backing`` knows its OS paths, ``upper_syspath``,
#: and keeps identity through copy-up itself; the journaled commit of a merged
#: changeset is the core's (``changesets.merged_commit``); everything else a
#: front end needs is a documented name of ``unionfs_lib.frontend_api``.
FRONT_END_EXCEPTIONS: dict[str, frozenset[str]] = {}


def layer_of(module: str) -> int | None:
    """Return the index in :data:`LAYERS` of ``module``'s layer (``None`` for the package)."""
    for index, members in enumerate(LAYERS):
        for member in members:
            if module == member or module.startswith(member + "."):
                return index
    return None


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in import_graph() if m != "unionfs_lib" and layer_of(m) is None)
    assert not unplaced, f"add these to LAYERS in {__name__}: {unplaced}"


def test_no_import_runs_back_up_a_layer() -> None:
    upward = [
        f"{module} ({LAYERS[layer_of(module) or 0][0]}) -> {target}"
        for module, targets in sorted(import_graph().items())
        if module != "unionfs_lib"
        for target in sorted(targets)
        if target != "unionfs_lib" and (layer_of(target) or 0) > (layer_of(module) or 0)
    ]
    assert not upward, "imports that run back up a layer:\n  " + "\n  ".join(upward)


def test_front_ends_import_only_the_public_face() -> None:
    reaching = []
    for module, targets in sorted(import_graph().items()):
        if layer_of(module) != len(LAYERS) - 1:
            continue
        allowed = FRONT_END_EXCEPTIONS.get(module, frozenset())
        for target in sorted(targets):
            if target in PUBLIC or target in allowed or layer_of(target) == len(LAYERS) - 1:
                continue
            reaching.append(f"{module} -> {target}")
    assert not reaching, "front ends reaching beneath the façade:\n  " + "\n  ".join(reaching)


def test_the_front_end_exceptions_are_still_needed() -> None:
    graph = import_graph()
    stale = sorted(
        f"{module} -> {target}"
        for module, targets in FRONT_END_EXCEPTIONS.items()
        for target in targets
        if target not in graph.get(module, set())
    )
    assert not stale, "remove from FRONT_END_EXCEPTIONS:\n  " + "\n  ".join(stale)


# -- the OS ------------------------------------------------------------------------------------

#: Modules that touch the OS although they are not in host/, each with its reason.
#: TODO #23 step 3: their OS calls move into host/ functions.
OS_EXCEPTIONS: dict[str, str] = {
    "unionfs_lib.stores.kernel_whiteouts": "the kernel format is device nodes and xattrs",
    "unionfs_lib.stores.marker_whiteouts": "lists an OS upper with scandir, lstat (fast path)",
    "unionfs_lib.stores.upper_format": "scans an upper's entries and xattrs to tell its format",
    "unionfs_lib.resolve.inode_numbers": "reads the upper's st_dev",
    "unionfs_lib.testing.suite_base": "makes the scratch OS layers a suite runs on",
    "unionfs_lib.resolve.link_index": "reads link targets and resolves them on the OS",
    "unionfs_lib.ops.copy_up_engine": "one os.replace to publish a copied-up entry",
    "unionfs_lib.ops.link_ops": "os.link and os.symlink in the upper",
    "unionfs_lib.ops.special_files": "mknod, sockets and modes of FIFOs and device nodes",
    "unionfs_lib.ops.xattr_ops": "extended attributes of the upper's entries",
    "unionfs_lib.layers.kernel_mount": "checks directories as mount -t overlay does",
    "unionfs_lib.layers.layer_urls": "tells whether a directory URL's path exists",
    "unionfs_lib.changesets.commit": "renames and links in the target of a commit",
    "unionfs_lib.opener": "creates the directories an opener URL asks for",
}

#: Modules of the OS that only the host may import.
OS_MODULES = frozenset(
    {"ctypes", "fcntl", "posix", "pwd", "grp", "mmap", "shutil", "tempfile", "socket", "termios"}
)
#: ``os`` names that touch nothing (constants, types, pure conversions).
OS_PURE = frozenset(
    {"fspath", "fsencode", "fsdecode", "sep", "name", "PathLike", "stat_result", "DirEntry"}
    | {"linesep", "curdir", "pardir", "altsep", "extsep", "devnull", "path"}
)
#: ``os.path`` functions that only compute on strings.
OS_PATH_PURE = frozenset(
    {"join", "basename", "dirname", "normpath", "split", "splitext", "isabs", "commonpath"}
)
#: Private attributes of ``MemoryFS`` (its entries, their files).
MEMORYFS_INTERNALS = re.compile(r"_get_dir_entry|_dir_entry|_bytes_io|_DirEntry|_MemoryFile")


def os_touches(path: Path) -> set[str]:
    """Return how the module at ``path`` touches the OS (see the module docstring)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] in OS_MODULES)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module.split(".")[0] in OS_MODULES:
                found.add(node.module)
            elif node.module == "os":
                found.update(f"os.{a.name}" for a in node.names if a.name not in OS_PURE)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "os" and node.attr not in OS_PURE:
                found.add(f"os.{node.attr}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            inner = node.value
            if isinstance(inner.value, ast.Name) and (inner.value.id, inner.attr) == ("os", "path"):
                if node.attr not in OS_PATH_PURE:
                    found.add(f"os.path.{node.attr}")
    found.update(f"MemoryFS.{m}" for m in MEMORYFS_INTERNALS.findall(path.read_text()))
    return found


def test_only_the_host_touches_the_os() -> None:
    touching = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        if module.startswith("unionfs_lib.host") or layer_of(module) == len(LAYERS) - 1:
            continue  # the host, and the front ends (a FUSE daemon, a CLI) serve the OS
        found = os_touches(path)
        if found and module not in OS_EXCEPTIONS:
            touching[module] = sorted(found)
    assert not touching, f"modules outside host/ that touch the OS: {touching}"


def test_the_os_exceptions_are_still_needed() -> None:
    stale = [m for m in OS_EXCEPTIONS if not os_touches(PACKAGE.parent / module_file(m))]
    assert not stale, f"these no longer touch the OS: drop them from OS_EXCEPTIONS: {stale}"


def module_file(module: str) -> Path:
    path = Path(*module.split("."))
    return path / "__init__.py" if (PACKAGE.parent / path).is_dir() else path.with_suffix(".py")


def test_the_os_check_sees_syscalls() -> None:
    sample = PACKAGE.parent / "unionfs_lib" / "host" / "syscalls.py"
    assert "ctypes" in os_touches(sample)


def test_the_layer_order_is_the_documented_one() -> None:
    order = ["model", "host", "stores", "resolve", "ops", "layers", "changesets"]
    indexes = [layer_of(f"unionfs_lib.{folder}.x") or 0 for folder in order]
    assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
    assert (layer_of("unionfs_lib.overlay") or 0) > (layer_of("unionfs_lib.changesets.x") or 0)
    assert layer_of("unionfs_lib.mount.operations") == len(LAYERS) - 1


# -- tests/ ------------------------------------------------------------------------------------

TESTS = PACKAGE.parent / "tests"


def test_no_test_module_imports_another_test_module() -> None:
    """Shared code lives in ``tests/support/`` (or a folder's ``conftest.py``)."""
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            if any(name.rpartition(".")[2].startswith("test_") for name in names):
                found.append(f"{path.relative_to(TESTS.parent)}:{getattr(node, 'lineno', 0)}")
    assert not found, f"test modules importing test modules: {found}"
