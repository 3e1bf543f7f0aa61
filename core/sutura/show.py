"""The current state of one node, as JSON: what ``sutura show`` and ``GET /api/v1/nodes`` print."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.ontology import node_id
from sutura.store import reader
from sutura.store import schema as t
from sutura.store.reader import Node

__all__ = ["show"]


def _jobs(conn: Connection, ds_id: int, direction: str) -> list[str]:
    rows = conn.execute(
        sa.select(t.job.c.namespace, t.job.c.name)
        .join(t.job_io, t.job_io.c.job_id == t.job.c.id)
        .where(t.job_io.c.dataset_id == ds_id, t.job_io.c.direction == direction)
        .order_by(t.job.c.namespace, t.job.c.name)
    )
    return [node_id("job", r.namespace, r.name) for r in rows]


def _datasets(conn: Connection, job_id: int, direction: str) -> list[str]:
    rows = conn.execute(
        sa.select(t.dataset.c.namespace, t.dataset.c.name)
        .join(t.job_io, t.job_io.c.dataset_id == t.dataset.c.id)
        .where(t.job_io.c.job_id == job_id, t.job_io.c.direction == direction)
        .order_by(t.dataset.c.namespace, t.dataset.c.name)
    )
    return [node_id("dataset", r.namespace, r.name) for r in rows]


def show(conn: Connection, node: Node) -> dict[str, Any]:
    if node.kind == "dataset":
        row = reader.dataset_row(conn, node.id)
        fields = conn.execute(
            sa.select(t.field.c.name, t.field.c.type, t.field.c.description).where(t.field.c.dataset_id == node.id).order_by(t.field.c.id)
        )
        aliases = conn.execute(sa.select(t.dataset.c.namespace, t.dataset.c.name).where(t.dataset.c.canonical_id == node.id))
        versions = reader.versions_of(conn, node.id, 5)
        checks = conn.execute(
            sa.select(t.check_result.c.assertion, t.check_result.c.field, t.check_result.c.success, t.check_result.c.source, t.check_result.c.created_at)
            .where(t.check_result.c.dataset_id == node.id)
            .order_by(t.check_result.c.created_at.desc(), t.check_result.c.id.desc())
            .limit(20)
        )
        return {
            "id": node_id("dataset", row.namespace, row.name),
            "type": "DATASET",
            "namespace": row.namespace,
            "name": row.name,
            "aliases": [node_id("dataset", a.namespace, a.name) for a in aliases],
            "fields": [{"name": f.name, "type": f.type, "description": f.description} for f in fields],
            "producers": _jobs(conn, node.id, "out"),
            "consumers": _jobs(conn, node.id, "in"),
            "versions": [v.to_dict() for v in versions],
            "checks": [
                {"assertion": c.assertion, "field": c.field, "success": c.success, "source": c.source, "at": c.created_at.isoformat()}
                for c in checks
            ],
            "facets": json.loads(row.facets),
        }
    if node.kind == "job":
        row = conn.execute(sa.select(t.job).where(t.job.c.id == node.id)).one()
        runs = reader.runs_of(conn, node.id, 5)
        return {
            "id": node_id("job", row.namespace, row.name),
            "type": "JOB",
            "namespace": row.namespace,
            "name": row.name,
            "jobType": row.type,
            "integration": row.integration,
            "inputs": _datasets(conn, node.id, "in"),
            "outputs": _datasets(conn, node.id, "out"),
            "latestRuns": [run_dict(r) for r in runs],
            "facets": json.loads(row.facets),
        }
    if node.kind == "run":
        return run_dict(reader.run_of(conn, node.id), conn)
    raise ValueError(f"cannot show a {node.kind} node")


def run_dict(run: Any, conn: Connection | None = None) -> dict[str, Any]:
    """A Run as the API answers it (``GET /api/v1/runs/{runId}``)."""
    out = {
        "id": run.id,
        "runId": run.run_id,
        "job": {"namespace": run.job.namespace, "name": run.job.name, "type": run.job.type, "integration": run.job.integration},
        "state": run.state.value,
        "attempt": run.attempt,
        "parentRunId": run.parent_run_id,
        "startedAt": run.started_at.isoformat() if run.started_at else None,
        "endedAt": run.ended_at.isoformat() if run.ended_at else None,
        "nominalStartTime": run.nominal_start.isoformat() if run.nominal_start else None,
        "error": run.error_message,
        "facets": run.facets,
    }
    if conn is not None:
        io = conn.execute(
            sa.select(t.run_io.c.direction, t.dataset.c.namespace, t.dataset.c.name, t.dataset_version.c.fingerprint, t.dataset_version.c.status)
            .join(t.dataset, t.dataset.c.id == t.run_io.c.dataset_id)
            .outerjoin(t.dataset_version, t.dataset_version.c.id == t.run_io.c.version_id)
            .where(t.run_io.c.run_id == run.run_id)
            .order_by(t.dataset.c.namespace, t.dataset.c.name)
        )
        out["inputs"], out["outputs"] = [], []
        for r in io:
            entry = {"id": node_id("dataset", r.namespace, r.name), "version": r.fingerprint, "status": r.status}
            out["inputs" if r.direction == "in" else "outputs"].append(entry)
        out["children"] = [
            c.run_id for c in conn.execute(sa.select(t.run.c.run_id).where(t.run.c.parent_run_id == run.run_id).order_by(t.run.c.started_at))
        ]
    return out
