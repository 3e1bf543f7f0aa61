"""Dataset health, and whether a failure's cause is upstream of the failing job.

A dataset is unhealthy when its newest version is quarantined or failed its checks, or
when the last run of a job writing it did not complete (it is stale). The retry policy
waits on an unhealthy input; ``explain`` walks through them to the root cause.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from typing import Any

from sutura.ontology import Failure, VersionStatus
from sutura.store import schema as t

__all__ = ["dataset_problem", "input_dataset_ids", "last_run", "upstream_problems"]


def input_dataset_ids(conn: Connection, failure: Failure) -> list[tuple[int, str, str]]:
    """(id, namespace, name) of the inputs: those the plugin named, else the job's known inputs."""
    if failure.inputs:
        out = []
        for d in failure.inputs:
            row = conn.execute(
                sa.select(t.dataset.c.id, t.dataset.c.canonical_id).where(
                    t.dataset.c.namespace == d.namespace, t.dataset.c.name == d.name
                )
            ).first()
            if row is not None:
                out.append((row.canonical_id or row.id, d.namespace, d.name))
        return out
    q = (
        sa.select(t.dataset.c.id, t.dataset.c.namespace, t.dataset.c.name)
        .join(t.job_io, t.job_io.c.dataset_id == t.dataset.c.id)
        .join(t.job, t.job.c.id == t.job_io.c.job_id)
        .where(t.job.c.namespace == failure.job.namespace, t.job.c.name == failure.job.name, t.job_io.c.direction == "in")
    )
    return [(r.id, r.namespace, r.name) for r in conn.execute(q)]


def last_run(conn: Connection, job_id: int) -> Any:
    return conn.execute(
        sa.select(t.run)
        .where(t.run.c.job_id == job_id, t.run.c.state.is_not(None))
        .order_by(t.run.c.started_at.desc().nulls_last(), t.run.c.id.desc())
        .limit(1)
    ).first()


def dataset_problem(conn: Connection, ds_id: int) -> tuple[str, str | None, int | None] | None:
    """(state, evidence, producer job id) when a dataset is unhealthy, else None."""
    v = t.dataset_version
    newest = conn.execute(
        sa.select(v.c.id, v.c.status, v.c.run_id, v.c.created_at)
        .where(v.c.dataset_id == ds_id, v.c.status != VersionStatus.DISCARDED.value)
        .order_by(v.c.created_at.desc(), v.c.id.desc())
        .limit(1)
    ).first()
    producers = [
        r.job_id for r in conn.execute(sa.select(t.job_io.c.job_id).where(t.job_io.c.dataset_id == ds_id, t.job_io.c.direction == "out"))
    ]
    if newest is not None:
        failed = conn.execute(
            sa.select(t.check_result.c.assertion, t.check_result.c.field).where(
                t.check_result.c.version_id == newest.id, t.check_result.c.success.is_(False)
            )
        ).all()
        writer_job = conn.execute(sa.select(t.run.c.job_id).where(t.run.c.run_id == newest.run_id)).scalar() if newest.run_id else None
        released = newest.status == VersionStatus.RELEASED.value  # accepted despite its checks
        if newest.status == VersionStatus.QUARANTINED.value or (failed and not released):
            names = ", ".join(f.assertion for f in failed[:3]) or "its checks"
            state = "QUARANTINED" if newest.status == VersionStatus.QUARANTINED.value else "FAILED_CHECKS"
            return state, f"newest version failed {names}", writer_job or (producers[0] if producers else None)
    for job_id in producers:
        run = last_run(conn, job_id)
        if run is not None and run.state in ("FAIL", "ABORT"):
            job = conn.execute(sa.select(t.job.c.namespace, t.job.c.name).where(t.job.c.id == job_id)).one()
            return "STALE", f"last written by a run that did not complete ({job.name} {run.state})", job_id
    return None


def upstream_problems(conn: Connection, failure: Failure) -> list[str]:
    """Evidence that an input of the failing job is unhealthy (quarantined, failed checks, stale)."""
    problems = []
    for ds_id, ns, name in input_dataset_ids(conn, failure):
        problem = dataset_problem(conn, ds_id)
        if problem is None:
            continue
        state, evidence, producer = problem
        by = ""
        if producer is not None:
            job = conn.execute(sa.select(t.job.c.namespace, t.job.c.name).where(t.job.c.id == producer)).one()
            if (job.namespace, job.name) == (failure.job.namespace, failure.job.name):
                continue  # its own output: not an upstream cause
            by = f" (written by job:{job.namespace}:{job.name})"
        hint = "; release it with `sutura release`" if state == "QUARANTINED" else ""
        problems.append(f"input dataset:{ns}:{name} is {state.lower().replace('_', ' ')}: {evidence}{by}{hint}")
        from sutura.diagnose.rootcause import chain_for

        chain = chain_for(conn, f"dataset:{ns}:{name}")
        if len(chain) > 1:
            root = chain[-1]
            problems.append(f"root cause: {root['id']} {root.get('state') or ''} {root.get('evidence') or ''}".strip())
    return problems
