"""Issue 26, item 2: a server's text echoing the request's credentials never reaches a message.

An API server or a Prometheus whose error body echoes the request headers put ``Authorization: Basic
<base64 of user:password>`` into ``resources``' error line (and the JSON's reasons). The hostile
server here is a real HTTP server on 127.0.0.1 that answers every request with its own headers.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from urllib.parse import quote

import hypothesis
import hypothesis.strategies as st
import pytest

from retrain_bench.cli.main import main
from retrain_bench.errors import BenchError, PrometheusError
from retrain_bench.measure.promapi import PrometheusApi

# Printable, no whitespace (a header value cannot hold a newline), long enough to be scrubbed by value.
SECRET = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="\\"), min_size=8, max_size=40
)


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers every request with an error whose body holds the request's headers, as some proxies do."""

    style = "json"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        headers = str(self.headers)  # "Name: value" lines, the way a proxy echoes them
        if self.style == "json":
            body = json.dumps({"status": "error", "errorType": "bad_data", "error": f"request was:\n{headers}"})
            self.send_response(400)
        else:
            body = f"<html>upstream said no; your request:<pre>{headers}</pre></html>"
            self.send_response(502)
        data = body.encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def echo() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    _forget_all()
    yield
    _forget_all()


def _forget_all() -> None:
    # Imported here so that, on a tree without the module, every test still runs and fails on its own.
    try:
        from retrain_bench import redaction
    except ImportError:
        return
    redaction.forget_all()


def _forms(user: str, password: str) -> list[str]:
    pair = f"{user}:{password}".encode()
    return [password, base64.b64encode(pair).decode(), quote(password, safe="")]


def test_the_echo_server_really_echoes_the_basic_auth_header(echo: http.server.ThreadingHTTPServer) -> None:
    """Without this the tests below would pass against a server that echoes nothing."""
    import requests

    port = echo.server_address[1]
    text = requests.post(f"http://127.0.0.1:{port}/api/v1/query", auth=("bob", "hunter2-secret"), timeout=5).text
    assert base64.b64encode(b"bob:hunter2-secret").decode() in text


@hypothesis.settings(
    max_examples=40, deadline=None, suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture]
)
@hypothesis.given(password=SECRET, style=st.sampled_from(["json", "html"]))
def test_resources_error_line_holds_no_credential_when_prometheus_echoes_headers(
    password: str, style: str, echo: http.server.ThreadingHTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _Echo.style = style
    port = echo.server_address[1]
    url = f"http://bob:{quote(password, safe='')}@127.0.0.1:{port}"
    code = main(
        ["resources", "--prometheus-url", url, "--prometheus-namespace", "ns", "--start", "1000", "--end", "1060"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("retrain-bench: error: ") and err.count("\n") == 1
    assert "Authorization: ***" in err if style == "json" else "***" in err  # the header was there, masked
    for form in _forms("bob", password):
        assert form not in err


# What a header value's credential is made of: token68 (RFC 7235: letters, digits, -._~+/ and trailing =)
# and a cookie's value characters (RFC 6265: no quote, comma, semicolon, backslash or space).
TOKEN = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\,;'),
    min_size=8,
    max_size=40,
)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(
    token=TOKEN,
    header=st.sampled_from(
        [
            "Authorization",
            "authorization",
            "Proxy-Authorization",
            "Cookie",
            "Set-Cookie",
            "X-Auth-Token",
            "x-api-key",
            "X-Vault-Token",
            "X-CSRF-Token",
        ]
    ),
    scheme=st.sampled_from(["Bearer ", "Basic ", "Token ", "Digest ", ""]),
    form=st.sampled_from(["http", "json", "repr", "inline"]),
)
def test_every_auth_header_kind_is_masked_in_every_echo_form(token: str, header: str, scheme: str, form: str) -> None:
    """Not held by the process: an echoed header's value is masked by the header rule alone."""
    surroundings = "Prometheus at http://h answered HTTP 401: Host: h Accept: */* upstream rejected the request"
    hypothesis.assume(token not in surroundings + " " + header)  # the token must be findable only as the token
    value = f"{scheme}{token}"
    echoed = {
        "http": f"Host: h\r\n{header}: {value}\r\nAccept: */*\r\n",
        "json": json.dumps({"Host": "h", header: value, "Accept": "*/*"}),
        "repr": repr({"Host": "h", header: value, "Accept": "*/*"}),
        "inline": f"upstream rejected the request ({header}={value})",
    }[form]
    shown = str(BenchError(f"Prometheus at http://h answered HTTP 401: {echoed}"))
    assert token not in shown
    assert shown.startswith("Prometheus at http://h answered HTTP 401: ")


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(user=st.text(min_size=1, max_size=12).filter(lambda u: ":" not in u), password=SECRET)
def test_held_credentials_are_masked_in_their_echoed_forms(user: str, password: str) -> None:
    from retrain_bench import redaction

    redaction.hold(password, user=user)
    pair = f"{user}:{password}".encode()
    for echoed in (
        password,
        base64.b64encode(pair).decode(),
        base64.urlsafe_b64encode(pair).decode().rstrip("="),
        quote(password, safe=""),
    ):
        shown = str(BenchError(f"the server said: {echoed} (no header name)"))
        assert echoed not in shown, shown


def test_a_token_in_the_environment_is_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "s3cr3t-t0ken-value")
    assert str(BenchError("echo: s3cr3t-t0ken-value")) == "echo: ***"


def test_ordinary_messages_are_left_alone() -> None:
    text = "--platform: unknown 'x'; choose from bare, flyte (basic auth is given in the URL; token files too)"
    assert str(BenchError(text)) == text


def test_a_prometheus_error_carries_no_credential(echo: http.server.ThreadingHTTPServer) -> None:
    """What the plugin records as a null figure's reason is ``str(PrometheusError)``."""
    _Echo.style = "json"
    port = echo.server_address[1]
    with PrometheusApi(f"http://alice:pa55w0rd-long@127.0.0.1:{port}") as api, pytest.raises(PrometheusError) as caught:
        api.query("up", 1000.0)
    message = str(caught.value)
    assert "rejected the query (bad_data: request was:" in message
    assert "pa55w0rd-long" not in message and base64.b64encode(b"alice:pa55w0rd-long").decode() not in message


def test_a_doctor_line_quoting_an_api_server_holds_no_token() -> None:
    """doctor prints ``Check.line()``; a detail may be the API server's own text, not a BenchError."""
    from retrain_bench.checks import Check

    detail = 'HTTP 401 from https://k8s:6443: {"kind":"Status","message":"authorization: Bearer eyJhbGciOi.x.y"}'
    line = Check("API server", False, detail, "check the kubeconfig's token").line()
    assert "eyJhbGciOi" not in line
    assert line.startswith("FAIL  API server: HTTP 401 from https://k8s:6443: ") and line.endswith("token")


def test_the_user_name_and_secret_paths_are_not_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    from retrain_bench import redaction

    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/ssh-agent.sock")
    redaction.hold("a-long-password", user="prometheus")
    text = "Prometheus at http://***@prometheus.monitoring:9090 (socket /tmp/ssh-agent.sock)"
    assert str(BenchError(text)) == text
