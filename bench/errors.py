"""The one error type users see.

``BenchError`` carries a one-line message that says what is wrong and how to fix it. The CLI
catches it once in ``main`` (exit 2); inside pytest, option errors become ``pytest.UsageError``.
"""


class BenchError(Exception):
    """A user error: bad input, an unusable file, an unreachable service."""
