"""doctor's inputs (issue 26 items 17, 19, 20): a bad --scrape-interval or --flyte-config is one line, exit 2;
doctor leaves nothing of flytekit's in TMPDIR; a failing kubeconfig credentials plugin is one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from retrain_bench.cli.main import main
from tests.k8s_standin import KubeStandin


@pytest.mark.parametrize("given", ["-1", "nan", "0", "1e308", "inf", "soon"])
def test_a_scrape_interval_out_of_bounds_is_one_line_exit_2(given: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", f"--scrape-interval={given}"]) == 2
    err = capsys.readouterr().err
    expected = (
        f"--scrape-interval: {given!r} is not a number of seconds"
        if given == "soon"
        else f"--scrape-interval: {given!r} must be between 0.001 and 86400 seconds"
    )
    assert err == f"retrain-bench: error: {expected}\n"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "config.yaml",
            "admin:\n  endpoint: dns:///flyte.example.com\n   insecure: true\n",
            "is not valid YAML at line 3",
        ),
        ("config.yaml", "- admin\n", "is not a flytekit config (expected a mapping"),
        ("config", "[platform\nurl = flyte.example.com\n", "is not a valid legacy flytekit config"),
    ],
    ids=["bad-yaml", "not-a-mapping", "bad-ini"],
)
def test_a_malformed_flyte_config_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, expected: str
) -> None:
    config = tmp_path / name
    config.write_text(text)
    assert main(["doctor", "--platform=flyte", f"--flyte-config={config}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"retrain-bench: error: --flyte-config: {config} {expected}") and err.count("\n") == 1


def test_doctor_with_a_flyte_config_leaves_nothing_in_tmpdir(tmp_path: Path) -> None:
    # flytekit makes two directories in TMPDIR when imported: a fresh process, as a user's doctor is.
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text("admin:\n  endpoint: dns:///127.0.0.1:1\n  insecure: true\n")
    kubeconfig = tmp_path / "kubeconfig"
    with KubeStandin() as standin:
        standin.kubeconfig(kubeconfig)
    # the cluster is gone (its checks fail fast); the Flyte API check still runs, through flytekit
    done = subprocess.run(
        [sys.executable, "-m", "retrain_bench", "doctor", f"--kubeconfig={kubeconfig}", "--connect-timeout=2",
         "--platform=flyte", "--flyte-endpoint=127.0.0.1:1", "--flyte-insecure", f"--flyte-config={config}"],
        env={**os.environ, "TMPDIR": str(tmpdir)}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert any(line.startswith("FAIL  Flyte API at 127.0.0.1:1") for line in done.stdout.splitlines()), done.stdout
    assert sorted(os.listdir(tmpdir)) == []


def _exec_kubeconfig(kubeconfig: Path, server: str, plugin: Path) -> None:
    """A kubeconfig whose one user gets its credentials from ``plugin`` (client-go's exec credential plugin)."""
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: sso\n"
        f"clusters:\n- name: sso\n  cluster:\n    server: {server}\n"
        "contexts:\n- name: sso\n  context:\n    cluster: sso\n    user: sso\n"
        "users:\n- name: sso\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
        f"      command: {sys.executable}\n      args: [{plugin}]\n      interactiveMode: Never\n"
    )


def test_a_failing_credentials_plugin_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plugin = tmp_path / "plugin.py"
    plugin.write_text("import sys\nsys.stderr.write('ERROR: token expired\\nrun: cloud auth login\\n')\nsys.exit(1)\n")
    kubeconfig = tmp_path / "kubeconfig"
    with KubeStandin() as standin:
        _exec_kubeconfig(kubeconfig, standin.url, plugin)
        code = main(["doctor", f"--kubeconfig={kubeconfig}", "--connect-timeout=2", "--platform=flyte"])
    captured = capsys.readouterr()
    assert code == 1
    assert "ERROR:root" not in captured.err and "token expired" not in captured.err
    assert captured.out.splitlines()[0] == (
        "FAIL  cluster reachable: the credentials plugin of context 'sso' failed: process returned 1. "
        "ERROR: token expired run: cloud auth login; check `kubectl --context sso get ns` (log in again?)"
    )


def test_a_credentials_plugin_failing_on_refresh_is_one_line_not_a_stale_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import datetime as dt

    from retrain_bench.cluster.errors import KubeconfigError
    from retrain_bench.cluster.kube import Kube, KubeTarget
    from tests.k8s_standin import TOKEN

    # First call: a token expiring within the client's 5-minute skew, so every request refreshes it
    # (kubernetes/config/kube_config.py _set_config, _is_expired); later calls: the login has expired.
    expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    credential = (
        '{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", '
        f'"status": {{"token": "{TOKEN}", "expirationTimestamp": "{expiry}"}}}}'
    )
    calls = tmp_path / "calls"
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import pathlib, sys\n"
        f"calls = pathlib.Path({str(calls)!r})\n"
        "n = int(calls.read_text()) if calls.exists() else 0\n"
        "calls.write_text(str(n + 1))\n"
        f"if n == 0:\n    print({credential!r})\n    sys.exit(0)\n"
        "sys.stderr.write('ERROR: session expired\\n')\nsys.exit(1)\n"
    )
    kubeconfig = tmp_path / "kubeconfig"
    with KubeStandin() as standin:
        _exec_kubeconfig(kubeconfig, standin.url, plugin)
        with Kube(KubeTarget(str(kubeconfig), None, 2.0)) as kube, pytest.raises(KubeconfigError) as caught:
            kube.version()
    assert str(caught.value) == (
        "the credentials plugin of context 'sso' failed to refresh the token: process returned 1. "
        "ERROR: session expired; check `kubectl --context sso get ns` (log in again?)"
    )
    assert "ERROR:root" not in capsys.readouterr().err
