"""The Prometheus HTTP API, as much as the collector needs: form-POSTed queries, clean errors.

Why not prometheus-api-client's ``custom_query_range(...)`` with ``method="POST"``: in 0.7.2 it
still sends the query in the URL (the body stays empty), so long pod lists hit URL limits just as
with GET; it rounds start and end to whole seconds, which shifts the step grid; its default retry
sleeps for seconds on a closed port; and its errors carry the raw response. Here the query goes
in an ``application/x-www-form-urlencoded`` body, as the Prometheus API documents for POST.

Credentials in the URL (``https://user:pass@host``) are taken out once and sent as basic auth,
so the URL requests sees, and every message built from it, holds none; ``redact_url`` is the
one way a URL gets into a message or a detail.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from retrain_bench.errors import BenchError, PrometheusQueryError, PrometheusUnavailable
from retrain_bench.redaction import hold, redact

_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\"()\]]+)")
_SSL = re.compile(r"\[SSL: [A-Z_]+\] ([^(]+?) \(")


#: What a URL that cannot be split unambiguously is shown as: any part of it might be the password.
UNSHOWN_URL = "<URL not shown: it cannot be parsed unambiguously>"
#: Why such a URL is refused, without echoing it.
AMBIGUOUS_URL = (
    "cannot be parsed unambiguously: an '@' follows a '/', '?' or '#' (or a bracket is unbalanced), so part "
    "of the password may read as the host; percent-encode those characters in the password (/ %2F, ? %3F, "
    "# %23, @ %40, [ %5B, ] %5D)"
)


def _split(url: str) -> SplitResult | None:
    """``urlsplit`` of ``url`` (a URL without a scheme read as an authority), or None when the split is
    ambiguous: an '@' left in the path, query or fragment means the userinfo may have held a '/', '?'
    or '#' and been cut there (``http://u:s3cr#et@h/`` splits at the '#')."""
    text = url.strip()
    try:
        parts = urlsplit(text if "://" in text else f"//{text}")
    except ValueError:  # an unbalanced '[' or ']', e.g. in a password
        return None
    if "@" in parts.path + parts.query + parts.fragment:
        return None
    return parts


def redact_url(url: str) -> str:
    """``url`` safe for messages and JSON: user, password, query string and fragment become ``***``;
    a URL that cannot be split unambiguously is not shown at all (``UNSHOWN_URL``)."""
    parts = _split(url)
    if parts is None:
        return UNSHOWN_URL
    _, at, host = parts.netloc.rpartition("@")
    shown = f"{parts.scheme}://" if parts.scheme else ""
    shown += ("***@" if at else "") + host + parts.path
    if parts.query or "?" in url:
        return shown + "?***"
    if parts.fragment or "#" in url:
        return shown + "#***"
    return shown


@dataclasses.dataclass(frozen=True)
class Series:
    """One series of a query result: its labels and its (unix seconds, value) points."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


@dataclasses.dataclass(frozen=True)
class Answer:
    """A query's series plus any warnings the server attached."""

    series: tuple[Series, ...]
    warnings: tuple[str, ...] = ()


class PrometheusApi:
    """A session to one Prometheus. TLS is verified unless ``verify_tls`` is False."""

    def __init__(self, url: str, *, verify_tls: bool = True, timeout_s: float = 30.0, retries: int = 2) -> None:
        # requests is imported here and in _post, not at module load: the plugin imports this module (start-up cost).
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        self.base_url, auth = parse_url(url)
        self.redacted_url = redact_url(url)
        if auth is not None:
            # Held for the process's one redaction: a server echoing the basic-auth header (base64 of
            # user:password) or the password itself into an error never gets them into a message.
            hold(auth[1], user=auth[0])
        self._timeout = (min(5.0, timeout_s), timeout_s)
        self._session = requests.Session()
        self._session.auth = auth
        #: what each request's ``verify`` is: passed explicitly, because requests' environment merge
        #: (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) replaces a session's ``verify=False`` with the
        #: bundle, while an explicit per-request ``False`` wins over it
        self._verify = verify_setting(verify_tls)
        # Retry only what cannot have reached the server: a refused or failed connection.
        retry = Retry(total=retries, connect=retries, read=0, status=0, other=0, backoff_factor=0.1)
        self._session.mount("http://", HTTPAdapter(max_retries=retry))
        self._session.mount("https://", HTTPAdapter(max_retries=retry))

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> PrometheusApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query_range(self, query: str, start: float, end: float, step: float) -> Answer:
        """A range query; points at ``start + k × step`` up to ``end``."""
        form = {"query": query, "start": _num(start), "end": _num(end), "step": _num(step)}
        return _series(self._post("/api/v1/query_range", form), "matrix")

    def query(self, query: str, time: float | None) -> Answer:
        """An instant query at ``time`` (None: the server's own now); each series has one point."""
        form = {"query": query} if time is None else {"query": query, "time": _num(time)}
        return _series(self._post("/api/v1/query", form), "vector")

    def samples(self, query: str, time: float) -> Answer:
        """An instant query returning a range vector (``metric[5m]``, a subquery): raw samples per series."""
        return _series(self._post("/api/v1/query", {"query": query, "time": _num(time)}), "matrix")

    def has_series(self, match: str, start: float, end: float) -> bool:
        """Whether any series matching the selector ``match`` has samples in [start, end]: the series
        API reads only the index, so this is cheap however long the range."""
        body = self._post("/api/v1/series", {"match[]": match, "start": _num(start), "end": _num(end)})
        return bool(body.get("data"))

    def get(self, path: str) -> dict[str, Any]:
        """A GET of the API (``/api/v1/status/buildinfo``, ``/api/v1/status/config``): the body's data."""
        data: dict[str, Any] = self._post(path, None)["data"]
        return data

    def _post(self, path: str, form: Mapping[str, str] | None) -> dict[str, Any]:
        """POST ``form`` to ``path`` (GET when there is no form); the answer's body, checked."""
        import requests

        where = f"Prometheus at {self.redacted_url}"
        try:
            if form is None:
                response = self._session.get(self.base_url + path, timeout=self._timeout, verify=self._verify)
            else:
                response = self._session.post(
                    self.base_url + path, data=form, timeout=self._timeout, verify=self._verify
                )
        except requests.exceptions.SSLError as exc:
            raise PrometheusUnavailable(
                self._scrub(f"TLS to {where} failed ({_reason(exc)}); trust its CA or disable verification")
            ) from None
        except requests.exceptions.Timeout:
            raise PrometheusUnavailable(f"{where} did not answer within {self._timeout[1]:g} s") from None
        except requests.exceptions.RequestException as exc:
            raise PrometheusUnavailable(self._scrub(f"cannot reach {where} ({_reason(exc)})")) from None
        try:
            body = response.json()
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python's stack (a hostile server)
            body = None
        if isinstance(body, dict) and body.get("status") == "error":
            said = _one_line(f"{body.get('errorType', 'error')}: {body.get('error', '?')}")
            message = f"{where} rejected the query ({said})"
            error_type = PrometheusQueryError if response.status_code in (400, 422) else PrometheusUnavailable
            raise error_type(self._scrub(message))
        if response.status_code != 200 or not isinstance(body, dict) or body.get("status") != "success":
            status = _one_line(f"HTTP {response.status_code} {response.reason or ''}")
            raise PrometheusUnavailable(
                self._scrub(f"{where} answered {status} on {path}, not the Prometheus API; check the URL")
            )
        return body

    def _scrub(self, message: str) -> str:
        # Belt and braces: the URL given to requests has no credentials, but a proxy or a server
        # might echo them (or the Authorization header) back; BenchError redacts again when made.
        return redact(message)


def verify_setting(verify_tls: bool) -> bool | str:
    """requests' ``verify`` for a request: False when verification is off (whatever the environment
    says), else the CA bundle the environment names (as requests would use it), else True."""
    if not verify_tls:
        return False
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def tls_description(verify_tls: bool) -> dict[str, Any]:
    """What the JSON records of TLS: whether certificates were verified, and against what."""
    verify = verify_setting(verify_tls)
    if verify is False:
        return {"tls_verify": False, "tls_ca": None}
    if verify is True:
        return {"tls_verify": True, "tls_ca": "certifi's CA bundle (requests' default)"}
    variable = "REQUESTS_CA_BUNDLE" if os.environ.get("REQUESTS_CA_BUNDLE") == verify else "CURL_CA_BUNDLE"
    return {"tls_verify": True, "tls_ca": f"{verify} (from {variable})"}


def parse_url(url: str) -> tuple[str, tuple[str, str] | None]:
    """The base URL without credentials, and the credentials; BenchError for anything but http(s)."""
    shown = redact_url(url)
    if _split(url) is None:
        raise BenchError(f"the Prometheus URL {AMBIGUOUS_URL}")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise BenchError(f"Prometheus URL {shown!r} cannot be parsed") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BenchError(f"Prometheus URL {shown!r} must be http(s)://host[:port][/path]")
    if parts.query or parts.fragment:
        raise BenchError(f"Prometheus URL {shown!r} must not have a query string or fragment")
    auth = None
    if parts.username is not None or parts.password is not None:
        auth = (unquote(parts.username or ""), unquote(parts.password or ""))
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", "")), auth


def _series(body: dict[str, Any], expected: str) -> Answer:
    try:
        return _parsed_series(body, expected)
    except (AttributeError, TypeError, ValueError, IndexError):  # a body shaped like no Prometheus answer
        raise PrometheusUnavailable(
            f"the answer to a {expected} query is not shaped like the Prometheus API's; check the URL"
        ) from None


def _parsed_series(body: dict[str, Any], expected: str) -> Answer:
    data = body.get("data") or {}
    if data.get("resultType") != expected:
        raise PrometheusQueryError(
            f"the query returned a {data.get('resultType')!r} result where a {expected!r} was expected"
        )
    series = []
    for item in data.get("result") or []:
        raw = item.get("values") if expected == "matrix" else [item.get("value")]
        points = tuple((float(t), float(v)) for t, v in raw or [] if math.isfinite(float(v)))
        series.append(Series(dict(item.get("metric") or {}), points))
    return Answer(tuple(series), tuple(redact(str(w)) for w in body.get("warnings") or ()))


#: How much of a server's own text a message quotes: enough for Prometheus's errors, not a whole page.
SERVER_TEXT_CHARS = 500


def _one_line(text: str) -> str:
    """A server's text, redacted (before a cut could leave half a credential), as one line of at most
    ``SERVER_TEXT_CHARS``: messages are one line."""
    folded = " ".join(redact(str(text)).split())
    return folded if len(folded) <= SERVER_TEXT_CHARS else folded[: SERVER_TEXT_CHARS - 1] + "…"


def _num(value: float) -> str:
    # Milliseconds are Prometheus's resolution; repr would send 1704067262.0000002.
    return f"{value:.3f}"


def _reason(exc: BaseException) -> str:
    # requests wraps urllib3 wraps the socket error; its text names host, port and path, never
    # the credentials (they are not in the URL), but the short cause is what a user needs.
    text = str(exc)
    found = _ERRNO.search(text) or _SSL.search(text)
    if found:
        return found.group(1).strip()
    return type(exc).__name__
