"""Is a failure's cause upstream? Look at the failing job's inputs in the graph."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.ontology import Failure, VersionStatus
from sutura.store import schema as t

__all__ = ["input_dataset_ids", "upstream_problems"]


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


def upstream_problems(conn: Connection, failure: Failure) -> list[str]:
    """Evidence that an input is quarantined, or stale because its producer's last run failed."""
    problems = []
    for ds_id, ns, name in input_dataset_ids(conn, failure):
        label = f"{ns}:{name}" if "://" not in ns else f"{ns}/{name}"
        latest = conn.execute(
            sa.select(t.dataset_version.c.status, t.dataset_version.c.fingerprint)
            .where(t.dataset_version.c.dataset_id == ds_id, t.dataset_version.c.status != VersionStatus.DISCARDED.value)
            .order_by(t.dataset_version.c.created_at.desc(), t.dataset_version.c.id.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.status == VersionStatus.QUARANTINED.value:
            problems.append(f"input {label} is quarantined (version {latest.fingerprint}); release it with `sutura release`")
            continue
        producers = conn.execute(
            sa.select(t.job.c.id, t.job.c.namespace, t.job.c.name)
            .join(t.job_io, t.job_io.c.job_id == t.job.c.id)
            .where(t.job_io.c.dataset_id == ds_id, t.job_io.c.direction == "out")
        ).all()
        for p in producers:
            if p.namespace == failure.job.namespace and p.name == failure.job.name:
                continue
            last = conn.execute(
                sa.select(t.run.c.state, t.run.c.ended_at, t.run.c.error_message)
                .where(t.run.c.job_id == p.id, t.run.c.state.is_not(None))
                .order_by(t.run.c.started_at.desc().nulls_last(), t.run.c.id.desc())
                .limit(1)
            ).first()
            if last is not None and last.state in ("FAIL", "ABORT"):
                err = f": {last.error_message[:120]}" if last.error_message else ""
                problems.append(f"input {label} is stale: its producer job:{p.namespace}:{p.name} last run {last.state}{err}")
    return problems
