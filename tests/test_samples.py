"""The arithmetic on raw samples (``retrain_bench.measure.samples``), on series small enough to add up by hand."""

from __future__ import annotations

import pytest

from retrain_bench.measure.samples import Track, counter_peak_rate, counter_seconds, gauge_sum, spacing_of


def track(*points: tuple[float, float]) -> Track:
    return Track.of(points)


def test_consecutive_samples_of_one_series_never_add_up() -> None:
    # 4 at 0 and 10, 6 at 20: held 0…20 at 4, then 6 until 25 (half its 10 s spacing). Peak 6, not 10.
    one = track((0, 4), (10, 4), (20, 6))
    gauges = gauge_sum([one], 0, 30, spacing=10)
    assert gauges.peak == 6
    assert gauges.mean == pytest.approx((4 * 20 + 6 * 5) / 30)


def test_pods_one_after_another_never_overlap_but_together_they_do() -> None:
    first = track((0, 100), (10, 100))  # present 0…15
    second = track((20, 300), (30, 300))  # present 20…35
    assert gauge_sum([first, second], 0, 40, spacing=10).peak == 300
    overlapping = track((10, 300), (20, 300))
    assert gauge_sum([first, overlapping], 0, 40, spacing=10).peak == 400


def test_a_gap_of_more_than_three_spacings_means_the_container_was_away() -> None:
    # every 10 s to 30, then 80: absent from 35 to 80; present 80…85
    away = track((0, 8), (10, 8), (20, 8), (30, 8), (80, 8))
    assert gauge_sum([away], 0, 100, spacing=10).mean == pytest.approx(8 * (35 + 5) / 100)
    # two missed scrapes (a 30 s gap) still count as present: 0…65
    missed = track((0, 8), (10, 8), (20, 8), (30, 8), (60, 8))
    assert gauge_sum([missed], 0, 100, spacing=10).mean == pytest.approx(8 * 65 / 100)


def test_the_window_clips_and_a_sample_before_it_holds_into_it() -> None:
    # the sample at −4 holds until 6, 2 from 6 until 11
    gauges = gauge_sum([track((-4, 1), (6, 2))], 0, 10, spacing=10)
    assert (gauges.peak, gauges.mean) == (2, pytest.approx((1 * 6 + 2 * 4) / 10))


def test_an_explicit_spacing_and_tail_replace_the_series_own() -> None:
    series = track((0, 10), (5, 10))  # own spacing 5: present 0…7.5
    assert gauge_sum([series], 0, 20, spacing=5).mean == pytest.approx(10 * 7.5 / 20)
    assert gauge_sum([series], 0, 20, spacing=10, own_spacing=False).mean == pytest.approx(10 * 10 / 20)
    assert gauge_sum([series], 0, 20, spacing=5, tail=0).mean == pytest.approx(10 * 5 / 20)
    # a single sample takes the spacing it is given
    assert gauge_sum([track((0, 10))], 0, 20, spacing=8).mean == pytest.approx(10 * 4 / 20)


def test_counters_read_linearly_with_resets_and_births() -> None:
    steady = track((0, 0), (10, 5), (20, 10))  # 0.5 core
    assert counter_seconds([steady], 5, 15) == 5
    # a reset at 20: 4 → 1 means 1 more was used after the restart
    reset = track((0, 0), (10, 4), (20, 1), (30, 3))
    assert counter_seconds([reset], 0, 30) == 4 + 1 + 2
    # born inside: its first value counts (CPU used before its first sample)
    born = track((10, 2), (20, 7))
    assert counter_seconds([born], 0, 30) == 7
    # ended before the window, or starting after it: nothing
    assert counter_seconds([track((0, 0), (5, 5))], 10, 20) == 0
    assert counter_seconds([track((30, 1), (40, 2))], 10, 20) == 0


def test_the_cpu_peak_is_the_busiest_window_of_the_summed_counters() -> None:
    # one core from 0 to 10 then idle; another at half a core from 10 to 30
    a = track((0, 0), (10, 10), (20, 10), (30, 10))
    b = track((0, 0), (10, 0), (20, 5), (30, 10))
    # a 10 s window: a alone over [0, 10] → 1 core; a 20 s window over [0, 20]: (10 + 5) / 20
    assert counter_peak_rate([a, b], 0, 30, window=10) == pytest.approx(1.0)
    assert counter_peak_rate([a, b], 0, 30, window=20) == pytest.approx(0.75)
    # from −3 every sample: still a's [0, 10]; on a 15 s grid only the windows ending at 7 and 22:
    # a's 7 of [−3, 7] (flat before its first sample), b's 5 of [12, 22]
    assert counter_peak_rate([a, b], -3, 30, window=10) == pytest.approx(1.0)
    assert counter_peak_rate([a, b], -3, 30, window=10, step=15) == pytest.approx(0.7)


def test_spacing_is_the_median_of_the_series_own() -> None:
    assert spacing_of([track((0, 1), (10, 1), (20, 1)), track((0, 1), (30, 1))]) == 20
    assert spacing_of([track((0, 1))]) is None
    # a boundary sample read twice from two chunks is one sample
    assert len(Track.of([(0, 1), (10, 1), (10, 1), (20, 1)])) == 3
