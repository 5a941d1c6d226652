"""Saved runs as benchmarks keyed by (platform, target, case, hash); pooling rounds across files.

A platform × case measured twice (two files, or one file written by two invocations) is either a
mistake or a deliberate split of rounds; only an explicit ``--merge-rounds`` pools them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from retrain_bench.errors import BenchError
from retrain_bench.platforms import registry
from retrain_bench.platforms.specs import version_order
from retrain_bench.results.contract import strict, success_rate, summarise
from retrain_bench.results.model import BenchKey, Benchmark, Run, RunId, benchmarks_of

__all__ = ["BenchKey", "Benchmark", "Run", "benchmarks_of", "entries", "merged_document", "pool", "sort_key"]


def sort_key(key: BenchKey) -> tuple[str, str, str, int, str, tuple[int, ...]]:
    """Case, target, hash, then the platforms in display order, a platform's versions in release order."""
    known = registry.names()
    rank = known.index(key.platform) if key.platform in known else len(known)
    return (key.case, key.target, key.hash, rank, key.platform, version_order(key.version))


def entries(runs: Sequence[Run], *, merge_rounds: bool) -> tuple[Benchmark, ...]:
    """Every benchmark of these runs, one per key, in the order first seen.

    Pooling never counts a round twice: a benchmark of a session (``RunId``) already read, from a copy
    of the file or from a file merged from it, is refused.
    """
    found: dict[BenchKey, Benchmark] = {}
    sessions: dict[tuple[BenchKey, RunId], tuple[int, str]] = {}
    for position, run in enumerate(runs):
        for benchmark in run.benchmarks:
            key = benchmark.key
            for session in run.identities:
                index, seen = sessions.setdefault((key, session), (position, run.path))
                if index != position:
                    raise BenchError(
                        f"{run.path}: {key.label} holds the rounds of a run already read from {seen} "
                        f"({session.describe()}); pooling would count them twice: give each run once"
                    )
            if key in found:
                if not merge_rounds:
                    where = " and ".join(dict.fromkeys((*found[key].sources, run.path)))
                    raise BenchError(
                        f"{key.label} appears more than once (in {where}); pass --merge-rounds to pool its rounds"
                    )
                benchmark = pool(found[key], benchmark)
            found[key] = benchmark
    return tuple(found.values())


def pool(first: Benchmark, second: Benchmark) -> Benchmark:
    """One benchmark whose rounds are both benchmarks' rounds, renumbered, with summary and rate recomputed."""
    rounds = [{**r.raw, "index": index} for index, r in enumerate((*first.rounds, *second.rounds))]
    keys = tuple(dict.fromkeys((*first.summary_keys, *second.summary_keys)))
    record = {
        **first.record,
        "rounds": rounds,
        "summary": summarise(rounds, keys),
        "success_rate": success_rate(rounds),
    }
    sources = tuple(dict.fromkeys((*first.sources, *second.sources)))
    return Benchmark(first.key, strict(record), sources, first.benchmark)


def benchmark_stats(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """pytest-benchmark's ``stats`` for a pooled record, as the harness fills them: total_s of the
    ok measured rounds; None without one (such a benchmark has no stats, pytest_plugin/replay.py)."""
    from pytest_benchmark.stats import Stats

    stats = Stats()
    for round_ in Benchmark.of(record).counted:
        stats.update(round_.number("total_s") or 0.0)
    if not stats:
        return None
    return {**stats.as_dict(), "data": list(stats.data), "iterations": 1}


def merged_document(runs: Sequence[Run]) -> dict[str, Any]:
    """One pytest-benchmark document pooling every run's rounds per benchmark.

    machine_info, commit_info, datetime and version are the first file's; the run-level record
    says how many files were merged. Callers merge files of one machine and one commit.
    """
    pooled = entries(runs, merge_rounds=True)
    first = runs[0].document
    benchmarks, failed = [], []
    for entry in pooled:
        benchmark = copy.deepcopy(dict(entry.benchmark))
        benchmark["extra_info"] = {**benchmark["extra_info"], "retrain_bench": entry.record}
        benchmark.pop("stats", None)
        stats = benchmark_stats(entry.record)
        if stats is None:
            failed.append(benchmark)
        else:
            benchmarks.append({**benchmark, "stats": stats})
    document = {key: copy.deepcopy(first[key]) for key in ("machine_info", "commit_info", "datetime", "version")}
    document["benchmarks"] = benchmarks
    if "retrain_bench" in first:
        run_level = copy.deepcopy(dict(first["retrain_bench"]))
        run_level["interrupted"] = any(r.run_level.get("interrupted") for r in runs)
        notes = list(run_level.get("notes", []))
        notes.append(f"merged: rounds pooled from {len(runs)} files by `python -m retrain_bench merge`")
        run_level["notes"] = notes
        run_level["failed_benchmarks"] = failed
        # The sessions pooled here: merging this file with one of them again is refused (``entries``).
        run_level["merged_from"] = [i.as_dict() for i in dict.fromkeys(i for run in runs for i in run.identities)]
        document["retrain_bench"] = run_level
    return strict(document)
