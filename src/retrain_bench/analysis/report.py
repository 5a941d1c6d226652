"""The study's tables (Tables 1–3 of the seed paper) per case: a pure model, rendered in ``render.py``.

Rows are the study's metrics; one column per platform (mean ± sample std dev, n), a
"Kubeflow / Flyte" ratio when both ran, and each platform's overhead over bare Python when bare
ran. Resource rows read the widest scope a platform has (platform > execution > process_tree):
the study's "total". A value that is not there is n/a with the reason the rounds recorded — it is
never 0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from retrain_bench.analysis.growth import AxisGrowth, build_growth
from retrain_bench.analysis.metrics import SCOPES, SUCCESS_RATE, TOTAL_SCOPES, Sample, resource_key
from retrain_bench.measure.cost import ALLOCATION, USAGE, Prices, dotted, round_cost
from retrain_bench.platforms import registry
from retrain_bench.results.model import Benchmark, Run

SUCCESS = SUCCESS_RATE
#: The scope a target measures when nothing else is known, to ask the rounds why a figure is missing.
NATURAL_SCOPE = {"local": "process_tree", "cluster": "platform", "server": "platform"}


@dataclasses.dataclass(frozen=True)
class RowSpec:
    label: str
    #: A time key, a resource figure (``resource``), or ``success_rate``.
    name: str
    resource: bool = False


ROWS = (
    RowSpec("Total Pipeline Time (s)", "total_s"),
    RowSpec("Retraining and Tuning Time (s)", "retrain_tune_s"),
    RowSpec("Peak Total Memory (GiB)", "memory_peak_gib", resource=True),
    RowSpec("Average Total Memory (GiB)", "memory_avg_gib", resource=True),
    RowSpec("Peak Total CPU (mCPU)", "cpu_peak_mcpu", resource=True),
    RowSpec("Average Total CPU (mCPU)", "cpu_avg_mcpu", resource=True),
    RowSpec("Reliability (Success Rate %)", SUCCESS),
)
#: Shown after the retraining row when a benchmark's rounds ran the registry step (--registry).
REGISTRY_ROW = RowSpec("Model Registration Time (s)", "register_s")


def rows_for(benchmarks: Iterable[Benchmark]) -> tuple[RowSpec, ...]:
    """The study's rows, with the registry step's when any of these benchmarks summarised it."""
    if not any(REGISTRY_ROW.name in b.summary_keys for b in benchmarks):
        return ROWS
    return (*ROWS[:2], REGISTRY_ROW, *ROWS[2:])


@dataclasses.dataclass(frozen=True)
class Cell:
    """One platform's value in one row; ``missing`` says why there is none."""

    platform: str
    sample: Sample | None = None
    key: str | None = None
    scope: str | None = None
    source: str | None = None
    missing: str | None = None
    #: Success-rate row only.
    rate: float | None = None
    ok: int = 0
    measured: int = 0

    @property
    def mean(self) -> float | None:
        return self.rate if self.sample is None else self.sample.mean


@dataclasses.dataclass(frozen=True)
class Derived:
    """A ratio or an overhead; ``missing`` says why it cannot be computed."""

    value: float | None = None
    pct: float | None = None
    missing: str | None = None
    applicable: bool = True


@dataclasses.dataclass(frozen=True)
class Row:
    spec: RowSpec
    cells: tuple[Cell, ...]
    ratio: Derived | None
    overheads: tuple[Derived, ...]

    @property
    def scopes(self) -> tuple[tuple[str, str | None], ...]:
        """The distinct (scope, source) pairs the row's values come from."""
        return tuple(dict.fromkeys((c.scope, c.source) for c in self.cells if c.scope is not None))


@dataclasses.dataclass(frozen=True)
class CaseTable:
    case: str
    target: str
    hash: str
    platforms: tuple[str, ...]
    rows: tuple[Row, ...]
    sources: tuple[str, ...]

    @property
    def has_ratio(self) -> bool:
        pair = registry.ratio_pair()
        return pair is not None and all(p in self.platforms for p in pair)

    @property
    def overhead_platforms(self) -> tuple[str, ...]:
        reference = registry.reference()
        return tuple(p for p in self.platforms if p != reference) if reference in self.platforms else ()


@dataclasses.dataclass(frozen=True)
class CostRow:
    label: str
    #: ``cost.usage.<scope>_usd`` or ``cost.allocation_usd``
    key: str
    cells: tuple[Cell, ...]


@dataclasses.dataclass(frozen=True)
class CostTable:
    """What one run of a case cost per platform, priced from the rounds' resources at ``Report.prices``."""

    case: str
    target: str
    hash: str
    platforms: tuple[str, ...]
    rows: tuple[CostRow, ...]


@dataclasses.dataclass(frozen=True)
class TargetPair:
    """One platform's figure on the server target beside the same platform's on the local target."""

    platform: str
    local: Cell
    server: Cell
    #: server mean / local mean: what the orchestrator's own control plane adds to its debug executor
    ratio: Derived


@dataclasses.dataclass(frozen=True)
class ServerAgainstLocal:
    """A case run on both the local and the server target (same hash): each platform's two figures."""

    case: str
    hash: str
    platforms: tuple[str, ...]
    rows: tuple[tuple[RowSpec, tuple[TargetPair, ...]], ...]


@dataclasses.dataclass(frozen=True)
class Report:
    inputs: tuple[Run, ...]
    tables: tuple[CaseTable, ...]
    #: The sweeps' growth laws; empty for a run without sweeps.
    growth: tuple[AxisGrowth, ...] = ()
    #: Costs are shown only when priced: the runs recorded prices, or prices were given.
    prices: Prices | None = None
    costs: tuple[CostTable, ...] = ()
    #: cluster runs: what each platform scope contained, and the fairness warnings, one line each
    cluster_facts: tuple[str, ...] = ()
    #: cases present on both the local and the server target: the control plane's overhead
    server_against_local: tuple[ServerAgainstLocal, ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.target for t in self.tables))


def build_report(runs: Sequence[Run], found: Sequence[Benchmark], prices: Prices | None = None) -> Report:
    tables = []
    by_case: dict[tuple[str, str, str], dict[str, Benchmark]] = {}
    for entry in found:
        by_case.setdefault((entry.key.case, entry.key.target, entry.key.hash), {})[entry.key.column] = entry
    for (case, target, hash_), platforms in by_case.items():
        # The same columns for every case of a target, so tables line up.
        columns = _platforms(e.key.column for e in found if e.key.target == target)
        rows = tuple(build_row(spec, columns, platforms, target) for spec in ROWS)
        sources = tuple(dict.fromkeys(s for e in platforms.values() for s in e.sources))
        tables.append(CaseTable(case, target, hash_, columns, rows, sources))
    costs: tuple[CostTable, ...] = ()
    if prices is not None:
        run_levels = {run.path: run.document.get("retrain_bench") for run in runs}
        costs = tuple(build_cost_table(t, by_case[(t.case, t.target, t.hash)], run_levels, prices) for t in tables)
    return Report(
        tuple(runs),
        tuple(tables),
        build_growth(found),
        prices,
        costs,
        cluster_facts(runs),
        server_against_local(tables),
    )


def server_against_local(tables: Sequence[CaseTable]) -> tuple[ServerAgainstLocal, ...]:
    """Every case (same hash) on both targets, with the platforms that ran on both: the server figure,
    the local one and their ratio. Resources compare each target's total scope (the control plane's
    ``platform`` against the launcher's ``process_tree``), which is the point: what the platform costs."""
    local = {(t.case, t.hash): t for t in tables if t.target == "local"}
    found = []
    for server in (t for t in tables if t.target == "server"):
        here = local.get((server.case, server.hash))
        if here is None:
            continue
        platforms = tuple(p for p in server.platforms if p in here.platforms)
        rows = []
        for served, ran in zip(server.rows, here.rows, strict=True):
            cells = {c.platform: c for c in ran.cells}
            pairs = tuple(
                TargetPair(c.platform, cells[c.platform], c, _ratio(c, cells[c.platform], served.spec))
                for c in served.cells
                if c.platform in platforms
            )
            rows.append((served.spec, pairs))
        if platforms:
            found.append(ServerAgainstLocal(server.case, server.hash, platforms, tuple(rows)))
    return tuple(found)


def _ratio(server: Cell, local: Cell, spec: RowSpec) -> Derived:
    if spec.name == SUCCESS:
        return Derived(applicable=False)
    if server.mean is None or local.mean is None:
        absent = [target for target, c in (("server", server), ("local", local)) if c.mean is None]
        return Derived(missing=f"no {' or '.join(absent)} value")
    if local.mean == 0:
        return Derived(missing="the local mean is 0")
    return Derived(server.mean / local.mean)


def cluster_facts(runs: Sequence[Run]) -> tuple[str, ...]:
    """The platform scopes' inventories and the fairness warnings of cluster runs, one line each."""
    lines: list[str] = []
    for run in runs:
        cluster = (run.document.get("retrain_bench") or {}).get("cluster") or {}
        platforms = (cluster.get("inventory") or {}).get("platforms") or {}
        measured = cluster.get("manifests") or {}
        for name, entry in platforms.items():
            if measured and name not in measured:
                continue
            where = ", ".join(entry.get("namespaces") or [])
            pods = f", pods matching {entry['pod_regex']}" if entry.get("pod_regex") else ", every pod"
            lines.append(f"{_name(name)} platform scope: namespaces {where}{pods}")
        lines += [f"Fairness warning: {w}" for w in cluster.get("fairness_warnings") or []]
    return tuple(dict.fromkeys(lines))


def build_cost_table(
    table: CaseTable, entries_: Mapping[str, Benchmark], run_levels: Mapping[str, Any], prices: Prices
) -> CostTable:
    """Usage per measured scope and allocation, recomputed from each counted round at these prices."""
    priced: dict[str, list[tuple[dict[str, Any], dict[str, str]]]] = {}
    for platform, entry in entries_.items():
        run_level = run_levels.get(entry.sources[0])
        priced[platform] = [
            round_cost(r.raw, entry.key.platform, entry.key.target, run_level, prices) for r in entry.counted
        ]
    scopes = {scope for rounds in priced.values() for cost, _ in rounds for scope in cost[USAGE]}
    keys = [(f"Usage cost (USD) [{s} scope]", f"cost.{USAGE}.{s}_usd") for s in SCOPES if f"{s}_usd" in scopes]
    keys.append(("Allocation cost (USD)", f"cost.{ALLOCATION}"))
    rows = []
    for label, key in keys:
        cells = []
        for platform in table.platforms:
            if platform not in priced:
                cells.append(Cell(platform, missing="not run for this case"))
                continue
            values = tuple(float(v) for cost, _ in priced[platform] if (v := dotted({"cost": cost}, key)) is not None)
            if values:
                cells.append(Cell(platform, Sample(values), key))
                continue
            reasons = [gone[key] for _, gone in priced[platform] if key in gone]
            fallback = entries_[platform].missing_reason(key) if not priced[platform] else "not recorded"
            cells.append(Cell(platform, key=key, missing=reasons[0] if reasons else fallback))
        rows.append(CostRow(label, key, tuple(cells)))
    return CostTable(table.case, table.target, table.hash, table.platforms, tuple(rows))


def _platforms(names: Any) -> tuple[str, ...]:
    return registry.in_order(names)


def build_row(spec: RowSpec, columns: Sequence[str], entries_: Mapping[str, Benchmark], target: str) -> Row:
    cells = tuple(
        build_cell(spec, entries_[p], p, target) if p in entries_ else Cell(p, missing="not run for this case")
        for p in columns
    )
    by_platform = {c.platform: c for c in cells}
    applicable = spec.name != SUCCESS
    ratio = None
    pair = registry.ratio_pair()
    if pair is not None and all(p in by_platform for p in pair):
        over, under = pair
        ratio = derive(by_platform[over], by_platform[under], ratio=True) if applicable else Derived(applicable=False)
    overheads: tuple[Derived, ...] = ()
    reference = registry.reference()
    if reference in by_platform:
        overheads = tuple(
            derive(c, by_platform[reference], ratio=False) if applicable else Derived(applicable=False)
            for c in cells
            if c.platform != reference
        )
    return Row(spec, cells, ratio, overheads)


def build_cell(spec: RowSpec, entry: Benchmark, platform: str, target: str) -> Cell:
    if spec.name == SUCCESS:
        ok, measured = entry.success_counts()
        rate = entry.success_rate
        missing = None if rate is not None else "no measured rounds"
        return Cell(platform, rate=rate, ok=ok, measured=measured, missing=missing)
    if not spec.resource:
        sample = entry.sample(spec.name)
        if sample.n == 0:
            return Cell(platform, key=spec.name, missing=entry.missing_reason(spec.name))
        return Cell(platform, sample, spec.name)
    for scope in TOTAL_SCOPES:
        key = resource_key(scope, spec.name)
        sample = entry.sample(key)
        if sample.n:
            return Cell(platform, sample, key, scope, entry.source_of(scope))
    scope = _explaining_scope(entry, target)
    return Cell(platform, missing=entry.missing_reason(resource_key(scope, spec.name)))


def _explaining_scope(entry: Benchmark, target: str) -> str:
    """The widest scope the rounds have at all, to ask why its figure is missing."""
    return next((s for s in TOTAL_SCOPES if entry.has_scope(s)), NATURAL_SCOPE.get(target, "platform"))


def _name(platform: str) -> str:
    return registry.title(platform)


def derive(cell: Cell, reference: Cell, *, ratio: bool) -> Derived:
    """``cell / reference`` (ratio) or ``cell − reference`` with its percent of the reference."""
    name, ref_name = _name(cell.platform), _name(reference.platform)
    if cell.mean is None or reference.mean is None:
        absent = [_name(c.platform) for c in (cell, reference) if c.mean is None]
        return Derived(missing=f"no {' or '.join(absent)} value")
    if cell.scope != reference.scope:
        return Derived(missing=f"scopes differ ({name}: {cell.scope}, {ref_name}: {reference.scope})")
    if reference.mean == 0:
        return Derived(missing=f"{ref_name} mean is 0")
    if ratio:
        return Derived(cell.mean / reference.mean)
    diff = cell.mean - reference.mean
    return Derived(diff, diff / reference.mean * 100.0)
