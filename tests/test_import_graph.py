"""The house drawn from its imports. ``acd/daemon/`` wires the feature packages together (the AMI
client, the core, storage, metrics, HTTP, routing); a feature package that imported the daemon back,
directly or through another package, would make that wiring a circle: one change anywhere could
then break every command at import time, and no package could be read, tested or reused without
the whole daemon. Every import counts, the ones inside functions too (they run as well); only
``if TYPE_CHECKING:`` blocks are left out, since they never run."""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "acd"
DAEMON = "acd.daemon"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:``."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    return {m for m in found if m == "acd" or m.startswith("acd.")}


def _unit(module: str) -> str:
    """The part of the house a module belongs to: its top-level package (``acd.store``), or the
    module itself when it sits directly in ``acd/`` (``acd.daemon``, ``acd.settings``)."""
    parts = module.split(".")
    return ".".join(parts[:2])


def unit_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        unit = _unit(name)
        edges = graph.setdefault(unit, set())
        edges |= {_unit(m) for m in _imports(name, path, modules) if _unit(m) != unit}
    return graph


def _path(graph: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A shortest import path from ``start`` to ``goal`` (both included), or None."""
    came: dict[str, str | None] = {start: None}
    todo = deque([start])
    while todo:
        node = todo.popleft()
        for nxt in sorted(graph.get(node, ())):
            if nxt in came:
                continue
            came[nxt] = node
            if nxt == goal:
                path = [nxt]
                while came[path[-1]] is not None:
                    path.append(came[path[-1]])  # type: ignore[arg-type]
                return path[::-1]
            todo.append(nxt)
    return None


def test_the_graph_sees_what_the_daemon_wires() -> None:
    """The drawing itself is right: the daemon's own imports are in it (so the test below cannot
    pass by seeing nothing)."""
    graph = unit_graph()
    assert {"acd.ami", "acd.core", "acd.store", "acd.metrics", "acd.settings"} <= graph[DAEMON]
    assert DAEMON in graph["acd.commands"]


def test_no_import_circle_through_the_daemon() -> None:
    graph = unit_graph()
    circles = []
    for unit in sorted(graph[DAEMON]):
        back = _path(graph, unit, DAEMON)
        if back is not None:
            circles.append(" -> ".join([DAEMON, *back]))
    assert not circles, "import circles through the daemon:\n" + "\n".join(circles)
