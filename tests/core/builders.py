"""Build OpenLineage events shaped like the ones real producers send."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/2.20.3"
SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
T0 = datetime(2026, 3, 1, 3, 40, tzinfo=timezone.utc)


def ts(minutes: float = 0) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def dataset(namespace: str, name: str, *, fields: list[tuple[str, str]] | None = None, rows: int | None = None, **facets: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"namespace": namespace, "name": name, "facets": dict(facets)}
    if fields:
        out["facets"]["schema"] = {"_producer": PRODUCER, "_schemaURL": "x", "fields": [{"name": n, "type": t} for n, t in fields]}
    if rows is not None:
        out["outputFacets"] = {"outputStatistics": {"_producer": PRODUCER, "_schemaURL": "x", "rowCount": rows}}
    return out


def run_event(
    event_type: str,
    job: tuple[str, str],
    run_id: str | None = None,
    *,
    at: float = 0,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    parent: tuple[str, str, str] | None = None,
    try_number: int | None = None,
    error: str | None = None,
    job_type: tuple[str, str] | None = None,
    **run_facets: Any,
) -> dict[str, Any]:
    facets: dict[str, Any] = dict(run_facets)
    if parent:
        facets["parent"] = {"_producer": PRODUCER, "_schemaURL": "x", "run": {"runId": parent[0]}, "job": {"namespace": parent[1], "name": parent[2]}}
    if try_number is not None:
        facets["airflow"] = {"_producer": PRODUCER, "_schemaURL": "x", "taskInstance": {"try_number": try_number}}
    if error:
        facets["errorMessage"] = {"_producer": PRODUCER, "_schemaURL": "x", "message": error, "programmingLanguage": "python"}
    job_facets: dict[str, Any] = {}
    if job_type:
        job_facets["jobType"] = {"_producer": PRODUCER, "_schemaURL": "x", "processingType": "BATCH", "integration": job_type[0], "jobType": job_type[1]}
    return {
        "eventType": event_type,
        "eventTime": ts(at),
        "producer": PRODUCER,
        "schemaURL": SCHEMA,
        "run": {"runId": run_id or str(uuid.uuid4()), "facets": facets},
        "job": {"namespace": job[0], "name": job[1], "facets": job_facets},
        "inputs": inputs or [],
        "outputs": outputs or [],
    }


def run_lifecycle(job: tuple[str, str], *, inputs=None, outputs=None, state: str = "COMPLETE", at: float = 0, **kw: Any) -> list[dict[str, Any]]:
    """START then a terminal event for one run (same runId)."""
    run_id = kw.pop("run_id", None) or str(uuid.uuid4())
    start = run_event("START", job, run_id, at=at, inputs=inputs, outputs=outputs, **{k: v for k, v in kw.items() if k != "error"})
    end = run_event(state, job, run_id, at=at + 1, inputs=inputs, outputs=outputs, **kw)
    return [start, end]
