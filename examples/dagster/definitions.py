"""A Dagster project with Sutura: healing retries, a quarantine, and change-driven runs.

Run it with ``dagster dev -f definitions.py`` from this directory (see README.md). Every
path is relative to this file, so it runs from anywhere.

- ``orders`` reads ``data/orders.csv``; its blocking checks quarantine a bad file, and a
  flaky read (``SUTURA_EXAMPLE_FLAKY=1``) is retried by Sutura's decision, not blindly;
- ``revenue_by_customer`` always reads the last *published* orders (SuturaIOManager);
- ``customer_segments`` depends on a table another tool writes (``warehouse/customers``,
  e.g. loaded by Airflow or dbt); ``sutura_changes`` runs it only when that table's
  content really changes;
- ``sutura_openlineage`` reports every run to the same engine, so ``sutura explain``
  sees Dagster next to the other tools.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from dagster import (
    AssetSpec,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    Definitions,
    FilesystemIOManager,
    RetryPolicy,
)

from sutura_dagster import (
    SuturaDagsterTranslator,
    SuturaIOManager,
    SuturaResource,
    accepted_values,
    not_null,
    openlineage_sensor,
    row_count_between,
    sutura_asset,
    sutura_change_sensor,
    sutura_changed,
    unique,
)

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("SUTURA_EXAMPLE_DATA", HERE / "data"))
STORE = Path(os.environ.get("SUTURA_EXAMPLE_STORE", HERE / ".storage"))
WAREHOUSE = Path(os.environ.get("SUTURA_EXAMPLE_WAREHOUSE", HERE / "warehouse.duckdb"))

# The table another tool writes, named as dbt-ol names a dbt-duckdb table.
translator = SuturaDagsterTranslator(
    datasets={"warehouse/customers": (f"duckdb://{WAREHOUSE}", f"{WAREHOUSE.stem}.main.customers")}
)
customers = AssetSpec(["warehouse", "customers"], description="Loaded outside Dagster (Airflow, dbt...)")


@sutura_asset(
    retry_policy=RetryPolicy(max_retries=3),
    checks=[
        not_null("id"),
        unique("id"),
        accepted_values("status", ["paid", "refunded"]),
        row_count_between(min=1),
    ],
    translator=translator,
    group_name="sales",
)
def orders() -> pd.DataFrame:
    """Orders as the shop exports them; a bad export is quarantined, never served."""
    if os.environ.get("SUTURA_EXAMPLE_FLAKY") == "1" and not _flaked():
        raise TimeoutError("the export share did not answer within 30s")
    return pd.read_csv(DATA / "orders.csv")


@sutura_asset(translator=translator, group_name="sales")
def revenue_by_customer(orders: pd.DataFrame) -> pd.DataFrame:
    """Paid revenue per customer, from the last published orders."""
    paid = orders[orders["status"] == "paid"]
    return paid.groupby("customer_id", as_index=False)["amount"].sum()


@sutura_asset(
    deps=[customers],
    translator=translator,
    group_name="crm",
    automation_condition=sutura_changed(translator=translator) & ~AutomationCondition.in_progress(),
)
def customer_segments() -> None:
    """Recomputed when the customers table changes content, whoever loaded it."""


def _flaked() -> bool:
    marker = STORE / ".flaked"
    if marker.exists():
        return True
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return False


defs = Definitions(
    assets=[customers, orders, revenue_by_customer, customer_segments],
    resources={
        "sutura": SuturaResource(),  # SUTURA_URL, else SUTURA_DB_URL
        "io_manager": SuturaIOManager(io_manager=FilesystemIOManager(base_dir=str(STORE))),
    },
    sensors=[
        openlineage_sensor(transport={"type": "sutura.transport.SuturaTransport"}, translator=translator),
        sutura_change_sensor(translator=translator),
        AutomationConditionSensorDefinition(
            "sutura_automation", target=[customer_segments], use_user_code_server=True
        ),
    ],
)
