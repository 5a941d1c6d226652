"""The stop request (harness/stopping.py) with real signals sent to this process.

Each test installs ``Stop`` as the process's SIGINT/SIGTERM handler and uninstalls it after, so
pytest's own Ctrl-C handling is back before the next test.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from retrain_bench.harness.stopping import Stop


@pytest.fixture
def stop() -> Iterator[Stop]:
    made = Stop()
    made.install(nothing_to_lose=lambda: False)
    try:
        yield made
    finally:
        made.uninstall()


def test_sigterm_inside_an_interruptible_section_raises_keyboard_interrupt(stop: Stop) -> None:
    with pytest.raises(KeyboardInterrupt), stop.interruptible():
        signal.raise_signal(signal.SIGTERM)
        pytest.fail("the section went on after SIGTERM")
    assert (stop.requested, stop.label) == ("SIGTERM", "SIGTERM")


def test_outside_a_section_a_signal_waits_for_the_next_interruptible_one(stop: Stop) -> None:
    signal.raise_signal(signal.SIGINT)  # bookkeeping between rounds: nothing raised here
    assert (stop.requested, stop.label) == ("SIGINT", "Ctrl-C")
    with pytest.raises(KeyboardInterrupt), stop.interruptible():
        pytest.fail("an interruptible section started although a stop was asked for")


def test_with_nothing_to_lose_a_signal_interrupts_at_once(stop: Stop) -> None:
    stop.nothing_to_lose = lambda: True
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGTERM)


def test_a_second_signal_during_cleanup_does_not_cut_it_short(stop: Stop) -> None:
    cleaned = []
    with pytest.raises(KeyboardInterrupt), stop.interruptible():
        try:
            signal.raise_signal(signal.SIGINT)
        finally:
            with stop.shielded():
                signal.raise_signal(signal.SIGINT)  # a quick double Ctrl-C
                os.kill(os.getpid(), signal.SIGTERM)  # and `timeout` following up
                cleaned.append("rmtree")
            cleaned.append("after")
    assert cleaned == ["rmtree", "after"]
    assert (stop.requested, stop.repeats) == ("SIGINT", 2)


def test_a_signal_during_a_shielded_section_raises_when_it_ends_inside_a_round(stop: Stop) -> None:
    made = []
    with pytest.raises(KeyboardInterrupt), stop.interruptible():
        with stop.shielded():
            signal.raise_signal(signal.SIGTERM)
            made.append("workdir recorded")
        pytest.fail("the round went on after the shielded section")
    assert made == ["workdir recorded"]


def test_it_raises_only_once_per_run(stop: Stop) -> None:
    with pytest.raises(KeyboardInterrupt), stop.interruptible():
        signal.raise_signal(signal.SIGINT)
    with stop.interruptible():  # the stop is under way: later sections run to their end
        signal.raise_signal(signal.SIGINT)
    assert stop.repeats == 1


def test_uninstalled_a_shield_holds_sigint_back_and_redelivers_it() -> None:
    stop = Stop()  # the soak command, or a round called directly: Python's own handler
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    done = []
    with pytest.raises(KeyboardInterrupt):
        with stop.shielded():
            signal.raise_signal(signal.SIGINT)
            done.append("cleanup")
        pytest.fail("the held-back SIGINT was not redelivered")
    assert done == ["cleanup"]
    assert signal.signal(signal.SIGINT, previous) is signal.default_int_handler
