"""Change-driven runs: the change sensor and the ``sutura_changed`` automation condition.

The upstream change comes from another tool: a loader emitting OpenLineage through the
real openlineage-python client and Sutura's in-process transport, writing a DuckDB
table that Dagster assets declare as a dependency.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

dagster = pytest.importorskip("dagster")

import sutura  # noqa: E402
from dagster import (  # noqa: E402
    AssetKey,
    AssetSpec,
    DagsterInstance,
    Definitions,
    FilesystemIOManager,
    asset,
    build_sensor_context,
    evaluate_automation_conditions,
    materialize,
)
from openlineage.client import OpenLineageClient, event_v2  # noqa: E402
from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet  # noqa: E402
from sutura.naming import duckdb_dataset  # noqa: E402
from sutura.transport import SuturaConfig, SuturaTransport  # noqa: E402

from sutura_dagster import (  # noqa: E402
    SuturaDagsterTranslator,
    SuturaIOManager,
    sutura_asset,
    sutura_change_sensor,
    sutura_changed,
)

PRODUCER = "https://github.com/example/loader/v1"




@pytest.fixture
def loader(sutura_db, tmp_path):
    """A loader outside Dagster that (re)writes warehouse tables, reporting through OpenLineage."""
    client = OpenLineageClient(transport=SuturaTransport(SuturaConfig(db_url=sutura_db)))
    warehouse = tmp_path / "warehouse.duckdb"

    def write(table: str, version: str, *, job: str = "load_orders") -> sutura.Dataset:
        ds = duckdb_dataset(warehouse, table)
        run = event_v2.Run(runId=str(uuid.uuid4()))
        ol_job = event_v2.Job(namespace="loader", name=job)
        output = event_v2.OutputDataset(
            namespace=ds.namespace, name=ds.name, facets={"version": DatasetVersionDatasetFacet(datasetVersion=version)}
        )
        for state in (event_v2.RunState.START, event_v2.RunState.COMPLETE):
            client.emit(event_v2.RunEvent(
                eventType=state, eventTime=datetime.now(timezone.utc).isoformat(), run=run, job=ol_job,
                producer=PRODUCER, inputs=[], outputs=[output] if state is event_v2.RunState.COMPLETE else [],
            ))  # fmt: skip
        return ds

    write.warehouse = warehouse  # type: ignore[attr-defined]
    return write


def _project(loader, translator):
    """External tables as AssetSpecs (named through the translator) and the assets reading them."""
    orders = AssetSpec(["warehouse", "orders"])
    customers = AssetSpec(["warehouse", "customers"])

    @asset(deps=[orders])
    def revenue() -> None: ...

    @asset(deps=[customers])
    def churn() -> None: ...

    @asset(deps=[revenue])
    def forecast() -> None: ...

    return [orders, customers, revenue, churn, forecast]


def _translator(loader) -> SuturaDagsterTranslator:
    ds = duckdb_dataset(loader.warehouse, "orders")
    other = duckdb_dataset(loader.warehouse, "customers")
    return SuturaDagsterTranslator(datasets={
        "warehouse/orders": (ds.namespace, ds.name), "warehouse/customers": (other.namespace, other.name),
    })  # fmt: skip


def _tick(sensor, defs, instance, cursor):
    context = build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return sensor.evaluate_tick(context)


def test_sensor_requests_exactly_the_consumers_of_a_changed_table(engine, loader):
    translator = _translator(loader)
    sensor = sutura_change_sensor(translator=translator)
    defs = Definitions(assets=_project(loader, translator), sensors=[sensor])
    instance = DagsterInstance.ephemeral()

    loader("orders", "v1")
    first = _tick(sensor, defs, instance, None)
    [request] = first.run_requests
    assert list(request.asset_selection) == [AssetKey("revenue")]  # not churn, not forecast (next hop)
    assert request.tags["sutura/changed"] == duckdb_dataset(loader.warehouse, "orders").id

    second = _tick(sensor, defs, instance, first.cursor)
    assert second.run_requests == [] and second.cursor == first.cursor

    loader("orders", "v1")  # rewritten, same content: nothing to run
    third = _tick(sensor, defs, instance, second.cursor)
    assert third.run_requests == []

    loader("customers", "c7")
    fourth = _tick(sensor, defs, instance, third.cursor)
    assert [list(r.asset_selection) for r in fourth.run_requests] == [[AssetKey("churn")]]


def test_sensor_adds_readers_seen_in_lineage_and_holds_readers_of_a_quarantine(engine, loader):
    translator = _translator(loader)
    orders = duckdb_dataset(loader.warehouse, "orders")

    @asset
    def undeclared_reader() -> None:
        """Reads warehouse.main.orders in its code, without declaring the dependency."""

    @asset(deps=[AssetSpec(["warehouse", "orders"]), AssetSpec(["warehouse", "customers"])])
    def blended() -> None: ...

    # what the OpenLineage sensor reported for an earlier run of undeclared_reader
    engine.ingest({
        "eventType": "COMPLETE", "eventTime": datetime.now(timezone.utc).isoformat(), "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "dagster", "name": "__ASSET_JOB.undeclared_reader", "facets": {"jobType": {
            "_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json",
            "processingType": "BATCH", "integration": "DAGSTER", "jobType": "ASSET"}}},
        "inputs": [{"namespace": orders.namespace, "name": orders.name}], "outputs": [],
    })  # fmt: skip
    customers = loader("customers", "c1")
    engine.on_checks(customers, [sutura.CheckResult(customers, "not_null", False, field="id")], fingerprint="bad-batch")

    sensor = sutura_change_sensor(translator=translator)
    defs = Definitions(
        assets=[AssetSpec(["warehouse", "orders"]), AssetSpec(["warehouse", "customers"]), undeclared_reader, blended],
        sensors=[sensor],
    )
    instance = DagsterInstance.ephemeral()
    cursor = _tick(sensor, defs, instance, None).cursor  # the first customers version

    loader("orders", "v2")
    [request] = _tick(sensor, defs, instance, cursor).run_requests
    assert sorted(request.asset_selection) == [AssetKey("undeclared_reader")]  # blended is held


def test_dagster_materialization_wakes_its_downstream(engine, tmp_path):
    rows = [1, 2, 3]

    @sutura_asset
    def orders() -> list[int]:
        return list(rows)

    @asset
    def total(orders: list[int]) -> int:
        return sum(orders)

    io = SuturaIOManager(io_manager=FilesystemIOManager(base_dir=str(tmp_path / "store")))
    sensor = sutura_change_sensor()
    defs = Definitions(assets=[orders, total], sensors=[sensor], resources={"io_manager": io})
    instance = DagsterInstance.ephemeral()

    assert materialize([orders, total], selection=["orders"], instance=instance, resources={"io_manager": io}).success
    first = _tick(sensor, defs, instance, None)
    [request] = first.run_requests
    assert list(request.asset_selection) == [AssetKey("total")]

    # orders changes and total runs in the same run: total already read it, nothing to request
    rows.append(4)
    assert materialize([orders, total], instance=instance, resources={"io_manager": io}).success
    second = _tick(sensor, defs, instance, first.cursor)
    assert second.run_requests == [] and second.cursor != first.cursor


def test_sensor_without_changes_requests_nothing(engine):
    sensor = sutura_change_sensor()
    defs = Definitions(assets=[AssetSpec("anything")], sensors=[sensor])
    result = _tick(sensor, defs, DagsterInstance.ephemeral(), None)
    assert result.run_requests == []
    assert "no content changed" in (result.skip_message or "")


def test_automation_condition_is_true_once_per_upstream_change(engine, loader):
    translator = _translator(loader)
    condition = sutura_changed(translator=translator)

    @asset(deps=[AssetSpec(["warehouse", "orders"])], automation_condition=condition)
    def revenue() -> None: ...

    @asset(deps=[AssetSpec(["warehouse", "customers"])], automation_condition=sutura_changed(translator=translator))
    def churn() -> None: ...

    defs = Definitions(assets=[AssetSpec(["warehouse", "orders"]), AssetSpec(["warehouse", "customers"]), revenue, churn])
    instance = DagsterInstance.ephemeral()

    loader("orders", "v1")  # history before the condition existed is not replayed
    first = evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0

    loader("orders", "v2")
    second = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert second.get_requested_partitions(AssetKey("revenue")) == {None}
    assert second.get_num_requested(AssetKey("churn")) == 0

    third = evaluate_automation_conditions(defs=defs, instance=instance, cursor=second.cursor)
    assert third.total_requested == 0
    assert condition.description == "an upstream dataset's content changed in Sutura"
