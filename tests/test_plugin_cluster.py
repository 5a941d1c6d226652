"""--target=cluster in the plugin, and the endpoint fixtures, against the Kubernetes API stand-in."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import BenchRun, repo_pythonpath
from tests.k8s_standin import TOKEN, KubeStandin, add_prometheus, hostport, kubeconfig_for, silent_server
from tests.prometheus import running_prometheus


def test_no_cluster_is_one_line_within_the_connect_timeout(bench_run: BenchRun, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    with KubeStandin() as standin:
        standin.kubeconfig(kubeconfig)
    started = time.monotonic()
    result, document = bench_run.run(
        "--target=cluster", "--platform=flyte", f"--kubeconfig={kubeconfig}", "--connect-timeout=1", timeout=60
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert time.monotonic() - started < 15  # interpreter start-up included
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1
    assert errors[0].startswith("ERROR: cannot reach the API server of context standin (http://127.0.0.1:")
    assert "within 1 s" in errors[0] and TOKEN not in result.stderr.str()
    assert document is None


def test_a_missing_service_is_one_line(bench_run: BenchRun, tmp_path: Path) -> None:
    with KubeStandin() as standin:  # a cluster with nothing installed
        kubeconfig = standin.kubeconfig(tmp_path / "kubeconfig")
        result, _ = bench_run.run("--target=cluster", "--platform=kfp", f"--kubeconfig={kubeconfig}", timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: ")
    assert "no service kubeflow/ml-pipeline " in errors[0]  # the API server's service, the default


@pytest.mark.prometheus
def test_prometheus_fixture_forwards_to_the_service(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", repo_pythonpath())
    pytester.makepyfile(
        test_uses_it="""
        import requests

        def test_query(cluster_prometheus_url):
            body = requests.get(cluster_prometheus_url + "/api/v1/query", params={"query": "vector(42)"}, timeout=5)
            assert body.json()["data"]["result"][0]["value"][1] == "42"
            assert cluster_prometheus_url.startswith("http://127.0.0.1:")
        """
    )
    with running_prometheus(tmp_path / "prom") as prometheus, KubeStandin() as standin:
        add_prometheus(standin, hostport(prometheus))
        kubeconfig = standin.kubeconfig(tmp_path / "kubeconfig")
        result = pytester.runpytest_subprocess(
            "-p", "fixtures.endpoints", "-p", "no:cacheprovider",
            f"--kubeconfig={kubeconfig}", "--connect-timeout=3", timeout=60,
        )  # fmt: skip
    result.assert_outcomes(passed=1)


def test_a_server_answering_404_is_one_line_not_an_internal_error(bench_run: BenchRun, tmp_path: Path) -> None:
    with KubeStandin() as standin:
        standin.answer_all = 404  # not the apiserver at that URL (tests/k8s_standin.py answer_all)
        kubeconfig = standin.kubeconfig(tmp_path / "kubeconfig")
        result, document = bench_run.run("--target=cluster", "--platform=kfp", f"--kubeconfig={kubeconfig}", timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "INTERNALERROR" not in result.stderr.str() + result.stdout.str()
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1
    assert errors[0] == (
        f"ERROR: the API server of context standin ({standin.url}) answered HTTP 404 while trying to get the server "
        "version; check the server URL in the kubeconfig and `kubectl --context standin get --raw /version`"
    )
    assert document is None


def test_a_server_that_never_answers_is_one_line_within_the_bound(bench_run: BenchRun, tmp_path: Path) -> None:
    with silent_server() as url:
        kubeconfig = kubeconfig_for(tmp_path / "kubeconfig", url)
        started = time.monotonic()
        result, _ = bench_run.run(
            "--target=cluster", "--platform=flyte", f"--kubeconfig={kubeconfig}", "--connect-timeout=2", timeout=60
        )
        elapsed = time.monotonic() - started
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1 and "within 2 s (timed out)" in errors[0]
    assert elapsed < 1.5 * 2 + 10  # plus interpreter and plugin start-up, as the test above allows
