"""The estate's load: the day's orders from the source API into ``raw_orders`` in DuckDB.

One task does the whole load, so its run is the one a failure, a quarantine or a change
points at: it fetches ``GET /orders`` with httpx (a real client with a 2 s timeout), lands
the rows in ``landing_orders`` and write-audit-publishes them into ``raw_orders``: checked
in an audit table, published only if every check passes, otherwise held in a quarantine
table while ``raw_orders`` keeps its last good rows.

- ``retry_policy=SuturaRetryPolicy``: a timeout is retried after the engine's backoff;
  a source that keeps refusing opens its circuit and the engine says wait;
- the OpenLineage output carries the content fingerprint (``suturaContent``), the
  table's schema (so the engine can tell an additive change from a breaking one) and
  the source API as the input (the circuit breaker's data source).

Settings come from the env the driver sets: ``ESTATE_SOURCE_URL``, ``ESTATE_WAREHOUSE``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import dag

from sutura_airflow import SuturaRetryPolicy, SuturaWriteAuditPublishOperator

SOURCE_URL = os.environ.get("ESTATE_SOURCE_URL", "http://127.0.0.1:8765/orders")
WAREHOUSE = os.path.abspath(os.environ.get("ESTATE_WAREHOUSE", "warehouse.duckdb"))


class LoadOrdersOperator(SuturaWriteAuditPublishOperator):
    """Fetch the source's batch into a landing table, then write-audit-publish ``table`` from it."""

    def __init__(self, *, source_url: str, timeout: float = 2.0, **kwargs: Any) -> None:
        super().__init__(sql="SELECT * FROM landing_orders", **kwargs)
        self.source_url = source_url
        self.timeout = timeout

    def execute(self, context: Any) -> dict[str, Any]:
        import duckdb
        import httpx
        import pandas as pd

        response = httpx.get(self.source_url, timeout=self.timeout)  # ReadTimeout, ConnectError: real faults
        response.raise_for_status()
        frame = pd.DataFrame(response.json())
        con = duckdb.connect(WAREHOUSE)
        try:
            con.register("batch", frame)
            con.execute("CREATE OR REPLACE TABLE landing_orders AS SELECT * FROM batch")
        finally:
            con.close()
        self.log.info("landed %d rows from %s", len(frame), self.source_url)
        return super().execute(context)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from openlineage.client.event_v2 import Dataset as OLDataset
        from openlineage.client.facet_v2 import schema_dataset

        lineage = super().get_openlineage_facets_on_complete(task_instance)
        src = urlsplit(self.source_url)
        lineage.inputs = [OLDataset(namespace=f"{src.scheme}://{src.netloc}", name=src.path)]
        if self._sutura_result is not None:  # published or held: the schema of what was audited
            out = lineage.outputs[0]
            fields = [schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in _columns("landing_orders")]
            out.facets = {**(out.facets or {}), "schema": schema_dataset.SchemaDatasetFacet(fields=fields)}
        return lineage


def _columns(table: str) -> list[tuple[str, str]]:
    import duckdb

    con = duckdb.connect(WAREHOUSE, read_only=True)
    try:
        return [(r[0], r[1]) for r in con.execute(f"DESCRIBE {table}").fetchall()]
    finally:
        con.close()


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["sutura", "estate"])
def estate_load():
    LoadOrdersOperator(
        task_id="load_orders",
        source_url=SOURCE_URL,
        table="raw_orders",
        url=f"duckdb:///{WAREHOUSE}",
        checks=[
            {"not_null": "id"},
            {"unique": "id"},
            {"not_null": "customer"},
            {"accepted_values": {"column": "status", "values": ["new", "paid", "shipped"]}},
            {"row_count": {"min": 1}},
        ],
        retries=2,
        retry_delay=timedelta(seconds=30),
        retry_policy=SuturaRetryPolicy(max_delay=2),
    )


estate_load()
