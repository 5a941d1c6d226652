"""The JSON contract: summaries and success rates of rounds, the schema, validation (the records
themselves are values in ``results/records.py``).

Schema history (``SCHEMA``):
  1 — first release: platform, target, case, rounds, summary, success_rate.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from retrain_bench.measure.cost import cost_keys, dotted
from retrain_bench.measure.stats import FIGURES
from retrain_bench.results.round import RoundResult

if TYPE_CHECKING:
    from retrain_bench.cluster.pods import PodSeen

SCHEMA = 1
#: Round keys summarised over ok, non-warmup rounds.
SUMMARY_KEYS = ("total_s", "queue_s", "retrain_tune_s", "startup_s")
#: Summarised too when a round ran the registry step (--registry): a run without one keeps its summaries as before.
REGISTRY_SUMMARY_KEY = "register_s"
#: Summarised too when the rounds ran N executions at once (--concurrency N > 1).
CONCURRENCY_SUMMARY_KEY = "concurrency.throughput_per_min"
LOCAL_NOTES = {"platform_timings": "local executors keep no timings of their own"}


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
    """The time keys (and the registry step's when a round ran it), then every resource figure of every scope
    that any round measured."""
    scopes = sorted({scope for r in results for scope in r.resources})
    concurrent = [CONCURRENCY_SUMMARY_KEY] if any(r.concurrency is not None for r in results) else []
    registered = [REGISTRY_SUMMARY_KEY] if any(r.register_s is not None for r in results) else []
    return [
        *SUMMARY_KEYS,
        *registered,
        *(f"resources.{scope}.{figure}" for scope in scopes for figure in FIGURES),
        *concurrent,
        *cost_keys(scopes),
    ]


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
