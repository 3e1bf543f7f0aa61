"""The engine's decisions: retries, circuits, budgets, history, quarantines and changes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sutura import Action, CheckResult, Dataset, Engine, ErrorInfo, Failure, FailureKind, Job
from sutura.errors import NotFound, SuturaError
from sutura.hookspecs import hookimpl
from sutura.store import schema as t
from tests.core.builders import dataset, run_event, run_lifecycle

WH = "duckdb:///data/wh.duckdb"
CRM = Dataset("postgres://crm:5432", "crm.public.customers")
RESET = ErrorInfo("ConnectionResetError", "[Errno 104] Connection reset by peer", "builtins")


def fail(job: str, error: ErrorInfo = RESET, attempt: int = 1, max_attempts: int = 4, inputs=(CRM,), run_id=None) -> Failure:
    return Failure(job=Job("airflow", job), error=error, attempt=attempt, max_attempts=max_attempts, inputs=tuple(inputs), run_id=run_id)


def test_transient_retries_then_circuit_opens_and_jobs_wait(engine: Engine) -> None:
    d1 = engine.on_failure(fail("etl.load_a"))
    assert d1.action is Action.RETRY and 0 <= d1.delay_seconds <= engine.settings.get("retry.base_delay")
    assert d1.diagnosis.kind is FailureKind.TRANSIENT and "network" in " ".join(d1.diagnosis.evidence)
    engine.on_failure(fail("etl.load_b", attempt=2))  # another job on the same source
    d3 = engine.on_failure(fail("etl.load_c"))
    assert d3.action is Action.WAIT and "circuit open for postgres://crm:5432" in d3.reason
    assert 0 < d3.delay_seconds <= engine.settings.get("retry.breaker_cooldown")
    # a job that touches the same source waits too, without spending a retry
    other = engine.on_failure(fail("etl.load_d", error=ErrorInfo("TimeoutError", "timed out", "builtins")))
    assert other.action is Action.WAIT
    assert [d.action for d in engine.decisions()][:4] == [Action.WAIT, Action.WAIT, Action.RETRY, Action.RETRY]


def test_deterministic_failure_fails_fast(engine: Engine) -> None:
    d = engine.on_failure(fail("etl.transform", ErrorInfo("KeyError", "'customer_id'", "builtins"), max_attempts=4))
    assert d.action is Action.FAIL and "deterministic" in d.reason and "KeyError" in d.reason
    assert engine.decisions()[0].id == d.id


def test_exhausted_attempts_fail_and_spent_budget_escalates(sqlite_url: str) -> None:
    eng = Engine(db_url=sqlite_url, **{"retry.budget": 2, "retry.breaker_threshold": 100})
    assert eng.on_failure(fail("j", attempt=4, max_attempts=4)).action is Action.FAIL
    assert eng.on_failure(fail("j")).action is Action.RETRY
    assert eng.on_failure(fail("j")).action is Action.RETRY
    escalated = eng.on_failure(fail("j"))
    assert escalated.action is Action.ESCALATE and "budget" in escalated.reason


def test_history_turns_a_never_healing_transient_error_deterministic(sqlite_url: str) -> None:
    eng = Engine(db_url=sqlite_url, **{"retry.breaker_threshold": 100, "retry.history_min": 2})
    odd = ErrorInfo("OperationalError", "server closed the connection unexpectedly", "psycopg")
    for _ in range(2):
        d = eng.on_failure(fail("j", odd, inputs=()))
        assert d.action is Action.RETRY
        eng.record_outcome(d.id, "failed")
    d = eng.on_failure(fail("j", odd, inputs=()))
    assert d.action is Action.FAIL and d.diagnosis.kind is FailureKind.DETERMINISTIC
    assert any("kept failing" in e for e in d.diagnosis.evidence)


def test_outcomes_are_learned_from_events_and_close_circuits(engine: Engine) -> None:
    d = engine.on_failure(fail("etl.load", run_id="11111111-1111-4111-8111-111111111111"))
    assert d.action is Action.RETRY
    engine.ingest(run_event("FAIL", ("airflow", "etl.load"), "11111111-1111-4111-8111-111111111111", at=0))  # the attempt that failed
    assert engine.decisions()[0].outcome is None
    # the retry completes later, reading the source
    import datetime

    late = run_event("COMPLETE", ("airflow", "etl.load"), inputs=[dataset(CRM.namespace, CRM.name)])
    late["eventTime"] = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5)).isoformat()
    engine.ingest(late)
    assert engine.decisions()[0].outcome == "succeeded"


def test_failure_caused_upstream_waits(engine: Engine) -> None:
    raw = dataset(WH, "wh.main.customers")
    engine.ingest(run_lifecycle(("airflow", "etl.load_customers"), outputs=[raw], state="FAIL", error="ConnectionTimeout"))
    engine.ingest(run_lifecycle(("dbt", "wh.main.stg_customers"), inputs=[raw], outputs=[dataset(WH, "wh.main.stg_customers")], at=5))
    d = engine.on_failure(Failure(job=Job("dbt", "wh.main.stg_customers"), error=ErrorInfo("KeyError", "x"), max_attempts=3))
    assert d.action is Action.WAIT and d.diagnosis.kind is FailureKind.UPSTREAM
    assert "etl.load_customers" in d.reason


def _ago(events: list[dict], minutes: float) -> list[dict]:
    """The events, a second apart, starting ``minutes`` before now."""
    start = datetime.now(timezone.utc) - timedelta(minutes=minutes)
    for i, e in enumerate(events):
        e["eventTime"] = (start + timedelta(seconds=i)).isoformat()
    return events


def test_upstream_wait_follows_how_long_the_cause_has_lasted(engine: Engine) -> None:
    raw = dataset(WH, "wh.main.raw")
    engine.ingest(_ago(run_lifecycle(("airflow", "etl.load_raw"), outputs=[raw], state="FAIL", error="ConnectionTimeout"), 40))
    engine.ingest(_ago(run_lifecycle(("dbt", "wh.main.stg"), inputs=[raw], outputs=[dataset(WH, "wh.main.stg")]), 30))
    d = engine.on_failure(Failure(job=Job("dbt", "wh.main.stg"), error=ErrorInfo("KeyError", "x"), max_attempts=3))
    assert d.action is Action.WAIT and d.delay_seconds == pytest.approx(240, abs=5)  # a tenth of its 40 minutes
    engine.ingest(_ago(run_lifecycle(("airflow", "etl.load_raw"), outputs=[raw], state="FAIL", error="ConnectionTimeout"), 1))
    fresh = engine.on_failure(Failure(job=Job("dbt", "wh.main.stg"), error=ErrorInfo("KeyError", "x"), max_attempts=3))
    assert fresh.delay_seconds == engine.settings.get("retry.base_delay") * 6  # a new cause: the base wait


def test_upstream_delay_is_a_tenth_of_the_oldest_cause_within_bounds(sqlite_engine: Engine) -> None:
    from sutura.policies.retry import upstream_delay

    settings = sqlite_engine.settings  # base wait 6 x 5 s, cap 300 s
    assert upstream_delay({"dataset:a:x": 60.0}, {}, settings) == 30.0
    assert upstream_delay({"dataset:a:x": 1200.0, "dataset:a:y": 10.0}, {}, settings) == pytest.approx(120.0)
    assert upstream_delay({"dataset:a:x": 86400.0}, {}, settings) == 300.0
    assert upstream_delay({"dataset:a:x": 1200.0}, {"postgres://crm:5432": 200.0}, settings) == 200.0  # an open circuit waited out
    assert upstream_delay({}, {}, settings) == 30.0 and upstream_delay({"dataset:a:x": None}, {"postgres://crm:5432": 12.0}, settings) == 12.0


def test_a_batch_settles_outcomes_as_its_events_would_one_by_one(sqlite_url: str) -> None:
    eng = Engine(db_url=sqlite_url, **{"retry.breaker_threshold": 1})
    d = eng.on_failure(fail("etl.load", run_id="11111111-1111-4111-8111-111111111111"))
    assert d.action is Action.WAIT and "circuit open for postgres://crm:5432" in d.reason
    io = {"inputs": [dataset(CRM.namespace, CRM.name)]}
    again = run_event("FAIL", ("airflow", "etl.load"), "22222222-2222-4222-8222-222222222222", **io)
    healed = run_event("COMPLETE", ("airflow", "etl.load"), "33333333-3333-4333-8333-333333333333", **io)
    for i, e in enumerate((again, healed)):
        e["eventTime"] = (datetime.now(timezone.utc) + timedelta(seconds=5 + i)).isoformat()
    eng.ingest([again, healed])  # the FAIL settles the wait as failed, then the COMPLETE as succeeded
    assert eng.decisions()[0].outcome == "succeeded"
    circuit = eng.read(lambda conn: conn.exec_driver_sql("SELECT state, failures FROM circuit").one())
    assert tuple(circuit) == ("closed", "[]")


def test_post_ingest_hooks_take_one_transaction_each_and_none_without_finished_runs(sqlite_engine: Engine) -> None:
    import sqlalchemy as sa

    begins: list[int] = []
    sa.event.listen(sqlite_engine.db, "begin", lambda conn: begins.append(1))
    sqlite_engine.ingest([run_event("START", ("airflow", f"etl.t{i}")) for i in range(3)])
    assert len(begins) == 1  # the write only
    begins.clear()
    sqlite_engine.ingest([run_event("FAIL", ("airflow", f"etl.t{i}"), error="KeyError: 'id'") for i in range(3)])
    assert len(begins) == 3  # the write, the outcomes learned, the incidents opened
    assert len(sqlite_engine.incidents(state="open")) == 3


def test_quarantine_release_and_exactly_once_changes(engine: Engine) -> None:
    ds = Dataset(WH, "wh.main.orders")
    good = engine.on_checks(ds, [CheckResult(ds, "not_null_id", True, field="id")], fingerprint="v1", row_count=10)
    assert good.action is Action.PUBLISH
    changes, cursor = engine.changes()
    assert [c.content_fingerprint for c in changes] == ["c:v1"]
    bad = engine.on_checks(ds, [CheckResult(ds, "not_null_id", False, field="id", message="3 nulls")], fingerprint="v2", row_count=12)
    assert bad.action is Action.QUARANTINE and "not_null_id" in bad.reason and "sutura release" in bad.reason
    staleness = engine.last_published(ds)
    assert staleness.version.content_fingerprint == "c:v1" and staleness.quarantined[0].content_fingerprint == "c:v2"
    assert staleness.stale_seconds is not None
    assert engine.changes(since=cursor) == ([], cursor)  # a quarantine is not a change
    assert engine.incidents(state="open")
    released = engine.release(bad.subject, "nulls are expected for guest orders", by="ana")
    assert released.action is Action.RELEASE and "ana" in released.reason
    new, cursor2 = engine.changes(since=cursor)
    assert [c.content_fingerprint for c in new] == ["c:v2"] and new[0].previous == "c:v1"
    assert engine.changes(since=cursor2) == ([], cursor2)  # resumed consumers see each change once
    assert engine.last_published(ds).version.content_fingerprint == "c:v2"
    assert not engine.incidents(state="open")
    quarantine = [d for d in engine.decisions() if d.action is Action.QUARANTINE][0]
    assert quarantine.outcome == "released"
    with pytest.raises(SuturaError):
        engine.release(bad.subject, "again")


class _Notified:
    """A plugin recording what ``sutura_decision_made`` hears."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, str | None]] = []

    @hookimpl
    def sutura_decision_made(self, decision) -> None:
        self.heard.append((decision.action.value, decision.outcome))


def _status(engine: Engine, ds: Dataset, content: str) -> str:
    return next(v.status.value for v in engine.versions(ds) if v.content_fingerprint == content)


def test_a_deferred_publish_is_announced_only_once_production_holds_it(engine: Engine) -> None:
    ds = Dataset(WH, "wh.main.two_phase")
    ok = [CheckResult(ds, "not_null_id", True, field="id")]
    engine.on_checks(ds, ok, fingerprint="v1", row_count=10)
    _, cursor = engine.changes()
    notified = _Notified()
    engine.hooks.register(notified)
    pending = engine.on_checks(ds, ok, fingerprint="v2", row_count=11, defer_publish=True)
    assert pending.action is Action.PUBLISH and pending.outcome == "pending_publish"
    assert engine.last_published(ds).version.content_fingerprint == "c:v1"
    assert engine.changes(since=cursor) == ([], cursor)
    assert _status(engine, ds, "c:v2") == "pending_audit" and notified.heard == []
    engine.record_outcome(pending.id, "published")
    assert engine.last_published(ds).version.content_fingerprint == "c:v2"
    new, cursor2 = engine.changes(since=cursor)
    assert [(c.content_fingerprint, c.previous) for c in new] == [("c:v2", "c:v1")]
    assert notified.heard == [("publish", "published")]
    engine.record_outcome(pending.id, "published")  # said twice: nothing moves
    assert engine.changes(since=cursor2) == ([], cursor2) and notified.heard == [("publish", "published")]
    assert engine.decisions(pending.subject)[0].outcome == "published"
    with pytest.raises(SuturaError, match="settled already"):
        engine.record_outcome(pending.id, "failed_write")


def test_a_failed_write_after_a_deferred_publish_announces_nothing(engine: Engine) -> None:
    ds = Dataset(WH, "wh.main.two_phase_failed")
    ok = [CheckResult(ds, "ok", True)]
    engine.on_checks(ds, ok, fingerprint="v1", row_count=10)
    _, cursor = engine.changes()
    pending = engine.on_checks(ds, ok, fingerprint="v2", row_count=11, defer_publish=True)
    engine.record_outcome(pending.id, "failed_write")
    engine.record_outcome(pending.id, "failed_write")  # said twice: harmless
    assert engine.last_published(ds).version.content_fingerprint == "c:v1"
    assert _status(engine, ds, "c:v2") == "failed_write"
    assert engine.changes(since=cursor) == ([], cursor)
    assert engine.decisions(pending.subject)[0].outcome == "failed_write"
    with pytest.raises(SuturaError, match="settled already"):
        engine.record_outcome(pending.id, "published")
    again = engine.on_checks(ds, ok, fingerprint="v2", row_count=11, defer_publish=True)  # the next run writes it
    assert _status(engine, ds, "c:v2") == "pending_audit"
    engine.record_outcome(again.id, "published")
    assert engine.last_published(ds).version.content_fingerprint == "c:v2"
    assert [c.content_fingerprint for c in engine.changes(since=cursor)[0]] == ["c:v2"]


def test_only_a_deferred_publish_can_be_confirmed(engine: Engine) -> None:
    ds = Dataset(WH, "wh.main.two_phase_refused")
    held = engine.on_checks(ds, [CheckResult(ds, "unique_id", False)], fingerprint="bad", defer_publish=True)
    assert held.action is Action.QUARANTINE and held.outcome is None  # quarantines are never deferred
    assert [v.content_fingerprint for v in engine.last_published(ds).quarantined] == ["c:bad"]
    assert engine.incidents(state="open")
    with pytest.raises(SuturaError, match="quarantine decision, not a deferred publish"):
        engine.record_outcome(held.id, "published")
    assert engine.changes(datasets=[ds])[0] == []
    at_once = engine.on_checks(ds, [CheckResult(ds, "unique_id", True)], fingerprint="good")
    with pytest.raises(SuturaError, match="no publish to confirm"):
        engine.record_outcome(at_once.id, "published")
    engine.record_outcome(at_once.id, "failed_write")  # as before: recorded, the version stays published
    assert engine.decisions(at_once.subject)[0].outcome == "failed_write"
    assert engine.last_published(ds).version.content_fingerprint == "c:good"
    with pytest.raises(NotFound):
        engine.record_outcome("no-such-decision", "published")


def test_last_published_does_not_wait_for_a_writer(engine: Engine) -> None:
    import threading

    ds = Dataset(WH, "wh.main.read_while_writing")
    engine.on_checks(ds, [CheckResult(ds, "ok", True)], fingerprint="v1", row_count=10)
    answers: list = []
    with engine.db.begin() as writer:  # another writer holds the store's write lock
        writer.execute(t.sequence.update().values(value=t.sequence.c.value))
        reader = threading.Thread(target=lambda: answers.append(engine.last_published(ds)), daemon=True)
        reader.start()
        reader.join(timeout=10)  # the store's busy timeout is 60 s
        assert answers and answers[0].version.content_fingerprint == "c:v1"


def test_identical_content_is_not_a_change_and_plans_exactly_the_consumers(engine: Engine) -> None:
    src = dataset(WH, "wh.main.raw", rows=5)
    stg = dataset(WH, "wh.main.stg")
    other = dataset(WH, "wh.main.unrelated")
    engine.ingest(run_lifecycle(("airflow", "etl.load"), outputs=[src], parent=("00000000-0000-4000-8000-000000000001", "airflow", "etl")))
    engine.ingest(run_lifecycle(("dbt", "wh.main.stg"), inputs=[src], outputs=[stg], job_type=("DBT", "MODEL"), at=2))
    engine.ingest(run_lifecycle(("dagster", "features"), inputs=[stg], job_type=("DAGSTER", "ASSET"), at=3))
    engine.ingest(run_lifecycle(("dbt", "wh.main.unrelated"), inputs=[other], job_type=("DBT", "MODEL"), at=3))
    changes, cursor = engine.changes()
    raw_changes = [c for c in changes if c.dataset.name == "wh.main.raw"]
    plan = engine.plan_runs(raw_changes)
    assert [(r.integration, r.target) for r in plan] == [("DBT", "stg")]
    assert engine.plan_runs(raw_changes, integration="DAGSTER") == []
    # the load runs again and writes the same content: no change, nothing to run
    engine.ingest(run_lifecycle(("airflow", "etl.load"), outputs=[dataset(WH, "wh.main.raw", rows=5)], at=10))
    assert engine.changes(since=cursor)[0] == []
    engine.ingest(run_lifecycle(("airflow", "etl.load"), outputs=[dataset(WH, "wh.main.raw", rows=6)], at=20))
    again, _ = engine.changes(since=cursor)
    assert [c.dataset.name for c in again] == ["wh.main.raw"]


def test_plan_skips_jobs_reading_a_quarantined_input(engine: Engine) -> None:
    a, b = dataset(WH, "wh.main.a", rows=1), dataset(WH, "wh.main.b", rows=1)
    engine.ingest(run_lifecycle(("etl", "reads_a_and_b"), inputs=[a, b], job_type=("AIRFLOW", "DAG")))
    engine.ingest(run_lifecycle(("etl", "write_a"), outputs=[a], job_type=("AIRFLOW", "DAG"), at=1))
    bds = Dataset(WH, "wh.main.b")
    engine.on_checks(bds, [CheckResult(bds, "unique_id", False)], fingerprint="bad")
    changes, _ = engine.changes()
    assert engine.plan_runs(changes) == []


def test_breaking_schema_change_holds_consumers(engine: Engine) -> None:
    v1 = dataset(WH, "wh.main.customers", fields=[("id", "int"), ("email", "text")])
    v2 = dataset(WH, "wh.main.customers", fields=[("id", "int"), ("email", "text")])
    v3 = dataset(WH, "wh.main.customers", fields=[("id", "int"), ("email", "text"), ("phone", "text")])
    engine.ingest(run_lifecycle(("dbt", "wh.main.stg_customers"), inputs=[v1], job_type=("DBT", "MODEL")))
    engine.ingest(run_lifecycle(("airflow", "load"), outputs=[v1], at=1))
    _, cursor = engine.changes()
    engine.ingest(run_lifecycle(("airflow", "load"), outputs=[v3], at=2))  # additive: flows through
    additive, cursor = engine.changes(since=cursor)
    assert additive[0].kind == "schema_additive" and engine.plan_runs(additive)
    engine.ingest(run_lifecycle(("airflow", "load"), outputs=[v2], at=3))  # drops phone: breaking
    breaking, _ = engine.changes(since=cursor)
    assert breaking[0].kind == "schema_breaking"
    assert engine.plan_runs(breaking) == []
    held = engine.decisions(action="skip")
    assert held and held[0].subject == "job:dbt:wh.main.stg_customers" and "breaking schema change" in held[0].reason


def test_baseline_flags_volume_anomaly(sqlite_engine: Engine) -> None:
    ds = Dataset(WH, "wh.main.events")
    for i, rows in enumerate([1000, 1010, 990, 1005, 995, 1002]):
        sqlite_engine.on_checks(ds, [CheckResult(ds, "ok", True)], fingerprint=f"f{i}", row_count=rows)
    d = sqlite_engine.on_checks(ds, [CheckResult(ds, "ok", True)], fingerprint="tiny", row_count=40)
    assert any(e.startswith("baseline: volume") for e in d.evidence)


def test_changes_of_a_dataset_not_seen_yet_is_empty(engine: Engine) -> None:
    assert engine.changes(datasets=[f"dataset:{WH}:wh.main.future"]) == ([], "0")
