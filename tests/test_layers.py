"""The package's layers (docs/architecture.md): every import between subpackages goes downwards, and no
module imports itself back through others.

The graph is read from the source with ``ast``: every import counts, wherever it is — at the top,
inside a function (a lazy import still couples two layers) and under ``if TYPE_CHECKING:`` (a type
named across layers couples them too, and a cycle through one is still a cycle to a reader and to
any tool that resolves the names).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import retrain_bench
from retrain_bench.platforms import registry

PACKAGE = Path(retrain_bench.__file__).parent

#: Lowest first. A unit is a subpackage or a top-level module of retrain_bench.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("redaction", "early_signals"),
    ("errors",),
    ("checks", "names"),
    ("workload",),
    ("measure",),
    ("cluster",),
    ("platforms",),
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


def imports_of(source: str) -> set[str]:
    """The retrain_bench names ``source`` imports, wherever in the file, TYPE_CHECKING blocks included:
    for ``from a.b import c`` both ``a.b`` and ``a.b.c`` (``c`` may be a module or a name in ``a.b``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] == "retrain_bench" and n != "retrain_bench")
    return found


def modules(root: Path = PACKAGE) -> dict[str, str]:
    """Every module of the package by dotted name (a package by its ``__init__``) -> its source."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path.read_text()
    return found


def module_graph(sources: Mapping[str, str]) -> dict[str, set[str]]:
    """Module -> the modules of ``sources`` it imports. ``from a.b import c`` is an edge to ``a.b.c`` when
    that is a module, else to ``a.b``; ``import a.b.c`` to the longest prefix that is a module. A parent
    package's ``__init__``, which Python runs first, is not an edge of its own: re-exports there would
    make every package a cycle."""

    def resolve(name: str) -> str | None:
        while name not in sources and "." in name:
            name = name.rsplit(".", 1)[0]
        return name if name in sources else None

    graph: dict[str, set[str]] = {}
    for module, source in sources.items():
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    targets.add(submodule if submodule in sources else resolve(node.module))
            elif isinstance(node, ast.Import):
                targets.update(resolve(alias.name) for alias in node.names)
        graph[module] = {t for t in targets if t is not None and t != module and t.startswith("retrain_bench.")}
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> set[tuple[str, ...]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[tuple[str, ...]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.add(tuple(sorted(component)))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def unit_edges(sources: Mapping[str, str] | None = None) -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> the imports making that edge, between different units."""
    edges: dict[tuple[str, str], list[str]] = {}
    for module, targets in module_graph(modules() if sources is None else sources).items():
        for target in sorted(targets):
            a, b = unit_of(module), unit_of(target)
            if a != b and b in RANK:
                edges.setdefault((a, b), []).append(f"{module} -> {target}")
    return edges


def test_the_reader_sees_lazy_and_type_checking_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from retrain_bench.errors import BenchError\n"
        "if TYPE_CHECKING:\n    from retrain_bench.harness.rounds import RoundResult\n"
        "def f():\n    import retrain_bench.cluster.kube\n    from retrain_bench.platforms import registry\n"
    )
    assert imports_of(source) == {
        "retrain_bench.errors",
        "retrain_bench.errors.BenchError",
        "retrain_bench.harness.rounds",
        "retrain_bench.harness.rounds.RoundResult",
        "retrain_bench.cluster.kube",
        "retrain_bench.platforms",
        "retrain_bench.platforms.registry",
    }


def test_the_module_graph_resolves_names_to_modules() -> None:
    sources = {
        "retrain_bench.platforms": "",
        "retrain_bench.platforms.registry": "from retrain_bench.platforms.definition import Platform\n",
        "retrain_bench.platforms.definition": "",
        "retrain_bench.cluster": "from retrain_bench.cluster.kube import Kube\n",
        "retrain_bench.cluster.kube": "import retrain_bench.errors\n",
        "retrain_bench.errors": "",
        "retrain_bench.cli": "from retrain_bench.platforms import registry\nimport retrain_bench.cluster.kube.Kube\n",
    }
    assert module_graph(sources) == {
        "retrain_bench.platforms": set(),
        "retrain_bench.platforms.registry": {"retrain_bench.platforms.definition"},
        "retrain_bench.platforms.definition": set(),
        # a re-export in a package's __init__ is not a cycle with the modules it re-exports
        "retrain_bench.cluster": {"retrain_bench.cluster.kube"},
        "retrain_bench.cluster.kube": {"retrain_bench.errors"},
        "retrain_bench.errors": set(),
        "retrain_bench.cli": {"retrain_bench.platforms.registry", "retrain_bench.cluster.kube"},
    }


def test_a_planted_cycle_through_a_type_checking_import_is_found() -> None:
    sources = {
        "retrain_bench.cluster.endpoints": "from retrain_bench.cluster.options import ClusterOptions\n",
        "retrain_bench.cluster.options": "def f():\n    from retrain_bench.platforms.definition import Platform\n",
        "retrain_bench.platforms.definition": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from retrain_bench.cluster.endpoints import ClusterEndpoints\n"
        ),
        "retrain_bench.platforms.registry": "from retrain_bench.platforms.definition import Platform\n",
    }
    assert cycles(module_graph(sources)) == {
        ("retrain_bench.cluster.endpoints", "retrain_bench.cluster.options", "retrain_bench.platforms.definition")
    }
    # the same cycle, within one unit, is still a cycle: the check is per module, not per package
    inside = {
        "retrain_bench.harness.a": "from retrain_bench.harness.b import B\n",
        "retrain_bench.harness.b": "if TYPE_CHECKING:\n    import retrain_bench.harness.a\n",
    }
    assert cycles(module_graph(inside)) == {("retrain_bench.harness.a", "retrain_bench.harness.b")}
    # and an upward import found only under TYPE_CHECKING is an upward edge
    assert ("cluster", "platforms") in unit_edges(sources)


def test_every_unit_has_a_layer() -> None:
    units = {path.relative_to(PACKAGE).parts[0].removesuffix(".py") for path in PACKAGE.glob("*")}
    units -= {"__init__", "__pycache__", "py.typed"}
    assert units <= set(RANK), f"give these a layer in LAYERS and docs/architecture.md: {units - set(RANK)}"


def test_imports_only_go_down_the_layers() -> None:
    upwards = {
        edge: where for edge, where in unit_edges().items() if edge[0] in RANK and RANK[edge[1]] >= RANK[edge[0]]
    }
    assert upwards == {}


def test_no_import_cycle_between_modules() -> None:
    assert cycles(module_graph(modules())) == set()


BUILTIN = registry.names()
#: Options and endpoints a platform used to have in the generic code (``ClusterOptions.flyte_endpoint``,
#: ``ClusterEndpoints.kfp()``): now its cluster side's.
_NAMES = "|".join(BUILTIN)
PLATFORM_ATTRIBUTE = re.compile(
    rf"\.(?:{_NAMES})\(|\b(?:{_NAMES})_(?:endpoint|service|insecure|config|host|project|domain|"
    r"experiment|namespace|token|namespaces)\b"
)


def named_platforms(source: str, names: Iterable[str]) -> list[str]:
    """The string constants of ``source`` that are exactly a platform's name, and the platform
    attributes it uses, each as ``line: text``."""
    wanted = set(names)
    found = [
        f"{node.lineno}: {node.value!r}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in wanted
    ]
    found += [f"{source.count(chr(10), 0, m.start()) + 1}: {m.group()}" for m in PLATFORM_ATTRIBUTE.finditer(source)]
    return found


def test_the_platform_name_reader_finds_literals_and_attributes() -> None:
    source = 'x = "kfp"\ny = options.flyte_endpoint\nz = endpoints.kfp()\nw = "kfp2"  # kfp, "flyte" in text\n'
    assert named_platforms(source, BUILTIN) == ["1: 'kfp'", "2: flyte_endpoint", "3: .kfp("]


def test_no_platform_is_named_outside_its_own_package() -> None:
    """The cluster layer, the options, the CLI, the harness and the plugin ask the registry."""
    own = tuple(f"platforms/{name}/" for name in BUILTIN)
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE).as_posix()
        if where.startswith(own):
            continue
        if hits := named_platforms(path.read_text(), BUILTIN):
            found[where] = hits
    assert found == {}
