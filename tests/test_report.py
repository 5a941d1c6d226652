"""``report`` on the golden runs: the study's table layout exactly, n/a reasons, merging, charts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from retrain_bench.cli.main import main

DATA = Path(__file__).parent / "data"
LOCAL = "report-local.json"
CLUSTER = "report-cluster.json"


@pytest.fixture(autouse=True)
def in_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["report", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_base_case_worked_by_hand(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, LOCAL)[1]
    table = out.split("## base (target local, case hash dc1daecf77ee)\n\n")[1].split("\n\n")[0]
    assert table.splitlines() == [
        "| Metric | Flyte (Mean ± Std Dev) | Kubeflow (Mean ± Std Dev) | Bare Python (Mean ± Std Dev) "
        "| Kubeflow / Flyte | Flyte over Bare Python | Kubeflow over Bare Python |",
        "|---|---|---|---|---|---|---|",
        # 591.5 / 5 = 118.3, squared deviations 8.8 / 4 → 1.483; 982 / 5 = 196.4 → 2.408; 55 / 5 = 11 → 0.7906.
        # 196.4 / 118.3 = 1.66; 118.3 − 11 = 107.3 = 975.5 % of 11 (118.3 / 11 = 10.75); 196.4 − 11 = 185.4 =
        # 1685.5 % of 11 (17.85). Retraining: 52.7 / 2 = 26.35, 16.6 / 2 = 8.3; memory 0.36 / 0.25 = 1.44 ...
        "| Total Pipeline Time (s) | 118.3 ± 1.483 (n=5) | 196.4 ± 2.408 (n=5) | 11 ± 0.7906 (n=5) | 1.66× "
        "| +107.3 (+975.5%, 10.8×) | +185.4 (+1685.5%, 17.9×) |",
        "| Retraining and Tuning Time (s) | 52.7 ± 0.4472 (n=5) | 16.6 ± 0.4183 (n=5) | 2 ± 0 (n=5) | 0.315× "
        "| +50.7 (+2535.0%, 26.4×) | +14.6 (+730.0%, 8.3×) |",
        "| Peak Total Memory (GiB) [process_tree scope, psutil] | 0.36 ± 0 (n=5) | 2 ± 0.07906 (n=5) | 0.25 ± 0 (n=5) "
        "| 5.56× | +0.11 (+44.0%, 1.44×) | +1.75 (+700.0%, 8×) |",
        "| Average Total Memory (GiB) [process_tree scope, psutil] | 0.24 ± 0 (n=5) | 1.8 ± 0 (n=5) | 0.2 ± 0 (n=5) "
        "| 7.5× | +0.04 (+20.0%, 1.2×) | +1.6 (+800.0%, 9×) |",
        "| Peak Total CPU (mCPU) [process_tree scope, psutil] | 1100 ± 79.06 (n=5) | 1920 ± 15.81 (n=5) "
        "| 1000 ± 0 (n=5) | 1.75× | +100 (+10.0%, 1.1×) | +920 (+92.0%, 1.92×) |",
        "| Average Total CPU (mCPU) [process_tree scope, psutil] | 500 ± 0 (n=5) | 700 ± 0 (n=5) | 500 ± 0 (n=5) "
        "| 1.4× | +0 (+0.0%, 1×) | +200 (+40.0%, 1.4×) |",
        "| Reliability (Success Rate %) | 100% (5/5) | 100% (5/5) | 100% (5/5) | - | - | - |",
    ]


def test_missing_values_are_na_with_reasons_never_zero(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, LOCAL)[1]
    section = out.split("## no_drift (target local, case hash efd33ceccee1)\n\n")[1]
    assert section.splitlines()[3:] == [
        "| Retraining and Tuning Time (s) | n/a [1] | n/a [1] | n/a [1] | n/a [2] | n/a [3] | n/a [4] |",
        "| Peak Total Memory (GiB) [process_tree scope, psutil] | 0.3 ± 0 (n=5) | 1.5 ± 0 (n=4) | n/a [5] | 5× "
        "| n/a [6] | n/a [6] |",
        "| Average Total Memory (GiB) [process_tree scope, psutil] | 0.2 ± 0 (n=5) | 1.2 ± 0 (n=4) | n/a [5] | 6× "
        "| n/a [6] | n/a [6] |",
        "| Peak Total CPU (mCPU) [process_tree scope, psutil] | 1000 ± 0 (n=5) | 1900 ± 0 (n=4) | n/a [5] | 1.9× "
        "| n/a [6] | n/a [6] |",
        "| Average Total CPU (mCPU) [process_tree scope, psutil] | 500 ± 0 (n=5) | 700 ± 0 (n=4) | n/a [5] | 1.4× "
        "| n/a [6] | n/a [6] |",
        "| Reliability (Success Rate %) | 100% (5/5) | 80% (4/5) | 100% (5/5) | - | - | - |",
        "",
        "Mean ± sample standard deviation (n-1) over the ok measured rounds (n). Kubeflow / Flyte: ratio of the "
        "means (above 1: Kubeflow is higher). Over Bare Python: the platform's mean minus bare Python's (and as a "
        "percent of bare, and the ratio of the means).",
        "- [1] not_applicable: no drift, the adaptive branch did not run (Flyte, Kubeflow, Bare Python)",
        "- [2] no Kubeflow or Flyte value (Kubeflow / Flyte)",
        "- [3] no Flyte or Bare Python value (Flyte over Bare Python)",
        "- [4] no Kubeflow or Bare Python value (Kubeflow over Bare Python)",
        "- [5] sampler failed: psutil.AccessDenied (Bare Python)",
        "- [6] no Bare Python value (Flyte over Bare Python, Kubeflow over Bare Python)",
    ]


def test_cluster_rows_take_the_widest_scope_and_say_so(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, CLUSTER)[1]
    assert "**Local target.**" not in out
    assert "**Cluster target.** Cluster numbers: resources from Prometheus" in out
    lines = out.splitlines()
    assert (
        "| Peak Total Memory (GiB) [platform scope, prometheus] | 0.37 ± 0 (n=5) | 1.988 ± 0 (n=5) | 5.37× |" in lines
    )
    # Kubeflow's platform-scope CPU peak had no data: its execution scope is shown, labelled, and not divided
    # by Flyte's platform scope.
    assert (
        "| Peak Total CPU (mCPU) [scope per cell] | 10.79 ± 0 (n=5; platform, prometheus) "
        "| 313.5 ± 0 (n=5; execution, prometheus) | n/a [1] |" in lines
    )
    assert "- [1] scopes differ (Kubeflow: execution, Flyte: platform) (Kubeflow / Flyte)" in lines


def test_local_numbers_are_labelled_in_the_header(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, LOCAL, "--format", "text")[1]
    assert out.splitlines()[:11] == [
        "retrain-bench report",
        "====================",
        "",
        "Inputs:",
        "- report-local.json (2026-11-04T10:00:00+00:00, commit 4444444)",
        "",
        "Local target. These are local-target numbers, not cluster numbers: each platform ran on its own local "
        "executor on one machine, and resources are the launcher's process tree sampled with psutil. The executors:",
        # one line per platform of the run, from the registry, in display order
        "- Flyte: Flyte local runs tasks one after another in one process",
        "- Kubeflow: kfp.local runs a process per task with at most 2 loop iterations at once",
        "- Bare Python: bare Python calls the steps one after another in the launcher",
        "",
    ]


def test_csv_is_long_format_at_full_precision(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, LOCAL, "--format", "csv")[1]
    lines = out.splitlines()
    assert lines[0] == "case,target,hash,metric,key,platform,scope,source,n,mean,stddev,missing"
    assert lines[1] == "base,local,dc1daecf77ee,Total Pipeline Time (s),total_s,flyte,,,5,118.3,1.4832396974191326,"
    assert (
        "no_drift,local,efd33ceccee1,Peak Total Memory (GiB),memory_peak_gib,bare,,,,,,"
        "sampler failed: psutil.AccessDenied" in lines
    )
    assert "no_drift,local,efd33ceccee1,Reliability (Success Rate %),success_rate,kfp,,,5,0.8,," in lines
    assert len(lines) == 1 + 2 * 7 * 3


def test_out_writes_the_report_and_charts_that_open(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, LOCAL, CLUSTER, "--out", str(tmp_path / "out"))
    assert code == 0
    assert err == f"retrain-bench: wrote the report and 14 charts to {tmp_path / 'out'}\n"
    assert (tmp_path / "out" / "report.md").read_text() == out
    names = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert names == sorted(
        f"{metric}-{target}.png"
        for metric in (
            "total_s",
            "retrain_tune_s",
            "memory_peak_gib",
            "memory_avg_gib",
            "cpu_peak_mcpu",
            "cpu_avg_mcpu",
            "success_rate",
        )
        for target in ("local", "cluster")
    )
    for name in names:
        with Image.open(tmp_path / "out" / name) as image:
            assert image.format == "PNG"
            assert image.size[0] >= 500 and image.size[1] == 400


def test_the_same_benchmark_twice_needs_merge_rounds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A second session of the same benchmarks: another pytest-benchmark datetime, the same rounds' values.
    second = json.loads((DATA / CLUSTER).read_text())
    second["datetime"] = "2026-11-05T11:00:00+00:00"
    again = tmp_path / "again.json"
    again.write_text(json.dumps(second))
    code, out, err = run(capsys, CLUSTER, str(again))
    assert (code, out) == (2, "")
    assert err == (
        "retrain-bench: error: flyte/base (cluster, dc1daecf77ee) appears more than once "
        f"(in report-cluster.json and {again}); pass --merge-rounds to pool its rounds\n"
    )
    code, out, _ = run(capsys, CLUSTER, str(again), "--merge-rounds")
    assert code == 0
    # The same five values in each run: the mean stays, the std is sqrt(2 × 8.8 / 9) = 1.398.
    assert "| Total Pipeline Time (s) | 118.3 ± 1.398 (n=10) | 196.4 ± 2.271 (n=10) | 1.66× |" in out.splitlines()


@pytest.mark.parametrize("merge", [[], ["--merge-rounds"]], ids=["plain", "merge-rounds"])
def test_a_run_given_twice_is_refused_not_counted_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], merge: list[str]
) -> None:
    """The same session (a copy of the file, same datetime, commit and node): its rounds must not count twice."""
    copy = tmp_path / "copy.json"
    copy.write_text((DATA / CLUSTER).read_text())
    for files in ([CLUSTER, CLUSTER], [CLUSTER, str(copy)]):
        code, out, err = run(capsys, *files, *merge)
        assert (code, out) == (2, "")
        assert err == (
            f"retrain-bench: error: {files[1]}: flyte/base (cluster, dc1daecf77ee) holds the rounds of a run already "
            "read from report-cluster.json (datetime 2026-11-05T10:00:00+00:00, commit 5555555, node bench-runner); "
            "pooling would count them twice: give each run once\n"
        )


def test_several_files_make_one_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads((DATA / LOCAL).read_text())
    kfp = [b for b in document["benchmarks"] if b["extra_info"]["retrain_bench"]["platform"] == "kfp"]
    document["benchmarks"] = [b for b in document["benchmarks"] if b not in kfp]
    (tmp_path / "without-kfp.json").write_text(json.dumps(document))
    document["benchmarks"] = kfp
    (tmp_path / "kfp.json").write_text(json.dumps(document))
    split = run(capsys, str(tmp_path / "without-kfp.json"), str(tmp_path / "kfp.json"))[1]
    whole = run(capsys, LOCAL)[1]
    assert split.split("## ", 1)[1] == whole.split("## ", 1)[1]


def test_a_figure_missing_in_its_scope_shows_the_scopes_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests import golden

    scopes = {
        "process_tree": golden.resources(
            "process_tree", peak=0.25, avg=0.2, cpu_s=5.5, window=11.0, cpu_peak=None, missing="fewer than 2 samples"
        )
    }
    record = golden.record("bare", "local", golden.BASE, golden.rounds([11.0] * 3, scopes=scopes))
    path = tmp_path / "run.json"
    path.write_text(json.dumps(golden.document("local", [record], commit="9" * 40, when="2026-11-09T10:00:00+00:00")))
    lines = run(capsys, str(path))[1].splitlines()
    assert "| Peak Total CPU (mCPU) [no value in any scope] | n/a [1] |" in lines
    assert "| Average Total CPU (mCPU) [process_tree scope, psutil] | 500 ± 0 (n=3) |" in lines
    assert "- [1] fewer than 2 samples (Bare Python)" in lines


def test_a_case_on_both_targets_gets_the_server_against_local_table_worked_by_hand(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "report-server-local.json", "report-server.json")
    assert code == 0
    assert "**Server target.** Each orchestrator's own production control plane on this machine" in out
    section = out.split("## base: server target against local (case hash dc1daecf77ee)\n\n")[1].split("\n\n")[0]
    # tests/golden.py works out every ratio: server mean / local mean; resources the server's platform
    # scope over the local process tree.
    assert section.splitlines() == [
        "| Metric | Airflow local | Airflow server | Airflow server / local "
        "| Prefect local | Prefect server | Prefect server / local |",
        "|---|---|---|---|---|---|---|",
        "| Total Pipeline Time (s) | 5 ± 0 (n=5) | 10 ± 0 (n=5) | 2× | 3 ± 0.7071 (n=5) | 33 ± 2.121 (n=5) | 11× |",
        "| Retraining and Tuning Time (s) | 2 ± 0 (n=5) | 3 ± 0 (n=5) | 1.5× | 1 ± 0 (n=5) | 1.5 ± 0 (n=5) | 1.5× |",
        "| Peak Total Memory (GiB) [process_tree / platform] | 0.5 ± 0 (n=5) | 1.5 ± 0 (n=5) | 3× "
        "| 0.2 ± 0 (n=5) | 0.6 ± 0 (n=5) | 3× |",
        "| Average Total Memory (GiB) [process_tree / platform] | 0.4 ± 0 (n=5) | 1 ± 0 (n=5) | 2.5× "
        "| 0.15 ± 0 (n=5) | 0.45 ± 0 (n=5) | 3× |",
        "| Peak Total CPU (mCPU) [process_tree / platform] | 800 ± 0 (n=5) | 1600 ± 0 (n=5) | 2× "
        "| 600 ± 0 (n=5) | 900 ± 0 (n=5) | 1.5× |",
        "| Average Total CPU (mCPU) [process_tree / platform] | 500 ± 0 (n=5) | 800 ± 0 (n=5) | 1.6× "
        "| 500 ± 0 (n=5) | 300 ± 0 (n=5) | 0.6× |",
        "| Reliability (Success Rate %) | 100% (5/5) | 100% (5/5) | - | 100% (5/5) | 100% (5/5) | - |",
    ]


def test_a_run_on_one_target_has_no_server_against_local_table(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "report-server.json")[1]
    assert "server target against local" not in out
    assert "## base (target server, case hash dc1daecf77ee)" in out
