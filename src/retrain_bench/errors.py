"""The one error type users see.

``BenchError`` carries a one-line message that says what is wrong and how to fix it. The CLI
catches it once in ``main`` (exit 2); inside pytest, option errors become ``pytest.UsageError``.

Subclasses exist only where a caller reacts differently:

- ``ProfileError``: a metric profile file is unusable (names the file and the entry).
- ``PrometheusError``: Prometheus could not give an answer; the plugin turns it into null
  figures with the message as the reason. ``PrometheusUnavailable`` (no connection, TLS, timeout,
  not a Prometheus API) and ``PrometheusQueryError`` (the server rejected a query: a profile bug).

- ``OutputFailed``: a result could not be written (a full disk): exit 1, not the bad-input 2.

No message ever contains credentials: URLs go through ``redact_url`` first, and every message goes
through ``retrain_bench.redaction.redact`` when the error is made, so a server's text echoing a
request's ``Authorization`` header (or a held password, or its base64) is masked wherever the
message ends up (stderr, pytest's ``ERROR:`` line, a null figure's reason in the JSON).
"""

from typing import Any


class BenchError(Exception):
    """A user error: bad input, an unusable file, an unreachable service."""

    #: the CLI's exit code for it: 2, bad input
    exit_code = 2

    def __init__(self, message: Any = "", *args: object) -> None:
        from retrain_bench.redaction import redact

        super().__init__(redact(str(message)), *args)


class OutputFailed(BenchError):
    """A result could not be written (a full disk, an I/O error): what was there before is left."""

    exit_code = 1


class ProfileError(BenchError):
    """A metric profile that cannot be used."""


class PrometheusError(BenchError):
    """Prometheus gave no usable answer."""


class PrometheusUnavailable(PrometheusError):
    """No connection, a TLS failure, a timeout, or something that is not the Prometheus API."""


class PrometheusQueryError(PrometheusError):
    """Prometheus rejected a query (bad PromQL, bad regex, too many points)."""
