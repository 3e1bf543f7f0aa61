"""Publishing a checked batch whose column types changed (no Airflow run needed)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from sutura_airflow.quarantine.sql import SqlTarget


def test_a_retyped_column_is_published_by_swapping_the_table(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    target = SqlTarget(url=url, table="orders")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders AS SELECT 1 AS id, 2.5::DOUBLE AS amount")
        conn.exec_driver_sql("CREATE TABLE orders__sutura_audit AS SELECT 2 AS id, 'n/a' AS amount")
    assert target.shape(engine, "orders") != target.shape(engine, "orders__sutura_audit")
    target.publish(engine, "orders__sutura_audit")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT id, amount FROM orders").all() == [(2, "n/a")]
    engine.dispose()
