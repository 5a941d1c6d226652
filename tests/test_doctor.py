"""``python -m retrain_bench doctor`` against the Kubernetes API stand-in (tests/k8s_standin.py), which
forwards to a real Prometheus and to stand-ins of flyteadmin and the KFP API
(tests/platform_standins.py): everything but a real cluster and real control planes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrain_bench.cli.main import main
from tests.k8s_standin import (
    TOKEN,
    KubeStandin,
    add_flyte,
    add_kfp_api,
    add_kfp_ui,
    add_prometheus,
    hostport,
    kubeconfig_for,
    silent_server,
)
from tests.platform_standins import flyteadmin, kfp_api, kfp_ui
from tests.prometheus import GIB, Series, container, remote_write, running_prometheus

#: the control planes' namespaces: their pods always run, so cAdvisor has series for them. A fresh
#: flyte-binary's project namespace (flytesnacks-development) exists but holds no pod until a run.
NAMESPACES = ("flyte", "kubeflow")
RUN_NAMESPACE = "flytesnacks-development"


@contextlib.contextmanager
def cluster(tmp_path: Path) -> Iterator[KubeStandin]:
    """Flyte, KFP and Prometheus as their charts expose them, behind the stand-in API server."""
    with running_prometheus(tmp_path / "prom") as prometheus, flyteadmin("v1.16.8") as admin, kfp_api() as kfp:
        now, times = time.time(), range(0, 120, 5)
        for ns in NAMESPACES:
            remote_write(prometheus, container(ns, "p-0", "main", times=times, cpu=lambda t: t, memory=GIB,
                                               origin=now - 60), 5)  # fmt: skip
        node = Series("node_cpu_seconds_total", {"cpu": "0", "mode": "idle"}, tuple((now - 60 + t, t) for t in times))
        remote_write(prometheus, [node], 5)
        with KubeStandin() as standin:
            standin.namespaces.add(RUN_NAMESPACE)
            add_flyte(standin, hostport(admin))
            add_kfp_api(standin, hostport(kfp))
            add_prometheus(standin, hostport(prometheus))
            yield standin


def doctor(standin: KubeStandin, tmp_path: Path, *extra: str) -> list[str]:
    kubeconfig = standin.kubeconfig(tmp_path / "kubeconfig")
    return ["doctor", f"--kubeconfig={kubeconfig}", "--connect-timeout=3", *extra]


@pytest.mark.prometheus
def test_everything_passes_on_a_healthy_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with cluster(tmp_path) as standin:
        code = main(doctor(standin, tmp_path))
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert code == 0, out
    assert all(line.startswith("PASS  ") for line in lines[:-1]), out
    assert lines[0].startswith("PASS  cluster reachable: context standin at http://127.0.0.1:")
    assert "PASS  RBAC pods/portforward in monitoring: allowed (get)" in lines
    assert "PASS  RBAC to watch pods and read their logs in flytesnacks-development: allowed" in lines
    assert "PASS  RBAC to watch pods and read their logs in kubeflow: allowed" in lines
    assert "PASS  Flyte service flyte/flyte-binary-grpc:8089: ready pod flyte-binary-0, port 8089" in lines
    assert "PASS  KFP service kubeflow/ml-pipeline:8888: ready pod ml-pipeline-7d9f8-x2k4q, port 8888" in lines
    assert any(
        line.startswith("PASS  Flyte API at 127.0.0.1:") and line.endswith("flyteadmin v1.16.8") for line in lines
    )
    assert any(line.startswith("PASS  KFP API at http://127.0.0.1:") for line in lines)
    assert "PASS  cAdvisor series in flyte: 1 container CPU series now" in lines
    assert not any("cAdvisor series in flytesnacks-development" in line for line in lines)
    assert (
        "PASS  namespace flytesnacks-development exists: yes (runs create their pods here; no live pods needed)"
        in lines
    )
    assert lines[-1] == f"{len(lines) - 1} passed, 0 failed"
    assert TOKEN not in out


@pytest.mark.prometheus
def test_forbidden_port_forward_and_a_missing_service_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with cluster(tmp_path) as standin:
        standin.forbidden.add("pods/portforward")
        code = main(doctor(standin, tmp_path, "--kfp-service=kubeflow/ml-pipeline-ui:80"))
    out = capsys.readouterr().out
    assert code == 1
    assert (
        "FAIL  RBAC pods/portforward in flyte: forbidden: get -> grant get on pods/portforward "
        "(Kubernetes v1.30.0-standin needs get; `kubectl auth can-i get pods/portforward -n flyte`)"
    ) in out
    fails = [line for line in out.splitlines() if line.startswith("FAIL  KFP service kubeflow/ml-pipeline-ui:80: ")]
    assert "PASS  RBAC to watch pods and read their logs in kubeflow: allowed" in out
    assert len(fails) == 1 and "no service" in fails[0].lower()
    assert TOKEN not in out


@pytest.mark.prometheus
def test_unreadable_pod_logs_are_named_with_the_namespace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with cluster(tmp_path) as standin:
        standin.forbidden.add("pods/log")
        code = main(doctor(standin, tmp_path))
    out = capsys.readouterr().out
    assert code == 1
    assert (
        "FAIL  RBAC to watch pods and read their logs in kubeflow: forbidden: get pods/log -> grant get pods/log in "
        "kubeflow (deploy/rbac.yaml has the minimal Role)"
    ) in out.splitlines()


@pytest.mark.prometheus
def test_one_platform_is_checked_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with cluster(tmp_path) as standin:
        # KFP is not installed on this cluster: a Flyte-only check must not care
        standin.objects.pop(("services", "kubeflow", "ml-pipeline"), None)
        code = main(doctor(standin, tmp_path, "--platform=flyte"))
    out = capsys.readouterr().out
    assert code == 0, out
    assert "kubeflow" not in out and "KFP" not in out
    assert any(line.startswith("PASS  Flyte API at 127.0.0.1:") for line in out.splitlines())


def test_an_unknown_doctor_platform_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--platform=bare"]) == 2
    assert capsys.readouterr().err == "retrain-bench: error: --platform: 'bare' given; choose from flyte, kfp\n"


def test_no_cluster_fails_every_check_within_the_timeout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    with KubeStandin() as standin:
        standin.kubeconfig(kubeconfig)
    # The stand-in is gone: its port refuses, as a stopped cluster's API server does.
    started = time.monotonic()
    code = main(["doctor", f"--kubeconfig={kubeconfig}", "--connect-timeout=2"])
    out = capsys.readouterr().out
    assert code == 1 and time.monotonic() - started < 10
    first = out.splitlines()[0]
    assert first.startswith("FAIL  cluster reachable: cannot reach the API server of context standin")
    # cluster, 3 port-forward and 3 resolve RBAC namespaces (flyte, kubeflow, monitoring), 2 run namespaces
    # (flytesnacks-development, kubeflow) each existing and with RBAC, the manifest's RBAC, 3 services,
    # Flyte API, KFP API, Prometheus = 18
    assert out.splitlines()[-1] == "0 passed, 18 failed"
    assert TOKEN not in out


def test_bad_options_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--prometheus-service=monitoring/prometheus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("retrain-bench: error: --prometheus-service: bad service 'monitoring/prometheus'")
    assert err.count("\n") == 1


def test_a_server_that_never_answers_is_given_up_on_within_the_bound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Accepts, never answers (tests/k8s_standin.py silent_server): one attempt of 2 s, no hidden retries.
    with silent_server() as url:
        kubeconfig = kubeconfig_for(tmp_path / "kubeconfig", url)
        started = time.monotonic()
        code = main(["doctor", f"--kubeconfig={kubeconfig}", "--connect-timeout=2"])
        elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert code == 1
    assert elapsed < 1.5 * 2, f"{elapsed:.1f} s for --connect-timeout=2"
    assert out.splitlines()[0] == (
        f"FAIL  cluster reachable: cannot reach the API server of context standin ({url}) within 2 s (timed out): "
        "check the cluster is up and `kubectl --context standin get --raw /version`"
    )
    assert out.splitlines()[-1] == "0 passed, 18 failed"  # the 18 of the refused case above


def test_a_server_answering_404_gives_fail_lines_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with KubeStandin() as standin:
        standin.answer_all = 404  # a proxy or a wrong URL in front: Go's "404 page not found"
        code = main(doctor(standin, tmp_path))
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert code == 1 and "Traceback" not in captured.err + captured.out
    assert lines[0] == (
        f"FAIL  cluster reachable: the API server of context standin ({standin.url}) answered HTTP 404 while trying "
        "to get the server version; check the server URL in the kubeconfig and "
        "`kubectl --context standin get --raw /version`"
    )
    assert all(line.startswith("FAIL  ") for line in lines[:-1]) and lines[-1] == "0 passed, 18 failed"


def rbac_lines(standin: KubeStandin, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """doctor's port-forward RBAC lines (they need nothing installed, only the API server)."""
    main(doctor(standin, tmp_path, "--platform=flyte"))
    return [line for line in capsys.readouterr().out.splitlines() if "RBAC pods/portforward" in line]


@pytest.mark.parametrize(
    ("version", "forbidden", "expected"),
    [
        # up to 1.34 the websocket GET is authorized as `get` alone: `create` is not needed ...
        ("v1.34.2", "create pods/portforward", "PASS  RBAC pods/portforward in flyte: allowed (get)"),
        # ... and `get` is, which a check of `create` alone never saw
        ("v1.34.2", "get pods/portforward", "FAIL  RBAC pods/portforward in flyte: forbidden: get -> grant get on "),
        # from 1.35 (AuthorizePodWebsocketUpgradeCreatePermission) both
        ("v1.35.0", "create pods/portforward", "FAIL  RBAC pods/portforward in flyte: forbidden: create -> grant "),
        ("v1.35.0", "", "PASS  RBAC pods/portforward in flyte: allowed (get and create)"),
    ],
)
def test_port_forward_rbac_follows_the_server_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], version: str, forbidden: str, expected: str
) -> None:
    with KubeStandin() as standin:
        standin.git_version = version
        standin.forbidden = {forbidden} - {""}
        lines = rbac_lines(standin, tmp_path, capsys)
    assert lines[0].startswith(expected), lines


@pytest.mark.prometheus
def test_a_kfp_ui_in_front_of_a_dead_api_server_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with cluster(tmp_path) as standin, kfp_ui(None) as ui:
        add_kfp_ui(standin, hostport(ui))  # the UI runs, the API server behind it does not
        code = main(doctor(standin, tmp_path, "--platform=kfp", "--kfp-service=kubeflow/ml-pipeline-ui:80"))
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    # the forward's own check asks the same question, so the forward is refused with the UI's answer
    kfp = [line for line in lines if line.startswith("FAIL  KFP API")]
    assert len(kfp) == 1 and "reports its API server down (apiServerReady: false)" in kfp[0], lines
