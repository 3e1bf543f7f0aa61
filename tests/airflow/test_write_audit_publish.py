"""Write-audit-publish in a real Airflow 3.3 run: a bad batch is held, production keeps its
last good rows, a release publishes the batch and wakes the change trigger."""

from __future__ import annotations

import pytest

from sutura import Action, VersionStatus

from tests.airflow.conftest import BAD_BATCH, GOOD_BATCH

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow-wap")]


def test_good_batch_published_bad_batch_quarantined(wap_scenario):
    sc, obs = wap_scenario, wap_scenario.observed
    assert [r.returncode for r in sc.results] == [0, 1]
    held = obs["held_table"]
    assert held and "orders__sutura_audit" not in obs["tables"]
    assert obs["orders_before"] == [list(r) for r in sorted(GOOD_BATCH)]
    assert obs["held_rows"] == [list(r) for r in sorted(BAD_BATCH)]
    assert "Quarantined new data for dataset:duckdb://" in sc.output
    assert f"held in table {held!r}" in sc.output and "sutura release version:duckdb://" in sc.output
    # the quarantine fails the task at once: no retry reads the same rows again
    assert obs["task_state"] == ["failed", 1]


def test_engine_shows_the_quarantine(wap_scenario):
    obs = wap_scenario.observed
    assert obs["published_rows"] == len(GOOD_BATCH)
    assert obs["quarantined_rows"] == [len(BAD_BATCH)]
    # OpenLineage's events merged into the audited versions: one version per batch
    assert obs["version_statuses"] == [VersionStatus.QUARANTINED.value, VersionStatus.PUBLISHED.value]
    assert obs["decisions_before"] == [Action.QUARANTINE.value, Action.PUBLISH.value]


def test_release_publishes_and_fires_the_change_trigger(wap_scenario):
    obs = wap_scenario.observed
    assert obs["cursor"] is not None
    assert obs["event_before_release"] is None, "nothing changed yet: the trigger must stay silent"
    assert obs["release_action"] == Action.RELEASE.value
    assert obs["orders_after"] == [list(r) for r in sorted(BAD_BATCH)]
    assert not [t for t in obs["tables_after"] if t.startswith("orders__sutura_q_")]
    event = obs["event_after_release"]
    assert event is not None and event["cursor"] != obs["cursor"]
    assert [c["dataset"]["name"] for c in event["changes"]] == [obs["dataset_name"]]
    assert obs["quarantined_after"] == 0
    assert obs["decisions_after"] == [Action.RELEASE.value, Action.QUARANTINE.value, Action.PUBLISH.value]


def test_trigger_serializes_and_is_an_asset_watcher():
    from airflow.sdk import Asset, AssetWatcher

    from sutura_airflow import DatasetChangedTrigger

    trigger = DatasetChangedTrigger(datasets=["dataset:duckdb:///w.duckdb:w.main.orders"], poll_interval=5)
    path, kwargs = trigger.serialize()
    assert path == "sutura_airflow.triggers.DatasetChangedTrigger"
    again = DatasetChangedTrigger(**kwargs)
    assert again.datasets == trigger.datasets
    Asset("orders", watchers=[AssetWatcher(name="orders_changed", trigger=trigger)])


def test_openlineage_links_the_table_to_its_columns_and_inputs(wap_scenario):
    """The operator's OpenLineage output carries the schema read back from DuckDB, and its
    inputs name the table the SELECT reads: the graph links ``orders`` to ``raw_orders``."""
    from sutura.naming import duckdb_dataset

    sc = wap_scenario
    engine = sc.engine()
    orders = engine.show(duckdb_dataset(str(sc.warehouse), "orders").id)
    assert [(f["name"], f["type"]) for f in orders["fields"]] == [
        ("id", "INTEGER"), ("customer", "VARCHAR"), ("status", "VARCHAR"), ("amount", "DOUBLE"),
    ]
    raw = duckdb_dataset(str(sc.warehouse), "raw_orders").id
    upstream = engine.lineage(orders["id"], "upstream", 1)
    assert raw in {node["id"] for node in upstream["graph"]}
    assert "sutura_wap_orders.load_orders" in str(engine.show(raw)["consumers"])
