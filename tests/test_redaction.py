"""Redaction of URLs with credentials (issue 16, item 9): every character a password can hold.

An unencoded '#' or '?' in the password made ``http://u:s3cr#et@h/`` print ``u:s3cr``. URLs are now
split with ``urllib.parse.urlsplit``, and one whose split is ambiguous is neither shown nor used.
"""

from __future__ import annotations

import hypothesis
import hypothesis.strategies as st
import pytest

from retrain_bench.errors import BenchError
from retrain_bench.measure.promapi import UNSHOWN_URL, parse_url, redact_url
from retrain_bench.measure.prometheus import PrometheusSettings

SKELETON = "https://bob:{}@prom.internal:9090/api"
SHOWN = "https://***@prom.internal:9090/api"


@hypothesis.settings(max_examples=500, deadline=None)
@hypothesis.given(password=st.text(min_size=1))
def test_no_part_of_a_password_is_ever_shown(password: str) -> None:
    """Whatever the password holds (unencoded '#', '?', '/', '@', brackets, controls, any Unicode), the shown
    URL is the skeleton with ``***`` or nothing at all; never a character of the password."""
    url = SKELETON.format(password)
    shown = redact_url(url)
    assert shown in (SHOWN, UNSHOWN_URL)
    if any(c in password for c in "/?#"):
        assert shown == UNSHOWN_URL
    try:
        base, auth = parse_url(url)
    except BenchError as exc:
        message = str(exc)
        assert (
            message
            == (
                "the Prometheus URL cannot be parsed unambiguously: an '@' follows a '/', '?' or '#' (or a bracket is "
                "unbalanced), so part of the password may read as the host; percent-encode those characters in the "
                "password (/ %2F, ? %3F, # %23, @ %40, [ %5B, ] %5D)"
            )
            or message == f"Prometheus URL {SHOWN!r} cannot be parsed"
        )
        return
    assert shown == SHOWN
    assert base == "https://prom.internal:9090/api"
    assert auth is not None and auth[0] == "bob"


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(password=st.text(min_size=1))
def test_a_percent_encoded_password_is_accepted_and_sent_as_typed(password: str) -> None:
    from urllib.parse import quote

    url = SKELETON.format(quote(password, safe=""))
    assert redact_url(url) == SHOWN
    assert parse_url(url) == ("https://prom.internal:9090/api", ("bob", password))


def test_the_reported_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(BenchError) as exc:
        PrometheusSettings("http://u:s3cr#et@h/")
    assert "s3cr" not in str(exc.value) and "et@h" not in str(exc.value)
    assert str(exc.value).startswith("the Prometheus URL cannot be parsed unambiguously:")
    assert redact_url("http://u:s3cr#et@h/") == UNSHOWN_URL
