"""The pure parts of sutura-dbt: argument handling, selections, dbt error and audit messages."""

from __future__ import annotations

from sutura.ontology import Dataset

from sutura_dbt.checks import collect_audits, is_quarantine_message
from sutura_dbt.heal import error_info, rerun_selection, selector
from sutura_dbt.project import flag_value, without_flags

QUARANTINE = """Sutura quarantined model.shop.orders: 2 of 7 audit checks failed:
  - assert_orders_amount_non_negative (1 failing)
  - not_null_orders_amount (1 failing)
The new data is held in "db"."analytics"."orders__sutura_quarantine"; "db"."analytics"."orders" is unchanged and its dependants are skipped."""

MANIFEST = {
    "nodes": {
        "model.shop.orders": {"resource_type": "model", "name": "orders", "fqn": ["shop", "staging", "orders"]},
        "model.shop.revenue": {"resource_type": "model", "name": "revenue", "fqn": ["shop", "revenue"]},
        "model.shop.other": {"resource_type": "model", "name": "other", "fqn": ["shop", "other"]},
        "test.shop.not_null_orders_amount.1": {
            "resource_type": "test", "name": "not_null_orders_amount", "attached_node": "model.shop.orders",
            "test_metadata": {"name": "not_null", "kwargs": {"column_name": "amount"}},
        },
    },
    "child_map": {"model.shop.orders": ["model.shop.revenue", "test.shop.not_null_orders_amount.1"], "model.shop.revenue": []},
    "parent_map": {},
}


def test_selection_flags_are_replaced_with_all_their_values():
    args = ["--select", "a", "b", "--target", "pg", "-s", "c", "--exclude", "d", "--select=e"]
    assert without_flags(args, "--select", "-s") == ["--target", "pg", "--exclude", "d"]
    assert flag_value(args, "--target", "-t") == "pg"


def test_a_retry_reruns_the_node_and_what_dbt_skipped_because_of_it_only():
    results = [
        {"unique_id": "model.shop.orders", "status": "error"},
        {"unique_id": "model.shop.revenue", "status": "skipped"},
        {"unique_id": "model.shop.other", "status": "skipped"},  # skipped for another reason
    ]
    nodes = rerun_selection(MANIFEST, results, ["model.shop.orders"])
    assert nodes == ["model.shop.orders", "model.shop.revenue"]
    assert selector(MANIFEST, nodes) == ["fqn:shop.staging.orders", "fqn:shop.revenue"]


def test_dbt_error_kinds_come_from_the_first_line():
    info = error_info("Database Error in model x (models/x.sql)\n  server closed the connection unexpectedly")
    assert info.type == "DbtDatabaseError" and "server closed" in info.message
    assert error_info("Compilation Error in model y").type == "CompilationError"


def test_a_write_audit_publish_quarantine_message_becomes_failing_checks():
    assert is_quarantine_message(QUARANTINE)
    results = [{"unique_id": "model.shop.orders", "status": "error", "message": QUARANTINE}]
    [audit] = collect_audits(MANIFEST, results, lambda node: Dataset("duckdb:///w.duckdb", f"w.main.{node['name']}"))
    assert audit.quarantine_relation == '"db"."analytics"."orders__sutura_quarantine"'
    assert [(r.assertion, r.field, r.success, r.source) for r in audit.results] == [
        ("assert_orders_amount_non_negative", None, False, "dbt"),
        ("not_null_orders_amount", "amount", False, "dbt"),
    ]
