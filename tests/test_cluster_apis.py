"""Platform API checks against stand-ins of flyteadmin and the KFP API (see platform_standins)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from retrain_bench.platforms.flyte.api import flyte_api_check
from retrain_bench.platforms.kfp.api import kfp_api_check, kfp_healthz
from tests.platform_standins import flyteadmin, kfp_api, kfp_ui
from tests.prometheus import free_port


def test_flyte_version_over_grpc() -> None:
    with flyteadmin("v1.16.8") as address:
        check = flyte_api_check(address, insecure=True, config_file=None, timeout_s=5)
    assert check.ok and check.detail == "flyteadmin v1.16.8"


def test_flyte_endpoint_that_never_answers_fails_within_the_timeout() -> None:
    # Accepts TCP and says nothing: the gRPC handshake never completes.
    listener = socket.create_server(("127.0.0.1", 0))
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    started = time.monotonic()
    try:
        check = flyte_api_check(address, insecure=True, config_file=None, timeout_s=1)
    finally:
        listener.close()
    assert not check.ok and time.monotonic() - started < 5
    assert "--flyte-insecure" in check.fix


def test_kfp_healthz_with_and_without_the_token() -> None:
    with kfp_api(token="t0ken-abc") as url:
        ok = kfp_api_check(url, token="t0ken-abc", verify_tls=True, timeout_s=5)
        denied = kfp_api_check(url, token=None, verify_tls=True, timeout_s=5)
    assert ok.ok and ok.detail == "healthz ok (multi_user=False, pipeline_store=database)"
    assert (denied.ok, denied.detail) == (False, "HTTP 401")
    assert "t0ken-abc" not in denied.line()


def test_kfp_host_where_nothing_listens() -> None:
    check = kfp_api_check(f"http://127.0.0.1:{free_port()}", token=None, verify_tls=True, timeout_s=2)
    assert not check.ok and check.detail == "no answer (ConnectionError)"


def test_flyte_version_through_a_flytekit_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("admin:\n  endpoint: dns:///flyte.invalid:443\n  insecure: false\n")
    with flyteadmin("v1.16.1") as address:
        # The endpoint comes from the forward; everything else (auth, TLS) from the user's config.
        check = flyte_api_check(address, insecure=True, config_file=str(config), timeout_s=5)
    assert check.ok and check.detail == "flyteadmin v1.16.1"


def test_kfp_through_the_ui_reads_the_api_server_as_the_ui_reports_it() -> None:
    # The UI answers healthz itself (frontend/server/handlers/healthz.ts) with the API server's fields renamed.
    with kfp_api(tag_name="2.17.0") as api, kfp_ui(api) as ui:
        check = kfp_api_check(ui, token=None, verify_tls=True, timeout_s=5)
        health = kfp_healthz(ui, token=None, verify_tls=True, timeout_s=5)
    assert (
        check.ok
        and check.detail == "healthz ok (tag_name=2.17.0, multi_user=False, pipeline_store=database, through the UI)"
    )
    assert (health.tag, health.via_ui) == ("2.17.0", True)


def test_kfp_ui_with_its_api_server_down_fails() -> None:
    # 200 from the UI with apiServerReady false: the old check read the 200 and passed.
    with kfp_ui(None) as ui:
        check = kfp_api_check(ui, token=None, verify_tls=True, timeout_s=5)
    assert not check.ok
    assert check.detail == "the KFP UI answers but reports its API server down (apiServerReady: false)"
    assert "kubeflow/ml-pipeline:8888" in check.fix


def test_kfp_api_server_without_a_tag_reports_none() -> None:
    # main.go answers tag_name "unknown" when TAG_NAME is unset: that is no version
    with kfp_api() as api:
        assert kfp_healthz(api, token=None, verify_tls=True, timeout_s=5).tag is None
