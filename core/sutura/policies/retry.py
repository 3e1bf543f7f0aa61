"""The built-in retry policy: classify, then retry / fail / wait / escalate.

- transient: retry after exponential backoff with full jitter, unless the job's retry
  budget for the window is spent (escalate), its attempts are exhausted (fail), or the
  data source's circuit is open (wait for the cooldown; one probe goes through);
- deterministic: fail at once (no retry spent);
- upstream (an input's producer failed, an input is quarantined or its source's circuit
  is open): wait: retrying before the cause clears is pointless; the wait grows with how
  long the cause has lasted (``upstream_delay``);
- data: fail: the data must be fixed or released, a retry reads the same rows;
- unknown: behave as native retries would (retry while attempts remain).

History: a signature that kept failing after retries becomes deterministic; one that
healed after a retry counts as evidence of transience. Outcomes are learned from the
events themselves (a later COMPLETE of the job = the retry succeeded).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta, timezone
from dataclasses import dataclass, replace
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
        window_start = _from_epoch(now.timestamp() - settings.get("retry.budget_window"))
        job_id, spent = _job_and_spent(conn, failure, now, window_start)
        clock = now.timestamp()
        transient = diagnosis.kind is FailureKind.TRANSIENT
        loaded = _load_circuits(conn, _sources(conn, failure, job_id, diagnosis))
        circuits, blocked = {}, {}
        for source, c in loaded.items():
            if transient and (not diagnosis.source or source == diagnosis.source):
                c = breaker.on_failure(c, clock, settings.get("retry.breaker_threshold"), settings.get("retry.breaker_window"))
            allowed, wait, c = breaker.admit(c, clock, settings.get("retry.breaker_cooldown"))
            circuits[source] = c
            if not allowed:
                blocked[source] = wait
        context = {
            "circuits": {s: c.state for s, c in circuits.items()},
            "blocked_sources": blocked,
            "budget_left": max(0, settings.get("retry.budget") - spent),
            "settings": settings,
        }
        if diagnosis.kind is FailureKind.UPSTREAM:
            context["upstream"] = _unhealthy_for(conn, failure, now)
        decision = engine.hooks.hook.sutura_choose_remedy(failure=failure, diagnosis=diagnosis, context=context, engine=engine)
        _save_circuits(conn, [c for s, c in circuits.items() if c != loaded[s]], now)
        return record(conn, decision, now, job_id=job_id, run_id=failure.run_id)

    decision = engine.transaction(decide)
    notify(engine.hooks, "sutura_decision_made", decision=decision, engine=engine)
    return decision


def _from_epoch(ts: float) -> Any:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc)


def _retries_of(job: Any) -> Any:
    """The count of RETRY decisions of ``job`` since the ``since`` parameter."""
    return sa.select(sa.func.count()).where(
        t.decision.c.job_id == job, t.decision.c.action == Action.RETRY.value, t.decision.c.created_at >= sa.bindparam("since")
    )


_SPENT = _retries_of(sa.bindparam("job_id"))
_JOB_AND_SPENT = sa.select(t.job.c.id, _retries_of(t.job.c.id).scalar_subquery().label("spent")).where(
    t.job.c.namespace == sa.bindparam("namespace"), t.job.c.name == sa.bindparam("name")
)


def _job_and_spent(conn: Connection, failure: Failure, now: Any, since: Any) -> tuple[int, int]:
    """The failing job's id (created when first seen) and the retries it spent since ``since``."""
    from sutura.store.identity import job_id as find_or_create_job

    row = conn.execute(_JOB_AND_SPENT, {"namespace": failure.job.namespace, "name": failure.job.name, "since": since}).first()
    if row is not None:
        return row.id, row.spent
    job_id = find_or_create_job(conn, failure.job.namespace, failure.job.name, now)
    return job_id, conn.execute(_SPENT, {"job_id": job_id, "since": since}).scalar_one()


def _unhealthy_for(conn: Connection, failure: Failure, now: Any) -> dict[str, float | None]:
    """Seconds each unhealthy input of the failing job has been unhealthy (None: unknown), by node id."""
    from sutura.diagnose.upstream import Health, unhealthy_inputs

    return {
        node_id("dataset", ns, name): None if problem.since is None else max(0.0, (now - problem.since).total_seconds())
        for _, ns, name, problem, _ in unhealthy_inputs(conn, failure, Health(conn))
    }


_SOURCES_OF_JOB = (
    sa.select(t.dataset.c.namespace)
    .join(t.job_io, t.job_io.c.dataset_id == t.dataset.c.id)
    .where(t.job_io.c.job_id == sa.bindparam("job_id"), t.job_io.c.direction == "in")
)


def _sources(conn: Connection, failure: Failure, job_id: int, diagnosis: Diagnosis) -> list[str]:
    """The data sources (namespaces) a failing job touches: its inputs, and the one the error names."""
    names = {d.namespace for d in failure.inputs}
    if not names:
        names = {r.namespace for r in conn.execute(_SOURCES_OF_JOB, {"job_id": job_id})}
    if diagnosis.source:
        names.add(diagnosis.source)
    return sorted(names)


_CIRCUITS = (
    sa.select(t.circuit)
    .where(t.circuit.c.source.in_(sa.bindparam("sources", expanding=True)))
    .order_by(t.circuit.c.source)
    .with_for_update()
)


def _load_circuits(conn: Connection, sources: list[str]) -> dict[str, breaker.Circuit]:
    """The circuits of ``sources`` (closed when never seen), locked for the rest of the transaction.

    On PostgreSQL the rows are created first: FOR UPDATE locks nothing that does not exist
    yet, and two workers seeing no row would both write a one-failure circuit (a lost
    update). On SQLite the transaction holds the database's write lock from its start.
    """
    if not sources:
        return {}
    if conn.dialect.name != "sqlite":
        rows = [{"source": s, "state": "closed", "failures": "[]", "updated_at": _from_epoch(time.time())} for s in sources]
        conn.execute(_circuit_statements(conn)[0], rows)
    found = {
        r.source: breaker.Circuit(r.source, r.state, tuple(json.loads(r.failures)), r.opened_at, r.probe_at)
        for r in conn.execute(_CIRCUITS, {"sources": sources})
    }
    return {s: found.get(s) or breaker.Circuit(source=s) for s in sources}


def _save_circuits(conn: Connection, changed: Sequence[breaker.Circuit], now: Any) -> None:
    """Write the circuits a decision changed (an unchanged circuit is not rewritten)."""
    if not changed:
        return
    rows = [
        dict(source=c.source, state=c.state, failures=dumps(list(c.failures)), opened_at=c.opened_at, probe_at=c.probe_at, updated_at=now)
        for c in changed
    ]
    conn.execute(_circuit_statements(conn)[1], rows)


_CIRCUIT_STATEMENTS: dict[str, tuple[Any, Any]] = {}


def _circuit_statements(conn: Connection) -> tuple[Any, Any]:
    """(create if missing, upsert) of circuit rows in the store's dialect, built once per dialect."""
    name = conn.dialect.name
    if name not in _CIRCUIT_STATEMENTS:
        upsert = insert(conn, t.circuit)
        upsert = upsert.on_conflict_do_update(
            index_elements=["source"], set_={k: upsert.excluded[k] for k in ("state", "failures", "opened_at", "probe_at", "updated_at")}
        )
        _CIRCUIT_STATEMENTS[name] = (insert(conn, t.circuit).on_conflict_do_nothing(index_elements=["source"]), upsert)
    return _CIRCUIT_STATEMENTS[name]


# -- built-in hook implementations --------------------------------------------------------


@hookimpl(trylast=True)
def sutura_classify_failure(failure: Failure, engine: Any) -> Diagnosis:
    from sutura.diagnose import classify

    d = classify(failure.error)
    evidence = list(d.evidence)
    problems, history = engine.read(lambda conn: _upstream_and_history(conn, failure, d.signature))
    if problems:
        return replace(d, kind=FailureKind.UPSTREAM, confidence=0.9, evidence=tuple(problems + evidence))
    if d.signature:
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


def _upstream_and_history(conn: Connection, failure: Failure, signature: str | None) -> tuple[list[str], dict[str, int]]:
    """Upstream problems of the failing job's inputs; when none, how earlier retries of the signature went."""
    from sutura.decisions import signature_history
    from sutura.diagnose.upstream import upstream_problems

    problems = upstream_problems(conn, failure)
    if problems or not signature:
        return problems, {}
    return problems, signature_history(conn, signature, job=(failure.job.namespace, failure.job.name))


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
        delay = upstream_delay(context.get("upstream") or {}, blocked, settings)
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


RECHECK_FRACTION = 0.1  # of how long an upstream cause has lasted


def upstream_delay(unhealthy_for: dict[str, float | None], blocked: dict[str, float], settings: Any) -> float:
    """Seconds to wait on an upstream cause before the task runs again.

    A cause that appeared moments ago is re-checked after the base wait (six backoff
    steps). One that has lasted longer will likely last longer still, so the wait grows
    with the age of the oldest unhealthy input: a tenth of it, up to the backoff cap. The
    task then starts at most about a tenth later than the cause clears, and a long outage
    costs a few re-runs instead of one per base wait (each of which a plugin may count
    against the task's retries). An open circuit of an input's source is waited out.
    """
    floor = settings.get("retry.base_delay") * 6
    ages = [age for age in unhealthy_for.values() if age is not None]
    if not ages:
        return max(blocked.values(), default=floor)
    wait = min(max(max(ages) * RECHECK_FRACTION, floor), max(settings.get("retry.max_delay"), floor))
    return max([wait, *blocked.values()])


@hookimpl(trylast=True)
def sutura_events_applied(engine: Any, events: Sequence[dict[str, Any]]) -> None:
    """Learn outcomes: a job's later COMPLETE settles its pending retries and closes circuits.

    One transaction per ingested batch, none when the batch finished no run.
    """
    finished = [e for e in events if e.get("eventType") in ("COMPLETE", "FAIL") and e.get("job") and e.get("run")]
    if finished:
        window = engine.settings.get("retry.budget_window")
        engine.transaction(lambda conn: _learn(conn, finished, window))


_d = t.decision
_UNSETTLED = sa.or_(_d.c.outcome.is_(None), _d.c.outcome == "failed")
# Retries and waits of the batch's jobs (namespaces x names, see name_params) not yet
# known to have healed, in the batch's time span.
_PENDING = (
    sa.select(_d.c.id, _d.c.source, _d.c.run_id, _d.c.outcome, _d.c.created_at, t.job.c.namespace, t.job.c.name)
    .select_from(_d.join(t.job, t.job.c.id == _d.c.job_id))
    .where(
        t.job.c.namespace.in_(sa.bindparam("namespaces", expanding=True)),
        t.job.c.name.in_(sa.bindparam("names", expanding=True)),
        _d.c.action.in_(_LEARNED),
        _UNSETTLED,
        _d.c.created_at >= sa.bindparam("since"),
        _d.c.created_at <= sa.bindparam("until"),
    )
    .order_by(_d.c.created_at, _d.c.id)
)
_OPEN_CIRCUITS = sa.select(t.circuit.c.source).where(t.circuit.c.state != "closed")
_SETTLE = _d.update().where(_d.c.id.in_(sa.bindparam("ids", expanding=True))).values(
    outcome=sa.bindparam("outcome"), outcome_at=sa.bindparam("at")
)
_CLOSE = (
    t.circuit.update()
    .where(t.circuit.c.source.in_(sa.bindparam("sources", expanding=True)))
    .values(state="closed", failures="[]", opened_at=None, probe_at=None, updated_at=sa.bindparam("at"))
)


def _learn(conn: Connection, events: Sequence[dict[str, Any]], window: float) -> None:
    """A job's later COMPLETE means its recent retries and waits healed it (even those an
    intermediate failed attempt marked failed); a later FAIL settles pending ones as failed.

    Events are taken in order against the pending decisions read once for the batch, so a
    FAIL then a COMPLETE of one job in one batch ends as the two would one after the other.
    """
    from sutura.diagnose.upstream import name_params
    from sutura.engine import now_utc
    from sutura.events import parse_time

    now = now_utc()
    times = [parse_time(e["eventTime"], "eventTime") for e in events]
    jobs = list(dict.fromkeys((e["job"]["namespace"], e["job"]["name"]) for e in events))
    span = {"since": min(times) - timedelta(seconds=window), "until": max(times)}
    pending: dict[tuple[str, str], list[_Pending]] = {}
    for chunk in _chunks(jobs):
        wanted = set(chunk)
        for r in conn.execute(_PENDING, {**name_params(chunk), **span}):
            if (r.namespace, r.name) in wanted:  # the IN lists' cross product may hold other jobs
                pending.setdefault((r.namespace, r.name), []).append(_Pending(r.id, r.source, r.run_id, r.outcome, _utc(r.created_at)))
    open_circuits = {r.source for r in conn.execute(_OPEN_CIRCUITS)}
    settled: dict[str, str] = {}
    close: set[str] = set()
    for e, at in zip(events, times):
        succeeded = e["eventType"] == "COMPLETE"
        matched = _settle(pending.get((e["job"]["namespace"], e["job"]["name"]), ()), e["run"].get("runId"), at, window, succeeded, settled)
        if succeeded and open_circuits:
            sources = {d.source for d in matched if d.source}
            sources |= {ds["namespace"] for ds in (e.get("inputs") or []) + (e.get("outputs") or [])}
            close |= sources & open_circuits
    for outcome in ("succeeded", "failed"):
        ids = [i for i, o in settled.items() if o == outcome]
        for chunk in _chunks(ids):
            conn.execute(_SETTLE, {"ids": chunk, "outcome": outcome, "at": now})
    if close:
        conn.execute(_CLOSE, {"sources": sorted(close), "at": now})


@dataclass(slots=True)
class _Pending:
    """A retry or wait of the batch's jobs whose outcome is not settled yet."""

    id: str
    source: str | None
    run_id: str | None
    outcome: str | None
    created_at: Any


def _settle(pending: Sequence[_Pending], run_id: str | None, at: Any, window: float, succeeded: bool, settled: dict[str, str]) -> list[_Pending]:
    """Apply one finished event to its job's pending decisions; returns those it matched."""
    since = at - timedelta(seconds=window)
    matched = [
        d for d in pending
        if (d.outcome is None or (succeeded and d.outcome == "failed")) and since <= d.created_at <= at
    ]
    for d in matched:
        if d.run_id and d.run_id == run_id:
            continue  # the event of the attempt that failed, not of its retry
        d.outcome = settled[d.id] = "succeeded" if succeeded else "failed"
    return matched


def _utc(value: Any) -> Any:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _chunks(values: list[Any], size: int = 400) -> Any:
    for i in range(0, len(values), size):
        yield values[i : i + size]
