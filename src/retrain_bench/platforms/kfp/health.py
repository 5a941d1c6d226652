"""KFP's ``/apis/v2beta1/healthz`` as both things that answer it do, read into one ``KfpHealth``.

The API server (``ml-pipeline:8888``) answers ``{commit_sha, tag_name, multi_user, pipeline_store}``,
``tag_name`` being ``"unknown"`` when its ``TAG_NAME`` is unset (kubeflow/pipelines
backend/src/apiserver/main.go, ``newHealthzResponse``). The UI (``ml-pipeline-ui:80``) does not
proxy that path: its own handler asks the API server with a one-second timeout and answers 200
whatever happened, with ``apiServerReady`` false when the API server did not answer
(frontend/server/app.ts registers it; frontend/server/handlers/healthz.ts). So through the UI a
dead API server is only visible as ``apiServerReady: false``, and the tag is ``apiServerTagName``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

HEALTHZ = "/apis/v2beta1/healthz"
#: the API server's answer when its TAG_NAME is unset (custom builds)
UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class KfpHealth:
    #: the API server answered (directly, or as the UI saw it)
    ready: bool
    #: the API server's release tag; None when it reports none (or "unknown")
    tag: str | None
    #: the answer came from the UI's own handler, not from the API server
    via_ui: bool
    multi_user: bool | None
    pipeline_store: str | None

    def facts(self) -> str:
        shown = {"tag_name": self.tag, "multi_user": self.multi_user, "pipeline_store": self.pipeline_store}
        text = ", ".join(f"{k}={v}" for k, v in shown.items() if v is not None) or "no details"
        return text + (", through the UI" if self.via_ui else "")


def read_healthz(body: Mapping[str, Any]) -> KfpHealth:
    """``body`` of a 200 healthz answer, from the API server or the UI."""
    via_ui = "apiServerReady" in body
    if via_ui:
        tag, multi_user, store = body.get("apiServerTagName"), body.get("apiServerMultiUser"), body.get("pipelineStore")
        ready = body.get("apiServerReady") is True
    else:
        tag, multi_user, store = body.get("tag_name"), body.get("multi_user"), body.get("pipeline_store")
        ready = True
    return KfpHealth(
        ready=ready,
        tag=str(tag) if tag and tag != UNKNOWN else None,
        via_ui=via_ui,
        multi_user=multi_user if isinstance(multi_user, bool) else None,
        pipeline_store=str(store) if store else None,
    )


#: Why a healthz that answered 200 is still a failure (only the UI's can be).
API_SERVER_DOWN = "the KFP UI answers but reports its API server down (apiServerReady: false)"
