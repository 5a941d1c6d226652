"""Nothing heavy is imported when pytest loads the plugin or when the CLI starts (issue 25, part 3).

Every pytest process of an environment where retrain-bench is installed loads the plugin through its
pytest11 entry point, benchmark or not; kubernetes alone cost about a second there. What the modules
cost is measured by ``scripts/startup_cost.py``; this test checks which are imported, which does not
depend on how loaded the machine is. One fresh interpreter does both: ``python -m retrain_bench --help``
first, then a whole pytest session (plugin loaded, configured, one test run) in an empty project.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Top-level packages that cost tenths of a second or more to import, or pull in such packages:
#: imported by the code that uses them (a cluster run, a report's charts, a pipeline, a Prometheus query).
HEAVY = (
    "kubernetes",
    "scipy",
    "matplotlib",
    "pandas",
    "numpy",
    "sklearn",
    "pyarrow",
    "flytekit",
    "kfp",
    "airflow",
    "prefect",
    "dagster",
    "mlflow",
    "requests",
    "urllib3",
    "websocket",
)

PROBE = """
import json, runpy, sys
heavy = json.loads(sys.argv[1])
def loaded():
    return sorted(name for name in heavy if name in sys.modules)
sys.argv = ["retrain_bench", "--help"]
try:
    runpy.run_module("retrain_bench", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    cli_exit = exc.code
cli = loaded()
import pytest
code = pytest.main(["-q", "-p", "no:cacheprovider", "test_one.py"])
print(json.dumps({
    "cli_exit": cli_exit, "cli": cli, "pytest_exit": int(code), "pytest": loaded(),
    "plugin_loaded": "retrain_bench.pytest_plugin.plugin" in sys.modules,
}))
"""


@pytest.mark.e2e
def test_plugin_load_and_cli_start_import_nothing_heavy(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # the rootdir search stops here
    (tmp_path / "test_one.py").write_text("def test_one() -> None:\n    assert 1 + 1 == 2\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["cli_exit"] == 0
    assert found["cli"] == [], "imported by `python -m retrain_bench --help`; import them where they are used"
    assert found["pytest_exit"] == 0
    assert found["plugin_loaded"], "the plugin was not loaded through its entry point: the check would prove nothing"
    assert found["pytest"] == [], "imported by loading the plugin into pytest; import them where they are used"
