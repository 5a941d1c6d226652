"""How often the gate cries wolf, and how often it catches a real slowdown: measured, with intervals.

    python scripts/calibrate_gate.py collect --out DIR [--cycles 8] [--rounds 10] [--warmup 1]
                                      [--platform bare,flyte] [--case smoke] [--factors 1.25,2]
    python scripts/calibrate_gate.py analyse DIR [--format md|json]

``collect`` runs the benchmark ``cycles × (1 + len(factors))`` times, one pytest invocation each, in
the order A/A, A/B at the first factor, A/B at the next, ... so that drift of the machine lands on
every kind alike. Every run has ``--rounds`` measured rounds (even: half of them are one side of an
interleaved pair). In an A/B run the odd measured rounds sleep in every ``tune`` call (see
``scripts/slowdown/sitecustomize.py``; nothing in the shipped code knows about it) for
``(factor − 1) × T / calls``: T is the first run's median ``retrain_tune_s`` of that platform and
``calls`` the tune calls that run one after another (all of the grid on bare and flyte local; kfp.local
runs two at once), so the phase grows to about ``factor ×`` its typical value.

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
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SLOWDOWN = ROOT / "scripts" / "slowdown"
#: How many tune calls a platform's local executor runs at once (README, "What local numbers mean").
AT_ONCE = {"kfp": 2}
PHASE = "retrain_tune_s"


# --- collect -------------------------------------------------------------------------------------


def pilot_means(document: dict[str, Any]) -> dict[str, float]:
    """Median retrain_tune_s of each platform's ok measured rounds (one slow round does not set the scale)."""
    found = {}
    for benchmark in document["benchmarks"]:
        record = benchmark["extra_info"]["retrain_bench"]
        values = [r[PHASE] for r in record["rounds"] if r["ok"] and not r["warmup"] and r.get(PHASE) is not None]
        if values:
            found[record["platform"]] = statistics.median(values)
    return found


def delays_for(factor: float, means: dict[str, float], grid: int) -> dict[str, float]:
    return {p: (factor - 1.0) * t / math.ceil(grid / AT_ONCE.get(p, 1)) for p, t in means.items()}


def run_once(args: argparse.Namespace, out: Path, name: str, plan: dict[str, Any] | None) -> Path:
    json_path = out / "runs" / f"{name}.json"
    # This checkout's code first, whatever is installed, so a frozen copy measures itself.
    path = [str(SLOWDOWN), str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path))}
    env.pop("RETRAIN_BENCH_SLOWDOWN", None)
    if plan is not None:
        env["RETRAIN_BENCH_SLOWDOWN"] = json.dumps(plan)
    command = [
        sys.executable, "-m", "pytest", "bench/", "-q", "-p", "no:cacheprovider",
        f"--case={args.case}", f"--platform={args.platform}", f"--rounds={args.rounds}",
        f"--warmup={args.warmup}", "--min-success-rate=0", f"--benchmark-json={json_path}",
        f"--round-logs={out / 'logs' / name}",
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode > 1 or not json_path.is_file():
        sys.exit(f"calibrate: {name}: pytest exited {done.returncode} without a usable JSON:\n{done.stdout[-2000:]}")
    print(f"calibrate: {name} in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return json_path


def collect(args: argparse.Namespace) -> int:
    from retrain_bench.workload.cases import CASES

    if args.rounds < 2 or args.rounds % 2:
        sys.exit("calibrate: --rounds must be even and at least 2 (half a run is one side of a pair)")
    factors = [float(f) for f in args.factors.split(",")]
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "case": args.case, "platform": args.platform, "rounds": args.rounds, "warmup": args.warmup,
        "factors": factors, "runs": [],
    }  # fmt: skip
    grid = len(CASES[args.case].grid)
    for cycle in range(args.cycles):
        for kind in ("aa", *(f"ab{f:g}" for f in factors)):
            name = f"{len(manifest['runs']):02d}-{kind}"
            entry: dict[str, Any] = {"file": f"runs/{name}.json", "kind": "aa" if kind == "aa" else "ab"}
            plan = None
            if kind != "aa":
                factor = float(kind.removeprefix("ab"))
                state = out / "state" / name
                plan = {"delays": delays_for(factor, manifest["pilot"], grid), "state": str(state), "warmup": args.warmup}
                entry.update(factor=factor, delays=plan["delays"], log=f"state/{name}/rounds.jsonl")
            path = run_once(args, out, name, plan)
            if "pilot" not in manifest:
                manifest["pilot"] = pilot_means(json.loads(path.read_text()))
            manifest["runs"].append(entry)
            (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
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
    c.add_argument("--case", default="smoke")
    c.add_argument("--factors", default="1.25,2")
    c.set_defaults(run=collect)
    a = commands.add_parser("analyse", help="compare the collected runs and print the rates")
    a.add_argument("dir")
    a.add_argument("--format", choices=("md", "json"), default="md")
    a.set_defaults(run=lambda ns: analyse(ns))
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


def analyse(args: argparse.Namespace) -> int:
    raise NotImplementedError


if __name__ == "__main__":
    raise SystemExit(main())
