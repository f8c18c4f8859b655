"""No import circles inside the package.

Every ``import`` / ``from ... import`` of an ``unskew`` module is an edge of the
module graph, at module level or inside a function (a lazy import hides a
circle, it does not remove it); imports under ``if TYPE_CHECKING:`` are left
out (they never run). ``from pkg import name`` points at ``pkg.name`` when that
is a module, else at ``pkg`` itself (its ``__init__``). The implicit run of a
parent package's ``__init__`` is not an edge: a package re-exporting its own
submodules is the normal direction. The graph must be acyclic.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "unskew"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The unskew modules that ``module`` imports (resolved, existing modules only)."""
    package = module if is_package else module.rpartition(".")[0]
    out: set[str] = set()

    def target(name: str) -> str | None:
        # the longest existing module prefix of a dotted name
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "unskew":
                    t = target(alias.name)
                    if t:
                        out.add(t)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] == "unskew":
                for alias in node.names:
                    full = f"{mod}.{alias.name}"
                    t = full if full in modules else target(mod)
                    if t:
                        out.add(t)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    out.discard(module)
    return out


def _graph() -> dict[str, set[str]]:
    files = sorted(ROOT.rglob("*.py"))
    modules = {_module_name(f) for f in files}
    graph = {}
    for f in files:
        name = _module_name(f)
        tree = ast.parse(f.read_text(encoding="utf-8"), filename=str(f))
        graph[name] = _imports(tree, name, f.name == "__init__.py", modules)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10_000))
    try:
        for v in sorted(graph):
            if v not in index:
                strong(v)
    finally:
        sys.setrecursionlimit(old)
    return out


def test_the_graph_is_read():
    graph = _graph()
    assert "unskew.metrics._frame" in graph
    assert "unskew.data._groups" in graph["unskew.metrics._groupstats"]
    assert "unskew.metrics._frame" in graph["unskew.metrics._groupstats"]  # a lazy import is an edge
    assert "unskew.metrics._groupstats" not in graph["unskew.metrics._frame"]  # TYPE_CHECKING only


def test_the_cycle_finder_finds_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import circles inside unskew:\n" + "\n".join(" <-> ".join(c) for c in cycles)
