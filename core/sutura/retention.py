"""Retention: prune raw events older than N days and runs beyond the newest K per job.

Safe while ingest runs: every delete is a small transaction (``retention.batch_size``
rows) that re-checks its conditions and, on PostgreSQL, skips rows another transaction
holds (``FOR UPDATE SKIP LOCKED``), so a writer is never blocked for long.

What is kept, always:

- the newest ``runs_per_job`` runs of each job (newest by start, else last update), so
  the latest run of a job is never removed (``runs_per_job`` is at least 1);
- a run with a decision still pending (``outcome`` not yet learned), a run whose output
  version is still ``pending_audit`` or ``quarantined``, and a run that is the parent of
  a run still held (so ``parentRunId`` never dangles);
- every Dataset, Job, Field, edge of job-level lineage (``job_io``), DatasetVersion,
  CheckResult and Decision: retention thins the history of runs, not the graph.

Graph facts stay consistent: removing a run removes its ``run_io`` rows and its raw
events in the same transaction (no raw event without its run, no dangling ``run_io``).
A DatasetVersion, CheckResult or Decision keeps the id of the run that produced it as
plain text even when that run row is gone: the audit trail outlives the run history.

Pruning raw events drops the idempotency key of those events: a producer that redelivers
an event older than ``events_days`` has it applied again. The graph merge is itself
idempotent (highest ordering key wins), so that changes nothing, except that a run
pruned meanwhile is recreated from the redelivered event.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.store import schema as t

__all__ = ["PruneResult", "prune", "prune_candidates"]

_HELD_VERSIONS = ("pending_audit", "quarantined")


@dataclass(frozen=True)
class PruneResult:
    """What one ``prune`` removed."""

    events: int = 0
    runs: int = 0
    run_io: int = 0
    run_events: int = 0  # raw events removed with their runs

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _removable(r: Any = t.run) -> Any:
    """SQL: the run ``r`` may go (no pending decision, no held output, no child run)."""
    child = t.run.alias("child")
    return sa.and_(
        ~sa.exists().where(t.decision.c.run_id == r.c.run_id, t.decision.c.outcome.is_(None)),
        ~sa.exists().where(t.dataset_version.c.run_id == r.c.run_id, t.dataset_version.c.status.in_(_HELD_VERSIONS)),
        ~sa.exists().where(child.c.parent_run_id == r.c.run_id),
    )


def prune_candidates(conn: Connection, runs_per_job: int) -> list[int]:
    """Row ids of runs beyond the newest ``runs_per_job`` of their job that may be removed."""
    keep = max(1, int(runs_per_job))
    newest = sa.func.coalesce(t.run.c.started_at, t.run.c.updated_at)
    ranked = sa.select(
        t.run.c.id,
        sa.func.row_number().over(partition_by=t.run.c.job_id, order_by=(newest.desc(), t.run.c.id.desc())).label("rank"),
    ).subquery()
    q = (
        sa.select(t.run.c.id)
        .join(ranked, ranked.c.id == t.run.c.id)
        .where(ranked.c.rank > keep, _removable())
        .order_by(t.run.c.id)
    )
    return list(conn.execute(q).scalars())


def _delete_runs(conn: Connection, ids: list[int]) -> tuple[int, int, int]:
    lock = sa.select(t.run.c.id, t.run.c.run_id).where(t.run.c.id.in_(ids), _removable())
    if conn.dialect.name == "postgresql":
        lock = lock.with_for_update(skip_locked=True, of=t.run)
    rows = conn.execute(lock).all()
    if not rows:
        return 0, 0, 0
    run_ids = [r.run_id for r in rows]
    io = conn.execute(t.run_io.delete().where(t.run_io.c.run_id.in_(run_ids))).rowcount
    events = conn.execute(t.raw_event.delete().where(t.raw_event.c.run_id.in_(run_ids))).rowcount
    runs = conn.execute(t.run.delete().where(t.run.c.id.in_([r.id for r in rows]))).rowcount
    return runs, io, events


def _delete_events(conn: Connection, cutoff: datetime, batch: int) -> int:
    ids = sa.select(t.raw_event.c.id).where(t.raw_event.c.received_at < cutoff).order_by(t.raw_event.c.id).limit(batch)
    if conn.dialect.name == "postgresql":
        ids = ids.with_for_update(skip_locked=True)
    found = list(conn.execute(ids).scalars())
    if not found:
        return 0
    return conn.execute(t.raw_event.delete().where(t.raw_event.c.id.in_(found))).rowcount


def prune(
    engine: Any,
    *,
    events_days: float | None = None,
    runs_per_job: int | None = None,
    batch_size: int | None = None,
    now: datetime | None = None,
) -> PruneResult:
    """Apply the retention settings (arguments override ``retention.*``); return what went.

    ``engine`` is an embedded ``sutura.Engine`` (retention works on the store itself).
    """
    settings = engine.settings
    events_days = settings.get("retention.events_days") if events_days is None else events_days
    runs_per_job = settings.get("retention.runs_per_job") if runs_per_job is None else runs_per_job
    batch = max(1, int(batch_size or settings.get("retention.batch_size")))
    now = now or datetime.now(timezone.utc)
    runs = io = run_events = events = 0

    if runs_per_job is not None:
        for _pass in range(8):  # a pass can free parents whose last children it removed
            candidates = engine.read(lambda conn: prune_candidates(conn, runs_per_job))
            removed = 0
            for start in range(0, len(candidates), batch):
                chunk = candidates[start : start + batch]
                r, i, e = engine.transaction(lambda conn, chunk=chunk: _delete_runs(conn, chunk))
                runs, io, run_events, removed = runs + r, io + i, run_events + e, removed + r
            if not removed:
                break

    if events_days is not None:
        cutoff = now - timedelta(days=float(events_days))
        while True:
            n = engine.transaction(lambda conn: _delete_events(conn, cutoff, batch))
            events += n
            if n < batch:
                break
    return PruneResult(events=events, runs=runs, run_io=io, run_events=run_events)
