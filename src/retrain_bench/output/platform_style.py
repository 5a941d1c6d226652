"""How platforms look in everything we print or draw: title, order and colour, from the registry.

Every output reads them through these functions, so a platform added to the registry gets its
title, its place and a colour of its own everywhere at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from retrain_bench.platforms import registry

#: Tableau-10 (matplotlib's default cycle), one colour per registered platform in registry order;
#: an unregistered name takes the next free one, so colours never depend on which platforms a chart shows.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


def platform_title(name: str) -> str:
    return registry.title(name)


def platform_order(names: Iterable[str]) -> tuple[str, ...]:
    """Registered platforms in registry order, then any others by name."""
    return registry.in_order(names)


def platform_colour(name: str) -> str:
    registered = list(registry.platforms())
    index = registered.index(name) if name in registered else len(registered) + sum(map(ord, name))
    return PALETTE[index % len(PALETTE)]
