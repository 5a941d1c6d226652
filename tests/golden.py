"""The hand-written golden runs under tests/data/, as code: every number below is chosen so that the
expected outputs of ``report`` and ``compare`` can be worked out by hand.

The checked-in JSON files are what the tests read; ``test_golden_files_are_up_to_date`` checks they
are exactly what this module writes. After changing a value here, regenerate with::

    PYTHONPATH=. python -m tests.golden

Records are built like the harness builds them (``retrain_bench.results.contract.summarise`` over the rounds,
``ResourceStats.as_dict`` for each scope, pytest-benchmark's own ``Stats`` for ``stats``), with
the resource summary keys ``resources.<scope>.<figure>`` the resource samplers add.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from retrain_bench.analysis.metrics import TIME_KEYS, resource_key
from retrain_bench.measure.stats import FIGURES, ResourceStats
from retrain_bench.results.contract import SCHEMA, strict, success_rate, summarise
from retrain_bench.results.runs import benchmark_stats
from retrain_bench.workload.cases import CASES, Case

DATA = Path(__file__).parent / "data"
BASE = CASES["base"]
TUNING = CASES["tuning"]
NO_DRIFT = CASES["no_drift"]
#: The same case name with other knobs: another hash.
BASE_OTHER_ROWS = Case("base", rows=4000, grid=(1.0,))

MACHINE = {
    "node": "bench-runner",
    "processor": "x86_64",
    "machine": "x86_64",
    "python_compiler": "GCC 12.2.0",
    "python_implementation": "CPython",
    "python_implementation_version": "3.11.7",
    "python_version": "3.11.7",
    "python_build": ["main", "May  9 2026 07:35:25"],
    "release": "6.18.44",
    "system": "Linux",
    "cpu": {"arch": "X86_64", "count": 2},
}
VERSIONS = {
    "python": "3.11.7",
    "flytekit": "1.16.31",
    "kfp": "2.17.3",
    "pytest-benchmark": "5.3.1",
    "pytest": "9.2.0",
    "scikit-learn": "1.9.1",
}
LOCAL_MISSING = {"platform_timings": "local executors keep no timings of their own"}
CLUSTER_MISSING = {"startup_s": "not_applicable: local only"}
NO_DRIFT_REASON = "not_applicable: no drift, the adaptive branch did not run"


def resources(
    scope: str,
    *,
    peak: float,
    avg: float,
    cpu_s: float,
    window: float,
    cpu_peak: float | None,
    missing: str = "",
    source: str | None = None,
) -> dict[str, Any]:
    """One scope of one round. ``cpu_avg_mcpu`` follows from cpu_s and the window, as it does in the
    harness; a None peak needs a reason."""
    source = source or ("psutil" if scope == "process_tree" else "prometheus")
    stats = ResourceStats(
        scope=scope,
        source=source,
        window_s=window,
        samples=40,
        memory_peak_gib=peak,
        memory_avg_gib=avg,
        cpu_seconds=cpu_s,
        cpu_avg_mcpu=1000.0 * cpu_s / window,
        cpu_peak_mcpu=cpu_peak,
        cpu_peak_window_s=1.0 if scope == "process_tree" else 40.0,
        details={},
        missing={"cpu_peak_mcpu": missing} if cpu_peak is None else {},
    )
    return stats.as_dict()


def round_(
    index: int,
    total: float | None,
    *,
    retrain: float | None = 2.0,
    queue: float | None = 0.5,
    startup: float | None = 1.0,
    scopes: Mapping[str, Mapping[str, Any]] | None = None,
    ok: bool = True,
    warmup: bool = False,
    best_c: float | None = 1.0,
    drift: bool = True,
    missing: Mapping[str, str] = LOCAL_MISSING,
) -> dict[str, Any]:
    gone = dict(missing)
    if not ok:
        accuracy = {"initial": None, "drifted": None, "final": None}
        drift_detected, best = None, None
        gone.update({k: "round failed before this was measured" for k in ("total_s", "queue_s", "retrain_tune_s")})
        gone["resources"] = "round failed"
    elif drift:
        accuracy, drift_detected, best = {"initial": 0.9, "drifted": 0.6, "final": 0.85}, True, best_c
    else:
        accuracy, drift_detected, best = {"initial": 0.9, "drifted": 0.88, "final": 0.88}, False, None
        gone["retrain_tune_s"] = NO_DRIFT_REASON
        gone["best_c"] = "not_applicable: no drift, no tuning"
    if ok:
        # As the harness does: a figure's reason is also the round's, under its dotted key.
        for scope, stats in (scopes or {}).items():
            gone.update({f"resources.{scope}.{k}": reason for k, reason in stats["missing"].items()})
    return {
        "index": index,
        "warmup": warmup,
        "ok": ok,
        "error": None if ok else "TimeoutError: the round exceeded --run-timeout 1800s",
        "total_s": total if ok else None,
        "queue_s": queue if ok else None,
        "retrain_tune_s": retrain if ok and drift else None,
        "startup_s": startup,
        "accuracy": accuracy,
        "drift_detected": drift_detected,
        "best_c": best,
        "tasks": {"counts": {}, "execution_units": 1},
        "platform_timings": {},
        "resources": dict(scopes or {}) if ok else {},
        "missing": gone,
    }


def rounds(totals: Sequence[float | None], **fixed: Any) -> list[dict[str, Any]]:
    """Measured rounds with these total_s and the same everything else; None total = a failed round."""
    per_round = {k: v for k, v in fixed.items() if isinstance(v, list)}
    shared = {k: v for k, v in fixed.items() if not isinstance(v, list)}
    return [
        round_(i, t, ok=t is not None, **shared, **{k: v[i] for k, v in per_round.items()})
        for i, t in enumerate(totals)
    ]


def record(
    platform: str,
    target: str,
    case: Case,
    rounds_: list[dict[str, Any]],
    *,
    spec: str | None = None,
    sdk: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A benchmark record; ``spec``/``sdk`` as a run with --platform NAME@VERSION writes them."""
    scopes = sorted({s for r in rounds_ for s in r["resources"]})
    keys = (*TIME_KEYS, *(resource_key(s, f) for s in scopes for f in FIGURES))
    versioned = {} if spec is None or sdk is None else {"spec": spec, "sdk": {"name": sdk[0], "version": sdk[1]}}
    return strict(
        {
            "schema": SCHEMA,
            "platform": platform,
            **versioned,
            "target": target,
            "case": case.as_dict(),
            "rounds": rounds_,
            "summary": summarise(rounds_, keys),
            "success_rate": success_rate(rounds_),
        }
    )


def benchmark(rec: dict[str, Any]) -> dict[str, Any]:
    spec = rec.get("spec", rec["platform"])
    name = f"{spec}-{rec['case']['name']}"
    return {
        "group": rec["case"]["name"],
        "name": f"test_retraining[{name}]",
        "fullname": f"bench/test_retraining.py::test_retraining[{name}]",
        "params": {"bench_platform": spec, "bench_case": rec["case"]["name"]},
        "param": name,
        "extra_info": {"retrain_bench": rec},
        "options": {
            "disable_gc": False,
            "timer": "now",
            "min_rounds": 5,
            "max_time": 1.0,
            "min_time": 5e-06,
            "precision": None,
            "confidence": None,
            "warmup": False,
        },
        **({"stats": stats} if (stats := benchmark_stats(rec)) is not None else {}),
    }


def document(target: str, records: Sequence[dict[str, Any]], *, commit: str, when: str) -> dict[str, Any]:
    """As the plugin writes it: a benchmark without an ok round in the run level's failed_benchmarks."""
    entries = [benchmark(r) for r in records]
    failed = [e for e in entries if "stats" not in e]
    return strict(
        {
            "machine_info": MACHINE,
            "commit_info": {
                "id": commit,
                "time": when,
                "author_time": when,
                "dirty": False,
                "project": "retrain-bench",
                "branch": "main",
            },
            "benchmarks": [e for e in entries if "stats" in e],
            "datetime": when,
            "version": "5.3.1",
            "retrain_bench": {
                "schema": SCHEMA,
                "target": target,
                "options": {"target": target, "rounds": 5, "warmup": 0},
                "versions": VERSIONS,
                "order": "interleaved: round-robin over platforms per case, starting platform rotating each round",
                "interrupted": False,
                "notes": [],
                **({"failed_benchmarks": failed} if failed else {}),
            },
        }
    )


def local(peak: float, avg: float, cpu_s: float, window: float, cpu_peak: float) -> dict[str, Any]:
    return {
        "process_tree": resources("process_tree", peak=peak, avg=avg, cpu_s=cpu_s, window=window, cpu_peak=cpu_peak)
    }


# --- compare: baseline and current ---------------------------------------------------------------
#
# bare/base     total_s 10 ×5 → 12 ×5: +20 %, zero variance both sides → exact regression.
#               memory_peak 1.0 → 1.3 GiB: +30 % > 25 % → regression; cpu_avg 400 → 300 mCPU
#               (cpu_s 4 over 10 s → 3.6 over 12 s): −25 % → improvement; cpu_seconds −10 % → unchanged.
#               The baseline's warm-up round (total 30 s) is not counted.
# flyte/base    total_s [8, 12, 10, 9, 11] → [6, 17, 11, 9, 13]: mean 10 → 11.2, +12 % beyond 10 %
#               but the one-sided Welch p ≈ 0.29: unchanged. retrain_tune_s [3.0, 3.1, 2.9, 3.0, 3.0]
#               → [3.6, 3.7, 3.5, 3.6, 3.6]: +20 %, p ≪ 0.05 even ×2 (Holm over the 2 t-tests): regression.
# kfp/base      one of five current rounds fails: success 100 % → 80 %: regression; its times are
#               unchanged with 4 vs 5 ok rounds: threshold alone.
# bare/tuning   only in the baseline: missing.
# flyte/tuning  best C 1.0 → 10.0: output changed.


def compare_baseline() -> dict[str, Any]:
    bare = [round_(0, 30.0, warmup=True, scopes=local(1.0, 0.5, 12.0, 30.0, 1000.0))]
    bare += rounds([10.0] * 5, scopes=local(1.0, 0.5, 4.0, 10.0, 1000.0))
    for i, r in enumerate(bare):
        r["index"] = i
    flyte = rounds(
        [8.0, 12.0, 10.0, 9.0, 11.0],
        retrain=[3.0, 3.1, 2.9, 3.0, 3.0],
        queue=1.0,
        startup=2.0,
        scopes=local(2.0, 1.0, 6.0, 10.0, 1500.0),
    )
    kfp = rounds([20.0] * 5, retrain=4.0, queue=1.0, startup=2.0, scopes=local(3.0, 2.0, 10.0, 20.0, 1500.0))
    bare_tuning = rounds([15.0] * 5, scopes=local(1.0, 0.5, 6.0, 15.0, 1000.0))
    flyte_tuning = rounds([30.0] * 5, retrain=9.0, scopes=local(2.0, 1.0, 15.0, 30.0, 1500.0))
    return document(
        "local",
        [
            record("bare", "local", BASE, bare),
            record("flyte", "local", BASE, flyte),
            record("kfp", "local", BASE, kfp),
            record("bare", "local", TUNING, bare_tuning),
            record("flyte", "local", TUNING, flyte_tuning),
        ],
        commit="1111111111111111111111111111111111111111",
        when="2026-11-01T10:00:00+00:00",
    )


def compare_current() -> dict[str, Any]:
    bare = rounds([12.0] * 5, scopes=local(1.3, 0.5, 3.6, 12.0, 1000.0))
    flyte = rounds(
        [6.0, 17.0, 11.0, 9.0, 13.0],
        retrain=[3.6, 3.7, 3.5, 3.6, 3.6],
        queue=1.0,
        startup=2.0,
        scopes=local(2.0, 1.0, 6.0, 10.0, 1500.0),
    )
    kfp = rounds(
        [20.0, 20.0, None, 20.0, 20.0], retrain=4.0, queue=1.0, startup=2.0, scopes=local(3.0, 2.0, 10.0, 20.0, 1500.0)
    )
    flyte_tuning = rounds([30.0] * 5, retrain=9.0, best_c=10.0, scopes=local(2.0, 1.0, 15.0, 30.0, 1500.0))
    return document(
        "local",
        [
            record("bare", "local", BASE, bare),
            record("flyte", "local", BASE, flyte),
            record("kfp", "local", BASE, kfp),
            record("flyte", "local", TUNING, flyte_tuning),
        ],
        commit="2222222222222222222222222222222222222222",
        when="2026-11-02T10:00:00+00:00",
    )


def compare_hash_mismatch() -> dict[str, Any]:
    """flyte/base measured with 4000 rows: the same name, another workload."""
    flyte = rounds([10.0] * 5, scopes=local(2.0, 1.0, 6.0, 10.0, 1500.0))
    return document(
        "local",
        [record("flyte", "local", BASE_OTHER_ROWS, flyte)],
        commit="3333333333333333333333333333333333333333",
        when="2026-11-03T10:00:00+00:00",
    )


# --- compare --versions: two flytekit versions inside one run ---------------------------------------
#
# flyte@1.15.4 → flyte@1.16.31 on smoke, five rounds each, every figure the same in all five rounds
# (zero variance on both sides: exact, the threshold alone decides):
#   total_s          2.0 → 2.4 s:    +20 %  > 10 %  regression
#   startup_s        5.0 → 4.0 s:    −20 %  > 10 %  improvement
#   retrain_tune_s   1.0, queue_s 0.2 on both sides: unchanged
#   memory_peak_gib  0.30 → 0.36:    +20 %  < 25 %  unchanged;  memory_avg_gib 0.25 both: unchanged
#   cpu_seconds      1.0 → 1.2:      +20 %  > 15 %  regression
#   cpu_avg_mcpu     1.0/2.0 s → 1.2/2.4 s = 500 → 500 mCPU: unchanged; cpu_peak 600 both: unchanged
#   success_rate     100 % both: unchanged
# So 2 regressions, 1 improvement, 7 unchanged. bare/smoke is in the run but not one of the two specs.
# The other way round: 2 improvements, 7 unchanged, and startup_s +25 % is informational (never gates).
SMOKE = CASES["smoke"]


def compare_versions() -> dict[str, Any]:
    old = rounds([2.0] * 5, retrain=1.0, queue=0.2, startup=5.0, best_c=0.1, scopes=local(0.30, 0.25, 1.0, 2.0, 600.0))
    new = rounds([2.4] * 5, retrain=1.0, queue=0.2, startup=4.0, best_c=0.1, scopes=local(0.36, 0.25, 1.2, 2.4, 600.0))
    bare = rounds([1.0] * 5, retrain=0.7, best_c=0.1, scopes=local(0.2, 0.2, 0.3, 1.0, 300.0))
    doc = document(
        "local",
        [
            record("flyte", "local", SMOKE, old, spec="flyte@1.15.4", sdk=("flytekit", "1.15.4")),
            record("flyte", "local", SMOKE, new, spec="flyte@1.16.31", sdk=("flytekit", "1.16.31")),
            record("bare", "local", SMOKE, bare, spec="bare", sdk=("python", "3.11.7")),
        ],
        commit="8888888888888888888888888888888888888888",
        when="2026-11-08T10:00:00+00:00",
    )
    doc["retrain_bench"]["environments"] = {
        spec: {
            "sdk": {"name": "flytekit", "version": spec.partition("@")[2]},
            "freeze_hash": "sha256:" + digit * 64,
            "freeze": [f"flytekit=={spec.partition('@')[2]}"],
            "built": False,
            "build_s": 0.01,
        }
        for spec, digit in (("flyte@1.15.4", "a"), ("flyte@1.16.31", "b"))
    }
    return doc


# --- report: local, three platforms, two cases ---------------------------------------------------
#
# base      total_s Flyte [116, 118, 118.5, 119, 120] = 118.3 ± 1.483; Kubeflow [193, 195, 197, 198,
#           199] = 196.4 ± 2.408; Bare [10, 10.5, 11, 11.5, 12] = 11 ± 0.7906.
#           Kubeflow / Flyte = 196.4 / 118.3 = 1.66×; Flyte over Bare = +107.3 (+975.5 %),
#           Kubeflow over Bare = +185.4 (+1685.5 %).
#           CPU peak Flyte [1000, 1050, ..., 1200] = 1100 ± 79.06, Kubeflow [1900, ..., 1940] =
#           1920 ± 15.81, Bare 1000: over Bare +100 (+10.0 %) and +920 (+92.0 %). CPU average
#           59 CPU-s / 118 s = 500, 137.48 / 196.4 = 700, 5.5 / 11 = 500 mCPU.
# no_drift  no retraining: retrain_tune_s is n/a (not applicable) everywhere; one Kubeflow round
#           fails (80 %); bare's sampler failed, so bare's resources are n/a with that reason.


def report_local() -> dict[str, Any]:
    flyte = rounds(
        [116.0, 118.0, 118.5, 119.0, 120.0],
        retrain=[52.0, 53.0, 52.5, 53.0, 53.0],
        scopes=[local(0.36, 0.24, 59.0, 118.0, 1000.0 + i * 50) for i in range(5)],
    )
    kfp = rounds(
        [193.0, 195.0, 197.0, 198.0, 199.0],
        retrain=[16.0, 17.0, 16.5, 16.5, 17.0],
        scopes=[local(1.9 + i * 0.05, 1.8, 137.48, 196.4, 1900.0 + i * 10) for i in range(5)],
    )
    bare = rounds(
        [10.0, 10.5, 11.0, 11.5, 12.0],
        retrain=2.0,
        scopes=local(0.25, 0.2, 5.5, 11.0, 1000.0),
    )
    flyte_nd = rounds([100.0] * 5, drift=False, scopes=local(0.3, 0.2, 50.0, 100.0, 1000.0))
    kfp_nd = rounds([150.0, 150.0, 150.0, None, 150.0], drift=False, scopes=local(1.5, 1.2, 105.0, 150.0, 1900.0))
    bare_nd = rounds(
        [5.0] * 5, drift=False, missing={**LOCAL_MISSING, "resources": "sampler failed: psutil.AccessDenied"}
    )
    return document(
        "local",
        [
            record("flyte", "local", BASE, flyte),
            record("kfp", "local", BASE, kfp),
            record("bare", "local", BASE, bare),
            record("flyte", "local", NO_DRIFT, flyte_nd),
            record("kfp", "local", NO_DRIFT, kfp_nd),
            record("bare", "local", NO_DRIFT, bare_nd),
        ],
        commit="4444444444444444444444444444444444444444",
        when="2026-11-04T10:00:00+00:00",
    )


# --- report: cluster, Flyte and Kubeflow, Table 1 of the study -------------------------------------
#
# Resources come from the widest scope: `platform`. Kubeflow's platform-scope CPU peak had no
# Prometheus data, so its Peak Total CPU falls back to `execution`: that row's scopes differ and
# its ratio is n/a.


def cluster(
    execution: tuple[float, float, float, float | None],
    platform: tuple[float, float, float, float | None],
    window: float,
) -> dict[str, Any]:
    """(memory peak, memory avg, cpu_seconds, cpu peak) per scope; a None peak had no Prometheus data."""
    found = {}
    for scope, (peak, avg, cpu_s, cpu_peak) in (("execution", execution), ("platform", platform)):
        found[scope] = resources(
            scope,
            peak=peak,
            avg=avg,
            cpu_s=cpu_s,
            window=window,
            cpu_peak=cpu_peak,
            missing="no data from Prometheus: fewer than 2 samples in the rate window",
        )
    return found


def report_cluster() -> dict[str, Any]:
    common = {"startup": None, "missing": CLUSTER_MISSING, "queue": 3.0}
    flyte = rounds(
        [116.0, 118.0, 118.5, 119.0, 120.0],
        retrain=[52.0, 53.0, 52.5, 53.0, 53.0],
        scopes=[cluster((0.1, 0.05, 0.2, 5.0), (0.37, 0.247, 0.84, 10.79), 118.3)] * 5,
        **common,
    )
    kfp = rounds(
        [193.0, 195.0, 197.0, 198.0, 199.0],
        retrain=[16.0, 17.0, 16.5, 16.5, 17.0],
        scopes=[cluster((0.5, 0.4, 10.0, 313.5), (1.988, 1.849, 27.6, None), 196.4)] * 5,
        **common,
    )
    return document(
        "cluster",
        [record("flyte", "cluster", BASE, flyte), record("kfp", "cluster", BASE, kfp)],
        commit="5555555555555555555555555555555555555555",
        when="2026-11-05T10:00:00+00:00",
    )


# --- report: a sweep on the local target, laws chosen by hand ---------------------------------------
#
# Scale axis: x = rows / 2000. Plain `base` is x = 1 (no base@scale=1 in this run), then
# base@scale=3, 10, 30: four distinct x, three rounds each.
#   bare   total_s = 1 + 0.1·x^1.5                      (exact)
#   flyte  total_s = 6 + 0.1·x^1.5 = bare + 5           (exact): absolute k = 1.5; overhead 5 at every x,
#                                                        flat, so its exponent is "not fitted"
#   kfp    total_s = 2 + 0.5·x^1.5 + d, d = −0.1, 0, +0.1 in rounds 0, 1, 2: symmetric offsets leave the
#          least-squares optimum at a = 2, b = 0.5, k = 1.5 and give k a standard error > 0; the overhead
#          kfp − bare (rounds paired by index) = 1 + 0.4·x^1.5 + d.
#   Every round: cpu_seconds = total_s / 2 over a window of total_s (so a and b halve, k stays),
#   memory peak 1.0 GiB and average 0.5 GiB (flat: not fitted), retrain_tune_s 2 s (flat).
# Fan-out axis: plain base (x = 1), base@fanout=2 and 4: three points, so nothing is fitted.
SWEEP_X = (1, 3, 10, 30)
SWEEP_OFFSETS = (-0.1, 0.0, 0.1)


def sweep_total(platform: str, x: float) -> list[float]:
    law = {"bare": (1.0, 0.1), "flyte": (6.0, 0.1), "kfp": (2.0, 0.5)}[platform]
    offsets = SWEEP_OFFSETS if platform == "kfp" else (0.0, 0.0, 0.0)
    return [law[0] + law[1] * x**1.5 + d for d in offsets]


def sweep_record(platform: str, case: Case, totals: list[float]) -> dict[str, Any]:
    scopes = [local(1.0, 0.5, t / 2, t, 1000.0) for t in totals]
    return record(platform, "local", case, rounds(totals, scopes=scopes))


def report_sweep() -> dict[str, Any]:
    from retrain_bench.workload.cases import case_for

    records = []
    for x in SWEEP_X:
        case = BASE if x == 1 else case_for(f"base@scale={x}")
        records += [sweep_record(p, case, sweep_total(p, x)) for p in ("flyte", "kfp", "bare")]
    for k in (2, 4):
        # Any values: three points are too few to fit whatever they are.
        records += [sweep_record(p, case_for(f"base@fanout={k}"), sweep_total(p, k)) for p in ("flyte", "kfp", "bare")]
    return document(
        "local", records, commit="6666666666666666666666666666666666666666", when="2026-11-06T10:00:00+00:00"
    )


# --- issue 18: noise floors, informational metrics, several runs a side (tests/data/gate/) ----------
#
# gate-floor-*  bare/base, five rounds each side, every value the same in every round (so "exact":
#               the threshold and the floor alone decide, no t-test):
#   total_s         0.050 → 0.065: +30 % is beyond 10 %, but |Δ| 15 ms ≤ the 20 ms floor: unchanged.
#   retrain_tune_s  0.050 → 0.080: +60 %, |Δ| 30 ms > 20 ms: regression (the only one: exit 1).
#   queue_s         0.0001 → 0.0002: +100 %, |Δ| 0.1 ms: unchanged (below the floor).
#   startup_s       1 → 2: +100 %, 1 s: would regress, but it is informational: verdict
#                   "informational", no failure unless --gate-metric startup_s.
#   cpu_seconds     0.020 → 0.025: +25 % beyond 15 %, |Δ| 5 ms of CPU ≤ 20 ms: unchanged.
#   cpu_avg_mcpu    1000 × 0.02 / 0.05 = 400 → 1000 × 0.025 / 0.065 = 384.6: −3.8 %, within.
# gate-runs-1..3  baseline runs of bare/base with total_s tight around 10, 11 and 12 s
#                 ([m − 0.1, m, m + 0.1, m, m]: sd 0.0707 within a run);
# gate-runs-4     a current run around 12.5 s; gate-runs-5, -6 around 14 and 15 s.
#   runs 1 vs 4:  +25 %, Welch over the rounds p ≪ 0.05: a regression — of these two runs' rounds.
#   runs 1-3 vs 4: run means [10, 11, 12] (mean 11, sd 1) against 12.5: +13.6 %, Student's t with the
#                 variance from the three runs: t = 1.5 / (1 · √(1/3 + 1)) = 1.2990, df = 2,
#                 p = ½ − t / (2√(2 + t²)) = 0.1618: not significant, unchanged.
#   runs 1-3 vs 5, 6: [10, 11, 12] against [14, 15] (mean 14.5, sd 0.7071): +31.8 %, Welch on the
#                 means: t = 3.5 / √(1/3 + 0.5/2) = 4.5826, df = (1/3 + 1/4)² / ((1/3)²/2 + (1/4)²/1)
#                 = 2.882, p = 0.0106: a regression.


def flat(total: float, retrain: float, queue: float, startup: float, cpu_s: float, peak: float) -> list[dict[str, Any]]:
    scopes = local(peak, 0.2, cpu_s, total, 400.0)
    return rounds([total] * 5, retrain=retrain, queue=queue, startup=startup, scopes=scopes)


def gate_floor(current: bool) -> dict[str, Any]:
    values = (0.065, 0.080, 0.0002, 2.0, 0.025, 0.25) if current else (0.050, 0.050, 0.0001, 1.0, 0.020, 0.25)
    return document(
        "local",
        [record("bare", "local", BASE, flat(*values))],
        commit=("8" if current else "7") * 40,
        when="2026-11-08T10:00:00+00:00" if current else "2026-11-07T10:00:00+00:00",
    )


GATE_RUN_MEANS = {1: 10.0, 2: 11.0, 3: 12.0, 4: 12.5, 5: 14.0, 6: 15.0}


def gate_run(number: int) -> dict[str, Any]:
    mean = GATE_RUN_MEANS[number]
    totals = [mean - 0.1, mean, mean + 0.1, mean, mean]
    return document(
        "local",
        [record("bare", "local", BASE, rounds(totals, scopes=local(1.0, 0.5, 4.0, 10.0, 1000.0)))],
        commit=str(number) * 40,
        when=f"2026-11-1{number}T10:00:00+00:00",
    )


# --- compare: success rates that binary fractions cannot hold (issue 17), runs that never succeeded --------
#
# compare-rates-*   bare/base 7 of 10 rounds ok → 9 of 10: +20 percentage points, exactly (the fractions
#                   gave (0.9 − 0.7) × 100 = 20.000000000000018); flyte/base 1 of 3 → 2 of 3: +100/3 pp,
#                   which the fractions gave as 33.33333333333333 instead of the nearest float
#                   33.333333333333336. Every ok round's total_s is 10 s: 0 %, exact / threshold alone.
# compare-all-failed-*  bare/base, every one of five rounds failed on both sides: nothing was measured,
#                   so nothing can be compared: the success rate 0 % → 0 % fails the gate (exit 1).


def compare_rates(current: bool) -> dict[str, Any]:
    bare_ok = 9 if current else 7
    flyte_ok = 2 if current else 1
    bare = rounds([10.0] * bare_ok + [None] * (10 - bare_ok), scopes=local(1.0, 0.5, 4.0, 10.0, 1000.0))
    flyte = rounds([10.0] * flyte_ok + [None] * (3 - flyte_ok), scopes=local(1.0, 0.5, 4.0, 10.0, 1000.0))
    return document(
        "local",
        [record("bare", "local", BASE, bare), record("flyte", "local", BASE, flyte)],
        commit=("b" if current else "a") * 40,
        when="2026-11-20T10:00:00+00:00" if current else "2026-11-19T10:00:00+00:00",
    )


def compare_all_failed(current: bool) -> dict[str, Any]:
    return document(
        "local",
        [record("bare", "local", BASE, rounds([None] * 5))],
        commit=("d" if current else "c") * 40,
        when="2026-11-22T10:00:00+00:00" if current else "2026-11-21T10:00:00+00:00",
    )


# --- report: the server target against the local one, Prefect and Airflow on base -----------------
#
# Server / local is the ratio of the means; resources compare the server's platform scope with the
# local process tree.
#   Prefect total_s   local [2, 3, 4, 3, 3] mean 3    server [30, 33, 36, 33, 33] mean 33   11×
#           retrain   local 1.0                      server 1.5                            1.5×
#           memory    peak 0.2 / avg 0.15            platform 0.6 / 0.45                   3× / 3×
#           CPU       avg 1000·1.5/3 = 500, peak 600 platform avg 1000·9.9/33 = 300, peak 900   0.6× / 1.5×
#   Airflow total_s   local 5 ×5                     server 10 ×5                          2×
#           retrain   local 2.0                      server 3.0                            1.5×
#           memory    peak 0.5 / avg 0.4             platform 1.5 / 1.0                    3× / 2.5×
#           CPU       avg 1000·2.5/5 = 500, peak 800 platform avg 1000·8/10 = 800, peak 1600   1.6× / 2×
# The server's execution scope (the run's own processes) is in the records but not in the comparison.
SERVER_MISSING = {"startup_s": "no launcher: the control plane was started once for the session"}


def served(platform: tuple[float, float, float, float], execution: tuple[float, float, float, float], window: float):
    """(memory peak, memory avg, cpu_seconds, cpu peak) of the platform and execution scopes, sampled here."""
    return {
        scope: resources(scope, peak=p, avg=a, cpu_s=c, window=window, cpu_peak=k, source="psutil")
        for scope, (p, a, c, k) in (("execution", execution), ("platform", platform))
    }


def report_server_local() -> dict[str, Any]:
    prefect = rounds([2.0, 3.0, 4.0, 3.0, 3.0], retrain=1.0, scopes=local(0.2, 0.15, 1.5, 3.0, 600.0))
    airflow = rounds([5.0] * 5, retrain=2.0, scopes=local(0.5, 0.4, 2.5, 5.0, 800.0))
    return document(
        "local",
        [record("prefect", "local", BASE, prefect), record("airflow", "local", BASE, airflow)],
        commit="5" * 40,
        when="2026-12-01T10:00:00+00:00",
    )


def report_server() -> dict[str, Any]:
    prefect = rounds(
        [30.0, 33.0, 36.0, 33.0, 33.0],
        retrain=1.5,
        startup=None,
        missing=SERVER_MISSING,
        scopes=served((0.6, 0.45, 9.9, 900.0), (0.25, 0.2, 6.0, 700.0), 33.0),
    )
    airflow = rounds(
        [10.0] * 5,
        retrain=3.0,
        startup=None,
        missing=SERVER_MISSING,
        scopes=served((1.5, 1.0, 8.0, 1600.0), (0.4, 0.3, 4.0, 900.0), 10.0),
    )
    return document(
        "server",
        [record("prefect", "server", BASE, prefect), record("airflow", "server", BASE, airflow)],
        commit="6" * 40,
        when="2026-12-01T11:00:00+00:00",
    )


GATE = DATA / "gate"
GATE_FILES = {
    "gate-floor-baseline.json": lambda: gate_floor(False),
    "gate-floor-current.json": lambda: gate_floor(True),
    **{f"gate-runs-{n}.json": (lambda n=n: gate_run(n)) for n in GATE_RUN_MEANS},
}

FILES = {
    "compare-baseline.json": compare_baseline,
    "compare-current.json": compare_current,
    "compare-hash-mismatch.json": compare_hash_mismatch,
    "report-local.json": report_local,
    "report-cluster.json": report_cluster,
    "report-sweep.json": report_sweep,
    "report-server-local.json": report_server_local,
    "report-server.json": report_server,
    "compare-versions.json": compare_versions,
    "compare-rates-baseline.json": lambda: compare_rates(False),
    "compare-rates-current.json": lambda: compare_rates(True),
    "compare-all-failed-baseline.json": lambda: compare_all_failed(False),
    "compare-all-failed-current.json": lambda: compare_all_failed(True),
}


def render(name: str) -> str:
    return json.dumps({**FILES, **GATE_FILES}[name](), indent=1) + "\n"


if __name__ == "__main__":
    for name in FILES:
        (DATA / name).write_text(render(name))
        print(f"wrote {DATA / name}")
    GATE.mkdir(exist_ok=True)
    for name in GATE_FILES:
        (GATE / name).write_text(render(name))
        print(f"wrote {GATE / name}")
