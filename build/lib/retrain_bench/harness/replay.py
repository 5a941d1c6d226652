"""Hand rounds the harness already measured to pytest-benchmark, exactly as measured.

Rounds of different platforms for one case run interleaved (see ``session.schedule``), so a
platform's rounds are not all inside its own test. Each test then replays its rounds through
``benchmark.pedantic`` with this clock as pytest-benchmark's timer: time stands still except
while a round is replayed, when it advances by that round's measured submit → result seconds.
pytest-benchmark's stats are therefore the measured durations, to the float.
"""

from __future__ import annotations


class ReplayClock:
    def __init__(self) -> None:
        self._now = 0.0

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


REPLAY_CLOCK = ReplayClock()
