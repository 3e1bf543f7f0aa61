"""examples/dbt run by sutura-dbt: the package's write_audit_publish quarantine becomes a
Sutura quarantine with the failing tests, and is never retried (real dbt on DuckDB)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.dbt.projects.inprocess import hermetic, sutura_dbt

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("sutura_dbt_example")]

REPO = Path(__file__).resolve().parents[2]


def test_example_builds_then_quarantines_bad_orders(tmp_path, monkeypatch):
    import sutura
    from sutura_dbt import main

    project = tmp_path / "example"
    shutil.copytree(REPO / "examples" / "dbt", project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb", ".sutura"))
    (project / "packages.yml").write_text(f"packages:\n  - local: {REPO / 'dbt_package'}\n")
    warehouse = tmp_path / "example.duckdb"
    hermetic(monkeypatch, tmp_path, {"SUTURA_EXAMPLE_DUCKDB": str(warehouse), "SUTURA_DB_URL": f"sqlite:///{tmp_path / 'sutura.db'}"})
    assert main(["deps", "--project-dir", str(project), "--profiles-dir", str(project)]) == 0

    good = sutura_dbt("build", project)
    assert good.exit_code == 0, good.lines
    namespace = f"duckdb://{warehouse}"
    orders = f"dataset:{namespace}:example.main.orders"
    assert {c["action"] for c in good.summary["checks"] if c["dataset"] == orders} == {"publish"}
    engine = sutura.connect()
    revenue = engine.show(f"dataset:{namespace}:example.main.customer_revenue")  # dbt-ol's name
    assert revenue["facets"]["suturaContent"]["rowCount"] == 3
    assert revenue["producers"] == ["job:dbt:example.main.sutura_example.customer_revenue"]
    upstream = {n["id"] for n in engine.lineage(revenue["id"], "upstream", 4)["graph"] if n["type"] == "DATASET"}
    assert {f"dataset:{namespace}:example.main.{t}" for t in ("orders", "stg_customers", "raw_customers")} <= upstream

    monkeypatch.setenv("SUTURA_EXAMPLE_ORDERS", "raw_orders_bad")
    bad = sutura_dbt("build", project, "--select", "orders+")
    assert bad.exit_code == 1
    assert len(bad.summary["attempts"]) == 1 and bad.summary["decisions"] == []  # data is not retried
    [check] = bad.summary["checks"]
    assert check["dataset"] == orders and check["action"] == "quarantine"
    assert set(check["failed"]) == {"not_null_orders_amount", "expression_amount_0"}

    staleness = engine.last_published(orders)
    assert staleness.version is not None and staleness.version.row_count == 4  # the good rows stay published
    [held] = staleness.quarantined
    assert held.row_count == 4 and held.content_fingerprint != staleness.version.content_fingerprint
    failing = {(c["assertion"], c["field"]) for c in engine.show(orders)["checks"] if not c["success"]}
    assert failing == {("not_null_orders_amount", "amount"), ("expression_amount_0", None)}
