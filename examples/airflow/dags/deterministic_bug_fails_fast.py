"""A deterministic bug fails fast: ``retries=3``, but a KeyError would fail the same way
four times. The engine says FAIL; the task runs once and the log says why."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from sutura_airflow import SuturaRetryPolicy


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["sutura"])
def deterministic_bug_fails_fast():
    @task(retries=3, retry_delay=timedelta(seconds=30), retry_policy=SuturaRetryPolicy())
    def transform():
        record = {"id": 1, "name": "ann"}
        return record["customer_id"]  # the column was renamed upstream

    transform()


deterministic_bug_fails_fast()
