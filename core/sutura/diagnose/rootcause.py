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
from sutura.diagnose.upstream import Health, last_run_id
from sutura.errors import NotFound
from sutura.hookspecs import hookimpl
from sutura.ontology import Incident, IncidentState, node_id
from sutura.store import reader
from sutura.store import schema as t

__all__ = ["chain_for", "dataset_chain", "explain", "list_incidents", "open_incident", "open_incidents", "resolve_incidents"]

_MAX_HOPS = 50


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


_wait = t.decision.alias("waited")
_LAST_RUN_ID = last_run_id(t.job.c.id)
_LAST_WAIT_ID = (
    sa.select(_wait.c.id)
    .where(_wait.c.job_id == t.job.c.id, _wait.c.action == "wait")
    .order_by(_wait.c.created_at.desc())
    .limit(1)
    .scalar_subquery()
)
# A job with its last run and the last WAIT decided for it, in one statement.
_JOB_LINK = (
    sa.select(
        t.job.c.namespace, t.job.c.name, t.job.c.type, t.job.c.integration,
        t.run.c.run_id, t.run.c.state, t.run.c.started_at, t.run.c.ended_at, t.run.c.error_message,
        t.decision.c.reason.label("wait_reason"), t.decision.c.created_at.label("wait_at"),
    )
    .select_from(
        t.job.outerjoin(t.run, t.run.c.id == _LAST_RUN_ID).outerjoin(t.decision, t.decision.c.id == _LAST_WAIT_ID)
    )
    .where(t.job.c.id == sa.bindparam("job_id"))
)
_INPUTS = (
    sa.select(t.dataset.c.id, t.dataset.c.namespace, t.dataset.c.name)
    .join(t.job_io, t.job_io.c.dataset_id == t.dataset.c.id)
    .where(t.job_io.c.job_id == sa.bindparam("job_id"), t.job_io.c.direction == "in")
    .order_by(t.dataset.c.namespace, t.dataset.c.name)
)
_FAILED_CHILD = (
    sa.select(t.run.c.job_id)
    .where(t.run.c.parent_run_id == sa.bindparam("run_id"), t.run.c.state.in_(("FAIL", "ABORT")), t.run.c.job_id != sa.bindparam("job_id"))
    .order_by(t.run.c.ended_at, t.run.c.id)
    .limit(1)
)


def _job_row(health: Health, job_id: int) -> Any:
    if job_id not in health.links:
        health.links[job_id] = health.conn.execute(_JOB_LINK, {"job_id": job_id}).one()
    return health.links[job_id]


def _job_link(health: Health, job_id: int) -> dict[str, Any]:
    row = _job_row(health, job_id)
    kind = f"{(row.integration or '').lower()} {(row.type or 'job').lower()}".strip()
    link: dict[str, Any] = {"id": node_id("job", row.namespace, row.name), "type": kind, "state": None, "at": None, "evidence": None}
    if row.run_id is not None:
        link.update(state=row.state, at=_iso(row.ended_at or row.started_at), run=node_id("run", row.run_id))
        if row.error_message:
            link["evidence"] = row.error_message.strip().splitlines()[0][:300]
    if row.wait_reason is not None and link["state"] != "FAIL":
        started = _aware(row.started_at) if row.run_id is not None else None
        if started is None or _aware(row.wait_at) >= started:  # told to wait since its last run began
            link.update(state="WAITING", evidence=row.wait_reason[:300])
    return link


def _unhealthy_input(health: Health, job_id: int, seen: set[str]) -> tuple[dict[str, Any], int | None] | None:
    inputs = [(ds_id, node_id("dataset", ns, name)) for ds_id, ns, name in health.conn.execute(_INPUTS, {"job_id": job_id})]
    inputs = [(ds_id, ds_node) for ds_id, ds_node in inputs if ds_node not in seen]
    problems = health.problems(ds_id for ds_id, _ in inputs)
    found = []
    for ds_id, ds_node in inputs:
        problem = problems[ds_id]
        if problem is not None:
            found.append(({"id": ds_node, "type": "dataset", "state": problem.state, "at": None, "evidence": problem.evidence}, problem.producer))
    if not found:
        return None
    # The earliest failure is the likeliest cause: prefer stale (a failed producer) over bad data.
    found.sort(key=lambda item: (item[0]["state"] != "STALE", item[0]["id"]))
    return found[0]


def _failed_child(health: Health, job_id: int) -> int | None:
    """The job of a failed child run of this job's latest run (an Airflow task of a DAG run)."""
    run_id = _job_row(health, job_id).run_id
    if run_id is None:
        return None
    return health.conn.execute(_FAILED_CHILD, {"run_id": run_id, "job_id": job_id}).scalar()


def chain_for(conn: Connection, ref: str, health: Health | None = None) -> list[dict[str, Any]]:
    """The causal chain from ``ref`` (symptom first) to the root cause (last)."""
    health = health or Health(conn)
    node = reader.resolve(conn, ref)
    if node.kind == "run":
        job_id = conn.execute(sa.select(t.run.c.job_id).where(t.run.c.run_id == node.id)).scalar_one()
        return _walk(health, job_id, [], set())
    if node.kind == "job":
        return _walk(health, node.id, [], set())
    if node.kind == "dataset":
        return dataset_chain(health, node.id, node.node_id)
    raise NotFound(f"explain starts at a run, job or dataset, not a {node.kind}")


def dataset_chain(health: Health, ds_id: int, ref: str) -> list[dict[str, Any]]:
    """The causal chain from an unhealthy dataset (``ref`` names it), or [] when it is healthy."""
    problem = health.problem(ds_id)
    if problem is None:
        return []
    link = {"id": ref, "type": "dataset", "state": problem.state, "at": None, "evidence": problem.evidence}
    return _walk(health, problem.producer, [link], {ref})


def _walk(health: Health, job_id: int | None, chain: list[dict[str, Any]], seen: set[str]) -> list[dict[str, Any]]:
    """Follow failed children and unhealthy inputs from ``job_id`` to the root cause."""
    for _ in range(_MAX_HOPS):
        if job_id is None:
            break
        link = _job_link(health, job_id)
        if link["id"] in seen:
            break
        seen.add(link["id"])
        chain.append(link)
        child = _failed_child(health, job_id) if link["state"] in ("FAIL", "ABORT") else None
        if child is not None:  # a DAG run fails because a task of it failed
            job_id = child
            continue
        step = _unhealthy_input(health, job_id, seen)
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
    return engine.transaction(lambda conn: _explain(conn, ref, Health(conn)))


def _explain(conn: Connection, ref: str, health: Health) -> Explanation:
    """The causal chain of ``ref``; a chain with a cause opens (or joins) the incident of its root."""
    from sutura.engine import now_utc

    chain = chain_for(conn, ref, health)
    if not chain:
        return Explanation(ref, None, [], None)
    incident = None
    if _has_cause(chain):
        incident_id = open_incident(conn, root=chain[-1]["id"], symptoms=[link["id"] for link in chain], summary=_summary(chain), now=now_utc())
        incident = _incident(conn, incident_id).to_dict()
    return Explanation(ref, chain[-1], chain, incident)


def _has_cause(chain: list[dict[str, Any]]) -> bool:
    """Does the chain show something wrong (then it belongs to an incident)?"""
    return len(chain) > 1 or chain[-1]["state"] in ("FAIL", "ABORT", "QUARANTINED", "FAILED_CHECKS", "STALE", "WAITING")


def _summary(chain: list[dict[str, Any]]) -> str:
    root = chain[-1]
    what = f"{root['type']} {root['id']} {root.get('state') or ''}".strip()
    return f"{what}: {root['evidence']}" if root.get("evidence") else what


def open_incident(conn: Connection, *, root: str, symptoms: list[str], summary: str, now: datetime) -> str:
    """The open incident of this root cause (created if none) with ``symptoms`` added."""
    return open_incidents(conn, [(root, symptoms, summary, now)])[0]


_OPEN_OF_ROOTS = (
    sa.select(t.incident.c.id, t.incident.c.root_cause)
    .where(t.incident.c.root_cause.in_(sa.bindparam("roots", expanding=True)), t.incident.c.state != IncidentState.RESOLVED.value)
    .order_by(t.incident.c.opened_at, t.incident.c.id)
)
_SYMPTOMS_OF = sa.select(t.incident_symptom.c.incident_id, t.incident_symptom.c.node).where(
    t.incident_symptom.c.incident_id.in_(sa.bindparam("ids", expanding=True))
)


def open_incidents(conn: Connection, found: list[tuple[str, list[str], str, datetime]]) -> list[str]:
    """``open_incident`` for each (root, symptoms, summary, now) in order, in four statements.

    A root seen twice creates its incident once (with the first summary); later items
    add only the symptoms it does not hold yet, as one call after the other would.
    """
    if not found:
        return []
    roots = sorted({root for root, _, _, _ in found})
    incident_of: dict[str, str] = {}
    for r in conn.execute(_OPEN_OF_ROOTS, {"roots": roots}):
        incident_of.setdefault(r.root_cause, r.id)
    held: dict[str, set[str]] = {i: set() for i in incident_of.values()}
    if held:
        for r in conn.execute(_SYMPTOMS_OF, {"ids": sorted(held)}):
            held[r.incident_id].add(r.node)
    incidents, symptoms, ids = [], [], []
    for root, nodes, summary, now in found:
        if root not in incident_of:
            incident_of[root] = str(uuid.uuid4())
            held[incident_of[root]] = set()
            incidents.append({"id": incident_of[root], "state": IncidentState.OPEN.value, "root_cause": root, "summary": summary, "opened_at": now})
        incident_id = incident_of[root]
        for node in dict.fromkeys(nodes):
            if node not in held[incident_id]:
                held[incident_id].add(node)
                symptoms.append({"incident_id": incident_id, "node": node, "added_at": now})
        ids.append(incident_id)
    if incidents:
        conn.execute(t.incident.insert(), incidents)
    if symptoms:
        conn.execute(t.incident_symptom.insert(), symptoms)
    return ids


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


def _symptoms(events: Any) -> tuple[set[str], set[str]]:
    """(failed symptoms: jobs with a FAIL/ABORT and datasets with a failed assertion, completed jobs)."""
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
            if _failed_assertion(ds):
                failed_datasets.add(node_id("dataset", ds["namespace"], ds["name"]))
    return failed_jobs | failed_datasets, completed - failed_jobs


def _failed_assertion(ds: dict[str, Any]) -> bool:
    """Does a dataset of an event carry a failed dataQualityAssertions assertion?"""
    key = "dataQualityAssertions"
    input_facets = ds.get("inputFacets") or {}
    facet = input_facets[key] if key in input_facets else (ds.get("facets") or {}).get(key)  # input facets win
    assertions = (facet or {}).get("assertions") or []
    return any(a.get("success") is False for a in assertions if isinstance(a, dict))


def _settle_batch(conn: Connection, failed: set[str], completed: set[str]) -> None:
    """Resolve the incidents of roots that completed, then explain each failed symptom."""
    from sutura.engine import now_utc

    if completed and _any_open_incident(conn):
        resolve_incidents(conn, roots=sorted(completed), now=now_utc())
    health = Health(conn)  # read once for every chain: the graph does not change here
    found = []
    for ref in sorted(failed):
        try:
            chain = chain_for(conn, ref, health)
        except NotFound:
            continue
        if chain and _has_cause(chain):
            found.append((chain[-1]["id"], [link["id"] for link in chain], _summary(chain), now_utc()))
    open_incidents(conn, found)


@hookimpl(trylast=True)
def sutura_events_applied(engine: Any, events: Any) -> None:
    """Failed runs and failed checks open (or join) incidents; a root job's success resolves them.

    One transaction per ingested batch, none when the batch has no finished or failed run
    and no failed check.
    """
    failed, completed = _symptoms(events)
    if failed or completed:
        engine.transaction(lambda conn: _settle_batch(conn, failed, completed))
