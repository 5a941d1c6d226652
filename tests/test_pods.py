"""retrain_bench.cluster.pods against the kube-apiserver STAND-IN (tests/k8s_standin.py): list + watch of a
run's pods in a thread, re-watch and re-list, stamp lines from the right containers, one-line errors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from retrain_bench.cluster.errors import ClusterError, Forbidden
from retrain_bench.cluster.kube import Kube
from retrain_bench.cluster.pods import PodSeen, PodWatch, nodes_of, read_stamps
from retrain_bench.workload.stamps import LINE_PREFIX
from tests.k8s_standin import TOKEN, KubeStandin, pod_object

NS = "flytesnacks-development"
RUN = {"execution-id": "rbq1"}


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def stamp_line(task: str, start_ns: int, end_ns: int, **out: object) -> str:
    body = {"task": task, "start_ns": start_ns, "end_ns": end_ns, "pid": 1, "unit": "u", "c": None, "out": out}
    return LINE_PREFIX + json.dumps(body)


def by_name(pods: tuple[PodSeen, ...]) -> dict[str, PodSeen]:
    return {p.name: p for p in pods}


def test_a_pod_created_run_and_deleted_during_the_watch_is_still_reported(standin: KubeStandin, kube: Kube) -> None:
    feed = standin.pod_feed
    # Before the watch starts: found by the first list.
    feed.put_pod(pod_object(NS, "rbq1-n0-0", labels=RUN, node="node-a"))
    feed.put_pod(pod_object(NS, "other-n0-0", labels={"execution-id": "other"}))  # another run's pod
    feed.put_pod(pod_object("flytesnacks-staging", "rbq1-n0-0", labels=RUN))  # same name, other namespace
    watch = PodWatch(kube, NS, "execution-id=rbq1").start()
    eventually(lambda: feed.watches >= 1 and "rbq1-n0-0" in by_name(watch.seen()))
    # During the watch: a pod appears, runs, finishes and is garbage-collected.
    created: dict[str, Any] = dict(
        labels=RUN, node="node-b", created="2024-01-01T00:00:10Z", started="2024-01-01T00:00:12Z"
    )
    feed.put_pod(pod_object(NS, "rbq1-n1-0", phase="Pending", **created))
    feed.put_pod(pod_object(NS, "rbq1-n1-0", phase="Running", **created))
    feed.put_pod(pod_object(NS, "rbq1-n1-0", phase="Succeeded", finished="2024-01-01T00:00:20Z", **created))
    feed.delete_pod(NS, "rbq1-n1-0")
    eventually(
        lambda: by_name(watch.seen()).get("rbq1-n1-0", None) is not None and by_name(watch.seen())["rbq1-n1-0"].deleted
    )
    pods = watch.stop()

    assert [p.name for p in pods] == ["rbq1-n0-0", "rbq1-n1-0"]  # ordered by creation; no other run
    gone = pods[1]
    assert (gone.namespace, gone.node, gone.phase, gone.deleted) == (NS, "node-b", "Succeeded", True)
    assert (gone.created, gone.started, gone.finished) == (
        "2024-01-01T00:00:10Z",
        "2024-01-01T00:00:12Z",
        "2024-01-01T00:00:20Z",
    )
    assert [(c.name, c.init, c.state, c.exit_code) for c in gone.containers] == [("main", False, "terminated", 0)]
    assert pods[0].deleted is False
    assert nodes_of(pods) == ("node-a", "node-b")
    assert watch.errors == ()
    assert pods[1].as_dict()["containers"][0]["finished"] == "2024-01-01T00:00:20Z"


def list_requests(standin: KubeStandin) -> int:
    return sum(
        1
        for method, path in standin.requests
        if method == "GET" and path.startswith(f"/api/v1/namespaces/{NS}/pods?") and "watch=" not in path
    )


def test_a_watch_that_ends_is_reopened_and_an_expired_one_relisted(standin: KubeStandin, kube: Kube) -> None:
    feed = standin.pod_feed
    # The server ends every watch after 1 s: the pod put after that arrives on the next watch.
    watch = PodWatch(kube, NS, "execution-id=rbq1", watch_timeout_s=1).start()
    eventually(lambda: feed.watches >= 1)
    eventually(lambda: feed.watches >= 2)
    feed.put_pod(pod_object(NS, "rbq1-n0-0", labels=RUN))
    eventually(lambda: len(watch.seen()) == 1)
    assert list_requests(standin) == 1  # a re-watch from the last version, not a new list
    # The history is compacted: the open watch ends, re-watching from its version gives 410 Gone,
    # and the watch lists again. A pod created and deleted in that gap is lost, as it would be.
    feed.expire_watches()
    feed.put_pod(pod_object(NS, "rbq1-n1-0", labels=RUN))
    eventually(lambda: list_requests(standin) >= 2 and len(watch.seen()) == 2)
    pods = watch.stop()
    assert [p.name for p in pods] == ["rbq1-n0-0", "rbq1-n1-0"]
    assert watch.errors == ()  # 410 is routine, not an error


KFP_NS = "kubeflow"
KFP_RUN = {"pipeline/runid": "7c1d"}


def test_stamp_lines_come_from_the_main_containers_only(standin: KubeStandin, kube: Kube) -> None:
    feed = standin.pod_feed
    kfp: dict[str, Any] = dict(labels=KFP_RUN, init_containers=("init", "kfp-launcher"), containers=("wait", "main"))
    feed.put_pod(
        pod_object(
            KFP_NS,
            "wf-x-system-container-impl-1",
            annotations={"kubectl.kubernetes.io/default-container": "main"},
            **kfp,
        )
    )
    # Without the annotation both containers count (no stamp in "wait" here, only a line of Argo's).
    feed.put_pod(pod_object(KFP_NS, "wf-x-system-container-impl-2", **kfp))
    feed.put_pod(pod_object(KFP_NS, "wf-x-system-container-driver-3", phase="Pending", node=None, labels=KFP_RUN))
    feed.put_pod(pod_object(KFP_NS, "wf-x-system-dag-driver-4", labels=KFP_RUN))
    impl1, impl2 = "wf-x-system-container-impl-1", "wf-x-system-container-impl-2"
    feed.set_log(KFP_NS, impl1, "main", "pip noise\n" + stamp_line("train", 10, 20, accuracy=0.9) + "\n")
    feed.set_log(KFP_NS, impl1, "wait", stamp_line("decoy-wait", 1, 2) + "\n")  # never read: not the default
    feed.set_log(KFP_NS, impl1, "kfp-launcher", stamp_line("decoy-init", 1, 2) + "\n")  # init: never read
    # a collector's timestamp prefix before the marker still counts
    feed.set_log(KFP_NS, impl2, "main", "2024-01-01T00:00:01Z " + stamp_line("make_data", 1, 5) + "\n")
    feed.set_log(KFP_NS, impl2, "wait", 'time=... level=info msg="Starting Workflow Executor"\n')
    feed.set_log(KFP_NS, impl2, "kfp-launcher", stamp_line("decoy-init", 1, 2) + "\n")
    watch = PodWatch(kube, KFP_NS, "pipeline/runid=7c1d").start()
    eventually(lambda: len(watch.seen()) == 4)
    feed.delete_pod(KFP_NS, "wf-x-system-dag-driver-4")
    eventually(lambda: any(p.deleted for p in watch.seen()))
    pods = watch.stop()

    logs = read_stamps(kube, pods)
    assert sorted(s.task for s in logs.stamps.stamps) == ["make_data", "train"]
    assert logs.stamps.one("train").out == {"accuracy": 0.9}
    assert logs.unread == ("wf-x-system-dag-driver-4",)
    read = sorted(p.split("?")[1] for m, p in standin.requests if p.split("?")[0].endswith("/log"))
    # the pending driver's main container has not started: not asked for (it would be a 400)
    assert read == ["container=main", "container=main", "container=wait"]
    assert by_name(pods)[impl1].log_containers == ("main",)
    assert by_name(pods)[impl2].log_containers == ("wait", "main")
    assert [c.name for c in by_name(pods)[impl1].containers if c.init] == ["init", "kfp-launcher"]


def clean(error: BaseException | str) -> str:
    text = str(error)
    assert "\n" not in text and TOKEN not in text
    return text


def test_forbidden_logs_and_pods_are_one_line_errors(standin: KubeStandin, kube: Kube) -> None:
    feed = standin.pod_feed
    feed.put_pod(pod_object(NS, "rbq1-n0-0", labels=RUN))
    feed.set_log(NS, "rbq1-n0-0", "main", stamp_line("train", 1, 2) + "\n")
    pods = PodWatch(kube, NS, "execution-id=rbq1").start().stop()
    assert len(pods) == 1

    standin.forbidden = {"pods/log"}
    with pytest.raises(Forbidden) as caught:
        read_stamps(kube, pods)
    assert clean(caught.value) == (
        "forbidden to read the log of pod rbq1-n0-0 (container main) in namespace flytesnacks-development "
        'in context standin: pods is forbidden: User "bench" cannot get resource "pods/log" in API group "" '
        'in the namespace "flytesnacks-development"; check the RBAC of the kubeconfig\'s user'
    )

    standin.forbidden = {"pods"}
    watch = PodWatch(kube, NS, "execution-id=rbq1").start()
    eventually(lambda: len(watch.errors) >= 1)
    assert watch.stop() == ()
    (message,) = watch.errors  # the thread's and stop()'s list: the same message, kept once
    assert clean(message).startswith(
        "forbidden to list pods execution-id=rbq1 in namespace flytesnacks-development in context standin: "
    )


def test_a_log_that_vanished_is_a_one_line_error(standin: KubeStandin, kube: Kube) -> None:
    feed = standin.pod_feed
    feed.put_pod(pod_object(NS, "rbq1-n0-0", labels=RUN))
    pods = PodWatch(kube, NS, "execution-id=rbq1").start().stop()
    feed.delete_pod(NS, "rbq1-n0-0")  # after the watch stopped: not known as deleted
    with pytest.raises(ClusterError) as caught:
        read_stamps(kube, pods)
    assert clean(caught.value) == (
        "cannot read the log of pod rbq1-n0-0 (container main) in namespace flytesnacks-development: "
        'pods "rbq1-n0-0" not found'
    )
