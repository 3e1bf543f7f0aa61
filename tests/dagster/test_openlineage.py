"""OpenLineage events read from a real Dagster event log, and the sensor that sends them."""

from __future__ import annotations

import json
import logging
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster
import pytest
from dagster import AssetKey, build_sensor_context, instance_for_test, materialize

from sutura_dagster.openlineage import openlineage_sensor, read_openlineage_events
from sutura_dagster.translator import SuturaDagsterTranslator

pytestmark = pytest.mark.xdist_group("dagster_openlineage")

WAREHOUSE = "duckdb:///warehouse.duckdb"


def _translator() -> SuturaDagsterTranslator:
    return SuturaDagsterTranslator(table_namespace={"duckdb": WAREHOUSE})


@pytest.fixture(scope="module")
def events(scenario):
    batch = read_openlineage_events(
        scenario.instance, None, translator=_translator(), repository_def=scenario.repository_def
    )
    mine = {scenario.ok_run_id, scenario.failed_run_id}
    return [e for e in batch.events if e["run"]["facets"]["dagster"]["runId"] in mine]


def _of(events, run_id, job_suffix=None, job_type=None):
    found = [e for e in events if e["run"]["facets"]["dagster"]["runId"] == run_id]
    if job_suffix is not None:
        found = [e for e in found if e["job"]["name"].endswith(job_suffix)]
    if job_type is not None:
        found = [e for e in found if e["job"]["facets"]["jobType"]["jobType"] == job_type]
    return found


def _dataset_names(datasets):
    return [(d["namespace"], d["name"]) for d in datasets]


# ---------------------------------------------------------------------- spec


def test_every_event_is_valid_openlineage_2_0_2(events, spec):
    assert len(events) >= 20
    for event in events:
        spec.validate(event)


def test_a_broken_event_is_rejected_by_the_validator(events, spec):
    """The validation above can fail: a facet missing a required field is caught."""
    import jsonschema

    bad = json.loads(json.dumps(events[0]))
    del bad["job"]["facets"]["jobType"]["integration"]
    with pytest.raises(jsonschema.ValidationError, match="integration"):
        spec.validate(bad)


# ---------------------------------------------------------------------- jobs and runs


def test_run_level_job_has_start_and_terminal_event(scenario, events):
    ok = _of(events, scenario.ok_run_id, job_type="JOB")
    assert [e["eventType"] for e in ok] == ["START", "COMPLETE"]
    assert {e["run"]["runId"] for e in ok} == {scenario.ok_run_id}  # the Dagster run id itself
    assert ok[0]["job"] == {
        "namespace": "dagster",
        "name": "__ephemeral_asset_job__",
        "facets": ok[0]["job"]["facets"],
    }
    job_type = ok[0]["job"]["facets"]["jobType"]
    assert (job_type["integration"], job_type["jobType"]) == ("DAGSTER", "JOB")
    engine = ok[0]["run"]["facets"]["processing_engine"]
    assert (engine["name"], engine["version"]) == ("Dagster", dagster.__version__)

    failed = _of(events, scenario.failed_run_id, job_type="JOB")
    assert [e["eventType"] for e in failed] == ["START", "FAIL"]
    # the run fails with its first failed step's error
    assert failed[1]["run"]["facets"]["errorMessage"]["message"].startswith("ValueError: column")


def test_each_step_is_a_child_job_of_its_run(scenario, events):
    steps = [e for e in _of(events, scenario.ok_run_id) if "parent" in e["run"]["facets"]]
    assert {e["job"]["name"] for e in steps} >= {
        "__ephemeral_asset_job__.raw__orders",
        "__ephemeral_asset_job__.enriched",
        "__ephemeral_asset_job__.summary",
        "__ephemeral_asset_job__.raw__orders_orders_not_empty",
    }
    run_level = {"runId": scenario.ok_run_id}
    for event in steps:
        parent = event["run"]["facets"]["parent"]
        assert parent["root"]["run"] == run_level
        assert parent["root"]["job"] == {"namespace": "dagster", "name": "__ephemeral_asset_job__"}
        if event["job"]["facets"]["jobType"]["jobType"] in ("ASSET", "STEP"):
            assert parent["run"] == run_level
        assert event["run"]["runId"] != scenario.ok_run_id
    asset_steps = _of(events, scenario.ok_run_id, ".raw__orders", job_type="ASSET")
    assert [e["eventType"] for e in asset_steps] == ["START", "COMPLETE"]
    check_step = _of(events, scenario.ok_run_id, "raw__orders_orders_not_empty")
    assert {e["job"]["facets"]["jobType"]["jobType"] for e in check_step} == {"STEP"}


def test_each_retry_is_a_separate_run_with_its_attempt(scenario, events):
    enriched = _of(events, scenario.ok_run_id, ".enriched")
    assert [(e["eventType"], e["run"]["facets"]["dagster"]["attempt"]) for e in enriched] == [
        ("START", 1),
        ("FAIL", 1),
        ("START", 2),
        ("COMPLETE", 2),
    ]
    first, second = enriched[0]["run"]["runId"], enriched[2]["run"]["runId"]
    assert first != second and enriched[1]["run"]["runId"] == first
    assert uuid.UUID(first).version == 5  # derived from run id + step key + attempt
    error = enriched[1]["run"]["facets"]["errorMessage"]
    assert error["message"].startswith(
        "ConnectionError: server closed the connection unexpectedly"
    )
    assert error["programmingLanguage"] == "python"
    assert 'raise ConnectionError("server closed' in error["stackTrace"]
    assert "errorMessage" not in enriched[3]["run"]["facets"]


def test_failed_step_reports_the_error_and_its_datasets(scenario, events):
    broken = _of(events, scenario.failed_run_id, ".broken")
    assert [e["eventType"] for e in broken] == ["START", "FAIL"]
    fail = broken[1]
    assert fail["run"]["facets"]["errorMessage"]["message"].startswith(
        "ValueError: column 'amount_usd' does not exist"
    )
    # upstream outside the run comes from the asset graph; the planned output is named
    assert _dataset_names(fail["inputs"]) == [("dagster://local", "summary")]
    assert _dataset_names(fail["outputs"]) == [("dagster://local", "broken")]


# ---------------------------------------------------------------------- datasets


def test_outputs_carry_schema_and_statistics_from_materialization_metadata(scenario, events):
    complete = _of(events, scenario.ok_run_id, ".raw__orders", job_type="ASSET")[-1]
    [output] = complete["outputs"]
    assert (output["namespace"], output["name"]) == (WAREHOUSE, "raw.orders")
    assert output["facets"]["schema"]["fields"] == [
        {"name": "id", "type": "BIGINT", "description": "order id", "ordinal_position": 1},
        {"name": "amount", "type": "DOUBLE", "ordinal_position": 2},
    ]
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 3
    summary = _of(events, scenario.ok_run_id, ".summary", job_type="ASSET")[-1]
    assert summary["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 1


def test_inputs_are_the_upstream_assets(scenario, events):
    def inputs(suffix):
        return _dataset_names(_of(events, scenario.ok_run_id, suffix, "ASSET")[-1]["inputs"])

    assert inputs(".raw__orders") == [("dagster://local", "ext_customers")]  # deps=
    assert inputs(".enriched") == [(WAREHOUSE, "raw.orders")]
    assert inputs(".summary") == [("dagster://local", "enriched")]


def test_without_the_asset_graph_inputs_come_from_the_run_plan(scenario):
    batch = read_openlineage_events(scenario.instance, None, translator=_translator())
    by_job = {
        e["job"]["name"]: e
        for e in batch.events
        if e["run"]["facets"]["dagster"]["runId"] == scenario.ok_run_id
    }
    assert by_job["__ephemeral_asset_job__.raw__orders"]["inputs"] == []  # deps= needs the graph
    # same-run upstreams are still known; without definition metadata (dagster/table_name)
    # the dataset keeps its default name
    enriched_inputs = by_job["__ephemeral_asset_job__.enriched"]["inputs"]
    assert _dataset_names(enriched_inputs) == [("dagster://local", "raw/orders")]


def test_asset_check_evaluations_become_data_quality_assertions(scenario, events):
    checks = _of(events, scenario.ok_run_id, job_type="ASSET_CHECK")
    completes = {e["job"]["name"]: e for e in checks if e["eventType"] == "COMPLETE"}
    assert set(completes) == {
        "__ephemeral_asset_job__.raw/orders.orders_not_empty",
        "__ephemeral_asset_job__.summary.total_below_limit",
    }
    passed = completes["__ephemeral_asset_job__.raw/orders.orders_not_empty"]
    [dataset] = passed["inputs"]
    assert (dataset["namespace"], dataset["name"]) == (WAREHOUSE, "raw.orders")
    [assertion] = dataset["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert assertion == {
        "assertion": "orders_not_empty",
        "success": True,
        "name": "orders_not_empty",
        "severity": "error",
        "params": {"rows": 3},
    }
    failed = completes["__ephemeral_asset_job__.summary.total_below_limit"]
    [assertion] = failed["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert (assertion["success"], assertion["params"]) == (False, {"total": 60})
    # the evaluation is a child of the step attempt that ran it
    summary_step = _of(events, scenario.ok_run_id, ".summary", job_type="ASSET")[0]
    assert failed["run"]["facets"]["parent"]["run"]["runId"] == summary_step["run"]["runId"]


# ---------------------------------------------------------------------- cursor


def test_same_log_same_events_and_nothing_after_the_cursor(scenario):
    first = read_openlineage_events(scenario.instance, None, repository_def=scenario.repository_def)
    again = read_openlineage_events(scenario.instance, None, repository_def=scenario.repository_def)
    assert first.events == again.events  # deterministic: re-sending is harmless
    after = read_openlineage_events(
        scenario.instance, first.cursor, repository_def=scenario.repository_def
    )
    assert after.events == [] and after.cursor == first.cursor


def test_limit_pages_through_runs_without_losing_any(scenario):
    everything = read_openlineage_events(scenario.instance, None).events
    paged, cursor, calls = [], None, 0
    while True:
        batch = read_openlineage_events(scenario.instance, cursor, limit=1)
        paged.extend(batch.events)
        cursor, calls = batch.cursor, calls + 1
        if not batch.events and not batch.has_more:
            break
    assert calls > 2 and paged == everything


def test_cursor_accepts_a_storage_id_and_rejects_garbage(scenario):
    assert read_openlineage_events(scenario.instance, "999999999").events == []
    with pytest.raises(ValueError, match="reset the sensor's cursor"):
        read_openlineage_events(scenario.instance, "{not json")


def test_a_run_in_progress_is_read_across_ticks_without_duplicates():
    seen_during_run: dict = {}

    @dagster.asset
    def watcher(context) -> int:
        batch = read_openlineage_events(context.instance, None)
        seen_during_run["batch"] = batch
        return 1

    with instance_for_test() as instance:
        run_id = materialize([watcher], instance=instance).run_id
        during = seen_during_run["batch"]
        assert json.loads(during.cursor)["open"]  # the run was still open
        assert [e["eventType"] for e in during.events] == ["START", "START"]  # run, step
        after = read_openlineage_events(instance, during.cursor)
        assert [(e["eventType"], e["job"]["name"]) for e in after.events] == [
            ("COMPLETE", "__ephemeral_asset_job__.watcher"),
            ("COMPLETE", "__ephemeral_asset_job__"),
        ]
        assert json.loads(after.cursor)["open"] == {}
        whole = read_openlineage_events(instance, None).events
        assert whole == during.events + after.events
        assert all(e["run"]["facets"]["dagster"]["runId"] == run_id for e in whole)


# ---------------------------------------------------------------------- translator


def test_a_subclass_overrides_one_decision():
    class WarehouseTranslator(SuturaDagsterTranslator):
        def get_dataset(self, asset_key, metadata):
            if asset_key.path[0] == "raw":
                return "postgres://db.internal:5432", "analytics.raw." + asset_key.path[-1]
            return super().get_dataset(asset_key, metadata)

    translator = WarehouseTranslator(deployment="prod")
    assert translator.get_dataset(AssetKey(["raw", "orders"]), {}) == (
        "postgres://db.internal:5432",
        "analytics.raw.orders",
    )
    assert translator.get_dataset(AssetKey(["summary"]), {}) == ("dagster://prod", "summary")


def test_dataset_naming_rules():
    translator = SuturaDagsterTranslator(
        deployment="prod",
        datasets={"raw/orders": ("postgres://db:5432", "shop.public.orders")},
        table_namespace="snowflake://acme",
    )
    key = AssetKey(["lake", "events"])
    assert translator.get_dataset(AssetKey(["raw", "orders"]), {}) == (
        "postgres://db:5432",
        "shop.public.orders",
    )
    assert translator.get_dataset(key, {"dagster/uri": "s3://bucket/events/2024"}) == (
        "s3://bucket",
        "events/2024",
    )
    assert translator.get_dataset(key, {"dagster/uri": "file:///data/events.parquet"}) == (
        "file",
        "/data/events.parquet",
    )
    assert translator.get_dataset(key, {"dagster/table_name": "DB.SCHEMA.EVENTS"}) == (
        "snowflake://acme",
        "DB.SCHEMA.EVENTS",
    )
    assert SuturaDagsterTranslator(deployment="prod").get_dataset(
        key, {"dagster/table_name": "DB.SCHEMA.EVENTS"}
    ) == ("dagster://prod", "lake/events")


# ---------------------------------------------------------------------- sensor


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Collector(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_sensor_sends_to_a_file_and_a_second_tick_sends_nothing(
    orders_instance, lineage_defs, tmp_path, spec
):
    instance, orders_run = orders_instance
    path = tmp_path / "events.jsonl"
    sensor = openlineage_sensor(
        transport={"type": "file", "log_file_path": str(path), "append": True}
    )
    result = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=lineage_defs))
    assert result.cursor and "sent 4 OpenLineage events" in result.skip_message
    sent = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["eventType"] for e in sent] == ["START", "START", "COMPLETE", "COMPLETE"]
    assert sent[0]["run"]["runId"] == orders_run
    for event in sent:
        spec.validate(event)
    second = sensor.evaluate_tick(
        build_sensor_context(instance=instance, cursor=result.cursor, definitions=lineage_defs)
    )
    assert second.skip_message == "no new Dagster events"
    assert len(path.read_text().splitlines()) == 4


def test_sensor_keeps_its_cursor_while_the_endpoint_is_down(orders_instance, lineage_defs, caplog):
    instance, _ = orders_instance
    port = _free_port()
    sensor = openlineage_sensor(
        transport={
            "type": "http",
            "url": f"http://127.0.0.1:{port}",
            "timeout": 2,
            "retry": {"total": 0, "connect": 0, "read": 0},
        }
    )
    context = build_sensor_context(instance=instance, definitions=lineage_defs)
    context.log.addHandler(caplog.handler)  # the sensor logs to its tick log (context.log)
    down = sensor.evaluate_tick(context)
    assert down.cursor is None  # not advanced
    assert "OpenLineage transport unavailable" in down.skip_message
    warnings = [r for r in caplog.records if "could not send" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING

    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", port), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        up = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=lineage_defs))
        assert up.cursor and "sent 4 OpenLineage events" in up.skip_message
        assert [p for p, _ in _Collector.received] == ["/api/v1/lineage"] * 4
        assert [b["eventType"] for _, b in _Collector.received] == [
            "START", "START", "COMPLETE", "COMPLETE",
        ]  # fmt: skip
        idle = sensor.evaluate_tick(
            build_sensor_context(instance=instance, cursor=up.cursor, definitions=lineage_defs)
        )
        assert idle.skip_message == "no new Dagster events" and len(_Collector.received) == 4
    finally:
        server.shutdown()
        server.server_close()


def test_sensor_is_a_real_dagster_sensor(lineage_defs):
    sensor = openlineage_sensor(name="lineage", minimum_interval_seconds=60)
    defs = dagster.Definitions.merge(lineage_defs, dagster.Definitions(sensors=[sensor]))
    dagster.Definitions.validate_loadable(defs)
    loaded = defs.get_repository_def().get_sensor_def("lineage")
    assert loaded.minimum_interval_seconds == 60
    assert loaded.default_status == dagster.DefaultSensorStatus.RUNNING


def test_sensor_feeds_an_embedded_sutura_engine(scenario, lineage_defs, tmp_path):
    """The whole path: Dagster log -> sensor -> SuturaTransport -> the engine's graph."""
    from sutura.engine import Engine

    db_url = f"sqlite:///{tmp_path / 'sutura.db'}"
    sensor = openlineage_sensor(
        transport={"type": "sutura.transport.SuturaTransport", "db_url": db_url}
    )
    tick = sensor.evaluate_tick(
        build_sensor_context(instance=scenario.instance, definitions=lineage_defs)
    )
    assert tick.cursor and tick.skip_message.startswith("sent ")
    ours = read_openlineage_events(scenario.instance, None, repository_def=scenario.repository_def)
    enriched = [
        e
        for e in ours.events
        if e["job"]["name"] == "__ephemeral_asset_job__.enriched"
        and e["run"]["facets"]["dagster"]["runId"] == scenario.ok_run_id
    ]
    engine = Engine(db_url=db_url)
    try:
        first, second = engine.run(enriched[0]["run"]["runId"]), engine.run(enriched[2]["run"]["runId"])
        assert (first.state.value, second.state.value) == ("FAIL", "COMPLETE")
        assert first.parent_run_id == second.parent_run_id == scenario.ok_run_id
        assert (first.job.integration, first.job.type) == ("DAGSTER", "ASSET")
        assert "ConnectionError" in (first.error_message or "")
        [version] = engine.versions("dataset:dagster://local:raw/orders")[:1]
        assert version.row_count == 3
    finally:
        engine.close()
