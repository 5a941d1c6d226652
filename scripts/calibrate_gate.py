"""How often the gate cries wolf, and how often it catches a real slowdown: measured, with intervals.

    python scripts/calibrate_gate.py collect --out DIR [--cycles 8] [--rounds 10] [--warmup 1]
                                      [--platform bare,flyte] [--case tuning] [--factors 1.25,2]
    python scripts/calibrate_gate.py analyse DIR [--format md|json]

``collect`` runs the benchmark ``cycles × (1 + len(factors))`` times, one benchmark session each
(``retrain_bench.harness.session.BenchSession``, as ``pytest bench/`` runs it, without pytest; its JSON
holds the records and run level ``analyse`` reads, not pytest-benchmark's statistics), in the order
A/A, A/B at the first factor, A/B at the next, ... so that drift of the machine lands on every kind
alike. Every run has ``--rounds`` measured rounds (even: half of them are one side of an
interleaved pair). In an A/B run every ``tune`` call of the odd measured rounds sleeps, once it
has run, ``(factor − 1) × s`` times as long as it took (``scripts/slowdown/sitecustomize.py``;
nothing in the shipped code knows about it). ``s`` starts as the first A/A run's ``retrain_tune_s``
over its tune calls' time (the phase also holds select_best and the executor's own steps), and after
each A/B run it is steered towards the factor asked for; so the phase grows about ``factor ×``, and
the sleep follows each call's own time as the machine's load moves. ``analyse`` prints the
slowdown achieved: the median over A/B runs of the ratio of the delayed to the undelayed rounds'
median ``retrain_tune_s``.

``analyse`` runs ``compare`` (this checkout's rules, default options) on:

- interleaved A/A: the even against the odd measured rounds of one A/A run;
- interleaved A/B: the undelayed against the delayed rounds of one A/B run;
- sequential A/A, one run a side: the undelayed half of each run against that of the next run;
- sequential A/A, three baseline runs: runs i..i+2 against run i+3 (undelayed halves);
- sequential A/B, three baseline runs: the undelayed halves of the three runs before an A/B run
  against its delayed half;

and prints the false-alarm rate per compare invocation, per benchmark and per metric comparison,
and the detection rate of ``retrain_tune_s`` per factor, each with a 95 % Clopper–Pearson interval
(``scipy.stats.binomtest``). Sequential comparisons share runs (a window slides by one), so they are
not independent; the intervals then read optimistic.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import importlib.metadata
import json
import os
import platform as platform_module
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SLOWDOWN = ROOT / "scripts" / "slowdown"
PHASE = "retrain_tune_s"
# This checkout's code first, whatever is installed, so a frozen copy measures itself (and finds its bench/).
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from retrain_bench.analysis.compare import CompareOptions, CompareResult, compare_runs  # noqa: E402
from retrain_bench.analysis.metrics import TIME_KEYS  # noqa: E402
from retrain_bench.analysis.thresholds import resolve  # noqa: E402
from retrain_bench.errors import BenchError  # noqa: E402
from retrain_bench.harness.session import BenchSession  # noqa: E402
from retrain_bench.harness.stopping import STOP  # noqa: E402
from retrain_bench.options import DEFAULT_RUN_TIMEOUT, parse_options  # noqa: E402
from retrain_bench.platforms.specs import PackageIndex  # noqa: E402
from retrain_bench.pytest_plugin.replay import REPLAY_TIMER  # noqa: E402
from retrain_bench.results.contract import strict  # noqa: E402
from retrain_bench.results.model import Run  # noqa: E402
from retrain_bench.results.runs import benchmark_stats  # noqa: E402

# --- collect -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _environ(variables: Mapping[str, str | None]) -> Iterator[None]:
    """``os.environ`` with ``variables`` set (None: removed) while the block runs: what every launcher inherits."""
    saved = {name: os.environ.get(name) for name in variables}
    try:
        for name, value in variables.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_once(args: argparse.Namespace, out: Path, name: str, plan: dict[str, Any] | None) -> Path:
    json_path = out / "runs" / f"{name}.json"
    # Every launcher (and kfp.local's task processes, which inherit its environment) runs this
    # checkout's code with the slowdown's sitecustomize, which acts only on a plan.
    path = [str(SLOWDOWN), str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH")]
    variables = {
        "PYTHONPATH": os.pathsep.join(filter(None, path)),
        "RETRAIN_BENCH_SLOWDOWN": None if plan is None else json.dumps(plan),
    }
    started = time.monotonic()
    try:
        options = parse_options(
            platform=args.platform, case=args.case, rounds=args.rounds, warmup=args.warmup, target="local",
            run_timeout=DEFAULT_RUN_TIMEOUT, min_success_rate=0.0,
            index=PackageIndex(ROOT / ".retrain-bench" / "index"),
        )  # fmt: skip
        with _environ(variables), BenchSession.open(options, out / "logs" / name, _say, warn=_say) as session:
            session.plan_everything()
            document = run_document(session)
            if session.interrupted:
                sys.exit(f"calibrate: {name}: stopped ({STOP.label}); the runs collected so far are in {out}")
    except BenchError as exc:
        sys.exit(f"calibrate: {name}: {exc}")
    json_path.write_text(json.dumps(strict(document), indent=2) + "\n")
    print(f"calibrate: {name} in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return json_path


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_document(session: BenchSession) -> dict[str, Any]:
    """Run the session's plan and write it down as ``pytest bench/`` does: every benchmark's record in
    ``extra_info.retrain_bench`` beside pytest-benchmark's statistics of its ok measured rounds (a
    benchmark without one in the run level's ``failed_benchmarks``), and what tells this run from
    another (its UTC time to the microsecond, the machine, the commit), so ``compare`` reads it too."""
    benchmarks, failed = [], []
    for case in session.options.cases:
        for spec in session.options.labels:
            rounds = session.rounds_of(spec, case)
            record = session.record(spec, case)
            param = f"{spec}-{case}"
            measured = sum(1 for r in rounds if not r.warmup and r.ok)
            entry = {
                "group": case, "name": f"test_retraining[{param}]",
                "fullname": f"bench/test_retraining.py::test_retraining[{param}]",
                "params": {"bench_platform": spec, "bench_case": case}, "param": param,
                "options": {
                    "timer": REPLAY_TIMER, "rounds": measured, "warmup_rounds": sum(1 for r in rounds if r.warmup),
                    "iterations": 1,
                },
                "extra_info": {"retrain_bench": record},
            }  # fmt: skip
            stats = benchmark_stats(record)
            if stats is None:
                failed.append(entry)
            else:
                benchmarks.append({**entry, "stats": stats})
    return {
        "machine_info": {
            "node": platform_module.node(),
            "machine": platform_module.machine(),
            "system": platform_module.system(),
            "release": platform_module.release(),
            "python_version": platform_module.python_version(),
        },
        "commit_info": _commit(),
        "benchmarks": benchmarks,
        "datetime": dt.datetime.now(dt.UTC).isoformat(),
        "version": importlib.metadata.version("pytest-benchmark"),
        "retrain_bench": {**session.run_level(), "failed_benchmarks": failed},
    }


def _commit() -> dict[str, Any]:
    def git(*command: str) -> str | None:
        done = subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"id": git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


def collect(args: argparse.Namespace) -> int:
    if args.rounds < 2 or args.rounds % 2:
        sys.exit("calibrate: --rounds must be even and at least 2 (half a run is one side of a pair)")
    factors = [float(f) for f in args.factors.split(",")]
    # Absolute: the slowdown plan names its state directory to launchers that run in their own cwd.
    out = Path(args.out).resolve()
    (out / "runs").mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "case": args.case, "platform": args.platform, "rounds": args.rounds, "warmup": args.warmup,
        "factors": factors, "runs": [],
    }  # fmt: skip
    platforms = [p.strip() for p in args.platform.split(",") if p.strip()]
    # Per factor and platform: how much longer than its own time each tune call sleeps, per unit of
    # (factor - 1). Set from the first A/A run's phase over its calls, then steered after each A/B run
    # towards the factor asked for (a sleep also slows what follows it: caches, clock frequency).
    scales: dict[float, dict[str, float]] = {}
    for _ in range(args.cycles):
        for kind in ("aa", *(f"ab{f:g}" for f in factors)):
            name = f"{len(manifest['runs']):02d}-{kind}"
            factor = 1.0 if kind == "aa" else float(kind.removeprefix("ab"))
            state = out / "state" / name
            used = scales.get(factor, {})
            plan = {
                "factors": dict.fromkeys(platforms, factor), "scale": used, "state": str(state),
                "warmup": args.warmup,
            }  # fmt: skip
            entry: dict[str, Any] = {
                "file": f"runs/{name}.json", "kind": "aa" if kind == "aa" else "ab",
                "log": f"state/{name}/rounds.jsonl", "calls": f"state/{name}/calls.jsonl",
            }  # fmt: skip
            if kind != "aa":
                entry.update(factor=factor, scale=used)
            run_once(args, out, name, plan)
            manifest["runs"].append(entry)
            (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            if not scales:
                share = phase_over_calls(out, entry, args.warmup)
                scales = {f: dict(share) for f in factors}
                manifest["phase_over_calls"] = share
            elif kind != "aa":
                scales[factor] = steer(scales[factor], factor, split(out, entry, args.warmup))
    return 0


def phase_over_calls(out: Path, entry: dict[str, Any], warmup: int) -> dict[str, float]:
    """Per platform, the median over measured rounds of ``retrain_tune_s`` over the summed time of that
    round's tune calls: what the calls' sleeps must be scaled by for the phase to grow by the factor."""
    calls: dict[tuple[str, int], float] = {}
    for line in (out / entry["calls"]).read_text().splitlines():
        call = json.loads(line)
        key = (call["platform"], call["ordinal"])
        calls[key] = calls.get(key, 0.0) + call["tune_s"]
    document = json.loads((out / entry["file"]).read_text())
    share: dict[str, float] = {}
    for benchmark in document["benchmarks"]:
        record = benchmark["extra_info"]["retrain_bench"]
        ratios = [
            r[PHASE] / calls[(record["platform"], r["index"])]
            for r in record["rounds"]
            if r["ok"] and not r["warmup"] and r.get(PHASE) and calls.get((record["platform"], r["index"]))
        ]
        if ratios:
            share[record["platform"]] = statistics.median(ratios)
    return share


def steer(scale: dict[str, float], factor: float, run: Halves) -> dict[str, float]:
    """The scales for the next A/B run at ``factor``: each moved by the square root of what would have
    hit the factor in this run (damped, and at most halved or doubled, as one run is noisy)."""
    steered = dict(scale)
    for platform, ratio in phase_ratios(run).items():
        reached = ratio - 1.0
        if platform in scale and reached > 0.1 * (factor - 1.0):
            steered[platform] *= min(2.0, max(0.5, ((factor - 1.0) / reached) ** 0.5))
    return steered


# --- analyse -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Halves:
    """One collected run split by the slowdown plan: undelayed rounds (A) and the other half (B)."""

    name: str
    kind: str
    factor: float | None
    a: Run
    b: Run


def split(out: Path, entry: dict[str, Any], warmup: int) -> Halves:
    """A: measured rounds with an even ordinal after the warm-ups; B: the odd ones, which the slowdown log
    says were delayed in an A/B run (the log decides, not the parity, should the two ever disagree)."""
    from retrain_bench.results.contract import strict, success_rate, summarise

    path = out / entry["file"]
    document = json.loads(path.read_text())
    delayed: dict[str, set[int]] = {}
    if entry["kind"] == "ab":
        for line in (out / entry["log"]).read_text().splitlines():
            decision = json.loads(line)
            if decision["factor"] > 1.0:
                delayed.setdefault(decision["platform"], set()).add(decision["ordinal"])

    def in_b(platform: str, round_: dict[str, Any]) -> bool:
        if entry["kind"] == "ab":
            return round_["index"] in delayed.get(platform, set())
        return (round_["index"] - warmup) % 2 == 1

    def half(b_side: bool) -> Run:
        copy = json.loads(json.dumps(document))
        for benchmark in copy["benchmarks"]:
            record = benchmark["extra_info"]["retrain_bench"]
            rounds = [r for r in record["rounds"] if not r["warmup"] and in_b(record["platform"], r) == b_side]
            record.update(rounds=rounds, summary=summarise(rounds, tuple(record["summary"])))
            record["success_rate"] = success_rate(rounds)
        return Run(f"{path.name}:{'B' if b_side else 'A'}", strict(copy))

    name = path.stem
    return Halves(name, entry["kind"], entry.get("factor"), half(False), half(True))


@dataclasses.dataclass(frozen=True)
class Trial:
    """One compare invocation of the calibration and what it said."""

    design: str
    factor: float | None
    result: CompareResult


def trials(halves: Sequence[Halves]) -> list[Trial]:
    options = CompareOptions(thresholds=resolve((), None, ROOT / "no-such-dir"))
    found: list[Trial] = []
    for h in halves:
        design = "interleaved A/A" if h.kind == "aa" else "interleaved A/B"
        found.append(Trial(design, h.factor, compare_runs(h.a, h.b, dataclasses.replace(options, interleaved=True))))
    for i in range(1, len(halves)):
        found.append(Trial("sequential A/A, 1 run a side", None, compare_runs(halves[i - 1].a, halves[i].a, options)))
        if halves[i].kind == "ab":
            found.append(
                Trial(
                    "sequential A/B, 1 run a side",
                    halves[i].factor,
                    compare_runs(halves[i - 1].a, halves[i].b, options),
                )
            )
    for i in range(3, len(halves)):
        window = [h.a for h in halves[i - 3 : i]]
        found.append(Trial("sequential A/A, 3 baseline runs", None, compare_runs(window, halves[i].a, options)))
        if halves[i].kind == "ab":
            found.append(
                Trial("sequential A/B, 3 baseline runs", halves[i].factor, compare_runs(window, halves[i].b, options))
            )
    return found


def rate(k: int, n: int) -> dict[str, Any]:
    """k of n with a 95 % Clopper–Pearson interval."""
    from scipy.stats import binomtest

    if n == 0:
        return {"k": 0, "n": 0, "rate": None, "low": None, "high": None}
    interval = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return {"k": k, "n": n, "rate": k / n, "low": float(interval.low), "high": float(interval.high)}


def summarise_trials(found: Sequence[Trial]) -> list[dict[str, Any]]:
    rows = []
    groups: dict[tuple[str, float | None], list[Trial]] = {}
    for trial in found:
        groups.setdefault((trial.design, trial.factor), []).append(trial)
    for (design, factor), members in groups.items():
        invocations = [t.result.failed for t in members]
        benchmarks: list[bool] = []
        metrics: list[bool] = []
        caught: list[bool] = []
        flagged: dict[str, int] = {}
        for t in members:
            by_key: dict[str, bool] = {}
            for c in t.result.comparisons:
                by_key[c.key.label] = by_key.get(c.key.label, False) or c.fails
                if c.kind == "metric" and c.gating:
                    metrics.append(c.fails)
                if c.fails:
                    name = f"{c.key.platform} {c.metric}"
                    flagged[name] = flagged.get(name, 0) + 1
                if c.metric == PHASE and c.kind == "metric":
                    caught.append(c.verdict == "regression")
            benchmarks += by_key.values()
        row = {
            "design": design,
            "factor": factor,
            "invocations": rate(sum(invocations), len(invocations)),
            "benchmarks": rate(sum(benchmarks), len(benchmarks)),
            "metrics": rate(sum(metrics), len(metrics)),
            "flagged": dict(sorted(flagged.items(), key=lambda kv: -kv[1])),
        }
        if factor is not None:
            row["detected"] = rate(sum(caught), len(caught))
        rows.append(row)
    return rows


def spreads(halves: Sequence[Halves]) -> dict[str, dict[str, float]]:
    """|difference of run means| between consecutive runs' A halves, per platform and time metric: the
    noise a floor has to sit above (median and largest)."""
    found: dict[str, list[float]] = {}
    for before, after in zip(halves, halves[1:], strict=False):
        for b in before.a.benchmarks:
            for c in after.a.benchmarks:
                if c.key != b.key:
                    continue
                for key in TIME_KEYS:
                    m_b, m_c = b.sample(key).mean, c.sample(key).mean
                    if m_b is not None and m_c is not None:
                        found.setdefault(f"{b.key.platform} {key}", []).append(abs(m_c - m_b))
    return {k: {"median": statistics.median(v), "max": max(v), "pairs": len(v)} for k, v in sorted(found.items())}


def phase_ratios(run: Halves) -> dict[str, float]:
    """Per platform, the B half's median retrain_tune_s over the A half's, in one run."""
    ratios: dict[str, float] = {}
    for a in run.a.benchmarks:
        for b in run.b.benchmarks:
            slow, fast = _median(b, PHASE), _median(a, PHASE)
            if a.key == b.key and slow is not None and fast:
                ratios[a.key.platform] = slow / fast
    return ratios


def achieved(halves: Sequence[Halves]) -> dict[str, dict[str, Any]]:
    """The slowdown the A/B runs really had, per factor and platform: median over runs of the delayed
    half's median retrain_tune_s over the undelayed half's."""
    ratios: dict[tuple[float, str], list[float]] = {}
    for h in halves:
        if h.factor is None:
            continue
        for platform, ratio in phase_ratios(h).items():
            ratios.setdefault((h.factor, platform), []).append(ratio)
    return {
        f"{factor:g}x {platform}": {"median": statistics.median(v), "min": min(v), "max": max(v), "runs": len(v)}
        for (factor, platform), v in sorted(ratios.items())
    }


def _median(benchmark: Any, key: str) -> float | None:
    values = [r.values.get(key) for r in benchmark.rounds if r.ok and not r.warmup]
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def pct(found: dict[str, Any]) -> str:
    if found["rate"] is None:
        return "–"
    return (
        f"{found['k']}/{found['n']} = {found['rate'] * 100:.1f} % [{found['low'] * 100:.1f}, {found['high'] * 100:.1f}]"
    )


def analyse(args: argparse.Namespace) -> int:
    out = Path(args.dir)
    manifest = json.loads((out / "manifest.json").read_text())
    halves = [split(out, entry, manifest["warmup"]) for entry in manifest["runs"]]
    rows = summarise_trials(trials(halves))
    noise = spreads(halves)
    real = achieved(halves)
    if args.format == "json":
        print(json.dumps({"manifest": manifest, "rows": rows, "spreads": noise, "achieved": real}, indent=2))
        return 0
    print(
        f"Calibration: case {manifest['case']}, platforms {manifest['platform']}, {len(halves)} runs of "
        f"{manifest['rounds']} measured rounds (+{manifest['warmup']} warm-up). Slowdown achieved in "
        "retrain_tune_s (median of delayed / undelayed medians, over the A/B runs): "
        + (", ".join(f"{k} {v['median']:.2f}× [{v['min']:.2f}, {v['max']:.2f}]" for k, v in real.items()) or "none")
        + ". Rates are k/n = rate [95 % Clopper–Pearson interval]."
    )
    print()
    columns = ("design", "slowdown", "compare failed (exit 1)", "benchmarks failed", "metric comparisons failed")
    print("| " + " | ".join((*columns, "retrain_tune_s caught")) + " |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        factor = "–" if row["factor"] is None else f"{row['factor']:g}×"
        detected = pct(row["detected"]) if "detected" in row else "–"
        print(
            f"| {row['design']} | {factor} | {pct(row['invocations'])} | {pct(row['benchmarks'])} | "
            f"{pct(row['metrics'])} | {detected} |"
        )
    print()
    print("What failed (A/A designs: false alarms), by platform and metric:")
    for row in rows:
        if row["flagged"]:
            factor = "" if row["factor"] is None else f" {row['factor']:g}×"
            shown = ", ".join(f"{k} ×{v}" for k, v in row["flagged"].items())
            print(f"- {row['design']}{factor}: {shown}")
    print()
    print("| between consecutive runs | median abs. difference of run means | largest | pairs |")
    print("|---|---|---|---|")
    for name, found in noise.items():
        print(f"| {name} | {found['median'] * 1000:.2f} ms | {found['max'] * 1000:.2f} ms | {found['pairs']} |")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("collect", help="run the A/A and A/B benchmark runs")
    c.add_argument("--out", required=True)
    c.add_argument("--cycles", type=int, default=8)
    c.add_argument("--rounds", type=int, default=10)
    c.add_argument("--warmup", type=int, default=1)
    c.add_argument("--platform", default="bare,flyte")
    c.add_argument("--case", default="tuning")
    c.add_argument("--factors", default="1.25,2")
    c.set_defaults(run=collect)
    a = commands.add_parser("analyse", help="compare the collected runs and print the rates")
    a.add_argument("dir")
    a.add_argument("--format", choices=("md", "json"), default="md")
    a.set_defaults(run=analyse)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
