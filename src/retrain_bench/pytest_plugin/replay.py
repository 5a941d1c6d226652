"""Hand rounds the harness already measured to pytest-benchmark, exactly as measured.

Rounds of different platforms for one case run interleaved (see ``session.schedule``), so a
platform's rounds are not all inside its own test. Each test then replays its rounds through
``benchmark.pedantic`` with this clock as pytest-benchmark's timer: time stands still except
while a round is replayed, when it advances by that round's measured submit → result seconds.
pytest-benchmark's stats are therefore the measured durations, to the float.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


class ReplayClock:
    def __init__(self) -> None:
        self._now = 0.0

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


REPLAY_CLOCK = ReplayClock()


class NoOkRound(Exception):
    """Raised inside pytest-benchmark for a benchmark none of whose measured rounds was ok."""


def replay(benchmark: Any, warm: Sequence[float], timed: Sequence[float]) -> None:
    """Hand the ok measured rounds to pytest-benchmark, the warm-ups before them.

    Without an ok round there is nothing to time: the benchmarked call raises, as a crashing
    benchmark would, so pytest-benchmark marks it ``has_error`` with empty stats and leaves it out
    of its table, of ``--benchmark-compare(-fail)`` and of ``benchmarks[]`` in its JSON
    (pytest_benchmark/fixture.py ``pedantic``; plugin.py ``pytest_benchmark_generate_json``). Our
    record of it goes to the run level's ``failed_benchmarks`` (``failed_benchmarks`` below).
    """
    if not timed:

        def no_ok_round() -> None:
            raise NoOkRound

        try:
            benchmark.pedantic(no_ok_round, rounds=1, iterations=1)
        except NoOkRound:
            pass
    else:
        queue = iter([*warm, *timed])

        def replay_round() -> None:
            REPLAY_CLOCK.advance(next(queue))

        benchmark.pedantic(replay_round, rounds=len(timed), warmup_rounds=len(warm), iterations=1)
    _record_options(benchmark, rounds=len(timed), warmups=len(warm))


def _record_options(benchmark: Any, *, rounds: int, warmups: int) -> None:
    """``benchmarks[].options`` as this benchmark ran, not pytest-benchmark's session defaults
    (``min_rounds: 5, warmup: false`` whatever --rounds and --warmup were): ``min_rounds`` and
    ``warmup`` are the rounds and warm-ups replayed, ``rounds``/``warmup_rounds`` say so by name."""
    from retrain_bench.pytest_plugin.benchmark_api import set_written_options

    set_written_options(
        benchmark,
        min_rounds=rounds,
        warmup=warmups,
        rounds=rounds,
        warmup_rounds=warmups,
        iterations=1,
        timer=REPLAY_TIMER,
    )


#: What times the rounds; pytest-benchmark's timer only replays them (``ReplayClock``).
REPLAY_TIMER = "retrain_bench harness: submit -> result per round (monotonic), replayed"


def failed_benchmarks(benchmarks: Iterable[Any]) -> list[dict[str, Any]]:
    """pytest-benchmark's entries, without stats, of our benchmarks that had no ok round."""
    return [
        bench.as_dict(include_data=False, stats=False)
        for bench in benchmarks
        if bench.has_error and "retrain_bench" in bench.extra_info
    ]
