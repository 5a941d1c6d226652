"""The platform registry: built-ins, a third party's platform through the entry point group, and
registrations that must be refused. A distribution is a ``*.dist-info`` directory on ``sys.path``,
which is what ``importlib.metadata`` reads for an installed package."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrain_bench.errors import BenchError
from retrain_bench.platforms import registry
from tests.helpers import BenchRun, records

#: a platform as another distribution would ship it: bare Python's run under another name
TOY = """
from retrain_bench.platforms.definition import Platform
from retrain_bench.workload.retraining import run_bare

TOY = Platform(
    name="toy",
    title="Toy",
    order=25,
    local_executor="toy runs the steps in the launcher",
    prepare=lambda: None,
    run=lambda case, workdir: run_bare(case),
    add_options=lambda add: add("--toy-flavour", default="plain", help="the toy platform's own option"),
)
NOT_A_PLATFORM = 42

import dataclasses
from retrain_bench.platforms.sdks import Sdk
#: its SDK copied from another platform's definition without renaming it
FLYTES_SDK = dataclasses.replace(TOY, sdk=Sdk("flyte", "toy-sdk"))
"""


def distribution(where: Path, entry_points: dict[str, str]) -> Path:
    """Install (as a dist-info directory) a distribution holding ``toy_platform`` and the given
    ``retrain_bench.platforms`` entry points."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "toy_platform.py").write_text(TOY)
    info = where / "toy_platform-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-platform\nVersion: 0.1\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[retrain_bench.platforms]\n{lines}\n")
    return where


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    registry.platforms.cache_clear()
    yield
    registry.platforms.cache_clear()


def test_builtins_in_display_order() -> None:
    # Orders flyte 10, flyte2 15, kfp 20, bare 30, airflow 40, prefect 50, dagster 60; bare Python is
    # the reference, KFP divided by Flyte; the platforms of issue 15 run only when named, only locally.
    assert registry.names() == ("flyte", "flyte2", "kfp", "bare", "airflow", "prefect", "dagster")
    assert registry.default_names() == ("flyte", "kfp", "bare")
    assert registry.cluster_names() == ("flyte", "kfp")
    assert registry.reference() == "bare"
    assert registry.ratio_pair() == ("kfp", "flyte")
    assert [registry.title(n) for n in ("flyte", "kfp", "bare", "gone")] == ["Flyte", "Kubeflow", "Bare Python", "gone"]
    assert [registry.title(n) for n in ("flyte2", "dagster")] == ["Flyte 2", "Dagster"]
    # a saved run may name a platform not installed here: after the known ones, by name
    assert registry.in_order(["zz", "bare", "aa", "flyte"]) == ("flyte", "bare", "aa", "zz")


def test_each_platform_has_its_own_sdk_or_none() -> None:
    # From the definitions: bare Python pins nothing; KFP's floor on the local target is 2.17.0; the
    # platforms of issue 15 run their own version (Dagster 1.13.28) in an environment of their own.
    assert registry.sdk_of("bare") is None
    flyte, kfp, dagster = (registry.sdk_of(n) for n in ("flyte", "kfp", "dagster"))
    assert flyte is not None and (flyte.package, flyte.own_version) == ("flytekit", None)
    assert kfp is not None and kfp.floor("local") is not None and kfp.floor("local").version == "2.17.0"
    assert kfp.floor("cluster") is None
    assert dagster is not None and (dagster.package, dagster.own_version) == ("dagster", "1.13.28")
    for name, platform in registry.platforms().items():
        if platform.sdk is not None:
            # named after its platform, and its package is a distribution the run records
            assert platform.sdk.platform == name
            assert platform.sdk.package in platform.sdk_distributions, name
    with pytest.raises(BenchError, match="unknown platform 'gone'"):
        registry.sdk_of("gone")


def test_a_third_party_platform_joins_through_the_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    monkeypatch.syspath_prepend(str(distribution(tmp_path / "site", {"toy": "toy_platform:TOY"})))
    # order 25 puts it between KFP (20) and bare (30); it has no cluster side
    assert registry.names() == ("flyte", "flyte2", "kfp", "toy", "bare", "airflow", "prefect", "dagster")
    assert registry.cluster_names() == ("flyte", "kfp")
    assert registry.title("toy") == "Toy"


@pytest.mark.parametrize(
    ("entry_points", "message"),
    [
        ({"toy": "toy_platform:NOT_A_PLATFORM"}, "is a int, not a retrain_bench Platform"),
        ({"other": "toy_platform:TOY"}, "defines the platform 'toy': name the entry point after it"),
        ({"toy": "toy_platform_missing:TOY"}, "failed to load: ModuleNotFoundError"),
        ({"toy": "toy_platform:FLYTES_SDK"}, "the platform 'toy' has an Sdk of the platform 'flyte'; name its Sdk"),
    ],
)
def test_a_broken_registration_is_named(
    entry_points: dict[str, str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fresh_registry: None,
) -> None:
    monkeypatch.syspath_prepend(str(distribution(tmp_path / "site", entry_points)))
    with pytest.raises(BenchError, match="platform entry point") as raised:
        registry.platforms()
    assert message in str(raised.value)


def test_a_second_platform_of_a_taken_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    site = distribution(tmp_path / "site", {"flyte": "toy_twice:FLYTE"})
    (site / "toy_twice.py").write_text(TOY + "\nimport dataclasses\nFLYTE = dataclasses.replace(TOY, name='flyte')\n")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(BenchError, match="platform 'flyte' is registered twice"):
        registry.platforms()


@pytest.mark.slow
def test_a_registered_platform_runs_rounds_without_touching_the_harness(
    bench_run: BenchRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The child pytest and the launchers it starts find the distribution through PYTHONPATH, as
    # they would find one installed into the environment.
    site = distribution(tmp_path / "site", {"toy": "toy_platform:TOY"})
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ["PYTHONPATH"]]))
    # --toy-flavour exists only if the plugin registered the platform's own options
    result, document = bench_run.run(
        "--platform=toy", "--toy-flavour=spicy", "--case=smoke", "--rounds=1", "--warmup=0"
    )
    assert result.ret == 0, textwrap.shorten(str(result.stdout), 2000)
    assert document is not None
    (record,) = records(document).values()
    assert record["platform"] == "toy"
    assert [r["ok"] for r in record["rounds"]] == [True]
    # run_bare computed it: the smoke case's grid has two C values, each tuned once
    assert record["rounds"][0]["tasks"]["counts"]["tune"] == 2


#: a platform with session services, out of the default list: what Prefect's server or Airflow's
#: prepared database look like to the harness
SERVED = """
import contextlib, os
from pathlib import Path
from retrain_bench.errors import BenchError
from retrain_bench.platforms.definition import Platform
from retrain_bench.workload.retraining import run_bare

@contextlib.contextmanager
def _services(context):
    marker = Path(os.environ["SERVED_MARKERS"])
    with (marker / "started").open("a") as out:
        out.write(f"{context.home} {context.python}\\n")
    if os.environ.get("SERVED_FAILS"):
        raise BenchError("the served server did not answer on 127.0.0.1:9")
    (context.home / "state.db").write_text("made once per session")
    try:
        yield {"SERVED_STATE": str(context.home / "state.db")}
    finally:
        (marker / "stopped").write_text("stopped")

def _run(case, workdir):
    # the launcher sees what the services yielded, and the state they made is there
    assert Path(os.environ["SERVED_STATE"]).read_text() == "made once per session"
    run_bare(case)

SERVED = Platform(
    name="served", title="Served", order=26, local_executor="served runs the steps beside a session service",
    prepare=lambda: None, run=_run, default=False, services=_services,
)
"""


def served_site(tmp_path: Path) -> Path:
    site = distribution(tmp_path / "site", {"served": "served_platform:SERVED"})
    (site / "served_platform.py").write_text(SERVED)
    return site


def test_a_platform_out_of_the_default_list_runs_only_when_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    from retrain_bench.options import parse_options

    monkeypatch.syspath_prepend(str(served_site(tmp_path)))
    assert "served" in registry.names()
    assert registry.default_names() == ("flyte", "kfp", "bare")
    common = dict(case="smoke", rounds=1, warmup=0, target="local", run_timeout=60, min_success_rate=1.0)
    assert parse_options(platform=None, **common).platforms == ("flyte", "kfp", "bare")  # type: ignore[arg-type]
    assert parse_options(platform="served,bare", **common).platforms == ("served", "bare")  # type: ignore[arg-type]


@pytest.mark.slow
def test_session_services_start_once_reach_every_launcher_and_stop(
    bench_run: BenchRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("SERVED_MARKERS", str(markers))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(served_site(tmp_path)), os.environ["PYTHONPATH"]]))
    result, document = bench_run.run("--platform=served", "--case=smoke", "--rounds=2", "--warmup=1")
    assert result.ret == 0, textwrap.shorten(str(result.stdout), 2000)
    assert document is not None
    (record,) = records(document).values()
    assert [r["ok"] for r in record["rounds"]] == [True, True, True]
    # one start for three rounds, in the harness's own interpreter (the platform has no environment of its own)
    (start,) = (markers / "started").read_text().splitlines()
    home, python = start.split(" ")
    assert Path(python).name.startswith("python")
    assert (markers / "stopped").read_text() == "stopped"
    assert not Path(home).exists()  # its session directory went with it
    services = document["retrain_bench"]["services"]
    assert list(services) == ["served"]
    assert services["served"]["error"] is None and services["served"]["start_s"] >= 0


@pytest.mark.slow
def test_services_that_do_not_start_fail_the_rounds_saying_why(
    bench_run: BenchRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("SERVED_MARKERS", str(markers))
    monkeypatch.setenv("SERVED_FAILS", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(served_site(tmp_path)), os.environ["PYTHONPATH"]]))
    result, document = bench_run.run("--platform=served,bare", "--case=smoke", "--rounds=2", "--warmup=0")
    assert result.ret == 1  # served's success rate is 0; bare's rounds still ran
    assert document is not None
    found = records(document)
    assert [r["ok"] for r in found["bare-smoke"]["rounds"]] == [True, True]
    served = found["served-smoke"]["rounds"]
    assert [r["ok"] for r in served] == [False, False]
    reason = "the session services of served did not start: the served server did not answer on 127.0.0.1:9"
    assert {r["error"] for r in served} == {reason}
    # tried once, not once per round
    assert len((markers / "started").read_text().splitlines()) == 1
    assert document["retrain_bench"]["services"]["served"] == {
        "start_s": None,
        "error": "the served server did not answer on 127.0.0.1:9",
    }
