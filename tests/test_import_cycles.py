"""No import circle in reconciler/, between modules or between packages (reconciler/<package>/, each
top-level module counting as its own), read from the source with `ast`.

Imports inside functions count: a lazy import still ties the two modules together. Imports under
`if TYPE_CHECKING:` are ignored: they never run, and type checkers resolve such circles.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "reconciler"


def _modules(root: Path) -> dict[str, tuple[Path, bool]]:
    found: dict[str, tuple[Path, bool]] = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def _type_checking_only(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
            if name == "TYPE_CHECKING":
                skipped.update(id(inner) for child in node.body for inner in ast.walk(child))
    return skipped


def _imported(name: str, package: bool, source: str, known: Mapping[str, object]) -> set[str]:
    tree = ast.parse(source)
    skipped = _type_checking_only(tree)
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `from package import module`
    return {n for n in names if n in known and n != name}


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = _modules(root)
    return {
        name: _imported(name, package, path.read_text(encoding="utf-8"), modules)
        for name, (path, package) in modules.items()
    }


def package_graph(modules: Mapping[str, set[str]]) -> dict[str, set[str]]:
    def package(name: str) -> str:
        return ".".join(name.split(".")[:2])

    graph: dict[str, set[str]] = {}
    for name, imported in modules.items():
        graph.setdefault(package(name), set()).update(
            package(other) for other in imported if package(other) != package(name)
        )
    return graph


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Every import circle, as a path that starts and ends at the same node (one per circle found)."""
    found: list[list[str]] = []
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for other in sorted(graph.get(node, ())):
            if state.get(other) == "open":
                found.append([*path[path.index(other) :], other])
            elif other not in state:
                visit(other, [*path, other])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_module_imports_itself_back() -> None:
    assert circles(import_graph()) == []


def test_no_package_imports_itself_back() -> None:
    assert circles(package_graph(import_graph())) == []


def test_circles_are_found(tmp_path: Path) -> None:
    """The reader itself: a circle through a lazy import and a relative one is found; a TYPE_CHECKING
    import is not an edge."""
    for package in ("alpha", "beta"):
        (tmp_path / "reconciler" / package).mkdir(parents=True)
        (tmp_path / "reconciler" / package / "__init__.py").write_text("")
    (tmp_path / "reconciler" / "__init__.py").write_text("")
    (tmp_path / "reconciler" / "alpha" / "one.py").write_text("from .two import X\n")
    (tmp_path / "reconciler" / "alpha" / "two.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from reconciler.beta import three\n"
        "def f():\n    from reconciler.alpha import one\n"
    )
    (tmp_path / "reconciler" / "beta" / "three.py").write_text("import reconciler.alpha.one\n")
    modules = import_graph(tmp_path / "reconciler")
    assert circles(modules) == [["reconciler.alpha.one", "reconciler.alpha.two", "reconciler.alpha.one"]]
    assert circles(package_graph(modules)) == []
