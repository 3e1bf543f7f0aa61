"""The in-process transport when its producer forks a child per event (Airflow's OpenLineage
provider does by default): ``warm`` in the parent leaves nothing in the store, and a child
forked afterwards stores its events without compiling a single statement."""

from __future__ import annotations

import json
import logging
import os
import uuid

import pytest
import sqlalchemy as sa

import sutura
from sutura.store.schema import metadata
from sutura.errors import StoreError
from sutura.transport import SuturaConfig, SuturaTransport, _shared_engine, warm
from tests.core.builders import dataset, run_lifecycle

DAG_RUN = str(uuid.uuid4())


def _task_events(task: str, at: float = 0) -> list[dict]:
    """A task's START and COMPLETE as the OpenLineage provider sends them: a DAG run as
    parent, a task job type, a try number, a table read and a table written."""
    return run_lifecycle(
        ("airflow", f"etl.{task}"),
        at=at,
        parent=(DAG_RUN, "airflow", "etl"),
        job_type=("AIRFLOW", "TASK"),
        try_number=1,
        inputs=[dataset("postgres://db:5432", "public.raw_orders", fields=[("id", "INTEGER"), ("amount", "DOUBLE")])],
        outputs=[dataset("postgres://db:5432", f"public.{task}", fields=[("id", "INTEGER"), ("total", "DOUBLE")])],
    )


def _row_counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables}
    finally:
        engine.dispose()


def _emit_in_child(url: str, events: list[dict]) -> dict:
    """Fork; the child emits ``events`` one by one and reports how many statements it compiled."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child process
        try:
            os.close(read)
            cache = _shared_engine(url).db._compiled_cache
            before = len(cache)
            transport = SuturaTransport(SuturaConfig(db_url=url, strict=True))
            for event in events:
                transport.emit(json.dumps(event))
            report = {"compiled": len(cache) - before}
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the test
            report = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            os.write(write, json.dumps(report).encode())
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        return json.loads(pipe.read())


def test_warm_stores_nothing_and_forked_children_compile_nothing(store_url: str) -> None:
    sutura.Engine(db_url=store_url).close()  # a migrated, empty store
    empty = _row_counts(store_url)
    warm(store_url)
    assert _row_counts(store_url) == empty, "the rehearsal is rolled back"

    for at, task in enumerate(("extract", "load")):  # the DAG run is new for the first task, known for the second
        events = _task_events(task, at * 10)
        report = _emit_in_child(store_url, events)
        assert report == {"compiled": 0}, report
        run = sutura.Engine(db_url=store_url).run(events[0]["run"]["runId"])
        assert run.state.value == "COMPLETE" and run.parent_run_id == DAG_RUN, "stored before the child exited"


def test_rehearsal_is_heard_by_the_builtin_plugins_only(sqlite_url: str) -> None:
    heard: list[str] = []

    class Notifier:
        @sutura.hookimpl
        def sutura_events_applied(self, engine, events):  # noqa: ANN001
            heard.extend(e["eventType"] for e in events)

    _shared_engine(sqlite_url).hooks.register(Notifier())
    warm(sqlite_url)
    assert heard == [], "a third-party notifier never hears of the sample events"
    for event in _task_events("extract"):
        SuturaTransport(SuturaConfig(db_url=sqlite_url, strict=True)).emit(event)
    assert heard == ["START", "COMPLETE"]


def test_an_unopenable_store_is_one_warning_per_process(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """``warm`` raises for its caller to report; emitters stay quiet about the same problem.
    Without ``warm``, a transport logs it once, however many events it drops."""
    from sutura import transport as module

    nowhere = "sqlite:////proc/sutura-nowhere/sutura.db"  # its folder cannot be created
    monkeypatch.setattr(module, "_WARNED", set())  # a fresh process, as far as warnings go
    with caplog.at_level(logging.WARNING, logger="sutura.transport"):
        for event in _task_events("extract"):
            SuturaTransport(SuturaConfig(db_url=nowhere)).emit(event)
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["Sutura could not store an OpenLineage event"]
    assert "StoreError" in caplog.records[0].getMessage()

    caplog.clear()
    monkeypatch.setattr(module, "_WARNED", set())
    with pytest.raises(StoreError):
        warm(nowhere)
    with caplog.at_level(logging.WARNING, logger="sutura.transport"):
        for event in _task_events("load"):
            SuturaTransport(SuturaConfig(db_url=nowhere)).emit(event)
    assert caplog.records == []
