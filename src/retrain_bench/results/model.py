"""Saved runs as typed, immutable values: a run, its benchmarks, their rounds; read once from the JSON.

The JSON is the contract (docs/json-schema.md); this is how the commands that read it back
(compare, report, growth, export) see it. A round's values are kept under the same dotted keys the
summary uses (``total_s``, ``accuracy.final``, ``resources.process_tree.cpu_seconds``,
``cost.usage.platform_usd``), so a metric key names the same thing everywhere. What is not there
stays absent with the reason the round wrote down; it never becomes 0.

This module sits below the analysis: it knows the JSON's shape, not which keys are metrics
(that catalogue is ``retrain_bench.analysis.metrics``).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeGuard

#: How the harness begins the error of a round a stop cut short (harness/engine.py).
INTERRUPTED = "interrupted ("
#: The round's own bookkeeping, not values: left out of ``Round.values``.
_NOT_VALUES = frozenset({"index", "warmup", "ok", "error", "missing"})


def _leaves(mapping: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every non-mapping value under its dotted key; a scope's own ``missing`` table is a reason, not a value."""
    for name, value in mapping.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            if name != "missing":
                yield from _leaves(value, f"{key}.")
        else:
            yield key, value


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True, order=True)
class BenchKey:
    """What results match on (docs/comparison.md): a change to any case knob changes the hash."""

    platform: str
    target: str
    case: str
    hash: str
    #: the SDK version of a NAME@VERSION spec (its own environment); None: the main environment
    version: str | None = None

    @property
    def column(self) -> str:
        """The platform as --platform named it: ``flyte``, or ``flyte@1.15.4``."""
        return self.platform if self.version is None else f"{self.platform}@{self.version}"

    @property
    def label(self) -> str:
        return f"{self.column}/{self.case} ({self.target}, {self.hash})"

    @property
    def slug(self) -> str:
        """A stable name for exports: a new hash starts a new series."""
        return f"{self.column}/{self.case}/{self.target}/{self.hash}"

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> BenchKey:
        # Files from before NAME@VERSION have no spec: every platform ran in the main environment.
        version = str(record.get("spec") or "").partition("@")[2] or None
        return cls(record["platform"], record["target"], record["case"]["name"], record["case"]["hash"], version)


@dataclasses.dataclass(frozen=True)
class Sample:
    """Values of one metric: n, mean and sample standard deviation (n-1)."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def stddev(self) -> float | None:
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    @property
    def zero_variance(self) -> bool:
        return len(self.values) > 1 and all(v == self.values[0] for v in self.values)


@dataclasses.dataclass(frozen=True)
class Round:
    """One round as recorded: its values by dotted key and the reasons for what it lacks."""

    index: int
    warmup: bool
    ok: bool
    error: str | None
    values: Mapping[str, Any]
    #: The round's ``missing`` table: dotted key (or a prefix of one) -> reason.
    reasons: Mapping[str, str]
    #: Each resource scope's own ``missing`` table; a scope absent from the round has no entry.
    scope_reasons: Mapping[str, Mapping[str, str]]
    raw: Mapping[str, Any]

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Round:
        resources = raw.get("resources")
        scopes = resources if isinstance(resources, Mapping) else {}
        return cls(
            index=int(raw["index"]),
            warmup=bool(raw["warmup"]),
            ok=bool(raw["ok"]),
            error=raw.get("error"),
            values={k: v for k, v in _leaves(raw) if k.split(".", 1)[0] not in _NOT_VALUES},
            reasons=dict(raw.get("missing") or {}),
            scope_reasons={
                name: dict(scope.get("missing") or {}) for name, scope in scopes.items() if isinstance(scope, Mapping)
            },
            raw=raw,
        )

    @property
    def counted(self) -> bool:
        """In the summary: ok and not warm-up."""
        return self.ok and not self.warmup

    @property
    def interrupted(self) -> bool:
        """Cut short by a stop (Ctrl-C, SIGTERM): it did not fail, it did not run to its end
        (harness/engine.py writes its error as ``interrupted (SIGNAL); ...``)."""
        return not self.ok and (self.error or "").startswith(INTERRUPTED)

    def number(self, key: str) -> float | None:
        value = self.values.get(key)
        return float(value) if is_number(value) else None

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scope_reasons

    def reason(self, key: str) -> str | None:
        """Why this round has no value for ``key``: the most specific reason it recorded."""
        parts = key.split(".")
        # "resources.platform.cpu_peak_mcpu", then "resources.platform", then "resources".
        for end in range(len(parts), 0, -1):
            found = self.reasons.get(".".join(parts[:end]))
            if found:
                return str(found)
        if len(parts) == 3 and parts[0] == "resources":
            if not self.has_scope(parts[1]):
                return f"no {parts[1]} scope in this round"
            found = self.scope_reasons[parts[1]].get(parts[2])
            if found:
                return str(found)
        return None


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One platform × case of a run: its key, its rounds, and where it came from.

    ``record`` and ``benchmark`` are the raw ``extra_info.retrain_bench`` and pytest-benchmark entry,
    kept for the writers (merge); readers use the typed fields.
    """

    key: BenchKey
    record: Mapping[str, Any]
    sources: tuple[str, ...]
    benchmark: Mapping[str, Any]
    rounds: tuple[Round, ...] = dataclasses.field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rounds", tuple(Round.of(r) for r in self.record["rounds"]))

    @classmethod
    def of(cls, record: Mapping[str, Any], source: str = "", benchmark: Mapping[str, Any] | None = None) -> Benchmark:
        return cls(BenchKey.of(record), record, (source,) if source else (), benchmark or {})

    @property
    def summary_keys(self) -> tuple[str, ...]:
        return tuple(self.record.get("summary", {}))

    @property
    def case(self) -> Mapping[str, Any]:
        return dict(self.record["case"])

    @property
    def success_rate(self) -> float | None:
        """ok / measured over the rounds that ran: the recorded rate, unless a stop cut rounds short, which
        did not fail (the file records them as not ok)."""
        if self.interrupted:
            ok, ran = self.success_counts()
            return ok / ran if ran else None
        rate = self.record.get("success_rate")
        return None if rate is None else float(rate)

    @property
    def measured(self) -> tuple[Round, ...]:
        """The measured rounds that ran: neither warm-up nor cut short by a stop."""
        return tuple(r for r in self.rounds if not r.warmup and not r.interrupted)

    @property
    def interrupted(self) -> int:
        """How many measured rounds a stop cut short."""
        return sum(1 for r in self.rounds if not r.warmup and r.interrupted)

    @property
    def counted(self) -> tuple[Round, ...]:
        """The rounds a summary is computed over: ok and not warm-up."""
        return tuple(r for r in self.rounds if r.counted)

    def numbers(self, key: str) -> dict[int, float]:
        """Round index -> value of ``key`` over the counted rounds that have one."""
        return {r.index: v for r in self.counted if (v := r.number(key)) is not None}

    def sample(self, key: str) -> Sample:
        return Sample(tuple(self.numbers(key).values()))

    def success_counts(self) -> tuple[int, int]:
        """(ok, measured) rounds."""
        measured = self.measured
        return sum(1 for r in measured if r.ok), len(measured)

    def missing_reason(self, key: str) -> str:
        """Why there is no value for ``key``: the reasons the rounds wrote down, else what we can see."""
        measured, counted = self.measured, self.counted
        if not measured:
            return "no measured rounds"
        if not counted:
            first = next((r.error for r in measured if r.error), None)
            error = f": {first.splitlines()[0]}" if first else ""
            return f"no ok rounds (0 of {len(measured)}){error}"
        reasons = list(dict.fromkeys(reason for r in counted if (reason := r.reason(key))))
        return "; ".join(reasons) if reasons else "not recorded by any ok round"

    def source_of(self, scope: str) -> str | None:
        """Where a scope's figures come from (``psutil``, ``prometheus``), as the rounds recorded it."""
        for round_ in self.counted:
            found = round_.get(f"resources.{scope}.source")
            if isinstance(found, str):
                return found
        return None

    def has_scope(self, scope: str) -> bool:
        return any(r.has_scope(scope) for r in self.counted)

    def output_values(self, key: str) -> tuple[Any, ...]:
        """The distinct values an output took over the counted rounds (None included), in a stable order.

        Floats are rounded to 9 decimals so that the last bits of an accuracy printed by another
        library version do not read as a changed output.
        """
        return output_values((self,), key)


def output_values(benchmarks: Sequence[Benchmark], key: str) -> tuple[Any, ...]:
    """The distinct values of an output over these benchmarks' counted rounds, as ``Benchmark.output_values``."""
    seen: list[Any] = []
    for benchmark in benchmarks:
        for round_ in benchmark.counted:
            value = round_.get(key)
            if isinstance(value, float):
                value = round(value, 9)
            if value not in seen:
                seen.append(value)
    return tuple(sorted(seen, key=_value_order))


def _value_order(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    return (2, value)


def benchmarks_of(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """pytest-benchmark's entries, then those of the benchmarks without an ok round, which
    pytest-benchmark leaves out of ``benchmarks`` and we keep in the run level's ``failed_benchmarks``."""
    return [*document["benchmarks"], *(document.get("retrain_bench") or {}).get("failed_benchmarks", [])]


@dataclasses.dataclass(frozen=True)
class RunId:
    """What tells one pytest session's results from another's: pytest-benchmark's ``datetime`` (written
    once per session, to the microsecond), the commit and the machine. A copy of a file, or a file
    merged from it, carries the same; two sessions never do."""

    datetime: str | None
    commit: str | None
    node: str | None

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> RunId:
        commit = document.get("commit_info") or {}
        machine = document.get("machine_info") or {}
        return cls(document.get("datetime"), commit.get("id"), machine.get("node"))

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> RunId:
        return cls(data.get("datetime"), data.get("commit"), data.get("node"))

    def as_dict(self) -> dict[str, str | None]:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        return f"datetime {self.datetime or '?'}, commit {str(self.commit or 'unknown')[:7]}, node {self.node or '?'}"


@dataclasses.dataclass(frozen=True)
class Run:
    """One loaded file: its benchmarks in file order, and the run-level facts compare and report print."""

    path: str
    document: Mapping[str, Any]
    #: a view's own benchmarks (``only``); None: every benchmark of ``document``
    chosen: tuple[Benchmark, ...] | None = dataclasses.field(default=None, compare=False, repr=False)
    benchmarks: tuple[Benchmark, ...] = dataclasses.field(init=False, compare=False, repr=False)

    @classmethod
    def load(cls, path: str) -> Run:
        """The run saved at ``path`` (plain or gzip JSON), checked; BenchError naming the file otherwise."""
        from retrain_bench.results.reading import load_run

        return cls(path, load_run(path))

    def text(self) -> str:
        """The document as the commands write it: indented UTF-8 JSON, non-finite numbers as null."""
        import json

        from retrain_bench.results.contract import strict

        return json.dumps(strict(self.document), indent=2, ensure_ascii=False) + "\n"

    def dump(self, path: str, option: str = "--out") -> None:
        """Write the document to ``path`` atomically (results/files.py); BenchError naming ``option`` if it cannot."""
        from pathlib import Path

        from retrain_bench.results.files import write_text

        write_text(Path(path), self.text(), option)

    def __post_init__(self) -> None:
        found = self.chosen
        if found is None:
            entries = benchmarks_of(self.document)
            found = tuple(Benchmark.of(b["extra_info"]["retrain_bench"], self.path, b) for b in entries)
        object.__setattr__(self, "benchmarks", found)

    def only(self, path: str, benchmarks: Sequence[Benchmark]) -> Run:
        """A view of this run holding only ``benchmarks`` under another name; the run level stays this run's."""
        return Run(path, self.document, tuple(benchmarks))

    @property
    def details(self) -> str:
        """``(date, commit abc1234[, dirty])`` for headers."""
        commit = self.document.get("commit_info", {})
        ident = str(commit.get("id") or "unknown")[:7]
        dirty = ", dirty" if commit.get("dirty") else ""
        # A stopped run is judged on the rounds that ran; readers must see that it stopped.
        stopped = ", interrupted" if self.interrupted else ""
        return f"({self.document.get('datetime', 'no date')}, commit {ident}{dirty}{stopped})"

    @property
    def interrupted(self) -> bool:
        """Stopped by a signal before every round ran (the run level's ``interrupted``)."""
        return bool(self.run_level.get("interrupted"))

    @property
    def identities(self) -> tuple[RunId, ...]:
        """The sessions whose rounds this file holds: its own, or for a merged file every merged one's."""
        merged = self.run_level.get("merged_from")
        if isinstance(merged, list) and merged:
            return tuple(RunId.parse(m) for m in merged if isinstance(m, Mapping))
        return (RunId.of(self.document),)

    @property
    def merged(self) -> bool:
        """Written by ``merge``: it holds the rounds of every run its ``merged_from`` names."""
        merged = self.run_level.get("merged_from")
        return isinstance(merged, list) and bool(merged)

    @property
    def run_level(self) -> Mapping[str, Any]:
        """The top-level ``retrain_bench`` record; empty for a file without one."""
        return self.document.get("retrain_bench") or {}

    @property
    def machine(self) -> Mapping[str, Any]:
        return self.document.get("machine_info", {})

    @property
    def versions(self) -> Mapping[str, Any]:
        return self.run_level.get("versions", {})

    @property
    def concurrency(self) -> int:
        # Files written before --concurrency existed ran one execution per round.
        return int(self.run_level.get("options", {}).get("concurrency", 1))
