"""The package's modules stack: no module imports one that (directly or not) imports it.

Every import counts, wherever it stands: at the top, inside a function, or
under ``typing.TYPE_CHECKING``. A cycle would mean two modules that cannot be
understood (or changed) one without the other; ``docs/architecture.rst``
describes the layers this keeps.
"""

from __future__ import annotations

import ast
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
        if not module.startswith(("unionfs_lib.fsspec", "unionfs_lib.mount", "unionfs_lib.testing"))
    }
    assert not outside, f"modules beneath the façade import it: {sorted(outside)}"


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
