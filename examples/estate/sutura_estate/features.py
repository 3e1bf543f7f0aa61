"""The estate's Dagster code: features built from the dbt mart, reported to the same engine.

``customer_features`` depends on ``warehouse/customer_revenue`` and ``warehouse/stg_orders``
(tables dbt builds, named as dbt-ol names them). It heals through the engine (``@sutura_asset``): while the
mart lacks the day's batch it raises, and the engine, seeing the cause upstream, says
wait rather than retry. Its blocking checks quarantine a bad result; ``SuturaIOManager``
serves the last published features. ``sutura_changes`` requests it only when the mart's
content changed; ``sutura_openlineage`` reports every run to the engine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["FEATURES_KEY", "build_definitions"]

FEATURES_KEY = "customer_features"


def build_definitions(*, warehouse: Path, storage: Path, db_url: str) -> Any:
    """``Definitions`` of the estate's Dagster part, bound to one warehouse and engine store."""
    import duckdb
    import pandas as pd
    from dagster import AssetSpec, Definitions, FilesystemIOManager, RetryPolicy

    from sutura.naming import duckdb_dataset
    from sutura_dagster import (
        SuturaDagsterTranslator,
        SuturaIOManager,
        SuturaResource,
        not_null,
        openlineage_sensor,
        row_count_between,
        sutura_asset,
        sutura_change_sensor,
    )

    mart = duckdb_dataset(warehouse, "customer_revenue")
    staged = duckdb_dataset(warehouse, "stg_orders")
    translator = SuturaDagsterTranslator(
        namespace="estate-dagster",
        datasets={"warehouse/customer_revenue": (mart.namespace, mart.name), "warehouse/stg_orders": (staged.namespace, staged.name)},
    )
    mart_spec = AssetSpec(["warehouse", "customer_revenue"], description="Built by dbt (write-audit-publish)")
    staged_spec = AssetSpec(["warehouse", "stg_orders"], description="Built by dbt")

    @sutura_asset(
        name=FEATURES_KEY,
        deps=[mart_spec, staged_spec],
        retry_policy=RetryPolicy(max_retries=0),
        max_waits=1,
        checks=[not_null("customer"), row_count_between(min=1)],
        translator=translator,
    )
    def customer_features() -> pd.DataFrame:
        """Per customer: share of revenue and open orders, for the day's batch (``ESTATE_BATCH_DATE``)."""
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            frame = con.execute(
                "SELECT r.customer, r.orders, r.revenue, r.batch_date, coalesce(o.open_orders, 0) AS open_orders "
                "FROM customer_revenue r LEFT JOIN (SELECT customer, count(*) AS open_orders FROM stg_orders "
                "WHERE status = 'new' GROUP BY customer) o USING (customer) ORDER BY r.customer"
            ).df()
        finally:
            con.close()
        day = os.environ.get("ESTATE_BATCH_DATE")
        if day and not (frame["batch_date"].astype(str) == day).any():
            raise RuntimeError(f"{mart.id} holds no rows of batch {day} yet: dbt has not built it")
        frame["revenue_share"] = frame["revenue"] / frame["revenue"].sum()
        return frame

    return Definitions(
        assets=[mart_spec, staged_spec, customer_features],
        resources={
            "sutura": SuturaResource(db_url=db_url),
            "io_manager": SuturaIOManager(io_manager=FilesystemIOManager(base_dir=str(storage))),
        },
        sensors=[
            openlineage_sensor(transport={"type": "sutura.transport.SuturaTransport", "db_url": db_url}, translator=translator),
            sutura_change_sensor(translator=translator),
        ],
    ), translator
