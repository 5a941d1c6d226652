"""One redaction for every message that can carry a server's text (docs/reliability.md, "Secrets").

A server's error body may echo the request: an API server or a Prometheus behind a proxy answered
``authorization: Bearer <token>`` or ``Authorization: Basic <base64 of user:password>`` in its error,
and that text went into doctor's FAIL line, pytest's ``ERROR:`` line and the benchmark JSON. So
every ``BenchError`` message passes through ``redact`` when it is made, and ``redact`` removes

- every credential the process holds (``hold``: a URL's user and password, a token) and its forms a
  server may echo: base64 (standard and URL-safe, padded or not) of it and of ``user:password``, and
  its percent-encoding; secrets in the environment (``*TOKEN*``, ``*PASSWORD*``, ``*SECRET*``...) count
  as held;
- the value of any ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie`` and
  ``X-...-Token`` / ``X-...-Key`` header, in the forms an echo takes (``Name: value`` to the end of the
  line or a double quote, ``"name": "value"`` in JSON, ``'name': 'value'`` in a Python repr);
- a credential of 8 characters or more after an HTTP auth scheme (``Bearer``, ``Basic``, ``Digest``,
  ``Negotiate``) wherever it stands.

Secrets shorter than ``MIN_SECRET`` characters are not scrubbed by value (``u`` is in "Prometheus"),
only by the header rules.
"""

from __future__ import annotations

import base64
import os
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote

MASK = "***"
#: A held secret shorter than this is not scrubbed by value: it would mangle ordinary words.
MIN_SECRET = 4
#: Environment variables whose values are credentials the process holds.
_SECRET_VARIABLE = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|CREDENTIAL|AUTH", re.IGNORECASE)

_HEADER = r"(?:proxy-)?authorization|(?:set-)?cookie|x-[a-z0-9_-]*(?:token|key|auth[a-z]*|secret)"
# "Name": "value" / 'Name': 'value' (JSON, a Python dict's repr): the value up to its closing quote.
_QUOTED = re.compile(
    rf"""(?P<head>(?P<q>["'])(?:{_HEADER})(?P=q)\s*[:=,]\s*(?P<q2>["'])).*?(?<!\\)(?P=q2)""",
    re.IGNORECASE | re.DOTALL,
)
# Name: value (an HTTP header block, a log line): the value to the end of its line, or to a double quote
# (the header quoted inside a JSON string); Digest's value holds quotes itself: to the end of its line.
_PLAIN = re.compile(rf"(?P<head>\b(?:{_HEADER})\b\s*[:=]\s*)(?:digest\s[^\r\n]*|[^\r\n\"]+)", re.IGNORECASE)
# A scheme and its credentials anywhere: "Bearer abc.def", "basic dXNlcjpwYXNz".
_SCHEME = re.compile(r"(?P<head>\b(?:bearer|basic|digest|negotiate)\s+)[A-Za-z0-9._~+/=:-]{8,}", re.IGNORECASE)

_lock = threading.Lock()
_held: set[str] = set()


def _forms(secret: str) -> set[str]:
    """The secret and the ways a server may echo it."""
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {secret, quote(secret, safe="")}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode("ascii")
        forms |= {text, text.rstrip("=")}
    return {f for f in forms if len(f) >= MIN_SECRET}


def hold(*secrets: str | None, user: str | None = None) -> None:
    """Remember credentials this process holds, so no message ever shows them. With ``user``, the
    pair ``user:secret`` (what basic auth sends, base64-encoded) is held too; the user name alone is
    not a secret (and masking it would mangle messages: a user ``prometheus``)."""
    found: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        if len(secret) >= MIN_SECRET:
            found |= _forms(secret)
        if user is not None:
            found |= _forms(f"{user}:{secret}")
    with _lock:
        _held.update(found)


def held() -> frozenset[str]:
    """The held secrets (all their forms), the environment's included."""
    environment = {
        value
        for name, value in os.environ.items()
        # A path (SSH_AUTH_SOCK, XAUTHORITY, *_TOKEN_FILE) names where a secret is, and is shown in messages.
        if _SECRET_VARIABLE.search(name) and len(value) >= MIN_SECRET and not value.startswith(("/", "~", "."))
    }
    with _lock:
        found = set(_held)
    for value in environment:
        found |= _forms(value)
    return frozenset(found)


def forget_all() -> None:
    """Drop every held secret (tests)."""
    with _lock:
        _held.clear()


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every held credential (and ``extra``) and every auth header's value masked."""
    if not text:
        return text
    secrets = set(held())
    for secret in extra:
        if secret and len(secret) >= MIN_SECRET:
            secrets |= _forms(secret)
    # Longest first: a secret inside a longer one (a password inside base64 of user:password) must not
    # leave the rest of the longer one behind.
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _QUOTED.sub(lambda m: f"{m['head']}{MASK}{m['q2']}", text)
    text = _PLAIN.sub(lambda m: f"{m['head']}{MASK}", text)
    return _SCHEME.sub(lambda m: f"{m['head']}{MASK}", text)
