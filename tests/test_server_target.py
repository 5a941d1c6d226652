"""The server target's harness side: options, the orchestrator's own timings, and refusals."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retrain_bench.errors import BenchError
from retrain_bench.harness import server as server_module
from retrain_bench.harness.server import ServerTarget, control_plane_phases
from retrain_bench.options import parse_options
from retrain_bench.platforms.definition import Platform
from retrain_bench.platforms.server import ServerContext, ServerSide
from retrain_bench.workload.cases import CASES


def parse(platform: str | None) -> object:
    return parse_options(
        platform=platform, case="smoke", rounds=1, warmup=0, target="server", run_timeout=60, min_success_rate=1.0
    )


def test_the_orchestrators_timings_give_its_queueing_and_the_gaps_between_tasks() -> None:
    # Submitted at t=100. The run starts at 101.5. make_data queued 102 -> ran 102.5..103.5; train
    # queued 104 -> ran 104.75..105.75; two tunes overlap: 106..107.5 and 106.5..108 (queued 105.9 and
    # 106.1); select_best 109..109.5 (queued 108.5).
    timings = {
        "started": 101.5,
        "tasks": [
            {"task": "make_data", "queued": 102.0, "started": 102.5, "ended": 103.5},
            {"task": "train", "queued": 104.0, "started": 104.75, "ended": 105.75},
            {"task": "tune", "queued": 105.9, "started": 106.0, "ended": 107.5},
            {"task": "tune", "queued": 106.1, "started": 106.5, "ended": 108.0},
            {"task": "select_best", "queued": 108.5, "started": 109.0, "ended": 109.5},
        ],
    }
    phases = control_plane_phases(timings, 100.0)
    # queued -> started: 0.5, 0.75, 0.1, 0.4, 0.5 -> median 0.5
    # span 102.5 .. 109.5 = 7.0; busy 1.0 + 1.0 + (106 .. 108 = 2.0) + 0.5 = 4.5; gaps 2.5
    assert phases == pytest.approx(
        {"run_queue_s": 1.5, "task_queue_median_s": 0.5, "between_tasks_s": 2.5, "tasks_span_s": 7.0}
    )


def test_timings_without_task_times_are_missing_not_zero() -> None:
    phases = control_plane_phases({"tasks": [{"task": "train", "queued": None, "started": None}]}, 100.0)
    assert phases == {"run_queue_s": None, "task_queue_median_s": None, "between_tasks_s": None, "tasks_span_s": None}


@pytest.mark.parametrize(
    ("platform", "said"),
    [
        ("flyte", "flyte's control plane runs on Kubernetes: use --target=cluster"),
        ("kfp", "kfp's control plane runs on Kubernetes: use --target=cluster"),
        ("bare", "no control plane of bare runs on this machine: use --target=local"),
        ("flyte2", "no control plane of flyte2 runs on this machine: use --target=local"),
    ],
)
def test_a_platform_without_a_control_plane_here_is_refused_saying_where_its_production_path_runs(
    platform: str, said: str
) -> None:
    with pytest.raises(BenchError) as caught:
        parse(platform)
    assert str(caught.value).startswith(f"--platform: {said}; with --target=server choose from ")


def test_the_server_target_polls_every_quarter_second_unless_told_and_records_it() -> None:
    options = parse_options(
        platform=None, case="smoke", rounds=1, warmup=0, target="server", run_timeout=60, min_success_rate=1.0
    )
    assert options.poll_interval_s == 0.25 and options.as_dict()["poll_interval_s"] == 0.25
    faster = parse_options(
        platform=None, case="smoke", rounds=1, warmup=0, target="server", run_timeout=60, min_success_rate=1.0,
        poll_interval="0.1",
    )  # fmt: skip
    assert faster.poll_interval_s == 0.1
    with pytest.raises(BenchError, match=r"^--poll-interval: '0' must be between 0.01 and 3600$"):
        parse_options(
            platform=None, case="smoke", rounds=1, warmup=0, target="server", run_timeout=60, min_success_rate=1.0,
            poll_interval="0",
        )  # fmt: skip
    local = parse_options(platform="bare", case="smoke", rounds=1, warmup=0, target="local", run_timeout=60,
                          min_success_rate=1.0)  # fmt: skip
    assert "poll_interval_s" not in local.as_dict()  # a local run's options are what they were


def test_a_control_plane_that_does_not_start_fails_only_its_rounds_in_one_line_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []

    @contextlib.contextmanager
    def broken(context: ServerContext) -> Iterator[Any]:
        started.append(context.python)
        raise BenchError(f"the toy scheduler exited with status 1 before it was healthy; its log: {context.home}/s.log")
        yield  # pragma: no cover

    toy = Platform(
        name="toy", title="Toy", order=99, local_executor="-", prepare=lambda: None, run=lambda case, workdir: None,
        server=ServerSide(parts="a toy scheduler", control_plane=broken),
    )  # fmt: skip
    monkeypatch.setattr(server_module.registry, "platform", lambda name: toy)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the control plane's directory is made
    warned: list[str] = []
    target = ServerTarget(
        run_timeout=60, poll_interval_s=0.25, sample_hz=10, log_dir=tmp_path / "logs", pipelines=None,
        python_of=lambda spec: "/venv/toy/bin/python", progress=lambda line: None, warn=warned.append,
    )  # fmt: skip
    try:
        first = target.run_round("toy", CASES["smoke"], 0, warmup=False)
        second = target.run_round("toy", CASES["smoke"], 1, warmup=False)
        assert len(list(tmp_path.glob("retrain-bench-server-toy-*"))) == 1
    finally:
        target.close()
    assert started == ["/venv/toy/bin/python"]  # tried once for the session, not once a round
    for result in (first, second):
        assert (result.ok, result.target, result.total_s) == (False, "server", None)
        assert result.error is not None and result.error.startswith(
            "the control plane of toy did not start: the toy scheduler exited with status 1 before it was healthy;"
            " its log: "
        )
        assert "\n" not in result.error
    assert len(warned) == 1 and warned[0].startswith("toy: its control plane did not start, so its rounds fail: ")
    services = target.run_level()["toy"]
    assert services["start_s"] is None and services["error"].endswith("/s.log")
    assert list(tmp_path.glob("retrain-bench-server-*")) == []  # its directory is removed at close
