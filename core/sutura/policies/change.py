"""The built-in change policy: what changed, and exactly which downstream jobs to run.

A change is a published (or released) DatasetVersion whose content fingerprint differs
from the dataset's previous published one. The feed is ordered by a publication
sequence taken under a row lock, so commit order equals feed order and a consumer that
resumes from its cursor sees every change exactly once.

A plan holds the direct consumers of each changed dataset (their own outputs will
change in turn and plan the next hop), never a job that reads a quarantined input,
and a job reading a dataset whose schema change is breaking is held, with the reason.
"""

from __future__ import annotations

import json
from datetime import timezone
from typing import Any, Sequence

import pluggy
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.api import Change, RunRequest
from sutura.errors import SuturaError
from sutura.hookspecs import hookimpl
from sutura.ontology import Dataset, Job, VersionStatus
from sutura.policies.baseline import classify_schema_change
from sutura.store import reader
from sutura.store import schema as t
from sutura.store.writer import default_fingerprints

__all__ = ["changes", "plan_runs"]

_LIVE = (VersionStatus.PUBLISHED.value, VersionStatus.RELEASED.value)


def _cursor(value: str | None) -> int:
    if value in (None, ""):
        return 0
    try:
        return int(value)  # type: ignore[arg-type]
    except ValueError:
        raise SuturaError(f"invalid changes cursor {value!r}: pass back the cursor a previous call returned") from None


def changes(conn: Connection, since: str | None, dataset_ids: list[int] | None, limit: int) -> tuple[list[Change], str]:
    v = t.dataset_version
    start = _cursor(since)
    q = sa.select(v, t.dataset.c.namespace, t.dataset.c.name).join(t.dataset, t.dataset.c.id == v.c.dataset_id)
    q = q.where(v.c.seq > start, v.c.status.in_(_LIVE))
    if dataset_ids is not None:
        q = q.where(v.c.dataset_id.in_(dataset_ids))
    rows = conn.execute(q.order_by(v.c.seq).limit(limit)).all()
    out: list[Change] = []
    cursor = start
    for row in rows:
        cursor = row.seq
        previous = conn.execute(
            sa.select(v.c.content_fingerprint, v.c.schema)
            .where(v.c.dataset_id == row.dataset_id, v.c.status.in_(_LIVE), v.c.seq < row.seq)
            .order_by(v.c.seq.desc())
            .limit(1)
        ).first()
        if previous is not None and previous.content_fingerprint == row.content_fingerprint:
            continue  # rewritten with identical content: nothing downstream needs to run
        kind, _ = classify_schema_change(
            json.loads(previous.schema) if previous is not None and previous.schema else None,
            json.loads(row.schema) if row.schema else None,
        )
        published = row.status_at.replace(tzinfo=timezone.utc) if row.status_at.tzinfo is None else row.status_at
        out.append(
            Change(
                dataset=Dataset(row.namespace, row.name),
                version=row.fingerprint,
                content_fingerprint=row.content_fingerprint,
                previous=previous.content_fingerprint if previous is not None else None,
                run_id=row.run_id,
                published_at=published,
                cursor=str(row.seq),
                kind=f"schema_{kind}" if kind else "content",
            )
        )
    if dataset_ids is not None and not rows:  # nothing for these datasets: jump to the global head
        head = conn.execute(sa.select(sa.func.max(v.c.seq))).scalar()
        cursor = max(cursor, head or 0)
    return out, str(cursor)


def plan_runs(
    conn: Connection, pm: pluggy.PluginManager, changes: Sequence[Change], integration: str | None
) -> tuple[list[RunRequest], list[tuple[Job, str]]]:
    """(requests to run, jobs held with the reason): consumers of a breaking change are held."""
    reasons: dict[int, list[str]] = {}
    breaking: dict[int, str] = {}
    for change in changes:
        ds = reader.find(conn, "dataset", f"{change.dataset.namespace}:{change.dataset.name}")
        if ds is None:
            continue
        for r in conn.execute(sa.select(t.job_io.c.job_id).where(t.job_io.c.dataset_id == ds, t.job_io.c.direction == "in")):
            reasons.setdefault(r.job_id, []).append(change.dataset.id)
            if change.kind == "schema_breaking":
                breaking[r.job_id] = f"breaking schema change in {change.dataset.id}"
    requests: dict[tuple[str, str], RunRequest] = {}
    held: list[tuple[Job, str]] = []
    for job_id, why in sorted(reasons.items()):
        if _reads_quarantine(conn, job_id):
            continue
        row = conn.execute(sa.select(t.job).where(t.job.c.id == job_id)).one()
        job = reader.to_job(row, with_facets=True)
        if job_id in breaking:
            held.append((job, breaking[job_id]))
            continue
        mapped = pm.hook.sutura_run_target(job=_with_parent(conn, job_id, job))
        if mapped is None:
            continue
        kind, target = mapped
        if integration and kind != integration.upper():
            continue
        key = (kind, target)
        if key in requests:
            merged = tuple(sorted(set(requests[key].reasons) | set(why)))
            requests[key] = RunRequest(kind, requests[key].job, target, merged)
        else:
            requests[key] = RunRequest(kind, job, target, tuple(sorted(set(why))))
    return sorted(requests.values(), key=lambda r: (r.integration, r.target)), held


def _reads_quarantine(conn: Connection, job_id: int) -> bool:
    """Whether any input's newest version is held in quarantine."""
    v = t.dataset_version
    inputs = [r.dataset_id for r in conn.execute(sa.select(t.job_io.c.dataset_id).where(t.job_io.c.job_id == job_id, t.job_io.c.direction == "in"))]
    for ds_id in inputs:
        newest = conn.execute(
            sa.select(v.c.status)
            .where(v.c.dataset_id == ds_id, v.c.status != VersionStatus.DISCARDED.value)
            .order_by(v.c.created_at.desc(), v.c.id.desc())
            .limit(1)
        ).scalar()
        if newest == VersionStatus.QUARANTINED.value:
            return True
    return False


def _with_parent(conn: Connection, job_id: int, job: Job) -> Job:
    """Attach the parent job (an Airflow task's DAG) of the job's latest run as a facet."""
    parent_run, parent_job = t.run.alias("parent_run"), t.job.alias("parent_job")
    parent = conn.execute(
        sa.select(parent_job.c.namespace, parent_job.c.name)
        .select_from(
            t.run.join(parent_run, parent_run.c.run_id == t.run.c.parent_run_id).join(
                parent_job, parent_job.c.id == parent_run.c.job_id
            )
        )
        .where(t.run.c.job_id == job_id)
        .order_by(t.run.c.started_at.desc().nulls_last())
        .limit(1)
    ).first()
    if parent is None:
        return job
    facets = {**job.facets, "sutura_parent": {"namespace": parent.namespace, "name": parent.name}}
    return Job(job.namespace, job.name, job.type, job.integration, facets)


@hookimpl(trylast=True)
def sutura_fingerprint(dataset: Any, run_id: str | None) -> tuple[str, str]:
    return default_fingerprints(dataset, run_id)


@hookimpl(trylast=True)
def sutura_run_target(job: Job) -> tuple[str, str] | None:
    integration = (job.integration or "").upper()
    parent = job.facets.get("sutura_parent")
    if integration == "AIRFLOW":
        if job.type == "DAG":
            return "AIRFLOW", job.name
        return "AIRFLOW", parent["name"] if parent else job.name.split(".")[0]
    if integration == "DBT":
        if job.type not in (None, "MODEL", "SNAPSHOT", "SEED"):
            return None  # tests run with their model
        unique_id = (job.facets.get("dbt_node") or {}).get("unique_id")
        if unique_id:  # model.<project>.<name>
            return "DBT", unique_id.rsplit(".", 1)[-1]
        name = job.name
        for suffix in (".build.run", ".build.snapshot", ".build.seed", ".run", ".snapshot", ".seed"):
            name = name.removesuffix(suffix)
        return "DBT", name.rsplit(".", 1)[-1]
    if integration == "DAGSTER":
        return "DAGSTER", job.name
    return (integration, job.name) if integration else ("OTHER", job.id)


def hold(conn: Connection, engine: Any, changes: Sequence[Change], integration: str | None) -> list[RunRequest]:
    """Plan, and record a SKIP decision (once per job and change) for every held job."""
    from sutura.decisions import record
    from sutura.engine import now_utc
    from sutura.ontology import Action, Decision

    requests, held = plan_runs(conn, engine.hooks, changes, integration)
    for job, reason in held:
        exists = conn.execute(
            sa.select(t.decision.c.id).where(
                t.decision.c.subject == job.id, t.decision.c.action == Action.SKIP.value, t.decision.c.reason.contains(reason)
            )
        ).first()
        if exists is None:
            decision = Decision(Action.SKIP, job.id, f"held: {reason}; fix the model or accept the new schema", (), "sutura.change")
            record(conn, decision, now_utc())
    return requests
