"""A bad batch is quarantined: the new orders land in an audit table, fail their checks,
and stay there; ``orders`` keeps its last good rows.

Seed the source first (``python seed.py bad``, see the README); release the held batch with
``sutura release <version>`` (published by the next run) or ``sutura_airflow.release_quarantine``.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import dag

from sutura_airflow import SuturaWriteAuditPublishOperator

WAREHOUSE = os.path.abspath(os.environ.get("SUTURA_EXAMPLE_WAREHOUSE", "warehouse.duckdb"))


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["sutura"])
def bad_batch_quarantined():
    SuturaWriteAuditPublishOperator(
        task_id="load_orders",
        table="orders",
        url=f"duckdb:///{WAREHOUSE}",
        sql="SELECT id, customer, status, amount FROM raw_orders",
        checks=[
            {"not_null": "id"},
            {"unique": "id"},
            {"accepted_values": {"column": "status", "values": ["new", "paid", "shipped"]}},
            {"row_count": {"min": 1}},
            {"sql": "SELECT * FROM {relation} WHERE amount < 0", "name": "no_negative_amounts"},
        ],
    )


bad_batch_quarantined()
