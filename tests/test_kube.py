"""retrain_bench.cluster.kube against the kube-apiserver stand-in: version, RBAC checks, one-line errors, no secrets."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from retrain_bench.cluster.errors import ClusterError, ClusterUnreachable, KubeconfigError
from retrain_bench.cluster.kube import Kube, KubeTarget, api_client
from tests.k8s_standin import TOKEN, KubeStandin, kubeconfig_for, running_http, silent_server
from tests.prometheus import free_port


def clean(error: BaseException) -> str:
    """The message, checked to be one line and free of the fake token."""
    text = str(error)
    assert TOKEN not in text and "fake-token" not in text
    assert "\n" not in text
    return text


def test_version_and_rbac_review(standin: KubeStandin, tmp_path: Path) -> None:
    standin.forbidden = {"pods/portforward"}
    target = KubeTarget(str(standin.kubeconfig(tmp_path / "config")), None, 2.0)
    with Kube(target) as kube:
        assert kube.context == "standin"
        assert kube.version() == "v1.30.0-standin"
        assert kube.can_i("get", "services", "monitoring")
        assert not kube.can_i("create", "pods", "monitoring", subresource="portforward")
    assert ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") in standin.requests
    assert standin.bad_auth == 0  # the bearer token from the kubeconfig really went out


def test_api_client_uses_the_named_context(standin: KubeStandin, tmp_path: Path) -> None:
    config = standin.kubeconfig(tmp_path / "config", context="lab")
    client = api_client(KubeTarget(str(config), "lab", 2.0))
    try:
        assert client.configuration.host == standin.url
        assert client.configuration.proxy is None
    finally:
        client.close()


def test_no_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="no kubeconfig at .*missing.*--kubeconfig or set KUBECONFIG") as caught:
        Kube(KubeTarget(str(tmp_path / "missing"), None, 1.0))
    clean(caught.value)


def test_unknown_context_lists_the_known_ones(standin: KubeStandin, tmp_path: Path) -> None:
    config = standin.kubeconfig(tmp_path / "config")
    with pytest.raises(KubeconfigError, match="no context 'prod': pass --kube-context one of standin") as caught:
        Kube(KubeTarget(str(config), "prod", 1.0))
    clean(caught.value)


def test_a_broken_kubeconfig_is_not_quoted(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(f"users: [{{name: x, user: {{token: {TOKEN}}}\n  : : :\n")
    with pytest.raises(KubeconfigError, match="not a valid kubeconfig") as caught:
        Kube(KubeTarget(str(config), None, 1.0))
    clean(caught.value)


def test_no_cluster_behind_the_kubeconfig(tmp_path: Path) -> None:
    closed = KubeStandin()  # never started: its kubeconfig points at a port nobody listens on
    port = free_port()
    config = closed.kubeconfig(tmp_path / "config").read_text().replace(closed.url, f"http://127.0.0.1:{port}")
    closed.stop()
    (tmp_path / "config").write_text(config)
    started = time.monotonic()
    with pytest.raises(ClusterUnreachable) as caught:
        Kube(KubeTarget(str(tmp_path / "config"), None, 1.0)).version()
    assert time.monotonic() - started < 1.5
    text = clean(caught.value)
    assert "cannot reach the API server of context standin" in text
    assert f"127.0.0.1:{port}" in text and "kubectl --context standin get --raw /version" in text


def test_rejected_credentials(standin: KubeStandin, tmp_path: Path) -> None:
    config = standin.kubeconfig(tmp_path / "config", token="fake-token-wrong-one")
    with pytest.raises(ClusterUnreachable, match="rejected the credentials") as caught:
        Kube(KubeTarget(str(config), None, 1.0)).version()
    assert "wrong-one" not in clean(caught.value)


def test_forbidden_reads_name_rbac(standin: KubeStandin, tmp_path: Path) -> None:
    standin.forbidden = {"services"}
    target = KubeTarget(str(standin.kubeconfig(tmp_path / "config")), None, 1.0)
    with Kube(target) as kube, pytest.raises(ClusterError, match="forbidden to read service a/b .*RBAC") as caught:
        kube.call("read service a/b", lambda: kube.core().read_namespaced_service("b", "a", **kube.opts()))
    clean(caught.value)


def test_a_server_that_never_answers_is_bounded_by_the_connect_timeout(tmp_path: Path) -> None:
    # Accepts and never writes: without retries=0 on the Configuration *before* the ApiClient builds its
    # pool (kubernetes/client/rest.py reads it there), urllib3's default Retry(3) makes this 4 x the bound.
    with silent_server() as url:
        config = kubeconfig_for(tmp_path / "config", url)
        started = time.monotonic()
        with pytest.raises(ClusterUnreachable) as caught:
            Kube(KubeTarget(str(config), None, 1.0)).version()
        elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"{elapsed:.1f} s for a 1 s bound"
    assert "within 1 s (timed out)" in clean(caught.value)


@pytest.mark.parametrize("code", [404, 500, 502])
def test_any_http_status_is_one_line_naming_server_and_status(standin: KubeStandin, tmp_path: Path, code: int) -> None:
    # Not the apiserver behind the URL (a proxy, a wrong path): a text body, not a v1 Status.
    standin.answer_all = code
    with pytest.raises(ClusterError) as caught:
        Kube(KubeTarget(str(standin.kubeconfig(tmp_path / "config")), None, 1.0)).version()
    text = clean(caught.value)
    assert f"({standin.url}) answered HTTP {code}" in text
    assert "get the server version" in text and "kubectl --context standin get --raw /version" in text


def test_a_malformed_body_is_one_line(tmp_path: Path) -> None:
    # 200 with JSON that is no version.Info (the client's model rejects a missing gitVersion).
    with running_http(lambda path: (200, b'{"hello": "world"}')) as url:
        config = kubeconfig_for(tmp_path / "config", url)
        with pytest.raises(ClusterError) as caught:
            Kube(KubeTarget(str(config), None, 1.0)).version()
    text = clean(caught.value)
    assert f"({url}) answered something that is not the Kubernetes API" in text


def test_a_kubeconfig_list_is_merged_as_kubectl_merges_it(
    standin: KubeStandin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # KUBECONFIG=first:missing:second; the context "lab" lives only in the second file. The client's
    # KubeConfigMerger (kubernetes/config/kube_config.py) merges every existing file, skipping missing ones.
    first = kubeconfig_for(tmp_path / "first", "http://127.0.0.1:9", context="home")
    second = kubeconfig_for(tmp_path / "second", standin.url, context="lab", current=False)
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(tmp_path / "missing"), str(second)]))
    with Kube(KubeTarget(None, "lab", 2.0)) as kube:
        assert kube.server == standin.url
        assert kube.version() == "v1.30.0-standin"
    # the current context still comes from the first file, the only one that sets it
    with Kube(KubeTarget(None, None, 2.0)) as current:
        assert current.server == "http://127.0.0.1:9"


def test_a_kubeconfig_list_of_missing_files_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    with pytest.raises(KubeconfigError, match="no kubeconfig at .*a:.*b: pass --kubeconfig") as caught:
        Kube(KubeTarget(None, None, 1.0))
    clean(caught.value)
