"""Read a Sutura graph the same way whether it sits behind ``sutura serve`` or in-process.

Both readers answer in the HTTP API's JSON shapes (``run`` as ``GET /api/v1/runs/{runId}``,
``node`` as ``GET /api/v1/nodes``, ``lineage`` Marquez-shaped), so one set of assertions
checks both doors.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

__all__ = ["EngineGraph", "GraphReader", "HttpGraph", "edges", "node_ids"]


class GraphReader(Protocol):
    def lineage(self, node: str, *, direction: str = "both", depth: int = 5) -> dict[str, Any]: ...
    def run(self, run_id: str) -> dict[str, Any]: ...
    def runs(self, job: str) -> list[dict[str, Any]]: ...
    def node(self, node: str) -> dict[str, Any]: ...


class HttpGraph:
    """Reads through a running ``sutura serve``."""

    def __init__(self, client: httpx.Client):
        self.client = client

    def _get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        assert response.status_code == 200, f"GET {path} {params} -> {response.status_code}: {response.text[:2000]}"
        return response.json()

    def lineage(self, node: str, *, direction: str = "both", depth: int = 5) -> dict[str, Any]:
        return self._get("/api/v1/lineage", nodeId=node, depth=depth, direction=direction)

    def run(self, run_id: str) -> dict[str, Any]:
        return self._get(f"/api/v1/runs/{run_id}")

    def runs(self, job: str) -> list[dict[str, Any]]:
        return self._get("/api/v1/runs", job=job)["runs"]

    def node(self, node: str) -> dict[str, Any]:
        return self._get("/api/v1/nodes", nodeId=node)


class EngineGraph:
    """Reads through the embedded ``sutura.Engine`` facade."""

    def __init__(self, engine: Any):
        self.engine = engine

    def lineage(self, node: str, *, direction: str = "both", depth: int = 5) -> dict[str, Any]:
        return self.engine.lineage(node, direction, depth)

    def run(self, run_id: str) -> dict[str, Any]:
        return self.engine.show(f"run:{run_id}")

    def runs(self, job: str) -> list[dict[str, Any]]:
        return [self.engine.show(f"run:{r.run_id}") for r in self.engine.runs(job)]

    def node(self, node: str) -> dict[str, Any]:
        return self.engine.show(node)


def node_ids(lineage: dict[str, Any]) -> set[str]:
    return {n["id"] for n in lineage["graph"]}


def edges(lineage: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (origin, destination) edge a lineage answer mentions."""
    found = set()
    for n in lineage["graph"]:
        for e in [*n.get("inEdges", []), *n.get("outEdges", [])]:
            found.add((e["origin"], e["destination"]))
    return found
