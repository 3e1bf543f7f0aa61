"""Scheduled on a dataset changing elsewhere: this DAG runs when the engine publishes a
content-changed version of ``orders`` (written by Airflow, dbt or Dagster), and not when a
load rewrote identical rows or was quarantined.

The AssetWatcher needs a running triggerer (``airflow triggerer``); the short-circuit
variant below also works on a schedule.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import Asset, AssetWatcher, dag, task

from sutura.naming import duckdb_dataset
from sutura_airflow import DatasetChangedTrigger, SuturaChangedShortCircuitOperator

WAREHOUSE = os.path.abspath(os.environ.get("SUTURA_EXAMPLE_WAREHOUSE", "warehouse.duckdb"))
ORDERS = duckdb_dataset(WAREHOUSE, "orders")

orders_changed = Asset(
    "sutura_orders",
    watchers=[AssetWatcher(name="orders_changed", trigger=DatasetChangedTrigger(datasets=[ORDERS.id], poll_interval=10))],
)


@dag(schedule=[orders_changed], start_date=datetime(2026, 1, 1), catchup=False, tags=["sutura"])
def report_on_orders_change():
    @task
    def report():
        import duckdb

        con = duckdb.connect(WAREHOUSE, read_only=True)
        try:
            return con.execute("SELECT status, count(*) FROM orders GROUP BY status").fetchall()
        finally:
            con.close()

    report()


@dag(schedule="@hourly", start_date=datetime(2026, 1, 1), catchup=False, tags=["sutura"])
def hourly_report_if_orders_changed():
    gate = SuturaChangedShortCircuitOperator(task_id="orders_changed", datasets=[ORDERS.id])

    @task
    def report():
        return "rebuilt"

    gate >> report()


report_on_orders_change()
hourly_report_if_orders_changed()
