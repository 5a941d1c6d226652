""".github/workflows/bench-cluster.yml and docs/cluster.md against the code: the workflow parses,
every option it passes exists in the option registrations (collected by calling them), every
install command it runs is the one the docs give, and the docs' option table has the code's
defaults. The workflow itself never runs here."""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import retrain_bench.pytest_plugin.plugin
from retrain_bench.cli.main import make_parser
from retrain_bench.cluster.remote_options import add_remote_options
from retrain_bench.options import cluster_sides

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "bench-cluster.yml"
DOCS = ROOT / "docs" / "cluster.md"


class Recorder:
    """Stands in for pytest's Parser and an option group: keeps each option's names and keywords."""

    def __init__(self) -> None:
        self.options: dict[str, dict[str, Any]] = {}

    def getgroup(self, *args: Any, **kwargs: Any) -> Recorder:
        return self

    def addoption(self, *names: str, **kwargs: Any) -> None:
        for name in names:
            self.options[name] = kwargs

    def addini(self, *args: Any, **kwargs: Any) -> None:
        pass


def pytest_options() -> set[str]:
    """What `python -m pytest bench/` accepts from our plugin (remote options included, as the
    plugin registers them) and from pytest-benchmark."""
    from pytest_benchmark import plugin as benchmark_plugin

    recorder = Recorder()
    retrain_bench.pytest_plugin.plugin.pytest_addoption(recorder)  # type: ignore[arg-type]
    benchmark_plugin.pytest_addoption(recorder)
    return set(recorder.options)


def bench_options(command: str) -> set[str]:
    """The options of `python -m retrain_bench <command>`, from the CLI's own parser."""
    parser = make_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name for action in commands.choices[command]._actions for name in action.option_strings}


def workflow() -> dict[Any, Any]:
    document = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(document, dict)
    return document


def run_lines() -> list[str]:
    """Every shell line the workflow runs, continuation lines joined."""
    lines = []
    for job in workflow()["jobs"].values():
        for step in job["steps"]:
            lines += [line.strip() for line in step.get("run", "").replace("\\\n", " ").splitlines() if line.strip()]
    return lines


def test_the_workflow_parses_and_runs_only_on_demand_one_platform_per_job() -> None:
    document = workflow()
    assert set(document[True]) == {"workflow_dispatch"}  # YAML 1.1 reads the key `on` as True
    (job,) = document["jobs"].values()
    assert job["strategy"]["matrix"]["platform"] == ["flyte", "kfp"]
    assert "has not been run on this project's own CI" in WORKFLOW.read_text()
    uses = [step.get("uses", "") for step in job["steps"]]
    assert any(u.startswith("helm/kind-action@") for u in uses)
    assert any(u.startswith("actions/upload-artifact@") for u in uses)


def test_every_option_the_workflow_passes_is_registered() -> None:
    accepted = pytest_options()
    checked = 0
    for line in run_lines():
        if not line.startswith("python "):
            continue  # the kubectl checks quote jsonpath and pipes that shlex need not read
        argv = shlex.split(line.split(" | ")[0])
        if argv[:3] == ["python", "-m", "pytest"]:
            known = accepted
        elif argv[:3] == ["python", "-m", "retrain_bench"]:
            known = bench_options(argv[3])
        else:
            continue
        for token in argv[3:]:
            if token.startswith("--"):
                assert token.split("=", 1)[0] in known, f"{token} in: {line}"
                checked += 1
    assert checked >= 10  # the doctor, benchmark and validate lines were really read


def test_the_recorder_sees_what_a_broken_workflow_would_get_wrong() -> None:
    accepted = pytest_options()
    assert {"--task-image", "--target", "--benchmark-json", "--cooldown"} <= accepted
    assert "--task-imag" not in accepted and "--prometheus-url" in accepted
    assert "--kube-context" in bench_options("doctor") and "--task-image" not in bench_options("doctor")


INSTALL = re.compile(r"^(helm|kubectl|kind|docker) ")


def test_install_commands_are_exactly_the_documented_ones() -> None:
    docs = {line.strip() for line in DOCS.read_text().splitlines()}
    commands = [line for line in run_lines() if INSTALL.match(line)]
    assert len(commands) >= 12
    missing = [line for line in commands if line not in docs]
    assert missing == []
    # the versions the workflow pins are the ones the docs export
    env = next(iter(workflow()["jobs"].values()))["env"]
    for name in ("FLYTE_CHART_VERSION", "KFP_VERSION", "TASK_IMAGE"):
        assert f"{name}={env[name]}" in DOCS.read_text()


def docs_table(title: str = "## Remote options") -> dict[str, tuple[str, str]]:
    """Option -> (default cell, whole row) of one of the docs' option tables."""
    text = DOCS.read_text()
    section = text[text.index(title) :]
    section = section[: section.index("\n## ", 3)]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        for name in re.findall(r"`(--[a-z-]+)", cells[0]) if line.startswith("| `--") else []:
            rows[name] = (cells[1], line)
    return rows


def recorded_remote_options() -> Recorder:
    recorder = Recorder()
    add_remote_options(recorder.addoption, {name: side.label for name, side in cluster_sides().items()})
    return recorder


def recorded_platform_options() -> Recorder:
    recorder = Recorder()
    for side in cluster_sides().values():
        side.add_options(recorder.addoption)
    return recorder


@pytest.mark.parametrize(
    ("title", "recorded", "defaults"),
    [
        # cpu, memory (the poll interval's default depends on the target: the options module's)
        ("## Remote options", recorded_remote_options, 2),
        # Flyte's service, project, domain; KFP's service, namespace, experiment
        ("## Each platform's own options", recorded_platform_options, 6),
    ],
)
def test_the_docs_tables_list_every_option_with_the_codes_default(
    title: str, recorded: Callable[[], Recorder], defaults: int
) -> None:
    recorder = recorded()
    table = docs_table(title)
    assert set(recorder.options) == set(table)
    compared = 0
    for name, kwargs in recorder.options.items():
        default = kwargs.get("default")
        if kwargs.get("action") in ("store_true", "store_false") or default is None:
            continue
        text = f"{default:g}" if isinstance(default, float) else str(default)
        assert f"`{text}`" in table[name][0], f"{name}: docs say {table[name][0]!r}, code says {text!r}"
        compared += 1
    assert compared == defaults


def test_every_install_names_a_pinned_release() -> None:
    commands = [line for line in run_lines() if INSTALL.match(line)]
    installs = [line for line in commands if line.startswith("helm install ")]
    assert len(installs) == 2 and all('--version "$' in line for line in installs), installs
    kustomize = [line for line in commands if line.startswith("kubectl apply -k ")]
    assert kustomize and all(line.endswith('?ref=$KFP_VERSION"') for line in kustomize)
    env = next(iter(workflow()["jobs"].values()))["env"]
    assert "KPS_CHART_VERSION" in env and f"KPS_CHART_VERSION={env['KPS_CHART_VERSION']}" in DOCS.read_text()
    kind = next(s for s in next(iter(workflow()["jobs"].values()))["steps"] if "kind-action" in s.get("uses", ""))
    assert kind["with"]["version"] in DOCS.read_text()


def test_kfp_is_the_platform_agnostic_overlay_with_the_releases_images() -> None:
    # env/dev at 2.17.0 retags every image :master and pulls in ../gcp/inverse-proxy (crash-loops off GCP)
    commands = [line for line in run_lines() if INSTALL.match(line)]
    assert not [line for line in commands if "/env/dev" in line]
    assert any("manifests/kustomize/env/platform-agnostic?ref=$KFP_VERSION" in line for line in commands)
    checks = [line for line in commands if line.startswith("kubectl -n kubeflow get deployment")]
    assert len(checks) == 2 and all(line.endswith('(! grep -v ":$KFP_VERSION$")') for line in checks)
    assert "V2_DRIVER_IMAGE" in checks[1] and "V2_LAUNCHER_IMAGE" in checks[1]
    kfp_step = next(s for s in next(iter(workflow()["jobs"].values()))["steps"] if "KFP" in s.get("name", ""))
    assert kfp_step["run"].startswith("set -o pipefail\n")  # else a failing kubectl reads as "no images"
