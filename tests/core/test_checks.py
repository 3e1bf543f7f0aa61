"""Check results from Great Expectations (a real validation) and dbt's run_results shape."""

from __future__ import annotations

import pandas as pd
import pytest

from sutura import Action, Dataset, Engine
from sutura.checks import from_dbt_run_results, from_gx

ORDERS = Dataset("duckdb:///data/wh.duckdb", "wh.main.orders")


@pytest.fixture(scope="module")
def gx_validation():
    gx = pytest.importorskip("great_expectations")
    ctx = gx.get_context(mode="ephemeral")
    batch_def = ctx.data_sources.add_pandas("p").add_dataframe_asset("orders").add_batch_definition_whole_dataframe("all")
    batch = batch_def.get_batch(batch_parameters={"dataframe": pd.DataFrame({"id": [1, 2, None], "status": ["a", "b", "a"]})})
    suite = gx.ExpectationSuite(name="orders")
    suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column="id"))
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(column="status", value_set=["a", "b"]))
    return batch.validate(suite)


def test_gx_validation_maps_to_check_results_and_quarantines(gx_validation, sqlite_engine: Engine) -> None:
    results = from_gx(gx_validation, ORDERS)
    by_name = {r.assertion: r for r in results}
    assert by_name["expect_column_values_to_not_be_null"].success is False
    assert by_name["expect_column_values_to_not_be_null"].field == "id"
    assert by_name["expect_column_values_to_not_be_null"].message == "1 unexpected of 3"
    assert by_name["expect_column_values_to_be_in_set"].success is True
    decision = sqlite_engine.on_checks(ORDERS, results, fingerprint="batch-7")
    assert decision.action is Action.QUARANTINE and "expect_column_values_to_not_be_null" in decision.reason


def test_dbt_run_results_group_by_tested_model() -> None:
    manifest = {
        "nodes": {
            "model.shop.orders": {"resource_type": "model", "database": "wh", "schema": "main", "alias": "orders"},
            "test.shop.not_null_orders_id.1": {
                "resource_type": "test",
                "name": "not_null_orders_id",
                "attached_node": "model.shop.orders",
                "column_name": "id",
                "depends_on": {"nodes": ["model.shop.orders"]},
            },
            "test.shop.unique_orders_id.2": {
                "resource_type": "test",
                "name": "unique_orders_id",
                "column_name": "id",
                "depends_on": {"nodes": ["model.shop.orders"]},
            },
        }
    }
    run_results = {
        "results": [
            {"unique_id": "model.shop.orders", "status": "success"},
            {"unique_id": "test.shop.not_null_orders_id.1", "status": "fail", "failures": 3, "message": "Got 3 results, configured to fail if != 0"},
            {"unique_id": "test.shop.unique_orders_id.2", "status": "pass", "failures": 0},
        ]
    }
    grouped = from_dbt_run_results(run_results, manifest, lambda n: Dataset("duckdb:///wh.duckdb", f"{n['database']}.{n['schema']}.{n['alias']}"))
    checks = grouped["model.shop.orders"]
    assert [(c.assertion, c.success, c.field) for c in checks] == [("not_null_orders_id", False, "id"), ("unique_orders_id", True, "id")]
    assert checks[0].dataset.name == "wh.main.orders" and checks[0].observed["failures"] == 3
