"""The audit trail: every Decision stored with its reason, evidence, policy and outcome.

Outcomes close the loop: a retry that was followed by a successful run is
``succeeded``, one followed by another failure ``failed``; a quarantine later
``released`` or ``discarded``; a publish decided with ``defer_publish`` is
``pending_publish`` until the plugin says ``published`` or ``failed_write``. The retry
policy reads them back as history.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.errors import NotFound
from sutura.ontology import Action, Decision, Diagnosis, FailureKind
from sutura.store import schema as t
from sutura.store.db import dumps

__all__ = ["get", "list_decisions", "record", "record_outcome", "signature_history"]

_INSERT = t.decision.insert()  # built once: every decision is recorded with it


def record(
    conn: Connection,
    decision: Decision,
    now: datetime,
    *,
    job_id: int | None = None,
    run_id: str | None = None,
) -> Decision:
    """Store a decision and return it with its id and time."""
    decision_id = decision.id or str(uuid.uuid4())
    diag = decision.diagnosis
    conn.execute(
        _INSERT,
        {
            "id": decision_id,
            "action": decision.action.value,
            "subject": decision.subject,
            "reason": decision.reason,
            "evidence": dumps(list(decision.evidence)),
            "policy": decision.policy or "unknown",
            "delay_seconds": decision.delay_seconds,
            "diagnosis": dumps(diag.to_dict()) if diag else None,
            "signature": diag.signature if diag else None,
            "source": diag.source if diag else None,
            "job_id": job_id,
            "run_id": run_id,
            "outcome": decision.outcome,
            "created_at": now,
        },
    )
    return _replace(decision, id=decision_id, created_at=now)


def _replace(decision: Decision, **changes: Any) -> Decision:
    from dataclasses import replace

    return replace(decision, **changes)


def record_outcome(conn: Connection, decision_id: str, outcome: str, now: datetime) -> None:
    updated = conn.execute(
        t.decision.update().where(t.decision.c.id == decision_id).values(outcome=outcome, outcome_at=now)
    )
    if updated.rowcount == 0:
        raise NotFound(f"no decision {decision_id!r}")


def get(conn: Connection, decision_id: str, *, lock: bool = False) -> Decision:
    """One decision by id; ``lock`` holds its row until the transaction ends (to settle it)."""
    q = sa.select(t.decision).where(t.decision.c.id == decision_id)
    row = conn.execute(q.with_for_update() if lock else q).first()
    if row is None:
        raise NotFound(f"no decision {decision_id!r}")
    return _to_decision(row)


def _to_decision(row: Any) -> Decision:
    diag = None
    if row.diagnosis:
        d = json.loads(row.diagnosis)
        diag = Diagnosis(
            kind=FailureKind(d["kind"]),
            confidence=d["confidence"],
            evidence=tuple(d.get("evidence") or ()),
            signature=d.get("signature"),
            source=d.get("source"),
        )
    created = row.created_at
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return Decision(
        action=Action(row.action),
        subject=row.subject,
        reason=row.reason,
        evidence=tuple(json.loads(row.evidence)),
        policy=row.policy,
        delay_seconds=row.delay_seconds,
        diagnosis=diag,
        id=row.id,
        outcome=row.outcome,
        created_at=created,
    )


def list_decisions(conn: Connection, subject: str | None, action: str | None, limit: int) -> list[Decision]:
    q = sa.select(t.decision)
    if subject:
        q = q.where(t.decision.c.subject == subject)
    if action:
        q = q.where(t.decision.c.action == Action(action).value)
    q = q.order_by(t.decision.c.created_at.desc(), t.decision.c.id).limit(limit)
    return [_to_decision(r) for r in conn.execute(q)]


def _history(job_match: Any) -> Any:
    """Healed retries of the ``signature`` parameter, and its failed ones that ``job_match``."""

    def count(cond: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)

    return sa.select(
        count(t.decision.c.outcome == "succeeded").label("succeeded"),
        count(sa.and_(t.decision.c.outcome == "failed", job_match)).label("failed"),
    ).where(t.decision.c.signature == sa.bindparam("signature"), t.decision.c.action == Action.RETRY.value)


_HISTORY_OF_JOB_ID = _history(t.decision.c.job_id == sa.bindparam("job_id"))
_HISTORY_OF_JOB_NAME = _history(
    t.decision.c.job_id
    == sa.select(t.job.c.id).where(t.job.c.namespace == sa.bindparam("namespace"), t.job.c.name == sa.bindparam("name")).scalar_subquery()
)


def signature_history(conn: Connection, signature: str, job_id: int | None = None, *, job: tuple[str, str] | None = None) -> dict[str, int]:
    """How earlier retries of this error signature turned out (one statement).

    ``succeeded`` counts healed retries anywhere (evidence the error is transient);
    ``failed`` counts failed retries of this job only (``job_id``, or ``job`` as
    (namespace, name)): one job's broken source must not turn the same error into
    "deterministic" for every other job.
    """
    if job is not None:
        row = conn.execute(_HISTORY_OF_JOB_NAME, {"signature": signature, "namespace": job[0], "name": job[1]}).one()
    else:
        row = conn.execute(_HISTORY_OF_JOB_ID, {"signature": signature, "job_id": job_id}).one()
    return {"succeeded": int(row.succeeded), "failed": int(row.failed)}
