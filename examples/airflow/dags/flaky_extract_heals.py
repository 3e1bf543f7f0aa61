"""A flaky extract that heals: the API drops the connection on the first try.

SuturaRetryPolicy asks the engine, which classifies ConnectionResetError as transient and
retries it after its backoff (capped here at 5 s); the reason is in the task log and in
``sutura decisions``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from sutura_airflow import SuturaRetryPolicy


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["sutura"])
def flaky_extract_heals():
    @task(retries=3, retry_delay=timedelta(seconds=30), retry_policy=SuturaRetryPolicy(max_delay=5))
    def extract(ti=None):
        if ti.try_number == 1:
            raise ConnectionResetError("[Errno 104] Connection reset by peer")
        return {"rows": 3}

    extract()


flaky_extract_heals()
