"""Root cause: walk upstream from a symptom to the earliest causal failure.

A dataset is *unhealthy* when its newest version is quarantined or failed its checks,
or when the last run of a job that writes it failed (it is stale). From a symptom (a
failed run, a job, a dataset, a failed check) the walk follows unhealthy inputs to
their producers, hop by hop, until it reaches a job none of whose inputs is unhealthy:
that job is the root cause. Symptoms with the same root cause share one Incident,
resolved when the root job next completes or its quarantine is released.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.api import Explanation
from sutura.diagnose.upstream import dataset_problem, last_run
from sutura.errors import NotFound
from sutura.hookspecs import hookimpl
from sutura.ontology import Incident, IncidentState, node_id
from sutura.store import reader
from sutura.store import schema as t

__all__ = ["explain", "list_incidents", "open_incident", "resolve_incidents"]

_MAX_HOPS = 50


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def _job_link(conn: Connection, job_id: int) -> dict[str, Any]:
    job = conn.execute(sa.select(t.job).where(t.job.c.id == job_id)).one()
    run = last_run(conn, job_id)
    kind = f"{(job.integration or '').lower()} {(job.type or 'job').lower()}".strip()
    link: dict[str, Any] = {"id": node_id("job", job.namespace, job.name), "type": kind, "state": None, "at": None, "evidence": None}
    if run is not None:
        link.update(state=run.state, at=_iso(run.ended_at or run.started_at), run=node_id("run", run.run_id))
        if run.error_message:
            link["evidence"] = run.error_message.strip().splitlines()[0][:300]
    waiting = conn.execute(
        sa.select(t.decision.c.reason, t.decision.c.created_at)
        .where(t.decision.c.job_id == job_id, t.decision.c.action == "wait")
        .order_by(t.decision.c.created_at.desc())
        .limit(1)
    ).first()
    if waiting is not None and link["state"] != "FAIL":
        started = _aware(run.started_at) if run is not None else None
        if started is None or _aware(waiting.created_at) >= started:  # told to wait since its last run began
            link.update(state="WAITING", evidence=waiting.reason[:300])
    return link


def _unhealthy_input(conn: Connection, job_id: int, seen: set[str]) -> tuple[dict[str, Any], int | None] | None:
    inputs = conn.execute(
        sa.select(t.dataset.c.id, t.dataset.c.namespace, t.dataset.c.name)
        .join(t.job_io, t.job_io.c.dataset_id == t.dataset.c.id)
        .where(t.job_io.c.job_id == job_id, t.job_io.c.direction == "in")
        .order_by(t.dataset.c.namespace, t.dataset.c.name)
    ).all()
    found = []
    for ds in inputs:
        ds_node = node_id("dataset", ds.namespace, ds.name)
        if ds_node in seen:
            continue
        problem = dataset_problem(conn, ds.id)
        if problem is not None:
            state, evidence, producer = problem
            found.append(({"id": ds_node, "type": "dataset", "state": state, "at": None, "evidence": evidence}, producer))
    if not found:
        return None
    # The earliest failure is the likeliest cause: prefer stale (a failed producer) over bad data.
    found.sort(key=lambda item: (item[0]["state"] != "STALE", item[0]["id"]))
    return found[0]


def _failed_child(conn: Connection, job_id: int) -> int | None:
    """The job of a failed child run of this job's latest run (an Airflow task of a DAG run)."""
    run = last_run(conn, job_id)
    if run is None:
        return None
    return conn.execute(
        sa.select(t.run.c.job_id)
        .where(t.run.c.parent_run_id == run.run_id, t.run.c.state.in_(("FAIL", "ABORT")), t.run.c.job_id != job_id)
        .order_by(t.run.c.ended_at, t.run.c.id)
        .limit(1)
    ).scalar()


def chain_for(conn: Connection, ref: str) -> list[dict[str, Any]]:
    """The causal chain from ``ref`` (symptom first) to the root cause (last)."""
    node = reader.resolve(conn, ref)
    chain: list[dict[str, Any]] = []
    seen: set[str] = set()
    job_id: int | None
    if node.kind == "run":
        job_id = conn.execute(sa.select(t.run.c.job_id).where(t.run.c.run_id == node.id)).scalar_one()
    elif node.kind == "job":
        job_id = node.id
    elif node.kind == "dataset":
        problem = dataset_problem(conn, node.id)
        if problem is None:
            return []
        state, evidence, job_id = problem
        chain.append({"id": node.node_id, "type": "dataset", "state": state, "at": None, "evidence": evidence})
        seen.add(node.node_id)
    else:
        raise NotFound(f"explain starts at a run, job or dataset, not a {node.kind}")
    for _ in range(_MAX_HOPS):
        if job_id is None:
            break
        link = _job_link(conn, job_id)
        if link["id"] in seen:
            break
        seen.add(link["id"])
        chain.append(link)
        child = _failed_child(conn, job_id) if link["state"] in ("FAIL", "ABORT") else None
        if child is not None:  # a DAG run fails because a task of it failed
            job_id = child
            continue
        step = _unhealthy_input(conn, job_id, seen)
        if step is None:
            break
        ds_link, job_id = step
        seen.add(ds_link["id"])
        chain.append(ds_link)
    if chain and len(chain) == 1 and chain[0]["state"] in ("COMPLETE", None):
        return []  # healthy job with healthy inputs
    # Trim healthy jobs at the end (a root cause is something that went wrong).
    while len(chain) > 1 and chain[-1]["state"] in ("COMPLETE", None, "RUNNING", "START"):
        chain.pop()
    return chain


def explain(engine: Any, ref: str) -> Explanation:
    from sutura.engine import now_utc

    def run(conn: Connection) -> Explanation:
        chain = chain_for(conn, ref)
        if not chain:
            return Explanation(ref, None, [], None)
        root = chain[-1]
        incident = None
        if len(chain) > 1 or root["state"] in ("FAIL", "ABORT", "QUARANTINED", "FAILED_CHECKS", "STALE", "WAITING"):
            incident_id = open_incident(conn, root=root["id"], symptoms=[link["id"] for link in chain], summary=_summary(chain), now=now_utc())
            incident = _incident(conn, incident_id).to_dict()
        return Explanation(ref, root, chain, incident)

    return engine.transaction(run)


def _summary(chain: list[dict[str, Any]]) -> str:
    root = chain[-1]
    what = f"{root['type']} {root['id']} {root.get('state') or ''}".strip()
    return f"{what}: {root['evidence']}" if root.get("evidence") else what


def open_incident(conn: Connection, *, root: str, symptoms: list[str], summary: str, now: datetime) -> str:
    """The open incident of this root cause (created if none) with ``symptoms`` added."""
    found = conn.execute(
        sa.select(t.incident.c.id).where(t.incident.c.root_cause == root, t.incident.c.state != IncidentState.RESOLVED.value)
    ).scalar()
    if found is None:
        found = str(uuid.uuid4())
        conn.execute(t.incident.insert().values(id=found, state=IncidentState.OPEN.value, root_cause=root, summary=summary, opened_at=now))
    existing = {r.node for r in conn.execute(sa.select(t.incident_symptom.c.node).where(t.incident_symptom.c.incident_id == found))}
    new = [s for s in dict.fromkeys(symptoms) if s not in existing]
    if new:
        conn.execute(t.incident_symptom.insert(), [{"incident_id": found, "node": s, "added_at": now} for s in new])
    return found


def resolve_incidents(conn: Connection, *, now: datetime, roots: list[str] | None = None, symptom: str | None = None) -> None:
    q = t.incident.update().where(t.incident.c.state != IncidentState.RESOLVED.value)
    if roots is not None:
        q = q.where(t.incident.c.root_cause.in_(roots))
    if symptom is not None:
        q = q.where(t.incident.c.id.in_(sa.select(t.incident_symptom.c.incident_id).where(t.incident_symptom.c.node == symptom)))
    conn.execute(q.values(state=IncidentState.RESOLVED.value, resolved_at=now))


def _incident(conn: Connection, incident_id: str) -> Incident:
    row = conn.execute(sa.select(t.incident).where(t.incident.c.id == incident_id)).one()
    symptoms = tuple(
        r.node
        for r in conn.execute(
            sa.select(t.incident_symptom.c.node).where(t.incident_symptom.c.incident_id == incident_id).order_by(t.incident_symptom.c.added_at, t.incident_symptom.c.node)
        )
    )
    return Incident(
        id=row.id,
        state=IncidentState(row.state),
        root_cause=row.root_cause,
        symptoms=symptoms,
        opened_at=_aware(row.opened_at),
        resolved_at=_aware(row.resolved_at),
        summary=row.summary,
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def list_incidents(conn: Connection, state: str | None, limit: int) -> list[Incident]:
    q = sa.select(t.incident.c.id)
    if state:
        q = q.where(t.incident.c.state == IncidentState(state).value)
    ids = [r.id for r in conn.execute(q.order_by(t.incident.c.opened_at.desc()).limit(limit))]
    return [_incident(conn, i) for i in ids]


def _any_open_incident(conn: Connection) -> bool:
    q = sa.select(t.incident.c.id).where(t.incident.c.state != IncidentState.RESOLVED.value).limit(1)
    return conn.execute(q).first() is not None


@hookimpl(trylast=True)
def sutura_events_applied(engine: Any, events: Any) -> None:
    """Failed runs and failed checks open (or join) incidents; a root job's success resolves them."""
    from sutura.engine import now_utc

    failed_jobs, failed_datasets, completed = set(), set(), set()
    for e in events:
        job = e.get("job") or {}
        if "run" in e and job.get("name"):
            jid = node_id("job", job["namespace"], job["name"])
            if e.get("eventType") in ("FAIL", "ABORT"):
                failed_jobs.add(jid)
            elif e.get("eventType") == "COMPLETE":
                completed.add(jid)
        for ds in (e.get("inputs") or []) + (e.get("outputs") or []):
            facets = {**(ds.get("facets") or {}), **(ds.get("inputFacets") or {})}
            assertions = (facets.get("dataQualityAssertions") or {}).get("assertions") or []
            if any(a.get("success") is False for a in assertions if isinstance(a, dict)):
                failed_datasets.add(node_id("dataset", ds["namespace"], ds["name"]))
    if completed - failed_jobs and engine.read(_any_open_incident):
        engine.transaction(lambda conn: resolve_incidents(conn, roots=sorted(completed - failed_jobs), now=now_utc()))
    for ref in sorted(failed_jobs | failed_datasets):
        try:
            engine.explain(ref)
        except NotFound:
            continue
