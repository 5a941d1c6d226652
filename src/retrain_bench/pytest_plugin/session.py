"""The benchmark session as the pytest plugin drives it: ``BenchSession`` plus what is pytest's.

The harness's ``BenchSession`` plans and runs rounds and builds records without pytest. Here its
rounds are handed to pytest-benchmark (``replay``), a benchmark without a measured round is
skipped, and pytest-xdist's controller keeps which worker ran what.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from retrain_bench.harness.session import BenchSession
from retrain_bench.pytest_plugin.replay import replay


@dataclasses.dataclass
class PytestBenchSession(BenchSession):
    replayed: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    # -- pytest-xdist (src/retrain_bench/pytest_plugin/xdist.py) --
    #: on the controller: "<platform>/<case>" -> the worker that ran it
    workers: dict[str, str] = dataclasses.field(default_factory=dict)
    #: on the controller: the cluster run levels the workers shipped
    worker_clusters: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def all_replayed(self) -> bool:
        """Every benchmark whose rounds ran has been handed to pytest-benchmark."""
        return all(key in self.replayed for key in self.results)

    def measure(self, benchmark: Any, spec: str, case: str) -> dict[str, Any]:
        """Replay this benchmark's rounds into pytest-benchmark and attach our record.

        pytest-benchmark's stats cover the ok measured rounds only; a benchmark without one gets
        none (``replay.replay``), its rounds and errors stay in our record.
        """
        results = self.rounds_of(spec, case)
        measured = [r for r in results if not r.warmup]
        record = self.record(spec, case)
        benchmark.extra_info["retrain_bench"] = record
        # Marked replayed only once pytest-benchmark has it all: until then a signal waits
        # (stopping.Stop.nothing_to_lose), so the JSON never holds half a benchmark's rounds.
        if not measured:
            if results:  # its warm-ups ran: they go to the JSON (run level, failed_benchmarks)
                replay(benchmark, [], [])
            self.replayed.add((spec, case))
            pytest.skip("interrupted before a measured round of this benchmark ran")
        replay(benchmark, [r.total_s or 0.0 for r in results if r.warmup], [r.total_s or 0.0 for r in measured if r.ok])
        self.replayed.add((spec, case))
        return record
