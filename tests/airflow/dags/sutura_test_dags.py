"""DAGs the provider's tests run with ``airflow dags test``.

Paths come from the environment the test hands ``airflow``: ``SUTURA_TEST_WAREHOUSE``
(a DuckDB file) and ``SUTURA_TEST_TRIES`` (a file each try appends a line to, so a test
can count real executions).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import dag, task

from sutura.naming import duckdb_dataset
from sutura_airflow import (
    DatasetChangedSensor,
    SuturaChangedShortCircuitOperator,
    SuturaQuarantineGuardOperator,
    SuturaRetryPolicy,
    SuturaWriteAuditPublishOperator,
    heal,
)

START = datetime(2026, 1, 1)
TRIES = os.environ.get("SUTURA_TEST_TRIES", "/dev/null")
WAREHOUSE = os.environ.get("SUTURA_TEST_WAREHOUSE", "/tmp/sutura-test-warehouse.duckdb")


def _count(name: str, try_number: int) -> None:
    with open(TRIES, "a") as fh:
        fh.write(f"{name} {try_number}\n")


@dag(dag_id="sutura_retry_scenarios", schedule=None, start_date=START, catchup=False)
def retry_scenarios():
    """Three independent tasks: a flaky extract, a deterministic bug, the same bug under ``heal``."""

    @task(retries=2, retry_delay=timedelta(seconds=0), retry_policy=SuturaRetryPolicy(max_delay=1))
    def extract(ti=None):
        _count("extract", ti.try_number)
        if ti.try_number == 1:
            raise ConnectionResetError("[Errno 104] Connection reset by peer")
        return 42

    @task(retries=3, retry_delay=timedelta(seconds=0), retry_policy=SuturaRetryPolicy(max_delay=1))
    def transform(ti=None):
        _count("transform", ti.try_number)
        row = {"id": 1}
        return row["customer_id"]

    @task(retries=3, retry_delay=timedelta(seconds=0))
    @heal
    def transform_healed(ti=None):
        """The older-Airflow path: no retry_policy, the callable wrapped by ``heal``."""
        _count("transform_healed", ti.try_number)
        return {"id": 1}["customer_id"]

    extract()
    transform()
    transform_healed()


@dag(dag_id="sutura_wap_orders", schedule=None, start_date=START, catchup=False)
def wap_orders():
    SuturaWriteAuditPublishOperator(
        task_id="load_orders",
        table="orders",
        url=f"duckdb:///{WAREHOUSE}",
        sql="SELECT id, customer, status, amount FROM raw_orders",
        checks=[
            {"not_null": "id"},
            {"unique": "id"},
            {"accepted_values": {"column": "status", "values": ["new", "paid", "shipped"]}},
            {"sql": "SELECT * FROM {relation} WHERE amount < 0", "name": "no_negative_amounts"},
        ],
    )


@dag(dag_id="sutura_orders_report", schedule=None, start_date=START, catchup=False)
def orders_report():
    """Downstream of ``orders``: stop on a quarantine, skip when nothing changed since the last success."""
    orders = duckdb_dataset(WAREHOUSE, "orders")
    guard = SuturaQuarantineGuardOperator(task_id="guard", datasets=[orders])
    changed = SuturaChangedShortCircuitOperator(task_id="orders_changed", datasets=[orders.id])

    @task
    def report():
        _count("report", 1)

    guard >> changed >> report()


@dag(dag_id="sutura_wait_for_orders", schedule=None, start_date=START, catchup=False)
def wait_for_orders():
    """A deferrable sensor resuming after the cursor the test passes in ``SUTURA_TEST_CURSOR``."""
    DatasetChangedSensor(
        task_id="wait",
        datasets=[duckdb_dataset(WAREHOUSE, "orders").id],
        cursor=os.environ.get("SUTURA_TEST_CURSOR", "latest"),
        poll_interval=1,
    )


@dag(dag_id="sutura_reads_quarantined", schedule=None, start_date=START, catchup=False)
def reads_quarantined():
    """Tasks failing while their input ``orders`` is quarantined: the engine says WAIT."""
    from openlineage.client.event_v2 import Dataset as OLDataset

    orders = duckdb_dataset(WAREHOUSE, "orders")
    inlet = OLDataset(namespace=orders.namespace, name=orders.name)

    @task(retries=1, retry_delay=timedelta(seconds=0), inlets=[inlet])
    @heal(max_waits=2)
    def waits_without_spending_tries(ti=None):
        _count("waits_healed", ti.try_number)
        raise ValueError("orders looks incomplete")

    @task(retries=1, retry_delay=timedelta(seconds=0), inlets=[inlet], retry_policy=SuturaRetryPolicy(max_delay=1, max_waits=2))
    def waits_with_retry_policy(ti=None):
        _count("waits_policy", ti.try_number)
        raise ValueError("orders looks incomplete")

    waits_without_spending_tries()
    waits_with_retry_policy()


@dag(dag_id="sutura_waits_for_release", schedule=None, start_date=START, catchup=False)
def waits_for_release():
    """A task reading ``orders`` that fails while a batch of it is held, under ``SuturaRetryPolicy``
    alone: the engine says WAIT, so it is rescheduled (no try spent) until the batch is released."""
    from openlineage.client.event_v2 import Dataset as OLDataset

    orders = duckdb_dataset(WAREHOUSE, "orders")

    @task(retries=1, retry_delay=timedelta(seconds=0), inlets=[OLDataset(namespace=orders.namespace, name=orders.name)], retry_policy=SuturaRetryPolicy(max_waits=30))
    def report_orders(ti=None):
        from sutura_airflow.guard import quarantines

        _count("report_orders", ti.try_number)
        held = quarantines([orders])
        if held:
            raise ValueError(f"orders is incomplete: {held[0]}")
        return "orders complete"

    report_orders()


retry_scenarios()
wap_orders()
reads_quarantined()
waits_for_release()
orders_report()
wait_for_orders()
