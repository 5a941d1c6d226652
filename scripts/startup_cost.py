"""What loading the plugin and starting the CLI cost, measured in one run.

    python scripts/startup_cost.py [--reps 9]

Three commands, run in interleaved repetitions (the order rotates each repetition, so a burst of
load lands on each about equally) and summarised by their medians:

1. ``python -m pytest -q -p no:cacheprovider test_one.py`` in an empty temporary project: pytest
   with every installed plugin, ours loaded through its pytest11 entry point as for any user;
2. the same with ``-p no:retrain_bench``: pytest does not import a blocked entry point at all
   (pluggy's ``load_setuptools_entrypoints`` skips it), so this is pytest with every other plugin
   (pytest-benchmark, xdist...) and without ours;
3. ``python -m retrain_bench --help``.

It prints the medians, the plugin's cost (1 - 2) and the ratios, and the load average, since
every figure grows with it. Goal (issue 25): the plugin adds at most 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: the plugin may add at most this to a pytest start (issue 25)
BUDGET_S = 0.3


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=9, help="repetitions of each command (median). Default: 9")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="startup-cost-") as tmp:
        project = Path(tmp)
        # An ini file of its own, so pytest's rootdir search stops here and reads nothing of ours.
        (project / "pytest.ini").write_text("[pytest]\n")
        (project / "test_one.py").write_text("def test_one() -> None:\n    assert 1 + 1 == 2\n")
        # The plugin refuses to start where it cannot find the benchmark's pipelines (harness/pipelines.py),
        # so the project has them, as the repository's root does; they are found, not imported.
        (project / "bench").symlink_to(REPO / "bench", target_is_directory=True)
        pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_one.py"]
        commands = {
            "pytest, plugin loaded": pytest,
            "pytest, -p no:retrain_bench": [*pytest, "-p", "no:retrain_bench"],
            "python -m retrain_bench --help": [sys.executable, "-m", "retrain_bench", "--help"],
        }
        names = list(commands)
        times: dict[str, list[float]] = {name: [] for name in names}
        for name in names:  # once each, unmeasured: the first run fills the page cache and writes .pyc
            timed(commands[name], project)
        for rep in range(args.reps):
            for name in names[rep % len(names) :] + names[: rep % len(names)]:
                times[name].append(timed(commands[name], project))

    median = {name: statistics.median(values) for name, values in times.items()}
    with_plugin, without = median[names[0]], median[names[1]]
    added = with_plugin - without
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"start-up cost, median of {args.reps} interleaved runs each ({os.cpu_count()} CPUs, load average {load})")
    for name in names:
        spread = f"{min(times[name]):.3f}-{max(times[name]):.3f}"
        print(f"  {name:<32} {median[name]:.3f} s  (range {spread})")
    print(f"  plugin adds {added:.3f} s to a pytest start: {with_plugin / without:.2f}x pytest without it")
    print(f"  retrain_bench --help: {median[names[2]] / without:.2f}x a pytest start without the plugin")
    verdict = "within" if added <= BUDGET_S else "OVER"
    print(f"  {verdict} the {BUDGET_S} s budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
