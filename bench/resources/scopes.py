"""Cluster scopes measured through Prometheus over every round's window.

On the local target the user names a scope (``--prometheus-namespace``/``--prometheus-pod-regex``,
e.g. a platform's namespaces on a cluster beside the benchmark) and it is recorded as
``resources.platform``; the cluster target derives its scopes from the platforms themselves.
Prometheus only has a window's data one scrape interval after it ends, so collection waits for
that once per case rather than after every round.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.errors import BenchError, PrometheusError
from bench.resources.profile import load_profile
from bench.resources.prometheus import PrometheusCollector, PrometheusSettings, Scope, Window, unavailable_stats
from bench.rounds import RoundResult


@dataclasses.dataclass(frozen=True)
class PrometheusPlan:
    settings: PrometheusSettings
    scope: Scope

    @classmethod
    def from_options(
        cls,
        *,
        url: str | None,
        namespaces: Sequence[str],
        pod_regex: str | None,
        profile: str | None,
        scrape_interval: Any,
        insecure_skip_verify: bool,
    ) -> PrometheusPlan | None:
        """The validated plan, None without --prometheus-url; BenchError naming the bad option."""
        loaded = load_profile(profile)  # a malformed profile fails at start-up, URL or not
        if not url:
            if namespaces or pod_regex:
                raise BenchError("--prometheus-namespace/--prometheus-pod-regex need --prometheus-url")
            return None
        if not namespaces:
            raise BenchError("--prometheus-url needs at least one --prometheus-namespace to measure")
        try:
            interval = float(scrape_interval)
        except (TypeError, ValueError):
            raise BenchError(f"--scrape-interval: {scrape_interval!r} is not a number of seconds") from None
        settings = PrometheusSettings(
            url=url, scrape_interval_s=interval, profile=loaded, verify_tls=not insecure_skip_verify
        )
        return cls(settings, Scope(tuple(namespaces), pod_regex=pod_regex, name="platform"))

    def run_level(self) -> dict[str, Any]:
        s = self.settings
        return {
            "url": s.redacted_url,
            "scrape_interval_s": s.scrape_interval_s,
            "step_s": s.step,
            "rate_window_s": s.rate_window,
            "profile": {"name": s.profile.name, "sha256": s.profile.sha256},
            "scope": {"name": self.scope.name, **self.scope.as_dict()},
            "tls_verify": s.verify_tls,
        }

    def collect(
        self, results: Sequence[RoundResult], warn: Callable[[str], None], sleep: Callable[[float], None] = time.sleep
    ) -> list[RoundResult]:
        """The rounds with ``resources.platform`` added; a failing Prometheus gives nulls with a reason."""
        timed = [r for r in results if r.window is not None]
        if not timed:
            return list(results)
        settle = max(r.window[1] for r in timed if r.window) + self.settings.scrape_interval_s - time.time()
        if settle > 0:
            sleep(settle)
        out = []
        with PrometheusCollector(self.settings) as collector:
            for result in results:
                if result.window is None:
                    out.append(result)
                    continue
                window = Window(*result.window)
                try:
                    stats = collector.collect(window, self.scope)
                except PrometheusError as exc:
                    warn(f"Prometheus resources are missing for {result.platform}/{result.case}: {exc}")
                    stats = unavailable_stats(self.scope, window, str(exc), self.settings)
                out.append(dataclasses.replace(result, resources={**result.resources, self.scope.name: stats}))
        return out
