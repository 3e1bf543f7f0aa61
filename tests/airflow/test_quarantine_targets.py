"""The write-audit-publish flow on each supported target, without Airflow around it:
SQLite, PostgreSQL (skipped when unreachable unless SUTURA_REQUIRE_PG=1) and Parquet files."""

from __future__ import annotations

import os
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa

import sutura
from sutura import Action

from sutura_airflow.quarantine import SqlTarget, audit_and_publish, parse_checks
from sutura_airflow.quarantine.sql import open_engine

CHECKS = parse_checks([{"not_null": "id"}, {"unique": "id"}, {"row_count": {"min": 1, "max": 10}}])


@pytest.fixture
def engine_at(tmp_path, monkeypatch):
    from sutura_airflow._engine import reset_engine

    monkeypatch.delenv("SUTURA_URL", raising=False)
    monkeypatch.setenv("SUTURA_DB_URL", f"sqlite:///{tmp_path / 'sutura.db'}")
    reset_engine()
    yield sutura.Engine(db_url=f"sqlite:///{tmp_path / 'sutura.db'}")
    reset_engine()


def _roundtrip(target: SqlTarget, db: sa.Engine, engine) -> None:
    target.write_audit_frame(db, pd.DataFrame({"id": [1, 2], "v": ["a", "b"]}))
    first = audit_and_publish(target, db, checks=CHECKS)
    assert first.action == "publish" and first.decided_by == "sutura"
    assert engine.last_published(target.dataset).version.content_fingerprint == f"c:{first.fingerprint}"
    assert [c.content_fingerprint for c in engine.changes()[0]] == [f"c:{first.fingerprint}"]
    assert engine.decisions()[0].outcome == "published"
    target.write_audit_frame(db, pd.DataFrame({"id": [3, 3, None], "v": ["c", "d", "e"]}))
    second = audit_and_publish(target, db, checks=CHECKS)
    assert second.action == "quarantine" and set(second.failed_checks) == {"not_null(id)", "unique(id)"}
    with db.connect() as conn:
        prod = sorted(conn.execute(sa.text(f"select id from {target.relation(db, target.table)}")).scalars())
        held = conn.execute(sa.text(f"select count(*) from {target.relation(db, second.quarantine_table)}")).scalar_one()
    assert prod == [1, 2] and held == 3
    assert [d.action for d in engine.decisions()] == [Action.QUARANTINE, Action.PUBLISH]


def test_sqlite_target(tmp_path, engine_at):
    url = f"sqlite:///{tmp_path / 'wh.sqlite'}"
    db = open_engine(url)
    try:
        _roundtrip(SqlTarget(url, "orders"), db, engine_at)
    finally:
        db.dispose()


@pytest.mark.postgres
def test_postgres_target(engine_at):
    url = os.environ.get("SUTURA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    db = open_engine(url)
    try:
        with db.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:  # noqa: BLE001
        db.dispose()
        if os.environ.get("SUTURA_REQUIRE_PG") == "1":
            raise
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    schema = f"sutura_af_{uuid.uuid4().hex[:8]}"
    with db.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    try:
        _roundtrip(SqlTarget(url, "orders", schema), db, engine_at)
    finally:
        with db.begin() as conn:
            conn.execute(sa.text(f'drop schema "{schema}" cascade'))
        db.dispose()


def test_parquet_file_target_publishes_by_rename(tmp_path, engine_at):
    from sutura_airflow import release_quarantined_file
    from sutura_airflow.quarantine.files import FileTarget
    from sutura_airflow.quarantine.run import run_file_wap

    path = tmp_path / "orders.parquet"
    checks = [{"not_null": "id"}]
    result, _ = run_file_wap(path=str(path), data=pd.DataFrame({"id": [1, 2]}), checks=checks, gx_expectations=None, on_quarantine="succeed", context=None)
    assert result.action == "publish" and path.exists()
    before = path.read_bytes()
    result, _ = run_file_wap(path=str(path), data=pd.DataFrame({"id": [3, None]}), checks=checks, gx_expectations=None, on_quarantine="succeed", context=None)
    assert result.action == "quarantine" and path.read_bytes() == before
    assert FileTarget(path).quarantine_files() == [FileTarget(path).quarantine_path(result.fingerprint)]
    decision = release_quarantined_file(path=str(path), reason="ok")
    assert decision.action is Action.RELEASE and path.read_bytes() != before
    assert FileTarget(path).quarantine_files() == []


def test_a_failed_rename_leaves_the_last_published_file_version(tmp_path, engine_at):
    """The rename onto the production path fails (a directory took its place): the engine
    had deferred its PUBLISH, so the version becomes failed_write and nothing is announced."""
    from sutura_airflow.quarantine.files import FileTarget
    from sutura_airflow.quarantine.run import run_file_wap

    path = tmp_path / "orders.parquet"
    wap = dict(path=str(path), checks=[{"not_null": "id"}], gx_expectations=None, on_quarantine="fail", context=None)
    first, _ = run_file_wap(data=pd.DataFrame({"id": [1, 2]}), **wap)
    _, cursor = engine_at.changes()
    assert engine_at.decisions()[0].outcome == "published" and cursor != "0"
    path.unlink()
    (path / "in_the_way").mkdir(parents=True)
    with pytest.raises(OSError):
        run_file_wap(data=pd.DataFrame({"id": [3, 4]}), **wap)
    decision, _ = engine_at.decisions()
    assert decision.action is Action.PUBLISH and decision.outcome == "failed_write"
    dataset = FileTarget(path).dataset
    assert engine_at.last_published(dataset).version.content_fingerprint == f"c:{first.fingerprint}"
    assert [v.status.value for v in engine_at.versions(dataset)] == ["failed_write", "published"]
    assert engine_at.changes(since=cursor) == ([], cursor)


def test_engine_unreachable_decides_locally(tmp_path, monkeypatch):
    from tests.support._process import free_port

    from sutura_airflow._engine import reset_engine

    monkeypatch.setenv("SUTURA_URL", f"http://127.0.0.1:{free_port()}")
    reset_engine()
    url = f"sqlite:///{tmp_path / 'wh.sqlite'}"
    db = open_engine(url)
    target = SqlTarget(url, "orders")
    try:
        target.write_audit_frame(db, pd.DataFrame({"id": [1, None]}))
        result = audit_and_publish(target, db, checks=CHECKS)
        assert result.action == "quarantine" and result.decided_by == "local"
        assert not target.exists(db, "orders")  # never published unchecked
    finally:
        db.dispose()
        reset_engine()


def test_great_expectations_suite_quarantines(tmp_path, engine_at):
    gx = pytest.importorskip("great_expectations")
    from sutura_airflow.quarantine.run import run_sql_wap

    url = f"sqlite:///{tmp_path / 'wh.sqlite'}"
    suite = gx.ExpectationSuite(name="orders", expectations=[gx.expectations.ExpectColumnValuesToBeBetween(column="amount", min_value=0)])
    result, _ = run_sql_wap(url=url, table="orders", schema=None, data=[{"id": 1, "amount": -3}], checks=[], gx_expectations=suite, on_quarantine="succeed", context=None)
    assert result.action == "quarantine" and result.failed_checks == ["expect_column_values_to_be_between"]


# -- the engine hears "published" only once the swap can commit ------------------------------


def _published_versions(engine, dataset) -> list[str]:
    try:
        versions = engine.versions(dataset)
    except sutura.NotFound:  # never reported to the engine
        return []
    return [v.status.value for v in versions if v.status.value == "published"]


def test_a_failed_swap_leaves_the_version_unpublished_sqlite(tmp_path, engine_at):
    """Production refuses the new rows (a trigger aborts the INSERT): the engine never hears of
    a publish, production keeps its rows, the audit table stays for the next run."""
    url = f"sqlite:///{tmp_path / 'wh.sqlite'}"
    db = open_engine(url)
    target = SqlTarget(url, "orders")
    try:
        target.write_audit_frame(db, pd.DataFrame({"id": [1, 2], "v": ["a", "b"]}))
        assert audit_and_publish(target, db, checks=CHECKS).action == "publish"
        with db.begin() as conn:
            conn.exec_driver_sql("CREATE TRIGGER orders_frozen BEFORE INSERT ON orders BEGIN SELECT RAISE(ABORT, 'orders is frozen'); END")
        target.write_audit_frame(db, pd.DataFrame({"id": [7, 8], "v": ["x", "y"]}))
        with pytest.raises(sa.exc.IntegrityError, match="orders is frozen"):
            audit_and_publish(target, db, checks=CHECKS)
        with db.connect() as conn:
            assert sorted(conn.execute(sa.text("select id from orders")).scalars()) == [1, 2]
        assert target.exists(db, target.audit_table)
    finally:
        db.dispose()
    assert [d.action for d in engine_at.decisions()] == [Action.PUBLISH]
    assert _published_versions(engine_at, target.dataset) == ["published"]
    assert engine_at.last_published(target.dataset).version.row_count == 2


def test_a_failed_swap_leaves_the_version_unpublished_duckdb(tmp_path, engine_at):
    """The same on DuckDB: a CHECK constraint of the production table rejects the batch."""
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    db = open_engine(url)
    target = SqlTarget(url, "orders")
    try:
        with db.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE orders (id INTEGER CHECK (id > 0), v VARCHAR)")
            conn.exec_driver_sql("INSERT INTO orders VALUES (1, 'a')")
        target.write_audit_sql(db, "SELECT CAST(i AS INTEGER) AS id, CAST('n' AS VARCHAR) AS v FROM range(0, 3) t(i)")
        with pytest.raises(sa.exc.SQLAlchemyError, match="CHECK constraint"):
            audit_and_publish(target, db, checks=CHECKS)
        with db.connect() as conn:
            assert conn.execute(sa.text("select id, v from orders")).all() == [(1, "a")]
    finally:
        db.dispose()
    assert engine_at.decisions() == []
    assert _published_versions(engine_at, target.dataset) == []


def test_a_failed_commit_marks_the_publish_decision(tmp_path, engine_at):
    """The swap is checked by the database only at COMMIT (a deferred foreign key): the engine
    had deferred its PUBLISH, so the version becomes failed_write, the last published version
    stays, no change is announced, and the task fails."""
    url = f"sqlite:///{tmp_path / 'wh.sqlite'}"
    db = open_engine(url)
    sa.event.listen(db, "connect", lambda dbapi_conn, _record: dbapi_conn.execute("PRAGMA foreign_keys = ON"))
    target = SqlTarget(url, "orders")
    try:
        with db.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
            conn.exec_driver_sql("INSERT INTO customers VALUES (1)")
            conn.exec_driver_sql(
                "CREATE TABLE orders (id INTEGER, customer INTEGER REFERENCES customers (id) DEFERRABLE INITIALLY DEFERRED)"
            )
            conn.exec_driver_sql("CREATE TABLE orders__sutura_audit (id INTEGER, customer INTEGER)")
            conn.exec_driver_sql("INSERT INTO orders__sutura_audit VALUES (1, 1)")
        first = audit_and_publish(target, db, checks=CHECKS)
        _, cursor = engine_at.changes()
        with db.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE orders__sutura_audit (id INTEGER, customer INTEGER)")
            conn.exec_driver_sql("INSERT INTO orders__sutura_audit VALUES (2, 99)")
        with pytest.raises(sa.exc.IntegrityError, match="FOREIGN KEY"):
            audit_and_publish(target, db, checks=CHECKS)
        with db.connect() as conn:
            assert conn.execute(sa.text("select id, customer from orders")).all() == [(1, 1)]
    finally:
        db.dispose()
    failed, published = engine_at.decisions()
    assert (failed.action, failed.outcome, published.outcome) == (Action.PUBLISH, "failed_write", "published")
    assert engine_at.last_published(target.dataset).version.content_fingerprint == f"c:{first.fingerprint}"
    assert [v.status.value for v in engine_at.versions(target.dataset)] == ["failed_write", "published"]
    assert engine_at.changes(since=cursor) == ([], cursor)


def test_the_engine_announces_a_publish_only_after_the_commit(tmp_path, engine_at):
    """Seen from inside the COMMIT of the swap: the engine still names the previous version
    as last published and has no change for the new one; right after, it has both."""
    url = f"sqlite:///{tmp_path / 'wh.sqlite'}"
    db = open_engine(url)
    target = SqlTarget(url, "orders")
    seen: list[tuple[str, int]] = []

    def at_commit(_conn) -> None:
        seen.append((engine_at.last_published(target.dataset).version.content_fingerprint, len(engine_at.changes()[0])))

    try:
        target.write_audit_frame(db, pd.DataFrame({"id": [1, 2], "v": ["a", "b"]}))
        first = audit_and_publish(target, db, checks=CHECKS)
        target.write_audit_frame(db, pd.DataFrame({"id": [3, 4], "v": ["c", "d"]}))
        sa.event.listen(db, "commit", at_commit)
        second = audit_and_publish(target, db, checks=CHECKS)
    finally:
        db.dispose()
    assert second.action == "publish" and seen == [(f"c:{first.fingerprint}", 1)]
    assert engine_at.last_published(target.dataset).version.content_fingerprint == f"c:{second.fingerprint}"
    assert [c.content_fingerprint for c in engine_at.changes()[0]] == [f"c:{first.fingerprint}", f"c:{second.fingerprint}"]


def test_a_publish_the_engine_cannot_hear_confirmed_only_warns(tmp_path, monkeypatch, caplog):
    """Sutura (a real server) goes down between its PUBLISH and the COMMIT: production gets
    the rows, the task succeeds with a warning, and the engine has announced nothing."""
    import logging
    import threading
    import time

    import uvicorn

    from sutura.server import create_app
    from tests.support._process import free_port

    from sutura_airflow._engine import reset_engine

    store = sutura.Engine(db_url=f"sqlite:///{tmp_path / 'sutura.db'}")
    server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    monkeypatch.setenv("SUTURA_URL", f"http://127.0.0.1:{server.config.port}")
    reset_engine()

    def sutura_goes_down(_conn) -> None:
        server.should_exit = True
        thread.join(10)

    url = f"sqlite:///{tmp_path / 'wh.sqlite'}"
    db = open_engine(url)
    target = SqlTarget(url, "orders")
    try:
        target.write_audit_frame(db, pd.DataFrame({"id": [1, 2], "v": ["a", "b"]}))
        sa.event.listen(db, "commit", sutura_goes_down, once=True)
        with caplog.at_level(logging.WARNING, logger="sutura.airflow"):
            result = audit_and_publish(target, db, checks=CHECKS)
        with db.connect() as conn:
            assert sorted(conn.execute(sa.text("select id from orders")).scalars()) == [1, 2]
    finally:
        db.dispose()
        reset_engine()
        server.should_exit = True
    assert not thread.is_alive()
    assert result.action == "publish" and result.decided_by == "sutura"
    assert "is in production, but Sutura did not hear it" in caplog.text
    (decision,) = store.decisions()
    assert decision.action is Action.PUBLISH and decision.outcome == "pending_publish"
    assert store.last_published(target.dataset).version is None and store.changes() == ([], "0")
    store.close()


def test_a_warehouse_in_the_stores_own_sqlite_file_publishes_without_waiting(tmp_path, engine_at):
    """The engine cannot record a Decision while a staged swap holds its file's write lock:
    there it is asked first, and the run neither stalls nor falls back to a local decision."""
    import time

    url = f"sqlite:///{tmp_path / 'sutura.db'}"  # the file engine_at's store lives in
    db = open_engine(url)
    target = SqlTarget(url, "orders")
    try:
        target.write_audit_frame(db, pd.DataFrame({"id": [1, 2], "v": ["a", "b"]}))
        started = time.monotonic()
        result = audit_and_publish(target, db, checks=CHECKS)
        assert time.monotonic() - started < 30
    finally:
        db.dispose()
    assert result.action == "publish" and result.decided_by == "sutura"
    assert [(d.action, d.outcome) for d in engine_at.decisions()] == [(Action.PUBLISH, "published")]
    assert engine_at.last_published(target.dataset).version.content_fingerprint == f"c:{result.fingerprint}"


# -- OpenLineage facts of the write --------------------------------------------------------


@pytest.mark.parametrize("backend", ["duckdb", "sqlite"])
def test_operator_lineage_has_the_written_schema_and_the_inputs(tmp_path, engine_at, backend):
    from openlineage.client.event_v2 import Dataset as OLDataset

    from sutura.naming import dataset_for_url
    from sutura_airflow import SuturaWriteAuditPublishOperator

    suffix = "duckdb" if backend == "duckdb" else "sqlite"
    url = f"{backend}:///{tmp_path / f'wh.{suffix}'}"
    db = open_engine(url)
    with db.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE raw_orders (id INTEGER, amount DOUBLE PRECISION, status VARCHAR(10))")
        conn.exec_driver_sql("INSERT INTO raw_orders VALUES (1, 2.5, 'new'), (2, 4.0, 'paid')")
        conn.exec_driver_sql("CREATE TABLE customers (id INTEGER)")
    db.dispose()
    declared = OLDataset(namespace="s3://landing", name="orders/2026-01-01.csv")
    op = SuturaWriteAuditPublishOperator(
        task_id="load_orders", table="orders", url=url, inlets=[declared],
        sql="SELECT r.id, r.amount, r.status FROM raw_orders r LEFT JOIN customers c ON c.id = r.id",
        checks=[{"not_null": "id"}],
    )
    assert op.execute({})["action"] == "publish"
    lineage = op.get_openlineage_facets_on_complete(None)
    (out,) = lineage.outputs
    assert (out.namespace, out.name) == (dataset_for_url(url, "orders").namespace, dataset_for_url(url, "orders").name)
    fields = [(f.name, f.type) for f in out.facets["schema"].fields]
    expected = {
        "duckdb": [("id", "INTEGER"), ("amount", "DOUBLE"), ("status", "VARCHAR")],
        "sqlite": [("id", "INT"), ("amount", "REAL"), ("status", "TEXT")],
    }[backend]
    assert fields == expected
    assert out.facets["suturaContent"].status == "publish"
    inputs = [(d.namespace, d.name) for d in lineage.inputs]
    assert inputs == [
        ("s3://landing", "orders/2026-01-01.csv"),
        (dataset_for_url(url, "customers").namespace, dataset_for_url(url, "customers").name),
        (dataset_for_url(url, "raw_orders").namespace, dataset_for_url(url, "raw_orders").name),
    ]
