"""The one error type users see.

``BenchError`` carries a one-line message that says what is wrong and how to fix it. The CLI
catches it once in ``main`` (exit 2); inside pytest, option errors become ``pytest.UsageError``.

Subclasses exist only where a caller reacts differently:

- ``ProfileError``: a metric profile file is unusable (names the file and the entry).
- ``PrometheusError``: Prometheus could not give an answer; the plugin turns it into null
  figures with the message as the reason. ``PrometheusUnavailable`` (no connection, TLS, timeout,
  not a Prometheus API) and ``PrometheusQueryError`` (the server rejected a query: a profile bug).

No message ever contains credentials: URLs go through ``redact_url`` first.
"""


class BenchError(Exception):
    """A user error: bad input, an unusable file, an unreachable service."""


class ProfileError(BenchError):
    """A metric profile that cannot be used."""


class PrometheusError(BenchError):
    """Prometheus gave no usable answer."""


class PrometheusUnavailable(PrometheusError):
    """No connection, a TLS failure, a timeout, or something that is not the Prometheus API."""


class PrometheusQueryError(PrometheusError):
    """Prometheus rejected a query (bad PromQL, bad regex, too many points)."""
