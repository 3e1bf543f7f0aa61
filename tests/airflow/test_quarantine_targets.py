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
