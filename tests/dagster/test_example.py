"""The example project in examples/dagster loads and runs as a user would run it."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

dagster = pytest.importorskip("dagster")

import sutura  # noqa: E402
from dagster import AssetKey, DagsterInstance, Definitions  # noqa: E402

from sutura_dagster.resource import reset_state  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dagster"


@pytest.fixture
def example(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE / "data", data)
    monkeypatch.setenv("SUTURA_EXAMPLE_DATA", str(data))
    monkeypatch.setenv("SUTURA_EXAMPLE_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("SUTURA_EXAMPLE_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("SUTURA_EXAMPLE_FLAKY", "1")
    monkeypatch.setenv("SUTURA_DB_URL", f"sqlite:///{tmp_path / 'sutura.db'}")
    monkeypatch.setenv("SUTURA__RETRY__BASE_DELAY", "0.05")
    for name in ("SUTURA_URL", "SUTURA_DISABLED", "SUTURA_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    reset_state()
    spec = importlib.util.spec_from_file_location("sutura_dagster_example", EXAMPLE / "definitions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module, data, sutura.Engine(db_url=f"sqlite:///{tmp_path / 'sutura.db'}")
    reset_state()


def test_example_heals_quarantines_and_serves_last_good(example):
    module, data, engine = example
    defs: Definitions = module.defs
    Definitions.validate_loadable(defs)
    job = defs.resolve_implicit_global_asset_job_def()
    instance = DagsterInstance.ephemeral()
    selection = [AssetKey("orders"), AssetKey("revenue_by_customer")]

    first = job.execute_in_process(instance=instance, asset_selection=selection)
    assert first.success  # the flaky first read was retried on Sutura's RETRY decision
    assert [d.action for d in engine.decisions(action="retry")] == [sutura.Action.RETRY]
    assert first.output_for_node("revenue_by_customer")["amount"].sum() == 77.5

    (data / "orders.csv").write_text("id,customer_id,status,amount\n1,10,paid,25.0\n1,10,lost,99.0\n")
    bad = job.execute_in_process(instance=instance, asset_selection=selection, raise_on_error=False)
    assert not bad.success
    assert len(engine.decisions(action="quarantine")) == 1

    later = job.execute_in_process(instance=instance, asset_selection=[AssetKey("revenue_by_customer")])
    assert later.output_for_node("revenue_by_customer")["amount"].sum() == 77.5
