"""What every task of a cluster run gets, whatever the platform: its image and resources."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol


@dataclasses.dataclass(frozen=True)
class TaskResources:
    """The same requests and limits for every task on every platform (requests == limits, so each
    task pod is Guaranteed QoS and no platform gets burst headroom another lacks).
    Quantities use Kubernetes spelling: cpu ``500m`` or ``1``; memory ``1Gi`` or ``512Mi``."""

    cpu: str
    memory: str

    def as_dict(self) -> dict[str, str]:
        return {"cpu": self.cpu, "memory": self.memory}


@dataclasses.dataclass(frozen=True)
class RemoteSettings:
    """Everything a runner needs that is not the platform's endpoint. Validated at the boundary."""

    image: str
    resources: TaskResources
    #: the platform's own cluster options, as its ``ClusterSide.parse_options`` made them (its project,
    #: experiment, namespace...); each runner knows its own type
    options: Any = None


class SideOptions(Protocol):
    """What the generic code asks of a platform's own parsed cluster options. Optional beyond this:
    ``control_namespaces()``, where the control plane's pods always run (doctor expects live cAdvisor
    series there; without it, the side's namespaces that are not its run namespaces)."""

    def as_json(self) -> Mapping[str, Any]:
        """What every round of the platform ran with, for the run's JSON (no credentials)."""
        ...
