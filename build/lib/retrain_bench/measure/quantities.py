"""Kubernetes resource quantities (``500m``, ``1``, ``1.5Gi``, ``512M``, ``1e3``), read once for every
place that meets them: the task-resource options, the pods a run held and the manifest's requests."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

# resource.Quantity's grammar: a decimal number and a binary-SI, decimal-SI or exponent suffix.
_QUANTITY = re.compile(
    r"^\+?(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_FACTORS = {
    "": Decimal(1),
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    **{s: Decimal(1000) ** (i + 1) for i, s in enumerate(("k", "M", "G", "T", "P", "E"))},
}


def quantity_value(text: str) -> Decimal | None:
    """The value of a Kubernetes quantity (``500m`` -> 0.5, ``1Gi`` -> 1073741824); None if it is not one."""
    match = _QUANTITY.match(text.strip())
    if match is None:
        return None
    try:
        number = Decimal(match["number"])
    except InvalidOperation:
        return None
    suffix = match["suffix"] or ""
    if suffix[:1] in ("e", "E"):
        return number * Decimal(10) ** int(suffix[1:])
    return number * _FACTORS[suffix]


def parse_quantity(raw: Any) -> float:
    """A quantity (or a plain number) in base units; ValueError if it is not a non-negative one."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    else:
        found = quantity_value(str(raw))
        if found is None:
            raise ValueError(f"{raw!r} is not a Kubernetes quantity (e.g. 500m, 1, 512Mi, 1Gi)")
        value = float(found)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{raw!r} is not a non-negative quantity")
    return value


def requested(containers: Iterable[Any] | None, resource: str, unit: float) -> float | None:
    """What the containers (kubernetes ``V1Container`` s) request of ``resource``, summed, in
    ``unit`` s (1 for cores, 2**30 for GiB); None when none of them states a request.
    ValueError for a request that is not a quantity."""
    stated = [
        c.resources.requests[resource]
        for c in containers or []
        if c.resources and c.resources.requests and c.resources.requests.get(resource) is not None
    ]
    if not stated:
        return None
    return sum(parse_quantity(q) for q in stated) / unit
