"""The package's layers (docs/architecture.md): every import between subpackages goes downwards.

The graph is read from the source with ``ast``, imports inside functions included (a lazy import
still couples two layers); imports under ``if TYPE_CHECKING:`` are left out, as they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import retrain_bench

PACKAGE = Path(retrain_bench.__file__).parent

#: Lowest first. A unit is a subpackage or a top-level module of retrain_bench.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "checks"),
    ("workload",),
    ("measure",),
    ("platforms",),
    ("cluster",),
    ("results",),
    ("analysis",),
    ("output",),
    ("options",),
    ("harness",),
    ("cli", "pytest_plugin"),
    ("__main__",),
)
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> str:
    """``retrain_bench.cluster.kube`` -> ``cluster``; ``retrain_bench.errors`` -> ``errors``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _type_checking_only(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def imports_of(source: str) -> set[str]:
    """The retrain_bench modules ``source`` imports, wherever in the file, TYPE_CHECKING aside."""
    tree = ast.parse(source)
    skipped = _type_checking_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] == "retrain_bench" and n != "retrain_bench")
    return found


def unit_edges() -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> the imports making that edge, between different units."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("retrain_bench", *path.relative_to(PACKAGE).with_suffix("").parts))
        for target in imports_of(path.read_text()):
            a, b = unit_of(module), unit_of(target)
            if a != b and b in RANK:  # ``from retrain_bench.platforms import registry`` names a module
                edges.setdefault((a, b), []).append(f"{module} -> {target}")
    return edges


def test_the_reader_sees_lazy_imports_and_skips_type_checking_ones() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from retrain_bench.errors import BenchError\n"
        "if TYPE_CHECKING:\n    from retrain_bench.harness.rounds import RoundResult\n"
        "def f():\n    import retrain_bench.cluster.kube\n    from retrain_bench.platforms import registry\n"
    )
    assert imports_of(source) == {
        "retrain_bench.errors",
        "retrain_bench.errors.BenchError",
        "retrain_bench.cluster.kube",
        "retrain_bench.platforms",
        "retrain_bench.platforms.registry",
    }


def test_every_unit_has_a_layer() -> None:
    units = {path.relative_to(PACKAGE).parts[0].removesuffix(".py") for path in PACKAGE.glob("*")}
    units -= {"__init__", "__pycache__", "py.typed"}
    assert units <= set(RANK), f"give these a layer in LAYERS and docs/architecture.md: {units - set(RANK)}"


def test_imports_only_go_down_the_layers() -> None:
    upwards = {
        edge: where for edge, where in unit_edges().items() if edge[0] in RANK and RANK[edge[1]] >= RANK[edge[0]]
    }
    assert upwards == {}


def test_no_cycle_between_subpackages() -> None:
    graph: dict[str, set[str]] = {}
    for a, b in unit_edges():
        graph.setdefault(a, set()).add(b)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        return False

    cycles = sorted((a, b) for a, targets in graph.items() for b in targets if reaches(b, a))
    assert cycles == []
