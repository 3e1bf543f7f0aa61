"""Retention (``sutura.retention`` and ``sutura prune``) on a real store: what goes, what must stay."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from sutura import CheckResult, Dataset, Engine, ErrorInfo, Failure, Job
from sutura.retention import prune
from sutura.store import schema as t
from tests.core.builders import dataset, run_event, run_lifecycle
from tests.core.test_cli import sutura

WH = "postgres://warehouse:5432"


def _rows(engine: Engine, sql: str) -> list:
    return engine.read(lambda conn: conn.execute(sa.text(sql)).all())


def _integrity(engine: Engine) -> None:
    """No half-kept facts: raw events, run_io rows and parent links all point at existing runs."""
    assert _rows(engine, "SELECT e.run_id FROM raw_event e WHERE e.run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM run r WHERE r.run_id = e.run_id)") == []
    assert _rows(engine, "SELECT i.run_id FROM run_io i WHERE NOT EXISTS (SELECT 1 FROM run r WHERE r.run_id = i.run_id)") == []
    assert _rows(engine, "SELECT c.run_id FROM run c WHERE c.parent_run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM run p WHERE p.run_id = c.parent_run_id)") == []


def test_runs_beyond_k_per_job_go_but_protected_runs_stay(engine: Engine) -> None:
    out = Dataset(WH, "wh.public.orders")
    runs = []
    dag_runs = [str(uuid.uuid4()) for _ in range(6)]
    for i in range(6):  # six runs of one task, each the child of its own DAG run
        evs = run_lifecycle(("etl", "dag.load"), at=i * 10, inputs=[dataset(WH, "wh.public.src")],
                            outputs=[dataset(WH, out.name, rows=i)], parent=(dag_runs[i], "etl", "dag"))
        engine.ingest(evs)
        runs.append(evs[0]["run"]["runId"])
    for i in range(6):  # the DAG runs themselves finish (a second job)
        engine.ingest(run_lifecycle(("etl", "dag"), at=i * 10, run_id=dag_runs[i]))
    # runs[0] has a retry decision whose outcome is not known yet; runs[1] wrote a version held in quarantine.
    engine.on_failure(Failure(job=Job("etl", "dag.load"), error=ErrorInfo("TimeoutError", "timed out"), run_id=runs[0], attempt=1, max_attempts=3))
    held = Dataset(WH, "wh.public.audit")
    engine.ingest(run_event("START", ("etl", "dag.load"), runs[1], at=10))
    assert engine.on_checks(held, [CheckResult(held, "not_null_id", False)], run_id=runs[1], fingerprint="x").action.value == "quarantine"
    before_versions = _rows(engine, "SELECT id, run_id, status FROM dataset_version ORDER BY id")

    result = prune(engine, runs_per_job=2)

    left = {r.run_id for r in _rows(engine, "SELECT run_id FROM run")}
    # dag.load: the newest two (runs[5], runs[4]) + the protected runs[0], runs[1]; runs[2], runs[3] go.
    assert {runs[0], runs[1], runs[4], runs[5]} <= left and not {runs[2], runs[3]} & left
    # dag: its newest two stay, and every DAG run that is still a parent of a kept task run.
    assert {dag_runs[i] for i in (0, 1, 4, 5)} == left & set(dag_runs)
    assert result.runs == 4 and result.run_events > 0 and result.run_io == 4  # runs[2], runs[3]: one input + one output each
    # Versions, checks and decisions keep the producing run's id though the run row is gone.
    assert _rows(engine, "SELECT id, run_id, status FROM dataset_version ORDER BY id") == before_versions
    assert engine.runs("job:etl:dag.load")[0].run_id == runs[5]  # the latest run of the job is kept
    assert engine.lineage(f"dataset:{WH}:{out.name}", "upstream", 2)["graph"]  # job-level lineage intact
    _integrity(engine)
    # Idempotent: a second prune with the same settings removes nothing more.
    assert prune(engine, runs_per_job=2).runs == 0


def test_old_raw_events_go_and_the_graph_stays(sqlite_engine: Engine) -> None:
    evs = run_lifecycle(("etl", "load"), outputs=[dataset(WH, "wh.public.t", rows=3)])
    sqlite_engine.ingest(evs)
    assert prune(sqlite_engine, events_days=30).events == 0  # received just now
    later = datetime.now(timezone.utc) + timedelta(days=31)
    assert prune(sqlite_engine, events_days=30, now=later, batch_size=1).events == 2
    assert _rows(sqlite_engine, "SELECT count(*) FROM raw_event") == [(0,)]
    assert sqlite_engine.run(evs[0]["run"]["runId"]).state.value == "COMPLETE"
    # The idempotency key went with the event: a redelivery is applied again and changes nothing.
    assert sqlite_engine.ingest(evs[1]).accepted == 1
    assert sqlite_engine.run(evs[0]["run"]["runId"]).state.value == "COMPLETE"
    assert len(sqlite_engine.versions(f"dataset:{WH}:wh.public.t")) == 1


def test_prune_is_safe_while_ingest_runs(engine: Engine) -> None:
    """Ingest keeps writing runs of the same jobs while prune deletes in small transactions."""
    errors: list[BaseException] = []
    stop = threading.Event()
    sent: list[str] = []

    def produce() -> None:
        try:
            i = 0
            while not stop.is_set() and i < 120:
                evs = run_lifecycle(("etl", f"job{i % 3}"), at=i, outputs=[dataset(WH, f"wh.public.t{i % 3}", rows=i)])
                engine.ingest(evs)
                sent.append(evs[0]["run"]["runId"])
                i += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    producer = threading.Thread(target=produce)
    producer.start()
    pruned = 0
    while producer.is_alive():
        pruned += prune(engine, runs_per_job=2, batch_size=3).runs
    producer.join()
    pruned += prune(engine, runs_per_job=2).runs
    assert not errors, errors
    assert pruned == len(sent) - 6 > 0
    for j in range(3):  # each job keeps exactly its two newest runs, the latest first
        kept = [r.run_id for r in engine.runs(f"job:etl:job{j}")]
        assert kept == [r for r in reversed(sent) if sent.index(r) % 3 == j][:2]
    _integrity(engine)


@pytest.mark.xdist_group("cli")
def test_prune_command(sqlite_url: str) -> None:
    eng = Engine(db_url=sqlite_url)
    for i in range(4):
        eng.ingest(run_lifecycle(("etl", "load"), at=i))
    eng.close()
    out = json.loads(sutura("prune", "--runs-per-job", "1", "--json", db=sqlite_url).stdout)
    assert out == {"events": 0, "runs": 3, "run_io": 0, "run_events": 6}
    human = sutura("prune", "--events-days", "0", db=sqlite_url).stdout
    assert human.startswith("pruned 2 raw event(s) older than 0.0 day(s)")
    refused = sutura("prune", db=sqlite_url, check=False)
    assert refused.returncode == 2 and "nothing to prune" in refused.stderr
