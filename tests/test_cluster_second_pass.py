"""Issue 24 (first contact with a real cluster, second pass) against the stand-ins: each test fails on the
code before its fix. The upstream behaviour each stand-in imitates is cited where the stand-in does it
(tests/k8s_standin.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain_bench.cli.main import main
from retrain_bench.cluster.errors import NoReadyPod
from retrain_bench.cluster.kube import Kube, KubeTarget
from retrain_bench.cluster.portforward import ServiceRef, resolve
from tests.k8s_standin import TOKEN, KubeStandin, add_flyte, add_kfp_api, add_prometheus
from tests.test_doctor import cluster, doctor

# -- 1. doctor on a fresh install -------------------------------------------------------------------


@pytest.mark.prometheus
def test_doctor_passes_on_a_fresh_install_whose_run_namespace_has_no_pods(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The cluster of tests/test_doctor.py has cAdvisor series for flyte and kubeflow only: the project
    # namespace flytesnacks-development exists and has never run a pod.
    with cluster(tmp_path) as standin:
        code = main(doctor(standin, tmp_path))
    lines = capsys.readouterr().out.splitlines()
    assert code == 0, lines
    assert "PASS  cAdvisor series in kubeflow: 1 container CPU series now" in lines
    assert not [line for line in lines if "cAdvisor series in flytesnacks-development" in line]


@pytest.mark.prometheus
def test_a_run_namespace_that_does_not_exist_fails_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with cluster(tmp_path) as standin:
        code = main(doctor(standin, tmp_path, "--platform=flyte", "--flyte-project=retrain"))
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert [line for line in lines if line.startswith("FAIL")] == [
        "FAIL  namespace retrain-development exists: not found -> runs of Flyte create their pods there: create "
        "the project/profile, or name the namespace runs really use (--flyte-project/--flyte-domain/"
        "--flyte-namespace, --kfp-namespace)"
    ]


# -- 2. a Service with no ready pod ----------------------------------------------------------------


@pytest.mark.parametrize("slices", [True, False])
def test_a_service_scaled_to_zero_is_no_ready_pod_naming_it(tmp_path: Path, slices: bool) -> None:
    with KubeStandin() as standin:
        standin.serve_slices = slices
        add_flyte(standin, ("127.0.0.1", 9))
        standin.scale_to_zero("flyte", "flyte-binary-grpc")
        with Kube(KubeTarget(str(standin.kubeconfig(tmp_path / "kubeconfig")), connect_timeout_s=3)) as kube:
            with pytest.raises(NoReadyPod) as caught:
                resolve(kube, ServiceRef.parse("flyte/flyte-binary-grpc:8089"))
    assert str(caught.value).startswith(
        "service flyte/flyte-binary-grpc in context standin has no ready pod behind it: check "
        "`kubectl -n flyte get endpointslices -l kubernetes.io/service-name=flyte-binary-grpc`"
    )
    assert TOKEN not in str(caught.value)


def test_doctor_names_the_service_with_no_ready_pod(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with KubeStandin() as standin:
        add_flyte(standin, ("127.0.0.1", 9))
        add_kfp_api(standin, ("127.0.0.1", 9))
        add_prometheus(standin, ("127.0.0.1", 9))
        standin.scale_to_zero("flyte", "flyte-binary-grpc")
        main(doctor(standin, tmp_path, "--platform=flyte"))
    lines = capsys.readouterr().out.splitlines()
    service = [line for line in lines if line.startswith("FAIL  Flyte service flyte/flyte-binary-grpc:8089: ")]
    assert len(service) == 1 and "has no ready pod behind it" in service[0], lines
