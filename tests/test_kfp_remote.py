"""The KFP remote runner: the compiled package (walked as parsed YAML), run parameters, the run's
own timings from SYNTHETIC v2beta1 payloads read by kfp-server-api's own deserializer, and the
runner's calls over real HTTP against a stand-in of the KFP API (tests/platform_standins.py).
Nothing here reaches a real KFP control plane."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import kfp_server_api
import pytest
import yaml

from bench.kfp.pipeline import build_pipeline
from retrain_bench.cluster.portforward import ServiceRef
from retrain_bench.cluster.settings import RemoteSettings, TaskResources
from retrain_bench.errors import BenchError
from retrain_bench.platforms.kfp.cluster import DEFAULT_SERVICE, KfpOptions
from retrain_bench.platforms.kfp.remote import KfpRunner, compile_package, run_parameters, timings_from_run
from retrain_bench.workload.cases import CASES
from tests.platform_standins import KFP_UNSET_TIME, kfp_runs_api, kfp_ui

IMAGE = "ghcr.io/example/retrain-bench-task:test"
#: KFP's own options as its cluster side parses them by default (namespace kubeflow, experiment retrain-bench)
OPTIONS = KfpOptions(host=None, service=ServiceRef.parse(DEFAULT_SERVICE), insecure_skip_verify=False, token_env=None)
SETTINGS = RemoteSettings(image=IMAGE, resources=TaskResources(cpu="500m", memory="1Gi"), options=OPTIONS)
TOKEN = "s3cret-bearer-token-value"
USER_EXECUTORS = {"exec-make-data", "exec-train", "exec-detect-drift", "exec-tune", "exec-select-best"}


def _compiled(tmp_path: Path) -> dict[str, Any]:
    package = compile_package(SETTINGS, tmp_path)
    spec = yaml.safe_load(package.path.read_text())
    assert isinstance(spec, dict)
    return spec


def _all_tasks(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every task of every DAG (root and the condition/loop sub-DAGs), by task name."""
    dags = [spec["root"]["dag"]] + [c["dag"] for c in spec["components"].values() if "dag" in c]
    return {name: task for dag in dags for name, task in dag["tasks"].items()}


def test_compiled_package_runs_every_task_from_the_image_with_equal_requests_and_limits(tmp_path: Path) -> None:
    executors = _compiled(tmp_path)["deploymentSpec"]["executors"]
    assert set(executors) == USER_EXECUTORS
    for name, executor in executors.items():
        container = executor["container"]
        assert container["image"] == IMAGE, name
        resources = container["resources"]
        assert resources["resourceCpuRequest"] == resources["resourceCpuLimit"] == "500m", name
        assert resources["resourceMemoryRequest"] == resources["resourceMemoryLimit"] == "1Gi", name
        # kfp also writes the legacy numeric fields: 500m = 0.5 CPU; 1Gi = 2**30 B = 1.073741824 GB
        assert resources["cpuRequest"] == resources["cpuLimit"] == 0.5, name
        assert resources["memoryRequest"] == resources["memoryLimit"] == 1.073741824, name
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env == {"BENCH_STAMPS": "stdout", "PYTHONUNBUFFERED": "1"}, name
        # install_kfp_package=False: the image brings kfp, nothing is pip-installed at start
        assert not any("pip install" in part for part in container["command"]), name


def test_compiled_package_has_caching_off_and_the_adaptive_branch_wired(tmp_path: Path) -> None:
    spec = _compiled(tmp_path)
    tasks = _all_tasks(spec)
    user = {"make-data", "train", "detect-drift", "tune", "select-best"}
    assert set(tasks) == user | {"condition-1", "for-loop-2"}
    for name in user:
        # proto3 leaves a false enableCache out: {} is "caching off"; a missing key would be "on"
        assert tasks[name]["cachingOptions"].get("enableCache", False) is False, name
    assert not any(t.get("cachingOptions", {}).get("enableCache") for t in tasks.values())

    # dsl.If on detect_drift's main output
    condition = spec["root"]["dag"]["tasks"]["condition-1"]
    assert condition["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--detect-drift-Output'] == true"
    )
    assert condition["inputs"]["parameters"]["pipelinechannel--detect-drift-Output"]["taskOutputParameter"] == {
        "producerTask": "detect-drift",
        "outputParameterKey": "Output",
    }
    # ParallelFor over the pipeline input `grid`: root input -> condition input -> loop items
    assert condition["inputs"]["parameters"]["pipelinechannel--grid"] == {"componentInputParameter": "grid"}
    loop = tasks["for-loop-2"]
    assert loop["parameterIterator"] == {
        "itemInput": "pipelinechannel--grid-loop-item",
        "items": {"inputParameter": "pipelinechannel--grid"},
    }
    assert loop["inputs"]["parameters"]["pipelinechannel--grid"] == {"componentInputParameter": "pipelinechannel--grid"}
    assert tasks["tune"]["inputs"]["parameters"]["c"] == {"componentInputParameter": "pipelinechannel--grid-loop-item"}
    assert "grid" in spec["root"]["inputDefinitions"]["parameters"]
    # dsl.Collected: the loop's list of tune outputs feeds select_best
    assert spec["components"]["comp-for-loop-2"]["dag"]["outputs"]["parameters"]["pipelinechannel--tune-Output"] == {
        "valueFromParameter": {"producerSubtask": "tune", "outputParameterKey": "Output"}
    }
    assert tasks["select-best"]["inputs"]["parameters"]["accuracies"]["taskOutputParameter"] == {
        "producerTask": "for-loop-2",
        "outputParameterKey": "pipelinechannel--tune-Output",
    }


def test_the_local_pipeline_keeps_its_base_image_and_sets_no_resources_or_env(tmp_path: Path) -> None:
    from kfp import compiler

    compiler.Compiler().compile(build_pipeline(), str(tmp_path / "local.yaml"))
    executors = yaml.safe_load((tmp_path / "local.yaml").read_text())["deploymentSpec"]["executors"]
    assert set(executors) == USER_EXECUTORS
    for executor in executors.values():
        assert executor["container"]["image"] == "python:3.11"
        assert "resources" not in executor["container"] and "env" not in executor["container"]


def test_package_hash_is_the_sha256_of_its_bytes_and_changes_with_the_image(tmp_path: Path) -> None:
    import dataclasses
    import hashlib

    first = compile_package(SETTINGS, tmp_path)
    assert first.sha256 == hashlib.sha256(first.path.read_bytes()).hexdigest()
    (tmp_path / "other").mkdir()
    other = compile_package(dataclasses.replace(SETTINGS, image=IMAGE + "2"), tmp_path / "other")
    assert other.sha256 != first.sha256


def test_run_parameters_carry_the_case_and_its_grid() -> None:
    tuning = run_parameters(CASES["tuning"])
    assert tuning["grid"] == [0.01, 0.1, 1.0, 10.0, 100.0]
    assert json.loads(tuning["case_json"])["rows"] == 2000
    assert run_parameters(CASES["base"])["grid"] == [1.0]


# -- timings from synthetic v2beta1 payloads --------------------------------------------------------

ROOT = "retrain-bench-7xk2p"  # the root DAG's display name is the Argo workflow's name
_UUIDS = iter(range(1, 1000))


def _task(name: str, start: str, end: str, state: str = "SUCCEEDED", **extra: Any) -> dict[str, Any]:
    """One task detail as ``toApiPipelineTaskDetail`` (backend/src/apiserver/server/api_converter.go)
    writes it from an Argo node: task_id a random UUID from the task store, display_name the node's,
    create_time the workflow's creation for every node (``toModelTasks``), start/end the node's,
    child_tasks the children's Argo node ids as ``pod_name``; never a ``pod_name`` of its own."""
    day = "2026-08-21T"
    return {
        "run_id": "run-synthetic",
        "task_id": f"5d0c6a1e-0000-4000-8000-{next(_UUIDS):012d}",
        "display_name": name,
        "create_time": day + "10:00:00Z",
        "start_time": day + start + "Z",
        "end_time": end if end.endswith("Z") else day + end + "Z",
        "state": state,
        **extra,
    }


def _container_task(name: str, start: str, end: str, node: str, state: str = "SUCCEEDED") -> list[dict[str, Any]]:
    """A pipeline task: its system-container-executor DAG node, whose only child is the ``executor``
    node running the pod (backend/src/v2/compiler/argocompiler/container.go). The executor's detail
    says nothing that ties it to its parent: only the parent's child_tasks name the executor's node id.
    The executor starts a second after its DAG node (Argo's step) and ends with it."""
    start_s = int(start[-2:])
    child_start = start[:-2] + f"{start_s + 1:02d}"
    return [
        _task(name, start, end, state, child_tasks=[{"pod_name": f"{ROOT}-{node}"}]),
        _task("executor", child_start, end, state),
    ]


def _synthetic_run(task_details: list[dict[str, Any]], state: str, finished_at: str) -> kfp_server_api.V2beta1Run:
    """A GetRun answer as the KFP REST API sends it, read by kfp-server-api's own deserializer."""
    payload = {
        "experiment_id": "exp-synthetic",
        "run_id": "run-synthetic",
        "display_name": "kfp-base-r1",
        "storage_state": "AVAILABLE",
        "created_at": "2026-08-21T10:00:00Z",
        "scheduled_at": "2026-08-21T10:00:00Z",
        "finished_at": finished_at,
        "state": state,
        "run_details": {"task_details": task_details},
    }

    class Response:
        data = json.dumps(payload)

    with kfp_server_api.ApiClient() as api:
        run = api.deserialize(Response(), "V2beta1Run")
    assert isinstance(run, kfp_server_api.V2beta1Run)
    return run


def _finished_tuning_details() -> list[dict[str, Any]]:
    return [
        # listed out of order on purpose: the API sorts by Argo node id, not by time
        *_container_task("select-best", "10:01:50", "10:02:03", "3810293811"),
        _task(ROOT, "10:00:01", "10:02:06"),
        _task("root-driver", "10:00:01", "10:00:04"),
        *_container_task("tune", "10:01:26", "10:01:44", "2219034872"),
        _task("make-data-driver", "10:00:04", "10:00:05"),
        *_container_task("make-data", "10:00:05", "10:00:21", "1234567890"),
        _task("train-driver", "10:00:21", "10:00:30"),
        *_container_task("train", "10:00:30", "10:00:52", "1234567891"),
        _task("detect-drift-driver", "10:00:52", "10:01:00"),
        *_container_task("detect-drift", "10:01:00", "10:01:13", "1234567892"),
        _task("condition-1-driver", "10:01:13", "10:01:15"),
        _task("condition-1", "10:01:15", "10:02:05"),
        _task("for-loop-2-driver", "10:01:15", "10:01:20"),
        _task("for-loop-2-iterations", "10:01:20", "10:01:45"),
        _task("for-loop-2-iterations(0:0)", "10:01:20", "10:01:41"),
        _task("for-loop-2-iterations(1:1)", "10:01:20", "10:01:45"),
        _task("tune-driver", "10:01:20", "10:01:25"),
        _task("tune-driver", "10:01:21", "10:01:26"),
        *_container_task("tune", "10:01:25", "10:01:40", "2219034871"),
        _task("select-best-driver", "10:01:45", "10:01:50"),
    ]


def test_timings_synthetic_finished_run_keep_only_the_pipelines_tasks_in_whole_seconds() -> None:
    timings = timings_from_run(_synthetic_run(_finished_tuning_details(), "SUCCEEDED", "2026-08-21T10:02:07Z"))

    def at(clock: str) -> str:
        return f"2026-08-21T{clock}+00:00"

    assert timings["source"] == "kfp_api" and timings["resolution_s"] == 1
    assert timings["task_times"] == "dag_node"  # the DAG node's times: no executor detail is tied to its task
    # 10:00:00 -> 10:02:07 is 2 min 7 s = 127 s
    assert timings["run"] == {
        "state": "SUCCEEDED",
        "created_at": at("10:00:00"),
        "finished_at": at("10:02:07"),
        "duration_s": 127,
    }

    def task(name: str, start: str, end: str, seconds: int, node: str) -> dict[str, Any]:
        return {"name": name, "state": "SUCCEEDED", "start": at(start), "end": at(end), "duration_s": seconds,
                "executor_node": f"{ROOT}-{node}"}  # fmt: skip

    assert timings["tasks"] == [
        task("make_data", "10:00:05", "10:00:21", 16, "1234567890"),  # 16 s
        task("train", "10:00:30", "10:00:52", 22, "1234567891"),  # 22 s
        task("detect_drift", "10:01:00", "10:01:13", 13, "1234567892"),  # 13 s
        # the two loop iterations, by start: 10:01:25 -> 10:01:40 = 15 s, 10:01:26 -> 10:01:44 = 18 s
        task("tune", "10:01:25", "10:01:40", 15, "2219034871"),
        task("tune", "10:01:26", "10:01:44", 18, "2219034872"),
        task("select_best", "10:01:50", "10:02:03", 13, "3810293811"),  # 13 s
    ]
    # the executor details (one per task) are not tasks of ours and carry no pod name to record
    assert not any("pod_name" in t for t in timings["tasks"])
    json.dumps(timings, allow_nan=False)  # JSON-ready as it stands


def test_timings_synthetic_unfinished_times_are_null_not_epoch_or_year_one() -> None:
    details = [
        _task(ROOT, "10:00:01", "0001-01-01T00:00:00Z", state="RUNNING"),
        _task("make-data", "10:00:05", "10:00:21"),
        # an Argo node that has not finished has Go's zero FinishedAt: year 1
        _task("train", "10:00:30", "0001-01-01T00:00:00Z", state="RUNNING"),
    ]
    timings = timings_from_run(_synthetic_run(details, "RUNNING", KFP_UNSET_TIME))
    assert timings["run"] == {
        "state": "RUNNING",
        "created_at": "2026-08-21T10:00:00+00:00",
        "finished_at": None,
        "duration_s": None,
    }
    assert [(t["name"], t["state"], t["end"], t["duration_s"]) for t in timings["tasks"]] == [
        ("make_data", "SUCCEEDED", "2026-08-21T10:00:21+00:00", 16),
        ("train", "RUNNING", None, None),
    ]


def test_timings_synthetic_skipped_branch_and_no_details() -> None:
    # no drift: the condition DAG is skipped and no tune or select-best node exists
    details = [
        _task("detect-drift", "10:01:00", "10:01:13"),
        _task("condition-1-driver", "10:01:13", "10:01:15"),
        _task("condition-1", "10:01:15", "10:01:15", state="SKIPPED"),
    ]
    timings = timings_from_run(_synthetic_run(details, "SUCCEEDED", "2026-08-21T10:01:20Z"))
    assert [t["name"] for t in timings["tasks"]] == ["detect_drift"]
    assert timings["run"]["duration_s"] == 80  # 10:00:00 -> 10:01:20
    assert timings_from_run(_synthetic_run([], "PENDING", KFP_UNSET_TIME))["tasks"] == []


# -- the runner over HTTP, against a stand-in of the KFP API -------------------------------------------


def test_runner_against_standin_prepares_submits_polls_terminates_and_archives() -> None:
    with kfp_runs_api(token=TOKEN) as api:
        runner = KfpRunner(api.url, TOKEN, True, SETTINGS)
        manifest = runner.prepare()
        (experiment,) = api.experiments.values()
        assert experiment["display_name"] == "retrain-bench" and experiment["namespace"] == "kubeflow"
        assert manifest["experiment_id"] == experiment["experiment_id"]
        assert manifest["image"] == IMAGE and manifest["resources"] == {"cpu": "500m", "memory": "1Gi"}
        assert len(manifest["package_sha256"]) == 64 and manifest["kfp_sdk"] == "2.17.3"

        # a second session finds the experiment instead of creating another
        KfpRunner(api.url, TOKEN, True, SETTINGS).prepare()
        assert len(api.experiments) == 1
        assert [r[:2] for r in api.requests].count(("POST", "/apis/v2beta1/experiments")) == 1

        submitted = runner.submit(CASES["tuning"], "kfp-tuning-r1")
        (body,) = [r[3] for r in api.requests if r[:2] == ("POST", "/apis/v2beta1/runs")]
        assert body["display_name"] == "kfp-tuning-r1"
        assert body["experiment_id"] == experiment["experiment_id"]
        assert body["runtime_config"]["parameters"]["grid"] == [0.01, 0.1, 1.0, 10.0, 100.0]
        # the spec sent is the compiled one: the image, and caching off on the root tasks
        sent_executors = body["pipeline_spec"]["deploymentSpec"]["executors"]
        assert {e["container"]["image"] for e in sent_executors.values()} == {IMAGE}
        assert not any(
            t.get("cachingOptions", {}).get("enableCache") for t in _all_tasks(body["pipeline_spec"]).values()
        )

        run_id = submitted.run_id
        assert run_id in api.runs
        assert submitted.platform == "kfp" and submitted.namespace == "kubeflow"
        assert submitted.pod_selector == f"pipeline/runid={run_id}"
        assert submitted.url is None  # no --kfp-ui-url: the API server serves no console

        assert runner.poll(submitted).done is False
        api.runs[run_id]["state"] = "RUNNING"
        assert runner.poll(submitted).state == "RUNNING"

        runner.terminate(submitted, "timeout")
        assert api.runs[run_id]["state"] == "CANCELING"
        poll = runner.poll(submitted)
        assert (poll.done, poll.state) == (False, "CANCELING")  # on its way, not there
        api.runs[run_id]["state"] = "CANCELED"
        poll = runner.poll(submitted)
        assert (poll.done, poll.ok, poll.error) == (True, False, "run ended CANCELED")
        runner.terminate(submitted, "again")  # refused by the API as already ended: still fine

        api.runs[run_id] |= {
            "state": "SUCCEEDED",
            "finished_at": "2026-08-21T10:02:07Z",
            "run_details": {"task_details": _finished_tuning_details()},
        }
        poll = runner.poll(submitted)
        assert (poll.done, poll.ok, poll.error) == (True, True, None)
        timings = runner.platform_timings(submitted)
        assert [t["name"] for t in timings["tasks"]] == [
            "make_data",
            "train",
            "detect_drift",
            "tune",
            "tune",
            "select_best",
        ]
        assert timings["run"]["duration_s"] == 127

        runner.cleanup(submitted)
        assert api.runs[run_id]["storage_state"] == "ARCHIVED"

        assert api.requests and all(auth == f"Bearer {TOKEN}" for _, _, auth, _ in api.requests)
        assert TOKEN not in repr(runner) and TOKEN not in json.dumps(manifest)


def test_runner_against_standin_failed_run_error_is_scrubbed_of_the_token() -> None:
    with kfp_runs_api(token=TOKEN) as api:
        runner = KfpRunner(api.url, TOKEN, True, SETTINGS)
        runner.prepare()
        submitted = runner.submit(CASES["base"], "kfp-base-r1")
        api.runs[submitted.run_id] |= {
            "state": "FAILED",
            "error": {"code": 2, "message": f"task train failed: request had Authorization: Bearer {TOKEN}\nmore"},
        }
        poll = runner.poll(submitted)
        assert (poll.done, poll.ok) == (True, False)
        assert poll.error == "task train failed: request had Authorization: Bearer ***"


def test_runner_against_standin_refused_token_is_one_line_without_the_token() -> None:
    with kfp_runs_api(token=TOKEN) as api:
        runner = KfpRunner(api.url, "wrong-" + TOKEN, True, SETTINGS)
        with pytest.raises(BenchError) as caught:
            runner.prepare()
        message = str(caught.value)
        assert message == (
            f"KFP API at {api.url}: HTTP 401; check --kfp-token-file/--kfp-token-env (multi-user KFP wants a token "
            "for the audience pipelines.kubeflow.org: `kubectl create token SA -n NS "
            "--audience=pipelines.kubeflow.org`) and --kfp-namespace"
        )
        assert TOKEN not in message and not api.experiments
        # the bad token was sent as a bearer token, once (no retry loop)
        assert [auth for _, _, auth, _ in api.requests] == [f"Bearer wrong-{TOKEN}"]


def test_runner_against_standin_unknown_run_and_calls_before_prepare() -> None:
    with kfp_runs_api() as api:
        runner = KfpRunner(api.url, None, True, SETTINGS)
        with pytest.raises(BenchError, match=r"^KfpRunner.submit before prepare\(\)"):
            runner.submit(CASES["base"], "kfp-base-r1")
        runner.prepare()
        ghost = runner.submit(CASES["base"], "kfp-base-r1")
        del api.runs[ghost.run_id]
        runner.terminate(ghost, "interrupted")  # nothing left to stop: no error
        with pytest.raises(BenchError) as caught:
            runner.poll(ghost)
        assert str(caught.value).startswith(f"KFP at {api.url}: could not read run {ghost.run_id}: HTTP 404 Not Found;")
        assert all(auth is None for _, _, auth, _ in api.requests)


def test_runner_refuses_a_host_that_is_not_an_http_url() -> None:
    with pytest.raises(BenchError, match=r"^KFP host 'ml-pipeline:8888' is not an http\(s\) URL"):
        KfpRunner("ml-pipeline:8888", None, True, SETTINGS)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 that no trust store knows (cryptography comes with kfp)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kfp-standin")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_runner_against_tls_standin_verifies_certificates_unless_told_not_to(tmp_path: Path) -> None:
    with kfp_runs_api(tls=_self_signed(tmp_path)) as api:
        with pytest.raises(BenchError) as caught:
            KfpRunner(api.url, None, True, SETTINGS).prepare()
        assert str(caught.value) == (
            f"KFP API at {api.url}: no answer (SSLError); "
            "trust the server's CA, or turn verification off with --kfp-insecure-skip-verify"
        )
        assert not api.requests  # the handshake failed: no request reached the API
        with pytest.warns(Warning, match="Unverified HTTPS request"):  # urllib3 says so on every call
            manifest = KfpRunner(api.url, None, False, SETTINGS).prepare()
        assert manifest["experiment_id"] in api.experiments


def test_runner_keeps_credentials_in_the_host_url_out_of_messages_and_links() -> None:
    with kfp_runs_api() as api:
        host = api.url.replace("http://", "http://alice:pa55word@")
        ui = dataclasses.replace(OPTIONS, ui_url="https://alice:pa55word@kfp.example")
        runner = KfpRunner(host, None, True, dataclasses.replace(SETTINGS, options=ui))
        runner.prepare()
        submitted = runner.submit(CASES["base"], "kfp-base-r1")
        assert submitted.url == f"https://***@kfp.example/#/runs/details/{submitted.run_id}"
        del api.runs[submitted.run_id]
        with pytest.raises(BenchError) as caught:
            runner.poll(submitted)
        assert "pa55word" not in str(caught.value) and "pa55word" not in repr(runner)


def test_runner_through_the_kfp_ui_reaches_the_api_server_behind_it() -> None:
    # The UI proxies /apis/v2beta1/* to the API server (frontend/server/app.ts): kfp.Client works through it.
    with kfp_runs_api(token=TOKEN) as api, kfp_ui(api.url) as ui:
        runner = KfpRunner(ui, TOKEN, True, SETTINGS)
        runner.prepare()
        submitted = runner.submit(CASES["base"], "kfp-base-r1")
        assert submitted.run_id in api.runs
        # the token went through the proxy with every call; the UI's own healthz fetch sends none
        proxied = [(path, auth) for _, path, auth, _ in api.requests if not path.endswith("/healthz")]
        assert proxied and all(auth == f"Bearer {TOKEN}" for _, auth in proxied)
        assert {auth for _, path, auth, _ in api.requests if path.endswith("/healthz")} == {None}


def test_runner_refuses_a_kfp_ui_whose_api_server_is_down() -> None:
    with kfp_ui(None) as ui:
        runner = KfpRunner(ui, None, True, SETTINGS)
        with pytest.raises(BenchError) as caught:
            runner.prepare()
    assert str(caught.value).startswith(
        f"KFP API at {ui}: the KFP UI answers but reports its API server down (apiServerReady: false); check the API"
    )
