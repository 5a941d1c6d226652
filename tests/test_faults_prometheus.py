"""Issue 26, items 4, 9, 10 and 11: hostile and odd Prometheus servers on 127.0.0.1.

- 4: ``--prometheus-insecure-skip-verify`` is ignored when ``REQUESTS_CA_BUNDLE`` is set (requests'
  environment merge replaces a session's ``verify=False``); the JSON must record what was used.
- 9: a long window needs ``--allow-large``, a long collection says how far it is, and an empty server
  (no series for the namespaces) is found with one index query instead of one query per hour.
- 10: a 200k-deep JSON body, ``--end 1e308``, and doctor's empty ``vector(time())`` are one line.
- 11: samples of ±1e308 give null figures with a reason at collection, never -7.76e297 GiB.

The servers are ``http.server`` on a free loopback port, answering the Prometheus HTTP API's shapes.
"""

from __future__ import annotations

import http.server
import json
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import certifi
import pytest

from retrain_bench.cli.main import main
from retrain_bench.errors import PrometheusError, PrometheusUnavailable
from retrain_bench.measure.promapi import PrometheusApi
from retrain_bench.measure.prometheus import PrometheusSettings, Scope, Window, collect_resources

START, END = 1_000_000.0, 1_000_060.0
SERIES = {"namespace": "ns", "pod": "p-1", "container": "c", "job": "kubelet", "metrics_path": "/metrics/cadvisor"}


class FakePrometheus(http.server.ThreadingHTTPServer):
    """Answers every query with ``answer(path, form)``; counts the requests."""

    def __init__(self, answer: Callable[[str, dict[str, str]], Any]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.requests: list[tuple[str, dict[str, str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FakePrometheus

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        path, _, query = self.path.partition("?")
        form = {k: v[0] for k, v in parse_qs(raw or query).items()}
        self.server.requests.append((path, form))
        body = self.server.answer(path, form)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _reply

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[str, dict[str, str]], Any]], FakePrometheus]]:
    started: list[FakePrometheus] = []

    def start(answer: Callable[[str, dict[str, str]], Any]) -> FakePrometheus:
        server = FakePrometheus(answer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def ok(data: Any) -> dict[str, Any]:
    return {"status": "success", "data": data}


def samples_of(value: Callable[[int], float]) -> Callable[[str, dict[str, str]], Any]:
    """Every range selector answers one container with a sample every 15 s over the read range."""

    def answer(path: str, form: dict[str, str]) -> Any:
        if path == "/api/v1/targets":
            return ok({"activeTargets": []})
        if path == "/api/v1/series":
            return ok([SERIES])
        if form.get("query", "").startswith("count("):
            return ok({"resultType": "vector", "result": []})
        at = int(float(form["time"]))
        points = [[t, repr(value(i))] for i, t in enumerate(range(at - 3600, at + 1, 15))]
        return ok({"resultType": "matrix", "result": [{"metric": SERIES, "values": points}]})

    return answer


def resources(url: str, *extra: str) -> list[str]:
    return ["resources", "--prometheus-url", url, "--prometheus-namespace", "ns", *extra]


# -- 11: values outside physical bounds -----------------------------------------------------------


@pytest.mark.parametrize("value", [1e308, -1e308, -5.0])
def test_samples_outside_physical_bounds_are_null_with_a_reason(
    value: float, serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every other sample ``value``, the others 0: a working set of about ``value / 2`` on average."""
    server = serve(samples_of(lambda i: value if i % 2 else 0.0))
    code = main(resources(server.url, "--start", str(START), "--end", str(END), "--format", "json"))
    captured = capsys.readouterr()
    assert (code, captured.err) == (0, "")
    document = json.loads(captured.out)  # valid JSON: no Infinity, no -7.76e297
    assert document["memory_peak_gib"] is None and document["memory_avg_gib"] is None
    reason = document["missing"]["memory_avg_gib"]
    assert reason.startswith("Prometheus returned memory samples outside physical bounds")
    # The same samples as the CPU counter: no CPU figure either, the peak included (it came to 0.0 before).
    assert [document[k] for k in ("cpu_seconds", "cpu_avg_mcpu", "cpu_peak_mcpu")] == [None, None, None]
    assert document["missing"]["cpu_peak_mcpu"] == (
        "Prometheus returned cpu_counter samples outside physical bounds (negative, not finite or beyond 1e100): "
        "not a measurement"
    )


def test_samples_inside_the_bounds_are_figures(serve: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The check above is not "everything null": a working set of 1 GiB and a counter of 1 s per 15 s."""
    server = serve(samples_of(lambda i: float(1024**3)))
    code = main(resources(server.url, "--start", str(START), "--end", str(END), "--format", "json"))
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["memory_peak_gib"] == 1.0 and document["memory_avg_gib"] == 1.0
    assert document["cpu_seconds"] == 0.0  # a constant counter grew by nothing


# -- 10: one line, not a traceback ----------------------------------------------------------------


def test_a_deeply_nested_answer_is_one_line(serve: Any, capsys: pytest.CaptureFixture[str]) -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    server = serve(lambda path, form: deep)
    code = main(resources(server.url, "--start", str(START), "--end", str(END)))
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "not the Prometheus API; check the URL" in err


@pytest.mark.parametrize("end", ["1e308", "1e300"])
def test_an_end_beyond_the_year_9999_is_one_line(end: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(resources("http://127.0.0.1:9", "--start", "0", "--end", end))
    assert code == 2
    assert capsys.readouterr().err == (
        f"retrain-bench: error: --end: {end!r} is after the year 9999; give unix seconds or ISO-8601 with a zone\n"
    )


def test_doctor_skew_on_an_empty_time_vector_is_a_fail_line() -> None:
    from retrain_bench.cli.doctor import _skew

    class Empty:
        def query(self, query: str, time: float | None) -> Any:
            from retrain_bench.measure.promapi import Answer

            return Answer(())

    check = _skew(Empty(), lambda: 0.0)  # type: ignore[arg-type]
    assert check.ok is False
    assert "vector(time()) came back empty" in str(check)


# -- 9: bounded window, progress, an empty server ---------------------------------------------------


def test_a_window_longer_than_a_week_needs_allow_large(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(resources("http://127.0.0.1:9", "--start", "0", "--end", "864000"))
    assert code == 2
    assert capsys.readouterr().err == (
        "retrain-bench: error: the window is 10 days long, above the limit of 7 days (one query per hour of it "
        "per metric, every sample held in memory); narrow --start/--end, or pass --allow-large to read it anyway "
        "(docs/reliability.md)\n"
    )


def test_an_empty_server_is_found_with_one_query(serve: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """30 days (--allow-large) against a server with no series: 720 hour-long chunks per metric before."""
    server = serve(
        lambda path, form: ok([]) if path == "/api/v1/series" else ok({"resultType": "matrix", "result": []})
    )
    code = main(resources(server.url, "--start", "0", "--end", str(30 * 86400), "--allow-large", "--format", "json"))
    captured = capsys.readouterr()
    assert code == 0
    assert [path for path, _ in server.requests] == ["/api/v1/series"]
    assert server.requests[0][1]["match[]"] == '{namespace="ns"}'
    document = json.loads(captured.out)
    assert document["memory_avg_gib"] is None
    assert document["missing"]["memory_avg_gib"] == "Prometheus has no series for namespace(s) ns in the window"


def test_a_long_collection_reports_progress(serve: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Two days: 49 hour-long queries per metric (the margins make the 49th); a line every 4th."""
    server = serve(samples_of(lambda i: 1.0))
    code = main(resources(server.url, "--start", "0", "--end", str(2 * 86400), "--format", "json"))
    err = capsys.readouterr().err
    assert code == 0
    lines = err.splitlines()
    assert "[resources] memory: query 4 of 49 (one per 3600 s)" in lines
    assert "[resources] cpu_counter: query 48 of 49 (one per 3600 s)" in lines
    assert len(lines) == 2 * 12


# -- 4: --prometheus-insecure-skip-verify wins over REQUESTS_CA_BUNDLE ----------------------------


@pytest.fixture(scope="module")
def https_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prometheus-shaped HTTPS server with a self-signed certificate nobody trusts."""
    where = tmp_path_factory.mktemp("tls")
    key, cert = where / "key.pem", where / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    server = FakePrometheus(lambda path, form: ok({"version": "2.45.0"}))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_skip_verify_wins_over_a_ca_bundle_in_the_environment(
    variable: str, https_prometheus: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, certifi.where())  # a real bundle, without this server's certificate
    with PrometheusApi(https_prometheus, verify_tls=False) as api:
        assert api.get("/api/v1/status/buildinfo") == {"version": "2.45.0"}
    settings = PrometheusSettings(https_prometheus, verify_tls=False)
    assert (settings.run_level()["tls_verify"], settings.run_level()["tls_ca"]) == (False, None)


def test_verification_uses_the_environments_bundle_and_says_so(
    https_prometheus: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    with PrometheusApi(https_prometheus) as api, pytest.raises(PrometheusUnavailable, match="TLS to Prometheus"):
        api.get("/api/v1/status/buildinfo")
    level = PrometheusSettings(https_prometheus).run_level()
    assert level["tls_verify"] is True
    assert level["tls_ca"] == f"{certifi.where()} (from REQUESTS_CA_BUNDLE)"


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_collection_through_the_collector_honours_skip_verify(
    https_prometheus: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The collector's path (what the plugin and ``resources`` use), not only the API object."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    settings = PrometheusSettings(https_prometheus, verify_tls=False, scrape_interval_s=15)
    # The fake answers buildinfo's shape to every query, not a matrix: refused as such, after TLS was
    # accepted, which is what this checks (before: "TLS to Prometheus at ... failed").
    with pytest.raises(PrometheusError, match="returned a None result where a 'matrix' was expected"):
        collect_resources(settings, Window(START, END), Scope(("ns",)))
