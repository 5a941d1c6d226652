"""Saved runs as benchmark entries keyed by (platform, target, case, hash); pooling rounds across files.

A platform × case measured twice (two files, or one file written by two invocations) is either a
mistake or a deliberate split of rounds; only an explicit ``--merge-rounds`` pools them.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from retrain_bench.errors import BenchError
from retrain_bench.platforms import registry
from retrain_bench.results.contract import counted_rounds, keys_in, measured_rounds, strict, success_rate, summarise


@dataclasses.dataclass(frozen=True, order=True)
class BenchKey:
    """What results match on (``docs/metrics.md``): a change to any case knob changes the hash."""

    platform: str
    target: str
    case: str
    hash: str

    @property
    def label(self) -> str:
        return f"{self.platform}/{self.case} ({self.target}, {self.hash})"

    @property
    def slug(self) -> str:
        """A stable name for exports: a new hash starts a new series."""
        return f"{self.platform}/{self.case}/{self.target}/{self.hash}"

    def sort_key(self) -> tuple[str, str, str, int, str]:
        known = registry.names()
        rank = known.index(self.platform) if self.platform in known else len(known)
        return (self.case, self.target, self.hash, rank, self.platform)


@dataclasses.dataclass(frozen=True)
class Run:
    """One loaded file."""

    path: str
    document: Mapping[str, Any]

    @property
    def details(self) -> str:
        """``(date, commit abc1234[, dirty])`` for headers."""
        commit = self.document.get("commit_info", {})
        ident = str(commit.get("id") or "unknown")[:7]
        dirty = ", dirty" if commit.get("dirty") else ""
        return f"({self.document.get('datetime', 'no date')}, commit {ident}{dirty})"


@dataclasses.dataclass(frozen=True)
class Entry:
    key: BenchKey
    record: Mapping[str, Any]
    sources: tuple[str, ...]
    #: The pytest-benchmark entry it came from (name, fullname, params...), for writing merged files.
    benchmark: Mapping[str, Any]


def key_of(record: Mapping[str, Any]) -> BenchKey:
    return BenchKey(record["platform"], record["target"], record["case"]["name"], record["case"]["hash"])


def benchmarks_of(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """pytest-benchmark's entries, then those of the benchmarks without an ok round, which
    pytest-benchmark leaves out of ``benchmarks`` and we keep in the run level's ``failed_benchmarks``."""
    return [*document["benchmarks"], *(document.get("retrain_bench") or {}).get("failed_benchmarks", [])]


def entries(runs: Sequence[Run], *, merge_rounds: bool) -> tuple[Entry, ...]:
    """Every benchmark of these runs, one entry per key, in the order first seen."""
    found: dict[BenchKey, Entry] = {}
    for run in runs:
        for benchmark in benchmarks_of(run.document):
            record = benchmark["extra_info"]["retrain_bench"]
            key = key_of(record)
            entry = Entry(key, record, (run.path,), benchmark)
            if key in found:
                if not merge_rounds:
                    where = " and ".join(dict.fromkeys((*found[key].sources, run.path)))
                    raise BenchError(
                        f"{key.label} appears more than once (in {where}); pass --merge-rounds to pool its rounds"
                    )
                entry = pool(found[key], entry)
            found[key] = entry
    return tuple(found.values())


def pool(first: Entry, second: Entry) -> Entry:
    """One entry whose rounds are both entries' rounds, renumbered, with summary and rate recomputed."""
    rounds = [dict(r) for r in (*first.record["rounds"], *second.record["rounds"])]
    for index, round_ in enumerate(rounds):
        round_["index"] = index
    keys = keys_in([first.record, second.record])
    record = {
        **first.record,
        "rounds": rounds,
        "summary": summarise(rounds, keys),
        "success_rate": success_rate(rounds),
    }
    return Entry(first.key, strict(record), tuple(dict.fromkeys((*first.sources, *second.sources))), first.benchmark)


def benchmark_stats(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """pytest-benchmark's ``stats`` for a pooled record, as the harness fills them: total_s of the
    ok measured rounds; None without one (such a benchmark has no stats, harness/replay.py)."""
    from pytest_benchmark.stats import Stats

    stats = Stats()
    for round_ in counted_rounds(record):
        stats.update(round_["total_s"] or 0.0)
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
        run_level["interrupted"] = any(r.document.get("retrain_bench", {}).get("interrupted") for r in runs)
        notes = list(run_level.get("notes", []))
        notes.append(f"merged: rounds pooled from {len(runs)} files by `python -m retrain_bench merge`")
        run_level["notes"] = notes
        run_level["failed_benchmarks"] = failed
        document["retrain_bench"] = run_level
    return strict(document)
