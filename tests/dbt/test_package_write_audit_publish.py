"""The sutura dbt package end to end: real dbt builds of dbt_package/integration_tests.

One scenario per adapter (DuckDB always, PostgreSQL when reachable) runs these dbt
invocations in order, and each test asserts one behaviour of one step:

  A  build, good orders, events batch 1          everything published
  B  build, bad orders, events batch 2           orders quarantined, dependants skipped;
                                                 the incremental models merge batch 2
  C  build, bad orders (row cap 4), batch 3      orders fails again: older quarantine archived;
                                                 the increments (a null amount) quarantined
  D  run-operation sutura.release events_upserted    the held increment is merged
  E  run-operation sutura.discard events_appended    the held increment is dropped
  F  build --select orders+, good orders         fixed data publishes again
  G  run-operation sutura.release orders             the held table is swapped in
  H  run-operation sutura.discard orders <archive>   an archived quarantine is dropped
  I  run-operation sutura.release orders             nothing held: fails, changes nothing
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import DbtProject, DbtResult, Warehouse, dbt_package_project, run_once

ORDERS_GOOD = [(1, 1, 10.0, "shipped"), (2, 1, 5.5, "shipped"), (3, 2, 20.0, "placed"), (4, 3, 7.25, "returned")]
ORDERS_BAD = [
    (1, 1, 10.0, "shipped"),
    (2, 1, 5.5, "shipped"),
    (3, 2, None, "placed"),
    (4, 3, -7.25, "returned"),
    (5, 3, 1.0, "shipped"),
]
REVENUE_GOOD = [(1, 2, 15.5), (2, 1, 20.0), (3, 1, 7.25)]
EVENTS_AFTER_1 = [(1, 1, 1.0), (2, 1, 2.0)]
EVENTS_AFTER_2 = [(1, 1, 1.0), (2, 2, 20.0), (3, 2, 3.0)]
EVENTS_BATCH_3 = [(4, 3, None), (5, 3, 5.0)]
APPENDED_AFTER_2 = [(1, 1, 1.0), (2, 1, 2.0), (2, 2, 20.0), (3, 2, 3.0)]

WATCHED = [
    "orders",
    "orders__sutura_quarantine",
    "customer_revenue",
    "events_upserted",
    "events_upserted__sutura_quarantine",
    "events_appended",
    "events_appended__sutura_quarantine",
]
RESULT_COLUMNS = (
    "result_kind, node_id, parent_node_id, resource_type, node_name, status, failures, message, "
    "audit_outcome, audit_relation, quarantine_relation, failed_checks, rows_affected, started_at, "
    "completed_at, execution_time_s, dbt_command, adapter_type, relation_name, invocation_id"
)


@dataclass
class Step:
    """A dbt invocation and the warehouse as it was right after it."""

    result: DbtResult
    tables: dict[str, list[tuple] | None]
    relations: set[str]
    recorded: list[dict[str, Any]]

    def recorded_row(self, node_name: str, result_kind: str = "node", prefix: bool = False) -> dict[str, Any]:
        rows = [
            r
            for r in self.recorded
            if r["result_kind"] == result_kind
            and (r["node_name"].startswith(node_name) if prefix else r["node_name"] == node_name)
        ]
        assert len(rows) == 1, (node_name, result_kind, self.recorded)
        return rows[0]


def _observe(project: DbtProject, result: DbtResult) -> Step:
    warehouse: Warehouse = project.warehouse
    relations = warehouse.relations()
    tables = {name: warehouse.table(name, order_by="1, 2") if name in relations else None for name in WATCHED}
    recorded: list[dict[str, Any]] = []
    if "sutura_run_results" in relations and result.run_results:
        names = [c.strip() for c in RESULT_COLUMNS.split(",")]
        rows = warehouse.rows(
            f"select {RESULT_COLUMNS} from {warehouse.relation('sutura_run_results')} "
            f"where invocation_id = '{result.invocation_id}'"
        )
        recorded = [dict(zip(names, row)) for row in rows]
    return Step(result, tables, relations, recorded)


@pytest.fixture(scope="module")
def steps(dbt_package_adapter: str, tmp_path_factory) -> dict[str, Step]:
    """Every step of the scenario on one adapter, run once per pytest run."""
    key = f"dbt_package_scenario_{dbt_package_adapter}"
    return run_once(tmp_path_factory, key, lambda workdir: _scenario(dbt_package_adapter, workdir))


def _scenario(adapter: str, workdir) -> dict[str, Step]:
    with dbt_package_project(adapter, workdir) as project:
        return _run_steps(project)


def _run_steps(project: DbtProject) -> dict[str, Step]:
    done: dict[str, Step] = {}

    def step(name: str, *args: str, orders: str = "raw_orders", batch: int = 3, max_orders: int = 100) -> None:
        env = {
            "SUTURA_IT_ORDERS_SEED": orders,
            "SUTURA_IT_EVENTS_BATCH": str(batch),
            "SUTURA_IT_MAX_ORDERS": str(max_orders),
        }
        done[name] = _observe(project, project.dbt(*args, env=env))

    step("A", "build", batch=1)
    step("B", "build", orders="raw_orders_bad", batch=2)
    step("C", "build", orders="raw_orders_bad", batch=3, max_orders=4)
    step("D", "run-operation", "sutura.release", "--args", "{model_name: events_upserted}")
    step("E", "run-operation", "sutura.discard", "--args", "{model_name: events_appended}")
    step("F", "build", "--select", "orders+")
    step("G", "run-operation", "sutura.release", "--args", "{model_name: orders}")
    archived = sorted(r for r in done["G"].relations if re.fullmatch(r"orders__sutura_quarantine_\d{14}", r))
    identifier = archived[0] if archived else "orders__sutura_quarantine_missing"
    step(
        "H",
        "run-operation",
        "sutura.discard",
        "--args",
        f"{{model_name: orders, identifier: {identifier}}}",
    )
    step("I", "run-operation", "sutura.release", "--args", "{model_name: orders}")
    return done


def _model(name: str) -> str:
    return f"model.sutura_integration_tests.{name}"


# -- A: a clean build publishes ------------------------------------------------------------


def test_clean_build_publishes_every_audited_model(steps):
    a = steps["A"]
    assert a.result.returncode == 0, a.result.output
    assert a.tables["orders"] == ORDERS_GOOD
    assert a.tables["customer_revenue"] == REVENUE_GOOD
    assert a.tables["events_upserted"] == EVENTS_AFTER_1
    assert not {r for r in a.relations if "__sutura_" in r}, "audit/candidate relations must not be left behind"
    assert a.recorded_row("orders")["audit_outcome"] == "published"


def test_inline_checks_run_in_the_audit(steps):
    a = steps["A"]
    checks = {r["node_name"]: r for r in a.recorded if r["result_kind"] == "audit_check"}
    assert checks["fresh_loaded_at_1_day"]["status"] == "pass"
    assert checks["expression_load_id_0"]["status"] == "pass"
    assert checks["row_count_between_1_100"]["parent_node_id"] == _model("orders")
    assert checks["row_count_between_1_100"]["resource_type"] == "sutura_check"


# -- B: a failed audit ---------------------------------------------------------------------


def test_failed_audit_leaves_production_untouched(steps):
    b = steps["B"]
    assert b.result.returncode != 0
    assert b.result.status(_model("orders")) == "error"
    assert b.tables["orders"] == ORDERS_GOOD


def test_failed_audit_holds_the_new_data_in_quarantine(steps):
    assert steps["B"].tables["orders__sutura_quarantine"] == ORDERS_BAD


def test_failed_audit_names_checks_quarantine_and_release(steps):
    output = steps["B"].result.output
    assert "Sutura quarantined model.sutura_integration_tests.orders: 2 of 7 audit checks failed" in output
    assert "not_null_orders_amount (1 failing)" in output
    assert "assert_orders_amount_non_negative (1 failing)" in output
    assert 'orders__sutura_quarantine"' in output
    assert "dbt run-operation sutura.release --args '{model_name: orders}'" in output


def test_failed_audit_skips_dependants(steps):
    b = steps["B"].result
    assert b.status(_model("customer_revenue")) == "skipped"
    tests_of_orders = [
        r["unique_id"]
        for r in b.run_results["results"]
        if r["unique_id"].startswith("test.") and "orders" in r["unique_id"]
    ]
    assert tests_of_orders and all(b.status(t) == "skipped" for t in tests_of_orders)


def test_results_table_records_the_failing_tests(steps):
    b = steps["B"]
    model_row = b.recorded_row("orders")
    assert model_row["status"] == "error"
    assert model_row["audit_outcome"] == "quarantined"
    assert model_row["quarantine_relation"].endswith('"orders__sutura_quarantine"')
    assert model_row["failed_checks"] == "assert_orders_amount_non_negative, not_null_orders_amount"
    assert "Sutura quarantined" in model_row["message"]
    assert model_row["dbt_command"] == "build"
    assert model_row["adapter_type"] in ("duckdb", "postgres")
    assert model_row["started_at"] is not None and model_row["completed_at"] is not None

    not_null = b.recorded_row("not_null_orders_amount", "audit_check")
    assert (not_null["status"], not_null["failures"], not_null["parent_node_id"]) == ("fail", 1, _model("orders"))
    singular = b.recorded_row("assert_orders_amount_non_negative", "audit_check")
    assert (singular["status"], singular["failures"]) == ("fail", 1)
    assert b.recorded_row("unique_orders_order_id", "audit_check")["status"] == "pass"
    assert b.recorded_row("relationships_orders_customer_id__customer_id__ref_customers_", "audit_check")[
        "status"
    ] == "pass"
    assert b.recorded_row("customer_revenue")["status"] == "skipped"
    assert b.recorded_row("raw_orders_bad")["rows_affected"] == 5


# -- B: incremental models publish their increments ----------------------------------------


def test_incremental_delete_insert_merges_the_increment(steps):
    b = steps["B"]
    assert b.result.status(_model("events_upserted")) == "success"
    assert b.tables["events_upserted"] == EVENTS_AFTER_2
    assert b.result.status(_model("events_total")) == "success"
    # the equality test was audited against the merged candidate, before the merge
    equal_rows = b.recorded_row("sutura_it_equal_rows_events_upserted", "audit_check", prefix=True)
    assert equal_rows["status"] == "pass"


def test_incremental_append_appends_the_increment(steps):
    assert steps["B"].tables["events_appended"] == APPENDED_AFTER_2


# -- C: failed increments, and a second failure of the same table -------------------------


def test_failed_increment_is_quarantined_alone(steps):
    c = steps["C"]
    assert c.result.status(_model("events_upserted")) == "error"
    assert c.result.status(_model("events_total")) == "skipped"
    assert c.tables["events_upserted"] == EVENTS_AFTER_2
    assert c.tables["events_upserted__sutura_quarantine"] == EVENTS_BATCH_3
    assert c.tables["events_appended"] == APPENDED_AFTER_2
    assert c.tables["events_appended__sutura_quarantine"] == EVENTS_BATCH_3


def test_second_failure_archives_the_older_quarantine(steps):
    c = steps["C"]
    archived = [r for r in c.relations if re.fullmatch(r"orders__sutura_quarantine_\d{14}", r)]
    assert len(archived) == 1
    assert c.tables["orders__sutura_quarantine"] == ORDERS_BAD
    assert "the older quarantine moved to" in c.result.output
    assert c.recorded_row("row_count_between_1_4", "audit_check")["status"] == "fail"


# -- D, E: release and discard of increments -----------------------------------------------


def test_release_merges_a_quarantined_increment(steps):
    d = steps["D"]
    assert d.result.returncode == 0, d.result.output
    assert d.tables["events_upserted"] == EVENTS_AFTER_2 + EVENTS_BATCH_3
    assert d.tables["events_upserted__sutura_quarantine"] is None
    row = d.recorded_row("events_upserted", "release")
    assert row["audit_outcome"] == "released"
    assert row["failed_checks"] == "not_null_events_upserted_amount"


def test_discard_drops_the_quarantine_and_nothing_else(steps):
    e = steps["E"]
    assert e.result.returncode == 0, e.result.output
    assert e.tables["events_appended__sutura_quarantine"] is None
    assert e.tables["events_appended"] == APPENDED_AFTER_2
    assert e.recorded_row("events_appended", "discard")["audit_outcome"] == "discarded"


# -- F, G, H: fixed data, release of a table, discard of an archive -----------------------


def test_fixed_data_publishes_again_and_keeps_the_held_data(steps):
    f = steps["F"]
    assert f.result.returncode == 0, f.result.output
    assert f.tables["orders"] == ORDERS_GOOD
    assert f.tables["customer_revenue"] == REVENUE_GOOD
    assert f.tables["orders__sutura_quarantine"] == ORDERS_BAD, "a quarantine is only dropped by discard"


def test_release_swaps_a_quarantined_table_into_place(steps):
    g = steps["G"]
    assert g.result.returncode == 0, g.result.output
    assert g.tables["orders"] == ORDERS_BAD
    assert g.tables["orders__sutura_quarantine"] is None
    row = g.recorded_row("orders", "release")
    assert row["audit_outcome"] == "released" and "swapped in" in row["message"]


def test_discard_by_identifier_drops_an_archived_quarantine(steps):
    h = steps["H"]
    assert h.result.returncode == 0, h.result.output
    assert not [r for r in h.relations if r.startswith("orders__sutura_quarantine")]
    assert h.tables["orders"] == ORDERS_BAD


def test_release_without_a_quarantine_fails_and_changes_nothing(steps):
    i = steps["I"]
    assert i.result.returncode != 0
    assert "has no quarantine" in i.result.output and 'orders__sutura_quarantine"' in i.result.output
    assert i.tables["orders"] == ORDERS_BAD
