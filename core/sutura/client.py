"""``RemoteEngine``: the EngineAPI over HTTP, for plugins on machines without the store.

Every failure to get a sound answer (refused, timed out, 5xx, a body that is not the
expected JSON) raises ``EngineUnavailable``, which plugins catch to fall back to their
tool's native behaviour. 4xx answers raise the matching Sutura error (bad input stays
the caller's problem, not an outage).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from sutura import codec
from sutura.api import Change, Direction, Explanation, IngestResult, NodeRef, RunRequest, Staleness
from sutura.errors import EngineUnavailable, InvalidEvent, NotFound, SuturaError
from sutura.ontology import CheckResult, DatasetVersion, Decision, Failure, Incident, Run

if TYPE_CHECKING:
    import httpx

__all__ = ["RemoteEngine"]


def _ref(node: Any) -> str:
    from sutura.engine import node_ref

    return node_ref(node)


class RemoteEngine:
    """Talks to ``sutura serve`` at ``url``; ``token`` is sent as a bearer token."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 5.0, transport: httpx.BaseTransport | None = None):
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never show the token
        return f"RemoteEngine({self.url!r})"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise EngineUnavailable(f"Sutura at {self.url} did not answer {method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise EngineUnavailable(f"Sutura at {self.url} failed {method} {path} with HTTP {response.status_code}")
        try:
            body = response.json()
        except (json.JSONDecodeError, ValueError) as exc:
            raise EngineUnavailable(f"Sutura at {self.url} answered {method} {path} with something that is not JSON") from exc
        if response.status_code == 404:
            raise NotFound(body.get("error", "not found") if isinstance(body, dict) else "not found")
        if response.status_code == 400 and isinstance(body, dict) and "field" in body:
            raise InvalidEvent(body["field"], body.get("problem", body.get("error", "")), index=body.get("index"))
        if response.status_code >= 400:
            message = body.get("error") if isinstance(body, dict) else str(body)
            raise SuturaError(f"HTTP {response.status_code} from Sutura: {message}")
        return body

    def _parse(self, fn: Any, value: Any) -> Any:
        try:
            return fn(value)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EngineUnavailable(f"Sutura at {self.url} answered with an unexpected shape: {exc}") from exc

    # -- observe --------------------------------------------------------------------
    def ingest(self, events: Mapping[str, Any] | str | bytes | Iterable[Mapping[str, Any]]) -> IngestResult:
        if isinstance(events, (str, bytes)):
            from sutura.events import load_events

            events = load_events(events)
        if isinstance(events, Mapping):
            body = self._call("POST", "/api/v1/lineage", json=events)
        else:
            body = self._call("POST", "/api/v1/lineage/batch", json=list(events))
        return self._parse(lambda b: IngestResult(b["accepted"], b.get("duplicates", 0)), body)

    # -- read -----------------------------------------------------------------------
    def lineage(self, node: NodeRef, direction: Direction = "both", depth: int = 5, *, columns: bool = False) -> dict[str, Any]:
        params = {"nodeId": _ref(node), "direction": direction, "depth": depth, "columns": columns}
        return self._call("GET", "/api/v1/lineage", params=params)

    def runs(self, job: NodeRef, limit: int = 50) -> list[Run]:
        body = self._call("GET", "/api/v1/runs", params={"job": _ref(job), "limit": limit})
        return self._parse(lambda b: [codec.run_from_json(r) for r in b["runs"]], body)

    def run(self, run_id: str) -> Run:
        return self._parse(codec.run_from_json, self._call("GET", f"/api/v1/runs/{run_id}"))

    def show(self, node: NodeRef) -> dict[str, Any]:
        return self._call("GET", "/api/v1/nodes", params={"nodeId": _ref(node)})

    def versions(self, dataset: NodeRef, limit: int = 50) -> list[DatasetVersion]:
        body = self._call("GET", "/api/v1/versions", params={"dataset": _ref(dataset), "limit": limit})
        return self._parse(lambda b: [codec.version_from_json(v) for v in b["versions"]], body)

    # -- decide ---------------------------------------------------------------------
    def on_failure(self, failure: Failure) -> Decision:
        return self._parse(codec.decision_from_json, self._call("POST", "/api/v1/failures", json=codec.failure_to_json(failure)))

    def on_checks(
        self,
        dataset: NodeRef,
        results: Sequence[CheckResult],
        *,
        run_id: str | None = None,
        fingerprint: str | None = None,
        row_count: int | None = None,
        defer_publish: bool = False,
    ) -> Decision:
        body: dict[str, Any] = {
            "dataset": _ref(dataset),
            "results": [
                {"assertion": r.assertion, "success": r.success, "field": r.field, "source": r.source, "observed": r.observed, "message": r.message}
                for r in results
            ],
            "run_id": run_id,
            "fingerprint": fingerprint,
            "row_count": row_count,
        }
        if defer_publish:  # settled by record_outcome (POST /api/v1/decisions/{id}/outcome)
            body["defer_publish"] = True
        return self._parse(codec.decision_from_json, self._call("POST", "/api/v1/checks", json=body))

    def release(self, version: NodeRef, reason: str, *, by: str | None = None) -> Decision:
        body = {"version": _ref(version), "reason": reason, "by": by}
        return self._parse(codec.decision_from_json, self._call("POST", "/api/v1/releases", json=body))

    def discard(self, version: NodeRef, reason: str, *, by: str | None = None) -> Decision:
        body = {"version": _ref(version), "reason": reason, "by": by, "discard": True}
        return self._parse(codec.decision_from_json, self._call("POST", "/api/v1/releases", json=body))

    def last_published(self, dataset: NodeRef) -> Staleness:
        return self._parse(codec.staleness_from_json, self._call("GET", "/api/v1/last-published", params={"dataset": _ref(dataset)}))

    def changes(self, since: str | None = None, *, datasets: Sequence[NodeRef] | None = None, limit: int = 1000) -> tuple[list[Change], str]:
        params: dict[str, Any] = {"limit": limit}
        if since is not None:
            params["since"] = since
        if datasets:
            params["dataset"] = [_ref(d) for d in datasets]
        body = self._call("GET", "/api/v1/changes", params=params)
        return self._parse(lambda b: ([codec.change_from_json(c) for c in b["changes"]], str(b["cursor"])), body)

    def plan_runs(self, changes: Sequence[Change], *, integration: str | None = None) -> list[RunRequest]:
        body = self._call("POST", "/api/v1/plan", json={"changes": [c.to_dict() for c in changes], "integration": integration})
        return self._parse(lambda b: [codec.run_request_from_json(r) for r in b["requests"]], body)

    def explain(self, node: NodeRef) -> Explanation:
        return self._parse(codec.explanation_from_json, self._call("GET", "/api/v1/explain", params={"nodeId": _ref(node)}))

    def incidents(self, state: str | None = None, limit: int = 100) -> list[Incident]:
        params: dict[str, Any] = {"limit": limit}
        if state:
            params["state"] = state
        body = self._call("GET", "/api/v1/incidents", params=params)
        return self._parse(lambda b: [codec.incident_from_json(i) for i in b["incidents"]], body)

    def decisions(self, subject: NodeRef | None = None, *, action: str | None = None, limit: int = 100) -> list[Decision]:
        params: dict[str, Any] = {"limit": limit}
        if subject is not None:
            params["subject"] = _ref(subject)
        if action:
            params["action"] = action
        body = self._call("GET", "/api/v1/decisions", params=params)
        return self._parse(lambda b: [codec.decision_from_json(d) for d in b["decisions"]], body)

    def record_outcome(self, decision_id: str, outcome: str) -> None:
        self._call("POST", f"/api/v1/decisions/{decision_id}/outcome", json={"outcome": outcome})
