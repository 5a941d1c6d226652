"""The JSON contract: build ``extra_info.retrain_bench`` from rounds, summarise, validate, load.

Schema history (``SCHEMA``):
  1 — first release: platform, target, case, rounds, summary, success_rate.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from retrain_bench.measure.cost import DEFAULT_PRICES, Prices, cost_keys, dotted, round_cost
from retrain_bench.measure.stats import FIGURES
from retrain_bench.results.round import RoundResult
from retrain_bench.workload.cases import Case

if TYPE_CHECKING:
    from retrain_bench.cluster.pods import PodSeen

SCHEMA = 1
#: Round keys summarised over ok, non-warmup rounds.
SUMMARY_KEYS = ("total_s", "queue_s", "retrain_tune_s", "startup_s")
#: Summarised too when the rounds ran N executions at once (--concurrency N > 1).
CONCURRENCY_SUMMARY_KEY = "concurrency.throughput_per_min"
LOCAL_NOTES = {"platform_timings": "local executors keep no timings of their own"}


def round_record(result: RoundResult, prices: Prices = DEFAULT_PRICES) -> dict[str, Any]:
    """One round as ``docs/json-schema.md``'s ``rounds[]`` entry; every null carries its reason in ``missing``."""
    outcome = (
        result.outcome.as_dict()
        if result.outcome
        else {
            "accuracy": {"initial": None, "drifted": None, "final": None},
            "drift_detected": None,
            "best_c": None,
        }
    )
    record: dict[str, Any] = {
        "index": result.index,
        "warmup": result.warmup,
        "ok": result.ok,
        "error": result.error,
        "total_s": result.total_s,
        "queue_s": result.queue_s,
        "retrain_tune_s": result.retrain_tune_s,
        "startup_s": result.startup_s,
        **outcome,
        "tasks": {"counts": dict(result.task_counts), "execution_units": result.units},
        "platform_timings": dict(result.platform_timings or {}),
        "resources": {scope: stats.as_dict() for scope, stats in result.resources.items()},
        "missing": dict(LOCAL_NOTES) if result.target == "local" else {},
    }
    if result.target != "local":
        record.update(run_id=result.run_id, run_url=result.run.url if result.run else None, notes=list(result.notes))
    if result.target == "cluster":
        record["pods"] = [pod.as_dict() for pod in result.pods]
        record["tasks"]["allocated"] = allocated(result.pods)
    if result.concurrency is not None:
        record["concurrency"] = result.concurrency.as_dict()
    missing = record["missing"]
    if result.register_s is not None:  # only rounds that ran a registry step (--registry, drift): others as before
        record["register_s"] = result.register_s
    missing.update(result.missing)
    if result.concurrency is not None:
        missing.update(result.concurrency.missing())
    if not result.resources and result.target != "cluster":
        missing["resources"] = "not measured: the sampler was off or the round ended before it started"
    elif not result.resources:
        missing["resources"] = "not measured: cluster resources come from Prometheus (--prometheus-url)"
    for scope, stats in result.resources.items():
        missing.update({f"resources.{scope}.{key}": reason for key, reason in stats.missing.items()})
    for key in SUMMARY_KEYS:
        if record[key] is None:
            if not result.ok:
                missing[key] = "round failed before this was measured"
            elif key == "retrain_tune_s" and result.outcome and not result.outcome.drift_detected:
                missing[key] = "not_applicable: no drift, the adaptive branch did not run"
    if result.outcome is None:
        for key in ("accuracy.initial", "accuracy.drifted", "accuracy.final", "drift_detected", "best_c"):
            missing[key] = "round failed"
    elif result.outcome.best_c is None:
        missing["best_c"] = "not_applicable: no drift, no tuning"
    # Allocation needs the run level's fairness manifest, which a record does not see: `report` prices it.
    record["cost"], gone = round_cost(record, result.platform, result.target, None, prices)
    if result.target == "cluster" and gone.get("cost.allocation_usd", "").startswith("no control-plane requests"):
        # the manifest is written at the end of the session, after every round's record
        gone["cost.allocation_usd"] = (
            "priced by `python -m retrain_bench report` from the run level's fairness manifest"
            " (written after the rounds)"
        )
    missing.update(gone)
    return record


def allocated(pods: Sequence[PodSeen]) -> dict[str, Any]:
    """What the run's pods held: their requests × how long each ran (start → last container
    finished), summed. Pods without requests or without both times are counted apart."""
    cpu = memory = 0.0
    counted, without = 0, []
    for pod in pods:
        start, end = _instant(pod.started), _instant(pod.finished)
        if pod.cpu_request is None or pod.memory_request_gib is None or start is None or end is None:
            without.append(pod.name)
            continue
        seconds = max(0.0, end - start)
        cpu += pod.cpu_request * seconds
        memory += pod.memory_request_gib * seconds
        counted += 1
    return {
        "cpu_core_seconds": cpu if counted else None,
        "memory_gib_seconds": memory if counted else None,
        "pods_counted": counted,
        "pods_not_counted": without,
    }


def _instant(iso: str | None) -> float | None:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() if iso else None


def _describe(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "mean": None, "stddev": None, "min": None, "median": None, "max": None}
    return {
        "n": len(values),
        "mean": statistics.fmean(values),
        # Sample standard deviation (n-1); undefined, so null, for a single round.
        "stddev": statistics.stdev(values) if len(values) > 1 else None,
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
    }


def counted_rounds(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The rounds a summary is computed over: ok and not warm-up."""
    return [r for r in record["rounds"] if r["ok"] and not r["warmup"]]


def measured_rounds(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in record["rounds"] if not r["warmup"]]


def keys_in(records: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """Every summary key of these records, first seen first."""
    seen: dict[str, None] = {}
    for record in records:
        for key in record.get("summary", {}):
            seen.setdefault(key, None)
    return tuple(seen)


def summarise(rounds: Iterable[Mapping[str, Any]], keys: Sequence[str] = SUMMARY_KEYS) -> dict[str, Any]:
    counted = [r for r in rounds if r["ok"] and not r["warmup"]]
    return {key: _describe([v for r in counted if (v := dotted(r, key)) is not None]) for key in keys}


def success_rate(rounds: Iterable[Mapping[str, Any]]) -> float | None:
    measured = [r for r in rounds if not r["warmup"]]
    return sum(r["ok"] for r in measured) / len(measured) if measured else None


def summary_keys(results: Sequence[RoundResult]) -> list[str]:
    """The time keys, then every resource figure of every scope that any round measured."""
    scopes = sorted({scope for r in results for scope in r.resources})
    concurrent = [CONCURRENCY_SUMMARY_KEY] if any(r.concurrency is not None for r in results) else []
    return [
        *SUMMARY_KEYS,
        *(f"resources.{scope}.{figure}" for scope in scopes for figure in FIGURES),
        *concurrent,
        *cost_keys(scopes),
    ]


def benchmark_record(
    platform: str, target: str, case: Case, results: Sequence[RoundResult], prices: Prices = DEFAULT_PRICES
) -> dict[str, Any]:
    rounds = [round_record(r, prices) for r in results]
    return strict(
        {
            "schema": SCHEMA,
            "platform": platform,
            "target": target,
            "case": case.as_dict(),
            "rounds": rounds,
            "summary": summarise(rounds, summary_keys(results)),
            "success_rate": success_rate(rounds),
        }
    )


def reprice(document: Mapping[str, Any], prices: Prices) -> dict[str, Any]:
    """The document with every round's cost, its reasons and the cost summaries recomputed at ``prices``
    from the rounds' resources, and the run level saying so; nothing else changes."""
    priced = copy.deepcopy(dict(document))
    run_level = priced.get("retrain_bench")
    # The failed benchmarks too: their rounds can have resources (a round that failed late), and a
    # repriced file must not carry two price lists.
    failed = run_level.get("failed_benchmarks", []) if isinstance(run_level, dict) else []
    for benchmark in [*priced["benchmarks"], *failed]:
        record = benchmark["extra_info"]["retrain_bench"]
        for round_ in record["rounds"]:
            cost, gone = round_cost(round_, record["platform"], record["target"], run_level, prices)
            kept = {k: v for k, v in round_.get("missing", {}).items() if not k.startswith("cost.")}
            round_["cost"], round_["missing"] = cost, {**kept, **gone}
        scopes = {scope for r in record["rounds"] for scope in r.get("resources", {})}
        summary = {k: v for k, v in record["summary"].items() if not k.startswith("cost.")}
        record["summary"] = {**summary, **summarise(record["rounds"], cost_keys(scopes))}
    if isinstance(run_level, dict):
        run_level.setdefault("options", {})["prices"] = prices.as_dict()
    return strict(priced)


def strict(value: Any) -> Any:
    """The value with numpy scalars made Python and non-finite floats made null.

    pytest-benchmark dumps whatever it is given: NaN would become invalid JSON and numpy values
    ``"UNSERIALIZABLE[...]"``.
    """
    if isinstance(value, Mapping):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v) for v in value]
    # A numpy value means numpy is imported; looked up, not imported, so the plugin loads without it.
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def schema() -> dict[str, Any]:
    text = resources.files("retrain_bench.results").joinpath("schema/retrain-bench.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validate(document: Mapping[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless this is pytest-benchmark JSON carrying our records."""
    import jsonschema

    jsonschema.validate(document, schema())
