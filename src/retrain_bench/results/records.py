"""What the harness writes, as immutable values that own their JSON: a round and a benchmark's record.

``RoundRecord.of`` turns what the harness saw of a round (``RoundResult``) into ``docs/json-schema.md``'s
``rounds[]`` entry, every null with its reason in ``missing``; ``BenchmarkRecord.of`` adds the summaries
and the success rate. ``to_json`` writes the entry (the keys in the order files have always had them, so
a file is the same text as before the values existed); ``from_json`` reads one back, keeping the keys
this release does not know in ``extra`` so a round trip loses nothing.

Nested parts (tasks, resources, pods, ...) are held as JSON values: read-only views here, copied
into fresh dicts by ``to_json``.
"""

from __future__ import annotations

import copy
import dataclasses
import types
from collections.abc import Mapping, Sequence
from typing import Any

from retrain_bench.measure.cost import DEFAULT_PRICES, Prices, cost_keys, round_cost
from retrain_bench.results.contract import LOCAL_NOTES, SCHEMA, allocated, strict, success_rate, summarise
from retrain_bench.results.contract import summary_keys as keys_of
from retrain_bench.results.round import RoundResult
from retrain_bench.workload.cases import Case

#: A round's outcome when the pipeline did not finish: every output null.
NO_OUTCOME: Mapping[str, Any] = {
    "accuracy": {"initial": None, "drifted": None, "final": None},
    "drift_detected": None,
    "best_c": None,
}
#: Round keys in the order ``to_json`` writes them; present only for some rounds: run_id .. register_s.
_ROUND_KEYS = (
    "index", "warmup", "ok", "error", "total_s", "queue_s", "retrain_tune_s", "startup_s", "accuracy",
    "drift_detected", "best_c", "tasks", "platform_timings", "resources", "missing", "run_id", "run_url", "notes",
    "pods", "concurrency", "register_s", "cost",
)  # fmt: skip
_BENCHMARK_KEYS = ("schema", "platform", "target", "case", "rounds", "summary", "success_rate", "spec", "sdk")
#: What a round is summarised on when its time is null (the round's own reasons come first).
_FAILED_OUTPUTS = ("accuracy.initial", "accuracy.drifted", "accuracy.final", "drift_detected", "best_c")


def _frozen(value: Any) -> Any:
    """A read-only copy of a JSON value: mappings become views, lists tuples."""
    if isinstance(value, Mapping):
        return types.MappingProxyType({str(k): _frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def _thawed(value: Any) -> Any:
    """The JSON value back as fresh dicts and lists."""
    if isinstance(value, Mapping):
        return {k: _thawed(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_thawed(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class Remote:
    """What a cluster or server round adds: the run the platform accepted and what went wrong around it."""

    run_id: str | None
    run_url: str | None
    notes: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class RoundRecord:
    """One round as the JSON holds it (``rounds[]``)."""

    index: int
    warmup: bool
    ok: bool
    error: str | None
    total_s: float | None
    queue_s: float | None
    retrain_tune_s: float | None
    startup_s: float | None
    accuracy: Mapping[str, Any]
    drift_detected: bool | None
    best_c: float | None
    tasks: Mapping[str, Any]
    platform_timings: Mapping[str, Any]
    resources: Mapping[str, Any]
    #: dotted key (or a prefix of one) -> why it is null
    missing: Mapping[str, str]
    cost: Mapping[str, Any]
    #: None for local rounds, which have no run on a platform (the keys are then absent)
    remote: Remote | None = None
    #: cluster rounds: every pod of the run; None (absent) elsewhere
    pods: tuple[Mapping[str, Any], ...] | None = None
    concurrency: Mapping[str, Any] | None = None
    #: only rounds that ran a registry step carry the key
    register_s: float | None = None
    #: keys this release does not write, kept from a file read back
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: read from a file: its keys in its order (older files lack some); None: as this release writes them
    layout: tuple[str, ...] | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name in ("accuracy", "tasks", "platform_timings", "resources", "missing", "cost", "concurrency", "extra"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        if self.pods is not None:
            object.__setattr__(self, "pods", _frozen(self.pods))

    @classmethod
    def of(cls, result: RoundResult, prices: Prices = DEFAULT_PRICES) -> RoundRecord:
        """The record of what the harness saw; every null carries its reason in ``missing``."""
        outcome = result.outcome.as_dict() if result.outcome else copy.deepcopy(dict(NO_OUTCOME))
        tasks: dict[str, Any] = {"counts": dict(result.task_counts), "execution_units": result.units}
        if result.target == "cluster":
            tasks["allocated"] = allocated(result.pods)
        missing = _missing(result)
        unpriced = cls(
            index=result.index,
            warmup=result.warmup,
            ok=result.ok,
            error=result.error,
            total_s=result.total_s,
            queue_s=result.queue_s,
            retrain_tune_s=result.retrain_tune_s,
            startup_s=result.startup_s,
            accuracy=outcome["accuracy"],
            drift_detected=outcome["drift_detected"],
            best_c=outcome["best_c"],
            tasks=tasks,
            platform_timings=dict(result.platform_timings or {}),
            resources={scope: stats.as_dict() for scope, stats in result.resources.items()},
            missing=missing,
            cost={},
            remote=None
            if result.target == "local"
            else Remote(result.run_id, result.run.url if result.run else None, tuple(result.notes)),
            pods=tuple(pod.as_dict() for pod in result.pods) if result.target == "cluster" else None,
            concurrency=result.concurrency.as_dict() if result.concurrency is not None else None,
            register_s=result.register_s,
        )
        # Allocation needs the run level's fairness manifest, which a record does not see: `report` prices it.
        priced = unpriced.priced(result.platform, result.target, None, prices)
        why = priced.missing.get("cost.allocation_usd", "")
        if result.target == "cluster" and why.startswith("no control-plane requests"):
            # the manifest is written at the end of the session, after every round's record
            later = "priced by `python -m retrain_bench report` from the run level's fairness manifest"
            missing = {**priced.missing, "cost.allocation_usd": later + " (written after the rounds)"}
            return dataclasses.replace(priced, missing=missing)
        return priced

    def priced(self, platform: str, target: str, run_level: Mapping[str, Any] | None, prices: Prices) -> RoundRecord:
        """This round with its cost and the cost's reasons worked out at ``prices``; nothing else changes."""
        cost, gone = round_cost(self.to_json(), platform, target, run_level, prices)
        kept = {k: v for k, v in self.missing.items() if not k.startswith("cost.")}
        layout = self.layout
        for key in ("cost", "missing"):  # a file's round without them gets them, last
            layout = layout if layout is None or key in layout else (*layout, key)
        return dataclasses.replace(self, cost=cost, missing={**kept, **gone}, layout=layout)

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "index": self.index,
            "warmup": self.warmup,
            "ok": self.ok,
            "error": self.error,
            "total_s": self.total_s,
            "queue_s": self.queue_s,
            "retrain_tune_s": self.retrain_tune_s,
            "startup_s": self.startup_s,
            "accuracy": _thawed(self.accuracy),
            "drift_detected": self.drift_detected,
            "best_c": self.best_c,
            "tasks": _thawed(self.tasks),
            "platform_timings": _thawed(self.platform_timings),
            "resources": _thawed(self.resources),
            "missing": _thawed(self.missing),
        }
        if self.remote is not None:
            found.update(run_id=self.remote.run_id, run_url=self.remote.run_url, notes=list(self.remote.notes))
        if self.pods is not None:
            found["pods"] = _thawed(self.pods)
        if self.concurrency is not None:
            found["concurrency"] = _thawed(self.concurrency)
        if self.register_s is not None:
            found["register_s"] = self.register_s
        found["cost"] = _thawed(self.cost)
        found.update(_thawed(self.extra))
        return _laid_out(found, self.layout)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RoundRecord:
        remote = None
        if "run_id" in raw or "run_url" in raw or "notes" in raw:
            remote = Remote(raw.get("run_id"), raw.get("run_url"), tuple(raw.get("notes") or ()))
        pods = raw.get("pods")
        return cls(
            index=int(raw["index"]),
            warmup=bool(raw["warmup"]),
            ok=bool(raw["ok"]),
            error=raw.get("error"),
            total_s=raw.get("total_s"),
            queue_s=raw.get("queue_s"),
            retrain_tune_s=raw.get("retrain_tune_s"),
            startup_s=raw.get("startup_s"),
            accuracy=raw.get("accuracy") or NO_OUTCOME["accuracy"],
            drift_detected=raw.get("drift_detected"),
            best_c=raw.get("best_c"),
            tasks=raw.get("tasks") or {},
            platform_timings=raw.get("platform_timings") or {},
            resources=raw.get("resources") or {},
            missing=raw.get("missing") or {},
            cost=raw.get("cost") or {},
            remote=remote,
            pods=None if pods is None else tuple(pods),
            concurrency=raw.get("concurrency"),
            register_s=raw.get("register_s"),
            extra={k: v for k, v in raw.items() if k not in _ROUND_KEYS},
            layout=tuple(raw),
        )


def _laid_out(found: dict[str, Any], layout: tuple[str, ...] | None) -> dict[str, Any]:
    """``found`` with the keys of the file it was read from, in its order: a key the file had as null
    and this release leaves out when null (register_s, pods, ...) comes back as null."""
    return found if layout is None else {key: found.get(key) for key in layout}


def _missing(result: RoundResult) -> dict[str, str]:
    """The reasons for the round's nulls (all but the cost's, which pricing adds)."""
    missing: dict[str, str] = dict(LOCAL_NOTES) if result.target == "local" else {}
    missing.update(result.missing)
    if result.concurrency is not None:
        missing.update(result.concurrency.missing())
    if not result.resources and result.target != "cluster":
        missing["resources"] = "not measured: the sampler was off or the round ended before it started"
    elif not result.resources:
        missing["resources"] = "not measured: cluster resources come from Prometheus (--prometheus-url)"
    for scope, stats in result.resources.items():
        missing.update({f"resources.{scope}.{key}": reason for key, reason in stats.missing.items()})
    times = {
        "total_s": result.total_s,
        "queue_s": result.queue_s,
        "retrain_tune_s": result.retrain_tune_s,
        "startup_s": result.startup_s,
    }
    for key, value in times.items():
        if value is None:
            if not result.ok:
                missing[key] = "round failed before this was measured"
            elif key == "retrain_tune_s" and result.outcome and not result.outcome.drift_detected:
                missing[key] = "not_applicable: no drift, the adaptive branch did not run"
    if result.outcome is None:
        for key in _FAILED_OUTPUTS:
            missing[key] = "round failed"
    elif result.outcome.best_c is None:
        missing["best_c"] = "not_applicable: no drift, no tuning"
    return missing


@dataclasses.dataclass(frozen=True)
class BenchmarkRecord:
    """One platform × case of a run as the JSON holds it (``extra_info.retrain_bench``)."""

    platform: str
    target: str
    case: Mapping[str, Any]
    rounds: tuple[RoundRecord, ...]
    summary: Mapping[str, Any]
    success_rate: float | None
    schema: int = SCHEMA
    #: the --platform spec (``flyte@1.15.4``) and its SDK record; absent in files from before them
    spec: str | None = None
    sdk: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: as ``RoundRecord.layout``
    layout: tuple[str, ...] | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name in ("case", "summary", "sdk", "extra"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "rounds", tuple(self.rounds))

    @classmethod
    def of(
        cls, platform: str, target: str, case: Case, results: Sequence[RoundResult], prices: Prices = DEFAULT_PRICES
    ) -> BenchmarkRecord:
        rounds = tuple(RoundRecord.of(r, prices) for r in results)
        raw = [r.to_json() for r in rounds]
        return cls(
            platform=platform,
            target=target,
            case=case.as_dict(),
            rounds=rounds,
            summary=strict(summarise(raw, keys_of(results))),
            success_rate=success_rate(raw),
        )

    def repriced(self, run_level: Mapping[str, Any] | None, prices: Prices) -> BenchmarkRecord:
        """Every round's cost and its reasons, and the cost summaries, at ``prices``; nothing else changes."""
        rounds = tuple(r.priced(self.platform, self.target, run_level, prices) for r in self.rounds)
        scopes = {scope for r in rounds for scope in r.resources}
        summary = {k: v for k, v in self.summary.items() if not k.startswith("cost.")}
        costs = summarise([r.to_json() for r in rounds], cost_keys(scopes))
        return dataclasses.replace(self, rounds=rounds, summary={**summary, **costs})

    def with_spec(self, spec: str, sdk: Mapping[str, Any]) -> BenchmarkRecord:
        return dataclasses.replace(self, spec=spec, sdk=sdk)

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "schema": self.schema,
            "platform": self.platform,
            "target": self.target,
            "case": _thawed(self.case),
            "rounds": [r.to_json() for r in self.rounds],
            "summary": _thawed(self.summary),
            "success_rate": self.success_rate,
        }
        if self.spec is not None:
            found["spec"] = self.spec
        if self.sdk is not None:
            found["sdk"] = _thawed(self.sdk)
        found.update(_thawed(self.extra))
        return strict(_laid_out(found, self.layout))  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> BenchmarkRecord:
        return cls(
            platform=raw["platform"],
            target=raw["target"],
            case=raw["case"],
            rounds=tuple(RoundRecord.from_json(r) for r in raw["rounds"]),
            summary=raw.get("summary") or {},
            success_rate=raw.get("success_rate"),
            schema=raw.get("schema", SCHEMA),
            spec=raw.get("spec"),
            sdk=raw.get("sdk"),
            extra={k: v for k, v in raw.items() if k not in _BENCHMARK_KEYS},
            layout=tuple(raw),
        )


def round_record(result: RoundResult, prices: Prices = DEFAULT_PRICES) -> dict[str, Any]:
    """One round as ``docs/json-schema.md``'s ``rounds[]`` entry."""
    return RoundRecord.of(result, prices).to_json()


def benchmark_record(
    platform: str, target: str, case: Case, results: Sequence[RoundResult], prices: Prices = DEFAULT_PRICES
) -> dict[str, Any]:
    """One benchmark's ``extra_info.retrain_bench`` without its spec."""
    return BenchmarkRecord.of(platform, target, case, results, prices).to_json()


def reprice(document: Mapping[str, Any], prices: Prices) -> dict[str, Any]:
    """The document with every benchmark's record repriced at ``prices`` (``BenchmarkRecord.repriced``) and
    the run level saying so; nothing else changes."""
    priced = copy.deepcopy(dict(document))
    run_level = priced.get("retrain_bench")
    level = run_level if isinstance(run_level, dict) else None
    # The failed benchmarks too: their rounds can have resources (a round that failed late), and a
    # repriced file must not carry two price lists.
    failed = level.get("failed_benchmarks", []) if level is not None else []
    for benchmark in [*priced["benchmarks"], *failed]:
        record = BenchmarkRecord.from_json(benchmark["extra_info"]["retrain_bench"])
        benchmark["extra_info"]["retrain_bench"] = record.repriced(level, prices).to_json()
    if level is not None:
        level.setdefault("options", {})["prices"] = prices.as_dict()
    return strict(priced)  # type: ignore[no-any-return]
