"""A preflight check's verdict: what ``retrain-bench doctor`` prints, one line per check.

Here rather than in the command, because the platforms (their API checks) and the cluster layer
produce checks and sit below the CLI.
"""

from __future__ import annotations

import dataclasses

from retrain_bench.redaction import redact


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        """One line, redacted: a detail may quote a server that echoed the request's headers."""
        status = "PASS" if self.ok else "FAIL"
        text = f"{status}  {self.name}: {self.detail}"
        return redact(f"{text} -> {self.fix}" if self.fix and not self.ok else text)
