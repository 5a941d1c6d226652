"""Resource figures from raw samples: the arithmetic behind every Prometheus scope, with no PromQL in it.

A series is its samples' timestamps and values, as a range selector returns them. What a series
counts for, and when:

- **Gauge (memory).** Each sample holds until the series' next sample; the last one holds for
  ``tail`` seconds more (by default ``TAIL_FRACTION`` of the series' own spacing), and so does a
  sample followed by a gap of more than ``GAP_SPACINGS`` spacings (the container was gone in
  between). Nothing counts before a series' first sample. The scope's figure at an instant is the
  sum over the series present then, so two pods that never had samples at the same time never
  add up, whatever the server's lookback and whether or not staleness markers were written.
- **Counter (CPU).** Linear between samples, corrected for resets (a drop restarts from 0, as
  ``increase()`` reads it), flat outside its first and last sample. A series whose first sample
  comes after the window's start was born inside it: its first value is usage too.

Why half a spacing: a container's last sample is taken at some moment of its last spacing before
it ends, so it ended between 0 and one spacing later; half is the middle of that interval. It is
the one remaining bias of the method (docs/resources.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where samples are read, not with the plugin (scripts/startup_cost.py)
    import numpy as np
    import numpy.typing as npt

    Floats = npt.NDArray[np.float64]

#: How long past its last sample a series still counts, as a fraction of its own spacing.
TAIL_FRACTION = 0.5
#: A gap longer than this many spacings means the container was absent in between.
GAP_SPACINGS = 3.0


@dataclasses.dataclass(frozen=True)
class Track:
    """One series' samples, time-ordered without repeats; ``times`` in unix seconds."""

    times: Floats
    values: Floats

    @classmethod
    def of(cls, points: Sequence[tuple[float, float]]) -> Track:
        import numpy as np

        # Chunks overlap by a sample on servers whose range selectors are left-closed (2.x):
        # one value per timestamp, the times in order.
        unique = dict(points)
        times = np.fromiter(sorted(unique), dtype=np.float64, count=len(unique))
        return cls(times, np.fromiter((unique[t] for t in times), dtype=np.float64, count=len(unique)))

    def __len__(self) -> int:
        return len(self.times)

    def spacing(self) -> float | None:
        """The median gap between consecutive samples; None with fewer than two."""
        import numpy as np

        return float(np.median(np.diff(self.times))) if len(self.times) > 1 else None

    def count_in(self, start: float, end: float) -> int:
        import numpy as np

        return int(np.count_nonzero((self.times >= start) & (self.times <= end)))


def spacing_of(tracks: Sequence[Track]) -> float | None:
    """The scope's sample spacing: the median of its series' own spacings; None when no series has two samples."""
    import numpy as np

    found = [s for s in (t.spacing() for t in tracks) if s is not None and s > 0]
    return float(np.median(found)) if found else None


@dataclasses.dataclass(frozen=True)
class Gauges:
    """The sum over present series of a gauge: its peak and time-weighted mean over a window."""

    peak: float
    mean: float


def gauge_sum(
    tracks: Sequence[Track],
    start: float,
    end: float,
    spacing: float,
    *,
    own_spacing: bool = True,
    tail: float | None = None,
) -> Gauges:
    """Peak and mean of the summed gauges over ``[start, end]``.

    ``spacing`` stands in for a series' own spacing when it has a single sample, or for every
    series without ``own_spacing`` (an interval given explicitly); ``tail`` overrides
    ``TAIL_FRACTION × spacing``.
    """
    import numpy as np

    starts, ends, values = [], [], []
    for track in tracks:
        own = (track.spacing() if own_spacing else None) or spacing
        hold = tail if tail is not None else TAIL_FRACTION * own
        t, v = track.times, track.values
        following = np.append(t[1:], np.inf)
        # A sample holds until the next one, unless the gap says the container was gone.
        until = np.where(following - t <= GAP_SPACINGS * own, following, t + hold)
        starts.append(np.clip(t, start, end))
        ends.append(np.clip(until, start, end))
        values.append(v)
    if not starts:
        return Gauges(0.0, 0.0)
    a, b, v = np.concatenate(starts), np.concatenate(ends), np.concatenate(values)
    keep = b > a
    a, b, v = a[keep], b[keep], v[keep]
    if not len(a):
        return Gauges(0.0, 0.0)
    mean = float(np.sum(v * (b - a)) / (end - start))
    # Sweep: at equal times a holding interval ends before the next begins, so a series'
    # consecutive samples never add up with each other.
    times = np.concatenate([b, a])
    deltas = np.concatenate([-v, v])
    order = np.lexsort((np.concatenate([np.zeros(len(b)), np.ones(len(a))]), times))
    return Gauges(float(max(0.0, np.max(np.cumsum(deltas[order])))), mean)


def _usage(track: Track) -> Floats:
    """The counter corrected for resets: cumulative usage at each sample, from the first value."""
    import numpy as np

    v = track.values
    steps = np.diff(v)
    grown = np.where(steps >= 0, steps, v[1:])  # after a drop the new value is what was used since
    return np.concatenate([[v[0]], v[0] + np.cumsum(grown)])


def counter_seconds(tracks: Sequence[Track], start: float, end: float) -> float:
    """What the counters grew by inside ``[start, end]``, a series born inside counting from 0."""
    import numpy as np

    total = 0.0
    for track in tracks:
        t = track.times
        if t[0] > end or t[-1] < start:
            continue
        used = _usage(track)
        at = np.interp([max(start, t[0]), min(end, t[-1])], t, used)
        total += float(at[1] - at[0])
        if t[0] > start:
            total += float(track.values[0])
    return total


def counter_peak_rate(
    tracks: Sequence[Track], start: float, end: float, window: float, step: float | None = None
) -> float:
    """The largest summed growth rate over ``window`` seconds ending inside ``[start, end]``.

    The summed usage is piecewise linear, so its windowed difference peaks where a sample time
    enters or leaves the window: those instants are evaluated (or, with ``step``, the grid
    ``start + window + k·step``).
    """
    import numpy as np

    if not tracks:
        return 0.0
    first = min(start + window, end)
    if step is not None:
        at = first + step * np.arange(int((end - first) // step) + 1)
    else:
        edges = np.concatenate([t.times for t in tracks])
        at = np.concatenate([edges, edges + window, [first, end]])
        at = np.unique(at[(at >= first) & (at <= end)])
    rates = np.zeros(len(at))
    for track in tracks:
        used = _usage(track)
        rates += np.interp(at, track.times, used) - np.interp(at - window, track.times, used)
    return float(max(0.0, np.max(rates)) / window)
