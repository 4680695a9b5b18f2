"""No import cycle among fx2relax's modules: every import statement (at module level or inside a
function) is an edge of a graph over the package's modules, and so is each name the package itself
loads on first use (fx2relax._LAZY: `import fx2relax; fx2relax.compile` reaches the compiler); the
graph must be acyclic, and every module imports."""

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

import fx2relax

PACKAGE_DIR = Path(fx2relax.__file__).parent


def package_modules(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Dotted name → source file of every module of the fx2relax package (packages by their __init__)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The fx2relax modules that `name`'s import statements import: `from X import y` imports the
    module X.y when there is one, else X."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level else node.module
            for alias in node.names:
                imported.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {module for module in imported if module in modules and module != name}


def import_graph(package_dir: Path = PACKAGE_DIR, lazy: dict[str, str] = fx2relax._LAZY) -> dict[str, set[str]]:
    """Module → the fx2relax modules it imports, for the package in `package_dir` whose lazy
    names load the submodules `lazy` maps them to."""
    modules = package_modules(package_dir)
    graph = {name: imported_modules(name, path, modules) for name, path in modules.items()}
    graph["fx2relax"] |= {f"fx2relax.{module}" for module in lazy.values()}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as [a, b, ..., a], or None when it is acyclic."""
    visiting, done = [], set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return visiting[visiting.index(node):] + [node]
        if node in done:
            return None
        visiting.append(node)
        for successor in sorted(graph[node]):
            cycle = visit(successor)
            if cycle:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node)
        if cycle:
            return cycle
    return None


def test_no_import_cycle_among_fx2relax_modules():
    graph = import_graph()
    assert "fx2relax.schedules" in graph["fx2relax.tuning"]  # the graph sees imports
    assert "fx2relax.compiler" in graph["fx2relax"]  # and the package's lazy names
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("name", sorted(package_modules()))
def test_every_module_imports(name):
    importlib.import_module(name)
