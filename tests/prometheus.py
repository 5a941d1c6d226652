"""A real Prometheus for tests: planted data, a free loopback port, default query flags.

Data goes in two ways (promtool's ``tsdb create-blocks-from openmetrics`` and Prometheus's
``/api/v1/write`` receiver, enabled with ``--web.enable-remote-write-receiver``):

- ``backfill``: OpenMetrics text through ``promtool tsdb create-blocks-from openmetrics`` before
  the server starts. Text cannot carry staleness markers, which is what cAdvisor data looks like
  too (its samples carry timestamps, so Prometheus writes no markers for them).
- ``remote_write``: a hand-encoded protobuf ``WriteRequest`` in a literal-only snappy block,
  pushed to ``/api/v1/write`` while the server runs, with explicit staleness markers after a
  series ends, as a scrape of a vanished target would write.

The server keeps the default ``--query.lookback-delta`` (5m): the collector must be right on it.
Without the binaries the tests skip; with ``BENCH_REQUIRE_PROMETHEUS=1`` they fail instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import pytest
import requests

#: A fixed, minute-aligned origin so every value is known: 2024-01-01T00:00:00Z.
T0 = 1704067200
MIB = 1024**2
GIB = 1024**3
#: The labels kube-prometheus-stack's kubelet ServiceMonitor puts on cAdvisor series.
CADVISOR_JOB = {"job": "kubelet", "metrics_path": "/metrics/cadvisor"}
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


def binaries() -> tuple[str, str]:
    """Paths of prometheus and promtool; skip (or fail under BENCH_REQUIRE_PROMETHEUS=1) without them."""
    found = shutil.which("prometheus"), shutil.which("promtool")
    if None in found:
        reason = "needs the prometheus and promtool binaries (apt-get install --no-install-recommends prometheus)"
        if os.environ.get("BENCH_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(f"BENCH_REQUIRE_PROMETHEUS=1 but the test {reason}", pytrace=False)
        pytest.skip(reason)
    return found[0] or "", found[1] or ""


def free_port() -> int:
    """A loopback port nobody listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass(frozen=True)
class Series:
    """One planted series: name, labels, and (unix seconds, value) samples in time order."""

    name: str
    labels: Mapping[str, str]
    samples: tuple[tuple[float, float], ...]
    counter: bool = False
    #: Push a staleness marker one spacing after the last sample (remote write only).
    ends: bool = False


def container(
    namespace: str,
    pod: str,
    name: str,
    *,
    times: Iterable[float],
    cpu: Callable[[float], float],
    memory: float | Callable[[float], float],
    ends: bool = False,
    origin: float = T0,
    job: Mapping[str, str] = CADVISOR_JOB,
) -> list[Series]:
    """The two cAdvisor series of one container: CPU counter and working set, from functions of t.

    ``job`` is the scrape job's labels, kube-prometheus-stack's kubelet cAdvisor endpoint unless given.
    """
    offsets = list(times)
    labels = {"namespace": namespace, "pod": pod, "container": name, **job}
    memory_at = memory if callable(memory) else (lambda t: memory)
    return [
        Series(
            "container_cpu_usage_seconds_total",
            labels,
            tuple((origin + t, float(cpu(t))) for t in offsets),
            counter=True,
            ends=ends,
        ),
        Series(
            "container_memory_working_set_bytes",
            labels,
            tuple((origin + t, float(memory_at(t))) for t in offsets),
            ends=ends,
        ),
    ]


def openmetrics(series: Iterable[Series]) -> str:
    """OpenMetrics text promtool accepts: families contiguous, seconds, no blank lines, # EOF."""
    families: dict[str, list[Series]] = {}
    for one in series:
        families.setdefault(one.name, []).append(one)
    lines = []
    for name, members in families.items():
        family, kind = (name.removesuffix("_total"), "counter") if members[0].counter else (name, "gauge")
        lines.append(f"# TYPE {family} {kind}")
        for one in members:
            labels = ",".join(f'{k}="{_om_escape(v)}"' for k, v in sorted(one.labels.items()))
            lines.extend(f"{name}{{{labels}}} {v!r} {t!r}" for t, v in one.samples)
    return "\n".join(lines) + "\n# EOF\n"


def _om_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def backfill(promtool: str, series: Iterable[Series], data_dir: Path) -> None:
    """Write ``series`` as TSDB blocks into ``data_dir`` (before the server starts)."""
    source = data_dir.parent / "backfill.om"
    source.write_text(openmetrics(series))
    done = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"promtool backfill failed: {done.stderr or done.stdout}")


@contextlib.contextmanager
def running_prometheus(workdir: Path, backfilled: Iterable[Series] = (), scrape_configs: str = "") -> Iterator[str]:
    """A Prometheus on a free loopback port with ``backfilled`` data; yields its URL, stops it after.

    ``scrape_configs`` is YAML for the configuration's ``scrape_configs`` (none by default: only
    planted data), e.g. jobs whose targets do not answer, for what /api/v1/targets reports.
    """
    prometheus, promtool = binaries()
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True)
    backfilled = list(backfilled)
    if backfilled:
        backfill(promtool, backfilled, data_dir)
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 5s\n" + (f"scrape_configs:\n{scrape_configs}" if scrape_configs else "")
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=100y",
            "--web.enable-remote-write-receiver",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(url, process, workdir / "prometheus.log")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.02)
    raise RuntimeError(f"prometheus not ready after 15 s:\n{log.read_text()[-2000:]}")


def remote_write(url: str, series: Iterable[Series], spacing: float) -> None:
    """Push ``series`` through the remote-write receiver, with a staleness marker where one ends."""
    timeseries = []
    for one in series:
        samples = list(one.samples)
        if one.ends:
            # A scrape writes the marker at the first scrape that misses the series: one own spacing on.
            own = samples[-1][0] - samples[-2][0] if len(samples) > 1 else spacing
            samples.append((samples[-1][0] + own, STALE_NAN))
        labels = sorted({"__name__": one.name, **one.labels}.items())
        timeseries.append(
            b"".join(_field(1, _field(1, k.encode()) + _field(2, v.encode())) for k, v in labels)
            + b"".join(_field(2, _sample(t, v)) for t, v in samples)
        )
    body = b"".join(_field(1, ts) for ts in timeseries)
    response = requests.post(
        f"{url}/api/v1/write",
        data=_snappy_literal(body),
        headers={
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
        },
        timeout=10,
    )
    assert response.status_code == 204, response.text


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _sample(time_s: float, value: float) -> bytes:
    """A ``Sample``: double value (field 1, fixed64), int64 milliseconds (field 2, varint)."""
    return b"\x09" + struct.pack("<d", value) + b"\x10" + _varint(round(time_s * 1000))


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _snappy_literal(data: bytes) -> bytes:
    """A valid snappy block made only of literals: uncompressed, no library needed."""
    out = bytearray(_varint(len(data)))
    for i in range(0, len(data), 65536):
        chunk = data[i : i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + n.to_bytes(2, "little")
        out += chunk
    return bytes(out)


# The planted data. Offsets from T0 in seconds, one sample every SPACING s, 0…300 unless noted;
# CPU counters in seconds, working sets in MiB. Tests measure the window [62, 242]: its steps
# fall 2 s after the samples, so no result depends on whether a range's left edge is inclusive
# (Prometheus 2.x) or not (3.x).
#
# namespace "bench", run "ab":
#   ab-n0-0  main         cpu 0.5·t                          100 MiB
#   ab-n0-0  ""           cpu 0.75·t (pod cgroup: excluded)    1 GiB
#   ab-n0-0  POD          cpu 0.125·t (pause: excluded)       64 MiB
#   ab-n1-0  main  100…180  cpu (t−100)+2 (born in the window)  200 MiB, 300 MiB at t=150
#   ab-n2-0  main         cpu 0.25·t, reset at t=150 to 0.25·(t−145)   50 MiB
#   abc-1, xab-n0-0       decoys an unanchored "ab" or "ab-" would match
# namespace "other": ab-n0-0 again (must never leak into "bench")
# namespace "escapes": r.n+1-0 (run "r.n+1"), q"uo\te (1)-0, and decoys matching them unescaped
# namespace "bench-rw": the run "ab" pods again, from T1, remote-written with staleness markers
# (the head only takes samples newer than the backfilled blocks)
SPACING = 5
T1 = T0 + 3600
ALL = range(0, 301, SPACING)


def run_ab(namespace: str, origin: float = T0) -> list[Series]:
    return [
        *container(namespace, "ab-n0-0", "main", times=ALL, cpu=lambda t: 0.5 * t, memory=100 * MIB, origin=origin),
        *container(namespace, "ab-n0-0", "", times=ALL, cpu=lambda t: 0.75 * t, memory=GIB, origin=origin),
        *container(namespace, "ab-n0-0", "POD", times=ALL, cpu=lambda t: 0.125 * t, memory=64 * MIB, origin=origin),
        *container(
            namespace,
            "ab-n1-0",
            "main",
            times=range(100, 181, SPACING),
            cpu=lambda t: t - 100 + 2,
            memory=lambda t: (300 if t == 150 else 200) * MIB,
            ends=True,
            origin=origin,
        ),
        *container(
            namespace,
            "ab-n2-0",
            "main",
            times=ALL,
            cpu=lambda t: 0.25 * t if t < 150 else 0.25 * (t - 145),
            memory=50 * MIB,
            origin=origin,
        ),
    ]


def planted() -> list[Series]:
    return [
        *run_ab("bench"),
        *container("bench", "abc-1", "main", times=ALL, cpu=lambda t: 4 * t, memory=GIB),
        *container("bench", "xab-n0-0", "main", times=ALL, cpu=lambda t: 2 * t, memory=2 * GIB),
        *container("other", "ab-n0-0", "main", times=ALL, cpu=lambda t: 8 * t, memory=4 * GIB),
        *container("escapes", "r.n+1-0", "main", times=ALL, cpu=lambda t: 0.5 * t, memory=10 * MIB),
        *container("escapes", "rxnn1-0", "main", times=ALL, cpu=lambda t: 3 * t, memory=GIB),
        *container("escapes", 'q"uo\\te (1)-0', "main", times=ALL, cpu=lambda t: 0.25 * t, memory=20 * MIB),
        *container("escapes", 'q"uo\\te (1)-00', "main", times=ALL, cpu=lambda t: 8 * t, memory=3 * GIB),
    ]


# The issue-11 cases, planted twice: backfilled at T0 + CASES (no staleness markers) into
# namespaces "<case>", and remote-written at T1 + CASES (a staleness marker one spacing after each
# finished container) into "<case>-rw". Offsets below are from that origin. A counter starts at 0
# on a container's first sample and grows at its rate; a container truly ends half a spacing after
# its last sample (its expected end, samples falling at a random moment of its last spacing).
#
# "chain": four pods one after another on one kubelet (10 s), never two at once (KFP's shape):
#   chain-driver-0  0…20   128 MiB  0.25 core | chain-exec-1  30…90   768 MiB  1 core
#   chain-exec-2  100…150  512 MiB  0.5 core  | chain-exec-3  160…200  256 MiB  0.5 core
# "late": late-long-0 0…600 (10 s) 256 MiB 0.5 core; late-short-1 200…400 (10 s) 512 MiB 1 core
# "spike": spike-slow-0 every 30 s over 0…600, 1 GiB; spike-fast-0 every 5 s, 256 MiB but 768 MiB
#   in its samples at 320 and 325 (a 10 s spike between two 30 s samples of the other)
# "dup": dup-0 512 MiB 0.5 core, exported by the kubelet's /metrics/cadvisor AND /metrics/resource
CASES = 1000
RESOURCE_JOB = {"job": "kubelet", "metrics_path": "/metrics/resource"}


def _pod(
    ns: str, pod: str, first: int, last: int, every: int, mib: float | Callable[[float], float], cores: float,
    origin: float, ends: bool, job: Mapping[str, str] = CADVISOR_JOB,
) -> list[Series]:  # fmt: skip
    memory = (lambda t: mib(t) * MIB) if callable(mib) else mib * MIB
    return container(
        ns, pod, "main", times=range(first, last + 1, every), cpu=lambda t: cores * (t - first),
        memory=memory, ends=ends, origin=origin, job=job,
    )  # fmt: skip


def cases(suffix: str, origin: float, ends: bool) -> list[Series]:
    o = origin + CASES
    chain, late, spike, dup = (f"{name}{suffix}" for name in ("chain", "late", "spike", "dup"))
    return [
        *_pod(chain, "chain-driver-0", 0, 20, 10, 128, 0.25, o, ends),
        *_pod(chain, "chain-exec-1", 30, 90, 10, 768, 1.0, o, ends),
        *_pod(chain, "chain-exec-2", 100, 150, 10, 512, 0.5, o, ends),
        *_pod(chain, "chain-exec-3", 160, 200, 10, 256, 0.5, o, ends),
        *_pod(late, "late-long-0", 0, 600, 10, 256, 0.5, o, ends),
        *_pod(late, "late-short-1", 200, 400, 10, 512, 1.0, o, ends),
        *_pod(spike, "spike-slow-0", 0, 600, 30, 1024, 0.5, o, ends),
        *_pod(spike, "spike-fast-0", 0, 600, 5, lambda t: 768 if t in (320, 325) else 256, 0.25, o, ends),
        *_pod(dup, "dup-0", 0, 600, 10, 512, 0.5, o, ends),
        *_pod(dup, "dup-0", 0, 600, 10, 512, 0.5, o, ends, job=RESOURCE_JOB),
    ]


@pytest.fixture(scope="session")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running Prometheus (default flags) holding ``planted()``, "bench-rw" and both copies of ``cases``; its URL."""
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), [*planted(), *cases("", T0, False)]) as url:
        remote_write(url, [*run_ab("bench-rw", T1), *cases("-rw", T1, True)], SPACING)
        yield url
