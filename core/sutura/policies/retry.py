"""The built-in retry policy: classify, then retry / fail / wait / escalate.

- transient: retry after exponential backoff with full jitter, unless the job's retry
  budget for the window is spent (escalate), its attempts are exhausted (fail), or the
  data source's circuit is open (wait for the cooldown; one probe goes through);
- deterministic: fail at once (no retry spent);
- upstream (an input's producer failed, an input is quarantined or its source's circuit
  is open): wait: retrying before the cause clears is pointless;
- data: fail: the data must be fixed or released, a retry reads the same rows;
- unknown: behave as native retries would (retry while attempts remain).

History: a signature that kept failing after retries becomes deterministic; one that
healed after a retry counts as evidence of transience. Outcomes are learned from the
events themselves (a later COMPLETE of the job = the retry succeeded).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from dataclasses import replace
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.hookspecs import hookimpl
from sutura.ontology import Action, Decision, Diagnosis, Failure, FailureKind, node_id
from sutura.plugins import notify
from sutura.policies import breaker
from sutura.store import schema as t
from sutura.store.db import dumps, insert

__all__ = ["decide_failure"]

POLICY = "sutura.retry"
_LEARNED = (Action.RETRY.value, Action.WAIT.value)  # decisions whose outcome the events reveal


def decide_failure(engine: Any, failure: Failure) -> Decision:
    diagnosis: Diagnosis = engine.hooks.hook.sutura_classify_failure(failure=failure, engine=engine)
    settings = engine.settings

    def decide(conn: Connection) -> Decision:
        from sutura.decisions import record
        from sutura.engine import now_utc

        now = now_utc()
        job_id = engine.writer.job_id(conn, failure.job.namespace, failure.job.name, now)
        sources = _sources(conn, failure, job_id, diagnosis)
        clock = now.timestamp()
        transient = diagnosis.kind is FailureKind.TRANSIENT
        circuits, blocked = {}, {}
        for source in sources:
            c = _load_circuit(conn, source)
            if transient and (not diagnosis.source or source == diagnosis.source):
                c = breaker.on_failure(c, clock, settings.get("retry.breaker_threshold"), settings.get("retry.breaker_window"))
            allowed, wait, c = breaker.admit(c, clock, settings.get("retry.breaker_cooldown"))
            circuits[source] = c
            if not allowed:
                blocked[source] = wait
        window_start = now.timestamp() - settings.get("retry.budget_window")
        spent = conn.execute(
            sa.select(sa.func.count()).where(
                t.decision.c.job_id == job_id,
                t.decision.c.action == Action.RETRY.value,
                t.decision.c.created_at >= _from_epoch(window_start),
            )
        ).scalar_one()
        context = {
            "circuits": {s: c.state for s, c in circuits.items()},
            "blocked_sources": blocked,
            "budget_left": max(0, settings.get("retry.budget") - spent),
            "settings": settings,
        }
        decision = engine.hooks.hook.sutura_choose_remedy(failure=failure, diagnosis=diagnosis, context=context, engine=engine)
        for c in circuits.values():
            _save_circuit(conn, c, now)
        return record(conn, decision, now, job_id=job_id, run_id=failure.run_id)

    decision = engine.transaction(decide)
    notify(engine.hooks, "sutura_decision_made", decision=decision, engine=engine)
    return decision


def _from_epoch(ts: float) -> Any:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc)


def _sources(conn: Connection, failure: Failure, job_id: int, diagnosis: Diagnosis) -> list[str]:
    """The data sources (namespaces) a failing job touches: its inputs, and the one the error names."""
    names = {d.namespace for d in failure.inputs}
    if not names:
        rows = conn.execute(
            sa.select(t.dataset.c.namespace)
            .join(t.job_io, t.job_io.c.dataset_id == t.dataset.c.id)
            .where(t.job_io.c.job_id == job_id, t.job_io.c.direction == "in")
        )
        names = {r.namespace for r in rows}
    if diagnosis.source:
        names.add(diagnosis.source)
    return sorted(names)


def _load_circuit(conn: Connection, source: str) -> breaker.Circuit:
    # Create the row first: FOR UPDATE locks nothing that does not exist yet, and two workers
    # seeing no row would both write a one-failure circuit (a lost update).
    conn.execute(
        insert(conn, t.circuit)
        .values(source=source, state="closed", failures="[]", updated_at=_from_epoch(time.time()))
        .on_conflict_do_nothing(index_elements=["source"])
    )
    row = conn.execute(sa.select(t.circuit).where(t.circuit.c.source == source).with_for_update()).first()
    if row is None:
        return breaker.Circuit(source=source)
    return breaker.Circuit(source, row.state, tuple(json.loads(row.failures)), row.opened_at, row.probe_at)


def _save_circuit(conn: Connection, c: breaker.Circuit, now: Any) -> None:
    values = dict(state=c.state, failures=dumps(list(c.failures)), opened_at=c.opened_at, probe_at=c.probe_at, updated_at=now)
    conn.execute(
        insert(conn, t.circuit).values(source=c.source, **values).on_conflict_do_update(index_elements=["source"], set_=values)
    )


# -- built-in hook implementations --------------------------------------------------------


@hookimpl(trylast=True)
def sutura_classify_failure(failure: Failure, engine: Any) -> Diagnosis:
    from sutura.diagnose import classify
    from sutura.diagnose.upstream import upstream_problems
    from sutura.decisions import signature_history

    d = classify(failure.error)
    evidence = list(d.evidence)
    problems = engine.read(lambda conn: upstream_problems(conn, failure))
    if problems:
        return replace(d, kind=FailureKind.UPSTREAM, confidence=0.9, evidence=tuple(problems + evidence))
    if d.signature:
        def history_of(conn: Connection) -> dict[str, int]:
            job_id = conn.execute(
                sa.select(t.job.c.id).where(t.job.c.namespace == failure.job.namespace, t.job.c.name == failure.job.name)
            ).scalar()
            return signature_history(conn, d.signature, job_id)

        history = engine.read(history_of)
        failed, healed = history.get("failed", 0), history.get("succeeded", 0)
        min_history = engine.settings.get("retry.history_min")
        if d.kind is FailureKind.TRANSIENT and failed >= min_history and healed == 0:
            evidence.append(f"this error kept failing after {failed} retries and never healed")
            return replace(d, kind=FailureKind.DETERMINISTIC, confidence=0.8, evidence=tuple(evidence))
        if d.kind is FailureKind.UNKNOWN and healed > 0:
            evidence.append(f"this error healed after a retry {healed} time(s) before")
            return replace(d, kind=FailureKind.TRANSIENT, confidence=0.6, evidence=tuple(evidence))
        if d.kind is FailureKind.TRANSIENT and healed > 0:
            evidence.append(f"healed after a retry {healed} time(s) before")
            return replace(d, confidence=min(1.0, d.confidence + 0.05), evidence=tuple(evidence))
    return d


@hookimpl(trylast=True)
def sutura_choose_remedy(failure: Failure, diagnosis: Diagnosis, context: dict[str, Any], engine: Any) -> Decision:
    settings = context["settings"]
    subject = node_id("run", failure.run_id) if failure.run_id else failure.job.id
    kind = diagnosis.kind
    evidence = tuple(diagnosis.evidence)
    attempts_left = failure.max_attempts - failure.attempt
    blocked = context["blocked_sources"]

    def decide(action: Action, reason: str, delay: float | None = None) -> Decision:
        return Decision(action, subject, reason, evidence, POLICY, delay, diagnosis)

    error = f"{failure.error.type}: {failure.error.message}".strip()[:300]
    if kind is FailureKind.DETERMINISTIC:
        return decide(Action.FAIL, f"deterministic failure, a retry would fail the same way ({error})")
    if kind is FailureKind.DATA:
        return decide(Action.FAIL, f"the data violates expectations; fix or release it, a retry reads the same data ({error})")
    if kind is FailureKind.UPSTREAM:
        delay = max(blocked.values(), default=settings.get("retry.base_delay") * 6)
        roots = [e for e in evidence if e.startswith("root cause: ")]
        cause = roots[0] if roots else evidence[0] if evidence else "an input is unhealthy"
        return decide(Action.WAIT, f"the cause is upstream, {cause}; waiting instead of retrying", delay)
    if blocked:
        source, wait = max(blocked.items(), key=lambda kv: kv[1])
        return decide(Action.WAIT, f"circuit open for {source}: waiting {wait:.0f}s instead of hammering it", wait)
    if attempts_left <= 0:
        return decide(Action.FAIL, f"{kind.value} failure and no attempts left ({failure.attempt}/{failure.max_attempts}): {error}")
    if context["budget_left"] <= 0:
        return decide(Action.ESCALATE, f"retry budget of {failure.job.id} spent for this window: needs a person ({error})")
    delay = breaker.backoff(failure.attempt, settings.get("retry.base_delay"), settings.get("retry.max_delay"))
    why = "transient failure" if kind is FailureKind.TRANSIENT else "unclassified failure (native retry behaviour)"
    return decide(Action.RETRY, f"{why}: retry {failure.attempt + 1}/{failure.max_attempts} in {delay:.1f}s ({error})", delay)


@hookimpl(trylast=True)
def sutura_events_applied(engine: Any, events: Sequence[dict[str, Any]]) -> None:
    """Learn outcomes: a job's later COMPLETE settles its pending retries and closes circuits."""
    finished = [e for e in events if e.get("eventType") in ("COMPLETE", "FAIL") and e.get("job") and e.get("run")]
    if finished and engine.read(_anything_to_learn):
        window = engine.settings.get("retry.budget_window")
        engine.transaction(lambda conn: _learn(conn, finished, window))


def _anything_to_learn(conn: Connection) -> bool:
    """Usually nothing is pending: then no write transaction is opened at all."""
    unsettled = sa.select(t.decision.c.id).where(
        t.decision.c.action.in_(_LEARNED), sa.or_(t.decision.c.outcome.is_(None), t.decision.c.outcome == "failed")
    )
    open_circuit = sa.select(t.circuit.c.source).where(t.circuit.c.state != "closed")
    return conn.execute(unsettled.limit(1)).first() is not None or conn.execute(open_circuit.limit(1)).first() is not None


def _learn(conn: Connection, events: Sequence[dict[str, Any]], window: float) -> None:
    """A job's later COMPLETE means its recent retries and waits healed it (even those an
    intermediate failed attempt marked failed); a later FAIL settles pending ones as failed."""
    from sutura.engine import now_utc
    from sutura.events import parse_time

    now = now_utc()
    # One query each tells whether there is anything to learn: usually nothing is pending.
    pending_jobs = {
        (r.namespace, r.name): r.id
        for r in conn.execute(
            sa.select(t.job.c.id, t.job.c.namespace, t.job.c.name)
            .where(
                t.job.c.id.in_(
                    sa.select(t.decision.c.job_id).where(
                        t.decision.c.action.in_(_LEARNED), sa.or_(t.decision.c.outcome.is_(None), t.decision.c.outcome == "failed")
                    )
                )
            )
        )
    }
    open_circuits = {r.source for r in conn.execute(sa.select(t.circuit.c.source).where(t.circuit.c.state != "closed"))}
    for e in events:
        job = pending_jobs.get((e["job"]["namespace"], e["job"]["name"]))
        succeeded = e["eventType"] == "COMPLETE"
        sources: set[str] = set()
        if job is not None:
            at = parse_time(e["eventTime"], "eventTime")
            run_id = e["run"].get("runId")
            settle = [t.decision.c.outcome.is_(None)]
            if succeeded:
                settle.append(t.decision.c.outcome == "failed")
            pending = conn.execute(
                sa.select(t.decision.c.id, t.decision.c.source, t.decision.c.run_id).where(
                    t.decision.c.job_id == job,
                    t.decision.c.action.in_(_LEARNED),
                    sa.or_(*settle),
                    t.decision.c.created_at <= at,
                    t.decision.c.created_at >= at - timedelta(seconds=window),
                )
            ).all()
            for d in pending:
                if d.run_id and d.run_id == run_id:
                    continue  # the event of the attempt that failed, not of its retry
                conn.execute(
                    t.decision.update().where(t.decision.c.id == d.id).values(outcome="succeeded" if succeeded else "failed", outcome_at=now)
                )
            sources = {d.source for d in pending if d.source}
        if succeeded and open_circuits:
            sources |= {ds["namespace"] for ds in (e.get("inputs") or []) + (e.get("outputs") or [])}
            for ns in sources & open_circuits:
                conn.execute(
                    t.circuit.update()
                    .where(t.circuit.c.source == ns)
                    .values(state="closed", failures="[]", opened_at=None, probe_at=None, updated_at=now)
                )
