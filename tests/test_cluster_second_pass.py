"""Issue 24 (first contact with a real cluster, second pass) against the stand-ins: each test fails on the
code before its fix. The upstream behaviour each stand-in imitates is cited where the stand-in does it
(tests/k8s_standin.py)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from retrain_bench.cli.main import main
from retrain_bench.cluster.errors import NoReadyPod
from retrain_bench.cluster.kube import Kube, KubeTarget
from retrain_bench.cluster.portforward import ServiceRef, resolve
from retrain_bench.errors import BenchError
from tests.helpers import BenchRun, records
from tests.k8s_standin import (
    TOKEN,
    FakePod,
    KubeStandin,
    add_flyte,
    add_kfp_api,
    add_prometheus,
    hostport,
    running_http,
    serving,
)
from tests.platform_standins import flyteadmin_standin
from tests.prometheus import running_prometheus
from tests.test_cluster_target import CLUSTER_ARGS, ScriptedFlyte
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
        "it (the platform's project or profile), or give the namespace its runs really use (the platform's "
        "namespace options)"
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


# -- 3. Flyte's run namespace from project/domain or --flyte-namespace --------------------------------


def test_flyte_namespaces_follow_project_domain_and_the_override() -> None:
    from retrain_bench.cluster.inventory import load_inventory
    from retrain_bench.platforms.flyte.cluster import parse_options

    def options(**given: str | None) -> Any:
        defaults = {"flyte_endpoint": None, "flyte_service": "flyte/flyte-binary-grpc:8089", "flyte_insecure": False,
                    "flyte_config": None, "flyte_project": "flytesnacks", "flyte_domain": "development",
                    "flyte_namespace": None}  # fmt: skip
        values = {**defaults, **given}
        return parse_options(lambda dest: values[dest])

    assert options(flyte_project="retrain", flyte_domain="staging").run_namespaces() == ("retrain-staging",)
    custom = options(flyte_namespace="bench-runs")  # a namespace_mapping template like "bench-runs"
    assert (custom.namespaces(), custom.control_namespaces()) == (("flyte", "bench-runs"), ("flyte",))
    inventory = load_inventory(None, ("flyte", "kfp"), {"flyte": custom.namespaces()})
    assert inventory.of("flyte").namespaces == ("flyte", "bench-runs")
    assert inventory.of("kfp").namespaces == ("kubeflow",)


@pytest.fixture
def custom_mapping_cluster(tmp_path: Path) -> Iterator[Path]:
    """flyteadmin whose namespace_mapping puts task pods in bench-runs, not flytesnacks-development."""
    with (
        running_prometheus(tmp_path / "prom") as prometheus,
        flyteadmin_standin() as (address, admin),
        KubeStandin() as kube,
        ScriptedFlyte(admin, kube, namespace="bench-runs"),
    ):
        add_flyte(kube, hostport(address))
        add_prometheus(kube, hostport(prometheus))
        yield kube.kubeconfig(tmp_path / "kubeconfig")


@pytest.mark.prometheus
def test_a_custom_flyte_namespace_mapping_is_watched_and_inventoried(
    bench_run: BenchRun, custom_mapping_cluster: Path
) -> None:
    result, document = bench_run.run(
        *CLUSTER_ARGS, "--platform=flyte", "--rounds=1", "--flyte-namespace=bench-runs",
        f"--kubeconfig={custom_mapping_cluster}", timeout=180,
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert document is not None
    (only,) = records(document)["flyte-smoke"]["rounds"]
    assert only["ok"], only["error"]
    assert {p["namespace"] for p in only["pods"]} == {"bench-runs"}
    level = document["retrain_bench"]["cluster"]
    assert level["inventory"]["platforms"]["flyte"]["namespaces"] == ["flyte", "bench-runs"]
    assert level["manifests"]["flyte"]["runner"]["namespace"] == "bench-runs"


# -- 4. a port-forward follows the service to its new pod -------------------------------------------


@pytest.mark.parametrize("old_terminating", [False, True], ids=["old-pod-deleted", "old-pod-terminating"])
def test_a_forward_reaches_the_new_pod_after_a_rollout(tmp_path: Path, old_terminating: bool) -> None:
    import requests

    from retrain_bench.cluster.portforward import PortForward

    def answering(pod: str) -> Any:
        return running_http(lambda path: (200, json.dumps({"pod": pod}).encode()))

    with answering("old") as old, answering("new") as new, KubeStandin() as standin:
        ports = [{"name": "http-web", "port": 9090, "targetPort": "http-web"}]
        standin.add_service("monitoring", "prometheus-operated", ports, [
            FakePod("prometheus-0", ports=(("http-web", 9090),), backends=((9090, hostport(old)),))])  # fmt: skip
        target = KubeTarget(str(standin.kubeconfig(tmp_path / "kubeconfig")), connect_timeout_s=3)
        with PortForward(target, ServiceRef.parse("monitoring/prometheus-operated:http-web")) as forward:
            url = forward.url() + "/api/v1/query"
            assert requests.get(url, timeout=5).json() == {"pod": "old"}
            new_pod = FakePod("prometheus-1", ports=(("http-web", 9090),), backends=((9090, hostport(new)),))
            standin.replace_pod("monitoring", "prometheus-operated", new_pod, old_terminating=old_terminating)
            # the request that meets the gone pod is retried on the new one, and so is every later one
            answers = [requests.get(url, timeout=5).json() for _ in range(3)]
            problems = forward.problems
    assert answers == [{"pod": "new"}] * 3
    assert forward.endpoint is not None and forward.endpoint.pod == "prometheus-1"
    assert len(problems) == 1 and problems[0].startswith(
        "pod monitoring/prometheus-0 failed (" + ("error from the kubelet: " if old_terminating else "pod ")
    )
    assert problems[0].endswith("): now pod prometheus-1")


# -- 8. KFP auth: a token file re-read per request, no redirect followed ----------------------------


def test_a_kfp_token_file_is_read_again_for_every_request(tmp_path: Path) -> None:
    from retrain_bench.cluster.settings import RemoteSettings, TaskResources
    from retrain_bench.platforms.kfp.cluster import DEFAULT_SERVICE, KfpOptions
    from retrain_bench.platforms.kfp.remote import KfpRunner
    from retrain_bench.workload.cases import CASES
    from tests.platform_standins import kfp_runs_api

    token_file = tmp_path / "token"
    token_file.write_text("first-token-aaaa\n")  # `kubectl create token` writes a trailing newline
    options = KfpOptions(None, ServiceRef.parse(DEFAULT_SERVICE), False, None, token_file=str(token_file))
    settings = RemoteSettings(image="example/task:1", resources=TaskResources("1", "1Gi"), options=options)
    with kfp_runs_api(token="first-token-aaaa") as api:
        runner = KfpRunner(api.url, None, True, settings, token_file=str(token_file))
        runner.prepare()
        # an hour later: the old token expired, a new one is in the file
        api.token = "second-token-bbbb"
        token_file.write_text("second-token-bbbb\n")
        submitted = runner.submit(CASES["base"], "kfp-base-r1")
        assert runner.poll(submitted).done is False
    auths = [auth for _, _, auth, _ in api.requests]
    assert auths[-2:] == ["Bearer second-token-bbbb"] * 2
    assert "Bearer first-token-aaaa" in auths


@contextlib.contextmanager
def oauth2_proxy() -> Iterator[str]:
    """What answers an unauthenticated request in front of multi-user KFP (Kubeflow's oauth2-proxy with
    Dex): a 302 to the sign-in flow (oauth2-proxy oauthproxy.go, SignInPage/OAuthStart redirect), whose
    page answers 200 with HTML."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.startswith("/dex/auth"):
                body = b"<html><body>Log in to Your Account</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(302)
            self.send_header("Location", "/dex/auth?client_id=kubeflow-oidc-authservice&response_type=code")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    with serving(Handler, "oauth2-proxy") as url:
        yield url


def test_a_login_redirect_is_an_auth_problem_not_another_api() -> None:
    from retrain_bench.platforms.kfp.api import kfp_api_check

    with oauth2_proxy() as url:
        check = kfp_api_check(url, token=None, verify_tls=True, timeout_s=3)
    assert not check.ok
    assert check.detail.startswith("HTTP 302: redirected to a login page")
    assert "--kfp-token-file" in check.fix and "pipelines.kubeflow.org" in check.fix


# -- 7. no dead console link -----------------------------------------------------------------------


def test_kfp_records_no_console_link_unless_a_ui_is_named() -> None:
    from retrain_bench.platforms.kfp.cluster import parse_options

    def options(**given: Any) -> Any:
        values = {"kfp_host": None, "kfp_service": "kubeflow/ml-pipeline:8888", "kfp_insecure_skip_verify": False,
                  "kfp_token_env": None, "kfp_token_file": None, "kfp_ui_url": None, "kfp_namespace": "kubeflow",
                  "kfp_experiment": "retrain-bench", **given}  # fmt: skip
        return parse_options(lambda dest: values[dest])

    assert options().ui_url is None
    assert options(kfp_ui_url="https://kfp.example/").ui_url == "https://kfp.example"
    with pytest.raises(BenchError, match=r"^--kfp-ui-url: 'kfp.example' is not an http\(s\) URL$"):
        options(kfp_ui_url="kfp.example")


# -- 10. the pod-watch thread survives what it cannot decode ----------------------------------------


def test_a_watch_event_the_client_cannot_decode_is_recorded_and_the_watch_goes_on(
    standin: KubeStandin, kube: Kube
) -> None:
    from retrain_bench.cluster.pods import PodWatch
    from tests.k8s_standin import pod_object
    from tests.test_pods import by_name, eventually

    feed, ns, run = standin.pod_feed, "flytesnacks-development", {"execution-id": "rbq1"}
    watch = PodWatch(kube, ns, "execution-id=rbq1", retry_pause_s=0.05).start()
    eventually(lambda: feed.watches >= 1)
    feed.garble_next = True
    feed.put_pod(pod_object(ns, "rbq1-n0-0", labels=run, phase="Running"))  # cut in half on the wire
    eventually(lambda: bool(watch.errors))
    feed.put_pod(pod_object(ns, "rbq1-n1-0", labels=run, created="2024-01-01T00:00:05Z"))
    eventually(lambda: "rbq1-n1-0" in by_name(watch.seen()))
    assert watch._thread is not None and watch._thread.is_alive()  # still watching, not dead
    pods = watch.stop()
    # the pod of the garbled event was found again by the list after the restart
    assert [p.name for p in pods] == ["rbq1-n0-0", "rbq1-n1-0"]
    assert watch.errors == (
        "a watch event of pods execution-id=rbq1 in namespace flytesnacks-development could not be decoded "
        "(JSONDecodeError); the pods were listed again",
    )


# -- 6. doctor checks every permission a run uses; deploy/rbac.yaml grants exactly those -------------


@pytest.mark.parametrize(
    ("forbidden", "expected"),
    [
        (
            {"endpointslices", "endpoints"},
            "FAIL  RBAC to resolve services in flyte: forbidden: list endpointslices -> grant list endpointslices "
            "in flyte (deploy/rbac.yaml has the minimal Role)",
        ),
        (
            {"list pods"},
            "FAIL  RBAC to watch pods and read their logs in flytesnacks-development: forbidden: list pods -> grant "
            "list pods in flytesnacks-development (deploy/rbac.yaml has the minimal Role)",
        ),
        (
            {"nodes"},
            "FAIL  RBAC for the fairness manifest (nodes, deployments): forbidden: list nodes (cluster-scoped) -> "
            "grant list nodes (cluster-scoped) (deploy/rbac.yaml: the ClusterRole and Role); without them the "
            "manifest says missing",
        ),
    ],
    ids=["slices-and-endpoints", "list-pods", "nodes"],
)
def test_doctor_names_each_missing_permission_a_run_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], forbidden: set[str], expected: str
) -> None:
    with KubeStandin() as standin:
        standin.namespaces.add("flytesnacks-development")
        standin.forbidden = set(forbidden)
        main(doctor(standin, tmp_path, "--platform=flyte"))
    lines = capsys.readouterr().out.splitlines()
    assert expected in lines, lines


def test_endpoints_readable_when_slices_are_not_is_enough(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with KubeStandin() as standin:
        standin.forbidden = {"endpointslices"}  # portforward._ready_pods falls back to v1 Endpoints
        main(doctor(standin, tmp_path, "--platform=flyte"))
    assert "PASS  RBAC to resolve services in flyte: allowed" in capsys.readouterr().out.splitlines()


def test_the_shipped_rbac_grants_every_permission_doctor_checks() -> None:
    import yaml

    from retrain_bench.cli import doctor as checks

    documents = list(yaml.safe_load_all((Path(__file__).parents[1] / "deploy" / "rbac.yaml").read_text()))
    roles = {d["metadata"]["name"]: d["rules"] for d in documents if d["kind"] == "ClusterRole"}

    def grants(role: str) -> set[tuple[str, str, str]]:
        return {(g, r, v) for rule in roles[role] for g in rule["apiGroups"] for r in rule["resources"]
                for v in rule["verbs"]}  # fmt: skip

    namespaced = {
        (group, resource + (f"/{sub}" if sub else ""), verb)
        for _, verb, resource, sub, group in (*checks.RESOLVE, checks.ENDPOINTS, *checks.RUN_PODS)
    }
    namespaced |= {("", "pods/portforward", "get"), ("", "pods/portforward", "create"), ("apps", "deployments", "list")}
    assert grants("retrain-bench-namespaced") == namespaced  # all of them, and nothing more
    assert grants("retrain-bench-cluster") == {("", "nodes", "list"), ("", "namespaces", "get")}


# -- 9. in a pod without a kubeconfig; a kubeconfig with proxy-url -----------------------------------


def test_in_a_pod_without_a_kubeconfig_the_service_account_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrain_bench.cluster import kube as kube_module

    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("pod-token-1234")
    (account / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n")
    monkeypatch.setattr(kube_module, "SERVICE_ACCOUNT_DIR", str(account))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    # what the kubelet sets in every pod (client-go rest.InClusterConfig reads the same two)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with Kube(KubeTarget(None, None, 2.0)) as kube:
        config = kube.client.configuration
        assert (kube.context, kube.server) == ("in-cluster", "https://10.96.0.1:443")
        assert config.ssl_ca_cert == str(account / "ca.crt")
        # the loader writes "bearer" (incluster_config.py); the apiserver compares the scheme case-insensitively
        # (apiserver pkg/authentication/request/bearertoken/bearertoken.go)
        assert config.get_api_key_with_prefix("authorization") == "bearer pod-token-1234"


def test_a_kubeconfig_with_proxy_url_is_refused_in_one_line(tmp_path: Path) -> None:
    from retrain_bench.cluster.errors import KubeconfigError

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: bastion\n"
        "clusters:\n- name: prod\n  cluster:\n    server: https://10.0.0.1:6443\n"
        "    proxy-url: socks5://alice:s3cret@127.0.0.1:1080\n"
        "contexts:\n- name: bastion\n  context:\n    cluster: prod\n    user: u\n"
        "users:\n- name: u\n  user:\n    token: t0ken\n"
    )
    with pytest.raises(KubeconfigError) as caught:
        Kube(KubeTarget(str(kubeconfig), None, 2.0))
    message = str(caught.value)
    assert message.startswith("context 'bastion' reaches its cluster through proxy-url, which the Kubernetes Python")
    assert "s3cret" not in message and "\n" not in message


# -- 11. the task image runs as a numeric non-root user ----------------------------------------------


def test_the_task_image_ends_as_a_numeric_non_root_user() -> None:
    import re

    text = (Path(__file__).parents[1] / "docker" / "task.Dockerfile").read_text()
    instructions = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    users = [line.split(None, 1)[1] for line in instructions if line.upper().startswith("USER ")]
    # the kubelet can verify runAsNonRoot only for a numeric user (pkg/kubelet/kuberuntime/security_context_others.go
    # verifyRunAsNonRoot: a non-numeric image user is refused under runAsNonRoot)
    assert users and re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", users[-1]), users
    last_run = max(i for i, line in enumerate(instructions) if line.startswith("RUN "))
    assert instructions.index(f"USER {users[-1]}") > last_run  # nothing runs as root after it
    uid = users[-1].split(":")[0]
    assert f"--uid {uid}" in text  # a passwd entry for it: getpass/pwd lookups work
