"""The shape of the package: no module imports itself back through others (counting
imports inside functions: a circle hidden in a late import is still one; only names
for the type checker may point back), and the layers stay apart (storage and the core
know nothing of the edges)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOTS = [Path(__file__).parents[2] / "src", Path(__file__).parents[2] / "clients/python/src"]


def _modules() -> dict[str, Path]:
    modules = {}
    for root in ROOTS:
        for path in root.rglob("*.py"):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


MODULES = _modules()


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of `tree` but those under `if TYPE_CHECKING:`."""
    nodes, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        nodes.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def _imports(name: str, path: Path) -> set[str]:
    """The package modules `name` imports, anywhere in it but for the type checker;
    `from package import submodule` names the submodule."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            subs = {f"{node.module}.{alias.name}" for alias in node.names}
            found |= subs & MODULES.keys() or {node.module}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _reaches(start: str, goal: str) -> list[str] | None:
    """A path of imports from `start` to `goal`, if there is one."""
    seen, stack = {start}, [(start, [start])]
    while stack:
        module, path = stack.pop()
        for imported in GRAPH[module]:
            if imported == goal:
                return [*path, goal]
            if imported not in seen:
                seen.add(imported)
                stack.append((imported, [*path, imported]))
    return None


def test_the_package_is_read_as_expected() -> None:
    """The graph covers the package (so the other tests check something)."""
    assert {"disqueue.config", "disqueue.names", "disqueue.server.http"} <= GRAPH.keys()
    assert "disqueue.names" in GRAPH["disqueue.config"]


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_import_circle(module: str) -> None:
    """No module imports itself back through other modules."""
    circle = next(filter(None, (_reaches(m, module) for m in GRAPH[module])), None)
    assert circle is None, " → ".join([module, *circle])


@pytest.mark.parametrize("layer", ["disqueue.core", "disqueue.storage"])
def test_the_core_and_storage_know_nothing_of_the_edges(layer: str) -> None:
    """The rules and the backends import no server, client or command-line module."""
    for name, imported in GRAPH.items():
        if name == layer or name.startswith(layer + "."):
            edges = {m for m in imported if m.split(".")[1] in ("server", "client", "cli")}
            assert not edges, f"{name} imports {edges}"


def _module_level_imports(path: Path) -> set[str]:
    """The top-level names of what `path` imports when it is loaded: module-level
    imports, not those in functions, under `if TYPE_CHECKING:` or in a `try:` (optional)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
    return found


def test_what_the_server_imports_on_loading_is_a_dependency() -> None:
    """A module the server cannot start without is in pyproject.toml's `dependencies`,
    not only in an extra (httptools, for server/fast.py, was once only in `bench`)."""
    import re
    import sys
    import tomllib
    from importlib.metadata import packages_distributions

    root = Path(__file__).parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {
        re.split(r"[ <>=;\[!~]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        for requirement in project["dependencies"]
    }
    distributions = packages_distributions()
    missing = {}
    for path in (root / "src" / "disqueue").rglob("*.py"):
        for module in _module_level_imports(path):
            if module in sys.stdlib_module_names or module == "disqueue":
                continue
            names = {name.lower().replace("_", "-") for name in distributions.get(module, [])}
            if not names & declared:
                missing[module] = str(path.relative_to(root))
    assert not missing, f"imported on loading but not a dependency: {missing}"
