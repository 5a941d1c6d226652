"""The CI gate script, .ci/bench-gate: base and head side by side, interleaved, merged, compared."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from retrain_bench.results.contract import validate

ROOT = Path(__file__).parent.parent
GATE = ROOT / ".ci" / "bench-gate"


def gate(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BENCH_GATE_CASE": "smoke",
        "BENCH_GATE_PLATFORM": "bare",
        "BENCH_GATE_ROUNDS": "1",
        "BENCH_GATE_WARMUP": "0",
        "BENCH_GATE_OUT": str(tmp_path / "out"),
        "BENCH_GATE_PYTHON": sys.executable,
        "TMPDIR": str(tmp_path),
    }
    # One round a side is all noise: a 10 % threshold would fail an A/A run about as often as not, and on
    # a busy machine one stalled round is +2000 % (0.02 s → 0.6 s of retrain_tune_s was seen). This test
    # is about the plumbing, so thresholds and noise floors are made wide enough never to trip.
    config = tmp_path / "wide.toml"
    wide = "".join(f"{m} = 1000\n" for m in WIDE)
    config.write_text(f"[thresholds]\n{wide}[floors]\n" + "".join(f"{m} = 1000000.0\n" for m in WIDE))
    env["BENCH_GATE_COMPARE_ARGS"] = f"--config {config}"
    return subprocess.run([str(GATE), *args], env=env, capture_output=True, text=True, timeout=timeout)


WIDE = (
    "total_s",
    "retrain_tune_s",
    "queue_s",
    "startup_s",
    "memory_peak_gib",
    "memory_avg_gib",
    "cpu_seconds",
    "cpu_avg_mcpu",
    "cpu_peak_mcpu",
    # dollars follow CPU-seconds and memory: as noisy as they are with one round a side
    "usage_usd",
    "allocation_usd",
)


@pytest.mark.slow
def test_gate_against_head_itself(tmp_path: Path) -> None:
    done = gate(tmp_path, "HEAD")
    assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "out"
    for side in ("base", "head"):
        document = json.loads((out / f"{side}.json").read_text())
        validate(document)
        (benchmark,) = document["benchmarks"]
        record = benchmark["extra_info"]["retrain_bench"]
        assert (record["platform"], record["case"]["name"], len(record["rounds"])) == ("bare", "smoke", 1)
    compare = (out / "compare.md").read_text()
    assert compare.endswith(": ok (exit 0)\n")
    assert compare in done.stdout
    assert (out / "report" / "report.md").exists()
    assert (out / "report" / "total_s-local.png").exists()
    # The base worktree is gone, from disk and from git's list.
    worktrees = subprocess.run(["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True).stdout
    assert str(tmp_path) not in worktrees
    assert not list(tmp_path.glob("bench-gate-base.*"))


def test_gate_refuses_an_unknown_base_ref(tmp_path: Path) -> None:
    done = gate(tmp_path, "no-such-ref-anywhere")
    assert done.returncode == 2
    assert done.stderr == (
        "bench-gate: BASE_REF 'no-such-ref-anywhere' is not a commit here (in CI, fetch it: actions/checkout "
        "with fetch-depth: 0)\n"
    )
    assert not (tmp_path / "out").exists()


def test_gate_needs_exactly_one_argument(tmp_path: Path) -> None:
    done = gate(tmp_path)
    assert (done.returncode, done.stderr) == (2, "usage: .ci/bench-gate BASE_REF\n")


CALIBRATE = ROOT / "scripts" / "calibrate_gate.py"


@pytest.mark.slow
def test_the_calibration_slows_down_exactly_the_planned_rounds(tmp_path: Path) -> None:
    out = tmp_path / "cal"
    collect = [sys.executable, str(CALIBRATE), "collect", "--out", str(out), "--cycles", "1", "--rounds", "2"]
    done = subprocess.run(
        [*collect, "--warmup", "0", "--platform", "bare", "--case", "smoke", "--factors", "3"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [r["kind"] for r in manifest["runs"]] == ["aa", "ab"]
    decisions = [json.loads(line) for line in (out / manifest["runs"][1]["log"]).read_text().splitlines()]
    # Measured rounds 0 and 1 (no warm-up): only the odd one is slowed, at the planned factor.
    assert [(d["ordinal"], d["factor"]) for d in decisions] == [(0, 1.0), (1, 3.0)]
    # The A/A run's rounds were timed the same way and never slowed.
    aa_decisions = (out / manifest["runs"][0]["log"]).read_text().splitlines()
    assert [json.loads(line)["factor"] for line in aa_decisions] == [1.0, 1.0]
    # The scale is the A/A run's phase over its tune calls' time, the median of its two rounds' ratios.
    aa_calls = [json.loads(line) for line in (out / manifest["runs"][0]["calls"]).read_text().splitlines()]
    aa = json.loads((out / manifest["runs"][0]["file"]).read_text())["benchmarks"][0]["extra_info"]["retrain_bench"]
    ratios = [
        r["retrain_tune_s"] / sum(c["tune_s"] for c in aa_calls if c["ordinal"] == r["index"]) for r in aa["rounds"]
    ]
    scale = manifest["runs"][1]["scale"]["bare"]
    assert scale == pytest.approx((ratios[0] + ratios[1]) / 2) and scale >= 1.0  # the phase holds its calls
    calls = [json.loads(line) for line in (out / manifest["runs"][1]["calls"]).read_text().splitlines()]
    # smoke's two C values: two tune calls a round; round 1's each followed by 2 × scale its own time asleep
    assert [(c["ordinal"], c["slept_s"] == 0) for c in calls] == [(0, True), (0, True), (1, False), (1, False)]
    slept = [c for c in calls if c["ordinal"] == 1]
    assert all(c["slept_s"] == pytest.approx(2 * scale * c["tune_s"]) for c in slept)
    record = json.loads((out / manifest["runs"][1]["file"]).read_text())["benchmarks"][0]["extra_info"]["retrain_bench"]
    # The sleeps are inside the tune tasks' stamps: the phase holds the calls and their sleeps.
    assert record["rounds"][1]["retrain_tune_s"] >= sum(c["tune_s"] + c["slept_s"] for c in slept)
    shown = subprocess.run(
        [sys.executable, str(CALIBRATE), "analyse", str(out), "--format", "json"], capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    designs = {(r["design"], r["factor"]) for r in json.loads(shown.stdout)["rows"]}
    assert designs == {
        ("interleaved A/A", None),
        ("interleaved A/B", 3.0),
        ("sequential A/A, 1 run a side", None),
        ("sequential A/B, 1 run a side", 3.0),
    }
