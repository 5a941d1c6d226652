"""Remote options: defaults, Kubernetes quantities, images, cooldown, per-platform contexts, and the
rule that platforms running in parallel need separate clusters (kubeconfigs written here)."""

from __future__ import annotations

import argparse
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from retrain_bench.cluster.errors import KubeconfigError
from retrain_bench.cluster.remote_options import (
    RemoteOptions,
    check_separate_clusters,
    cluster_server,
    parse_remote_options,
    platform_servers,
)
from retrain_bench.cluster.settings import RemoteSettings, TaskResources
from retrain_bench.errors import BenchError
from retrain_bench.measure.quantities import quantity_value
from retrain_bench.options import add_cluster_target_options, parse_cluster_side_options
from retrain_bench.platforms.flyte.cluster import FlyteOptions

ROOT = Path(__file__).resolve().parent.parent


def parse(*argv: str, scrape: float = 30.0, rate: float = 60.0) -> RemoteOptions:
    """Through argparse with the cluster options and each cluster side's beside ours, as pytest
    registers them all on one group."""
    parser = argparse.ArgumentParser()
    add_cluster_target_options(parser.add_argument)
    args = parser.parse_args(argv)

    def get(dest: str) -> Any:
        return getattr(args, dest)

    return parse_remote_options(get, parse_cluster_side_options(get), scrape_interval_s=scrape, rate_window_s=rate)


def test_defaults_fit_one_node_and_cool_down_for_a_rate_window_and_a_scrape() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    options = parse()
    assert options.resources == TaskResources(cpu="1", memory="1Gi")
    assert options.task_image == f"retrain-bench-task:{version}"
    assert dict(options.images) == {"flyte": options.task_image, "kfp": options.task_image}
    assert options.poll_interval_s == 1.0
    assert options.cooldown_s == 90.0  # 60 s rate window + 30 s scrape interval
    assert options.cleanup is True
    assert dict(options.kube_contexts) == {"flyte": None, "kfp": None}
    assert options.allow_shared_cluster is False
    assert options.warnings() == []
    flyte = options.settings_for("flyte")
    assert flyte == RemoteSettings(
        image=f"retrain-bench-task:{version}", resources=TaskResources("1", "1Gi"), options=flyte.options
    )
    assert isinstance(flyte.options, FlyteOptions)
    assert (flyte.options.project, flyte.options.domain, flyte.options.endpoint) == ("flytesnacks", "development", None)
    # every platform's own settings are in the run's JSON under the keys it always had
    assert {k: v for k, v in options.as_json().items() if k.startswith(("flyte_", "kfp_"))} == {
        "flyte_project": "flytesnacks",
        "flyte_domain": "development",
        # where the task pods ran: flyteadmin's default mapping {project}-{domain}, unless --flyte-namespace
        "flyte_namespace": "flytesnacks-development",
        "kfp_experiment": "retrain-bench",
        "kfp_namespace": "kubeflow",
    }


def test_cooldown_follows_the_metric_profile_unless_given() -> None:
    assert parse(scrape=15.0, rate=120.0).cooldown_s == 135.0
    assert parse("--cooldown=0").cooldown_s == 0.0
    assert parse("--cooldown", "12.5").cooldown_s == 12.5


def test_given_values_reach_the_runner_settings() -> None:
    options = parse(
        "--task-cpu=500m",
        "--task-memory=512Mi",
        "--task-image=registry.local:5000/bench/task:2",
        "--poll-interval=0.5",
        "--no-cleanup",
        "--flyte-project=bench",
        "--flyte-domain=staging",
        "--kfp-experiment=nightly runs",
        "--kfp-namespace=pipelines",
        "--kube-context=lab",
        "--flyte-kube-context=flyte-lab",
    )
    assert options.cleanup is False
    assert options.poll_interval_s == 0.5
    assert dict(options.kube_contexts) == {"flyte": "flyte-lab", "kfp": "lab"}
    kfp = options.settings_for("kfp")
    assert (kfp.image, kfp.resources.as_dict()) == (
        "registry.local:5000/bench/task:2",
        {"cpu": "500m", "memory": "512Mi"},
    )
    assert (kfp.options.experiment, kfp.options.namespace) == ("nightly runs", "pipelines")
    flyte = options.settings_for("flyte")
    assert (flyte.options.project, flyte.options.domain) == ("bench", "staging")
    with pytest.raises(BenchError, match="'bare' does not run on a cluster"):
        options.settings_for("bare")


def test_cleanup_flag_wins_back() -> None:
    assert parse("--no-cleanup", "--cleanup").cleanup is True


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("1.5", Decimal("1.5")),
        ("2e3", Decimal("2000")),
        ("1Gi", Decimal(1073741824)),
        ("128Mi", Decimal(134217728)),
        ("1G", Decimal(1000000000)),
        ("1.5k", Decimal(1500)),
        (".5", Decimal("0.5")),
        ("1GB", None),
        ("1 Gi", None),
        ("-1", None),
        ("Gi", None),
    ],
)
def test_quantity_values(text: str, value: Decimal | None) -> None:
    assert quantity_value(text) == value


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--task-cpu=two"],
            re.escape("--task-cpu: 'two' is not a Kubernetes CPU quantity; write cores (1, 1.5) or millicores"),
        ),
        (["--task-cpu=0"], "--task-cpu: '0' must be a whole number of millicores, at least 1m"),
        (["--task-cpu=0.5m"], "--task-cpu: '0.5m' must be a whole number of millicores"),
        (["--task-memory=1GB"], "--task-memory: '1GB' is not a Kubernetes memory quantity; write e.g. 512Mi"),
        (["--task-memory=512m"], "--task-memory: '512m' is below 128Mi, .* \\('m' means milli, not mega: write Mi\\)"),
        (["--task-memory=64Mi"], "--task-memory: '64Mi' is below 128Mi"),
        (["--task-image=Bad Image"], "--task-image: 'Bad Image' is not an image reference"),
        (["--kfp-image=UPPER/case:1"], "--kfp-image: 'UPPER/case:1' is not an image reference"),
        (["--poll-interval=0"], "--poll-interval: '0' must be between 0.01 and 3600 seconds"),
        (["--poll-interval=soon"], "--poll-interval: 'soon' is not a number of seconds"),
        (["--cooldown=-1"], "--cooldown: '-1' must be between 0 and 3600 seconds"),
        (["--flyte-project=Flyte_Snacks"], "--flyte-project: 'Flyte_Snacks' is not a lowercase DNS label"),
        (["--kfp-experiment= "], "--kfp-experiment: must not be empty"),
        (["--platform-inventory=/nonexistent/inventory.yaml"], "--platform-inventory: /nonexistent/inventory.yaml is"),
    ],
)
def test_bad_values_name_the_option_and_the_fix(argv: list[str], message: str) -> None:
    with pytest.raises(BenchError, match=message) as caught:
        parse(*argv)
    assert "\n" not in str(caught.value)


def test_an_existing_inventory_file_is_kept(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("flyte: {}\n")
    assert parse(f"--platform-inventory={inventory}").platform_inventory == str(inventory)


def test_different_images_are_allowed_and_warned_about() -> None:
    options = parse("--task-image=bench:1", "--kfp-image=bench-kfp:1")
    assert dict(options.images) == {"flyte": "bench:1", "kfp": "bench-kfp:1"}
    assert options.warnings() == [
        "the platforms run different task images (flyte: bench:1, kfp: bench-kfp:1): differences in Python, "
        "libraries or image size show up as platform differences"
    ]


def test_untagged_and_latest_images_are_warned_about_once_each() -> None:
    options = parse("--flyte-image=bench", "--kfp-image=ghcr.io/org/bench:latest")
    pull = "so Kubernetes pulls it on every pod (imagePullPolicy Always)"
    notes = options.warnings()
    assert len(notes) == 3
    assert notes[1].startswith("task image bench has no tag or :latest, " + pull)
    assert notes[2].startswith("task image ghcr.io/org/bench:latest has no tag or :latest, " + pull)
    # a registry port is not a tag, a digest pins the image
    assert parse("--task-image=localhost:5000/bench").warnings()[0].startswith("task image localhost:5000/bench has")
    assert parse("--task-image=bench@sha256:" + "a" * 64).warnings() == []


# -- one cluster per platform under xdist ---------------------------------------------------------

SHARED = (
    "flyte and kfp would run in parallel on the same cluster (https://10.0.0.1:6443) and would contaminate each "
    "other's measurements; give each platform its own cluster with --flyte-kube-context/--kfp-kube-context, or "
    "pass --allow-shared-cluster"
)


def test_parallel_platforms_on_one_cluster_are_refused() -> None:
    servers = {"flyte": "https://10.0.0.1:6443", "kfp": "https://10.0.0.1:6443"}
    with pytest.raises(BenchError) as caught:
        check_separate_clusters(servers, parallel=True, allow_shared=False)
    assert str(caught.value) == SHARED
    check_separate_clusters(servers, parallel=True, allow_shared=True)
    check_separate_clusters(servers, parallel=False, allow_shared=False)
    check_separate_clusters(
        {"flyte": "https://10.0.0.1:6443", "kfp": "https://10.0.0.2:6443"}, parallel=True, allow_shared=False
    )


def kubeconfig(path: Path, clusters: dict[str, str], contexts: dict[str, str], *, current: str, user: Any) -> Path:
    """A kubeconfig with these clusters (name -> server) and contexts (name -> cluster), one user."""
    lines = ["apiVersion: v1", "kind: Config", "clusters:"]
    lines += [f"- name: {name}\n  cluster:\n    server: {server}" for name, server in clusters.items()]
    lines += ["users:", "- name: me", f"  user: {user}", "contexts:"]
    lines += [f"- name: {name}\n  context:\n    cluster: {cluster}\n    user: me" for name, cluster in contexts.items()]
    lines += [f"current-context: {current}"]
    path.write_text("\n".join(lines) + "\n")
    return path


# A credentials plugin that would fail loudly if it ran: resolving the server must not run it.
EXEC_USER = "{exec: {apiVersion: client.authentication.k8s.io/v1, command: /nonexistent/get-token, args: [x]}}"


def test_contexts_resolve_to_their_servers_from_the_file_alone(tmp_path: Path) -> None:
    config = kubeconfig(
        tmp_path / "config",
        {"a": "https://API.Lab.example:443/", "b": "https://api.lab.example", "c": "https://10.0.0.9:6443"},
        {"flyte-a": "a", "kfp-b": "b", "kfp-c": "c"},
        current="kfp-c",
        user=EXEC_USER,
    )
    assert cluster_server(str(config), "flyte-a") == "https://api.lab.example:443"
    assert cluster_server(str(config), "kfp-b") == "https://api.lab.example:443"
    assert cluster_server(str(config), None) == "https://10.0.0.9:6443"


def test_the_shared_cluster_check_over_a_kubeconfig(tmp_path: Path) -> None:
    config = kubeconfig(
        tmp_path / "config",
        {"one": "https://10.0.0.1:6443", "two": "https://10.0.0.2:6443"},
        {"lab": "one", "lab-too": "one", "other": "two"},
        current="lab",
        user="{token: s3cret-t0ken}",
    )
    # Two contexts, one cluster: still shared.
    options = parse("--kube-context=lab", "--kfp-kube-context=lab-too")
    servers = platform_servers(options, str(config), ["flyte", "kfp", "bare"])
    assert servers == {"flyte": "https://10.0.0.1:6443", "kfp": "https://10.0.0.1:6443"}
    with pytest.raises(BenchError) as caught:
        check_separate_clusters(servers, parallel=True, allow_shared=options.allow_shared_cluster)
    assert str(caught.value) == SHARED
    allowed = parse("--kfp-kube-context=lab-too", "--allow-shared-cluster")
    check_separate_clusters(
        platform_servers(allowed, str(config), ["flyte", "kfp"]),
        parallel=True,
        allow_shared=allowed.allow_shared_cluster,
    )
    separate = parse("--flyte-kube-context=lab", "--kfp-kube-context=other")
    check_separate_clusters(
        platform_servers(separate, str(config), ["flyte", "kfp"]), parallel=True, allow_shared=False
    )


def test_a_missing_context_or_server_is_one_line_without_the_file(tmp_path: Path) -> None:
    config = kubeconfig(
        tmp_path / "config", {"one": "https://10.0.0.1:6443"}, {"lab": "one", "broken": "gone"}, current="lab",
        user="{token: s3cret-t0ken}",
    )  # fmt: skip
    for context in ("nope", "broken"):
        with pytest.raises(KubeconfigError, match=f"has no usable context '{context}' with a cluster server") as caught:
            cluster_server(str(config), context)
        assert "s3cret" not in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(KubeconfigError, match="no kubeconfig at "):
        cluster_server(str(tmp_path / "missing"), None)


def test_a_context_in_a_later_kubeconfig_file_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = kubeconfig(tmp_path / "first", {"one": "https://10.0.0.1:6443"}, {"lab": "one"}, current="lab",
                       user="{token: s3cret-t0ken}")  # fmt: skip
    second = kubeconfig(tmp_path / "second", {"two": "https://10.0.0.2:6443"}, {"other": "two"}, current="other",
                        user="{token: s3cret-t0ken}")  # fmt: skip
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    assert cluster_server(None, "other") == "https://10.0.0.2:6443"
    assert cluster_server(None, "lab") == "https://10.0.0.1:6443"


@pytest.mark.parametrize("text", ["not: [yaml", "just a string\n", "- a\n- list\n", ""])
def test_a_kubeconfig_that_is_not_one_says_so(tmp_path: Path, text: str) -> None:
    """Before: "has no usable the current context" for a file that is not even YAML."""
    path = tmp_path / "config"
    path.write_text(text)
    with pytest.raises(KubeconfigError) as caught:
        cluster_server(str(path), None)
    assert str(caught.value) == (
        f"kubeconfig {path} is not a valid kubeconfig (YAML with contexts and clusters): check `kubectl config view`"
    )


def test_a_kubeconfig_without_a_current_context_says_so(tmp_path: Path) -> None:
    config = kubeconfig(
        tmp_path / "config", {"one": "https://10.0.0.1:6443"}, {"lab": "one"}, current="gone", user="{token: t}"
    )
    with pytest.raises(KubeconfigError) as caught:
        cluster_server(str(config), None)
    assert str(caught.value) == (
        f"kubeconfig {config} has no usable current context with a cluster server: check `kubectl config view`"
    )
