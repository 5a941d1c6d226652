"""What every task of a cluster run gets, whatever the platform: its image and resources."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class TaskResources:
    """The same requests and limits for every task on both platforms (requests == limits, so each
    task pod is Guaranteed QoS and neither platform gets burst headroom the other lacks).
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
    #: Flyte project/domain; ignored by KFP
    flyte_project: str = "flytesnacks"
    flyte_domain: str = "development"
    #: KFP experiment (created when missing) and namespace; ignored by Flyte
    kfp_experiment: str = "retrain-bench"
    kfp_namespace: str = "kubeflow"
