"""The pure parts of sutura-dbt: argument handling, selections, held models, dbt error and audit messages."""

from __future__ import annotations

from sutura.ontology import Dataset

from sutura_dbt.changed import CursorStore
from sutura_dbt.checks import collect_audits, is_quarantine_message
from sutura_dbt.heal import error_info, rerun_selection, selector
from sutura_dbt.held import Hold, Holds, exclude_words, runnable
from sutura_dbt.project import flag_value, flag_values, without_flags

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
    assert flag_values(args + ["--exclude=f", "g"], "--exclude") == ["d", "f"]  # g: a stray argument, not a value of --exclude=f


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


def _model(name: str, checksum: str = "c1") -> dict:
    return {"resource_type": "model", "name": name, "fqn": ["shop", name], "checksum": {"checksum": checksum}}


# source a -> stg_a -> only_a; stg_a + stg_b -> joined; source b -> stg_b; a test on stg_a
HELD_GRAPH = {
    "nodes": {
        **{f"model.shop.{n}": _model(n) for n in ("stg_a", "stg_b", "only_a", "joined")},
        "test.shop.not_null_stg_a_id.1": {"resource_type": "test", "name": "not_null_stg_a_id", "depends_on": {"nodes": ["model.shop.stg_a"]}},
    },
    "sources": {"source.shop.raw.a": {"resource_type": "source"}, "source.shop.raw.b": {"resource_type": "source"}},
    "child_map": {
        "source.shop.raw.a": ["model.shop.stg_a"],
        "source.shop.raw.b": ["model.shop.stg_b"],
        "model.shop.stg_a": ["model.shop.only_a", "model.shop.joined", "test.shop.not_null_stg_a_id.1"],
        "model.shop.stg_b": ["model.shop.joined"],
    },
}


def _hold(node: str, changes: tuple[str, ...], checksum: str = "c1") -> Hold:
    return Hold(node, "breaking schema change in dataset:w:raw.a; fix the model or accept the new schema", ("dataset:w:raw.a",), changes, checksum, "2026-01-01")


def test_a_held_model_is_left_out_with_what_only_it_feeds():
    holds = Holds(HELD_GRAPH, {"model.shop.stg_a": _hold("model.shop.stg_a", ("7",))})
    both = holds.excluded(["source.shop.raw.a", "source.shop.raw.b"])
    assert both == {"model.shop.stg_a", "model.shop.only_a", "test.shop.not_null_stg_a_id.1"}  # joined also reads stg_b: it runs
    assert exclude_words(HELD_GRAPH, both, holds.held) == ["fqn:shop.only_a", "fqn:shop.stg_a"]
    assert runnable(HELD_GRAPH, ["source.shop.raw.a", "source.shop.raw.b"], both)
    alone = holds.excluded(["source.shop.raw.a"])
    assert exclude_words(HELD_GRAPH, alone, holds.held) == ["fqn:shop.stg_a+"]
    assert not runnable(HELD_GRAPH, ["source.shop.raw.a"], alone)  # only the source is left: nothing to build
    lines: list[str] = []
    [reported] = holds.report(alone, lines.append)
    assert reported["not_built"] == ["model.shop.joined", "model.shop.only_a"]
    assert lines[0].startswith("Sutura: HELD model.shop.stg_a and 2 downstream, not built") and "raw.a; fix the model" in lines[0]


def test_a_hold_lasts_until_the_model_is_edited_or_built():
    edited = {**HELD_GRAPH, "nodes": {**HELD_GRAPH["nodes"], "model.shop.stg_a": _model("stg_a", "c2")}}
    holds = Holds.load(edited, {"model.shop.stg_a": _hold("model.shop.stg_a", ("7",)).to_state(), "model.shop.gone": {}})
    assert list(holds.pending) == ["model.shop.stg_a"]  # a model no longer in the project is forgotten
    holds.add({"model.shop.stg_a": _hold("model.shop.stg_a", ("7",), "c2")})  # the same change planned again
    assert list(holds.fixed) == ["model.shop.stg_a"] and holds.held == {}
    holds.add({"model.shop.stg_a": _hold("model.shop.stg_a", ("9",), "c2")})  # a new breaking change holds it afresh
    assert list(holds.held) == ["model.shop.stg_a"] and holds.held["model.shop.stg_a"].changes == ("7", "9")
    assert holds.remaining({"model.shop.stg_a": "error"}) == {"model.shop.stg_a": holds.held["model.shop.stg_a"].to_state()}
    assert holds.remaining({"model.shop.stg_a": "success"}) == {}


def test_the_cursor_and_the_holds_are_stored_together(tmp_path):
    store = CursorStore(tmp_path / "sutura_state.json", "engine|profile|dev")
    store.set("5", {"model.shop.stg_a": {"reason": "r"}})
    store.set("8")  # a cursor alone keeps the holds
    assert store.get() == "8" and store.held() == {"model.shop.stg_a": {"reason": "r"}}
    store.set(None, {})
    assert store.get() == "8" and store.held() == {}
