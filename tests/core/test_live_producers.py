"""Real producers feed Sutura through its real doors, and the graph holds what they sent.

* Airflow 3 (``airflow dags test`` of ``tests/fixtures/projects/airflow_dags/sutura_orders.py``)
  with the OpenLineage provider pointed, in the same run, (1) over HTTP at a ``sutura serve``
  this module starts and (2) at the in-process ``sutura.transport.SuturaTransport``.
* dbt-ol (``dbt-ol build`` of ``tests/fixtures/projects/dbt_small`` on DuckDB) over HTTP.

Every producer also writes a file copy of what it sent (OpenLineage ``composite`` transport),
so the graph is checked against the producer's own events as well as against the shape the
project is known to have. The same assertions replay the recorded events in
``tests/fixtures/producers`` in-process, which takes about a second.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

import sutura
from tests.support.airflow import new_airflow_home, openlineage_env
from tests.support.dbt import new_dbt_project
from tests.support.graph import EngineGraph, GraphReader, HttpGraph, edges, node_ids
from tests.support.openlineage import FIXTURES, composite_transport, file_transport, http_transport, read_events, sutura_transport
from tests.support.server import SuturaServer, running_sutura_server

NS = "sutura-test"  # job namespace every producer is given
LANDING = "dataset:file:/landing/orders.csv"
RAW_ORDERS = "dataset:duckdb://warehouse:main.raw_orders"
ORDERS_DAILY = "dataset:duckdb://warehouse:main.orders_daily"
DAG = f"job:{NS}:sutura_orders"
EXTRACT, LOAD, REPORT = (f"job:{NS}:sutura_orders.{t}" for t in ("extract_orders", "load_orders", "report"))


# -- helpers -----------------------------------------------------------------------------


def _parent_run_id(event: dict[str, Any]) -> str | None:
    parent = event["run"].get("facets", {}).get("parent")
    return parent["run"]["runId"] if parent else None


def _sent_runs(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per runId: job name, the last state the producer sent, parent runId."""
    runs: dict[str, dict[str, Any]] = {}
    for e in events:
        run = runs.setdefault(e["run"]["runId"], {"job": e["job"]["name"], "namespace": e["job"]["namespace"]})
        run["state"] = e["eventType"]
        run["parent"] = _parent_run_id(e) or run.get("parent")
    return runs


def _assert_matches_sent(graph: GraphReader, events: list[dict[str, Any]]) -> None:
    """Every run the producer reported is in the graph with its job, final state and parent."""
    assert events, "the producer sent no OpenLineage events"
    for run_id, sent in _sent_runs(events).items():
        got = graph.run(run_id)
        assert (got["job"]["namespace"], got["job"]["name"]) == (sent["namespace"], sent["job"]), run_id
        assert got["state"] == sent["state"], f"{sent['job']} {run_id}"
        assert got["parentRunId"] == sent["parent"], f"{sent['job']} {run_id}"


def _io(run: dict[str, Any]) -> tuple[set[str], set[str]]:
    return {d["id"] for d in run["inputs"]}, {d["id"] for d in run["outputs"]}


# -- Airflow -----------------------------------------------------------------------------


def _assert_airflow_orders_graph(graph: GraphReader, events: list[dict[str, Any]]) -> None:
    _assert_matches_sent(graph, events)
    by_job: dict[str, list[str]] = defaultdict(list)
    for run_id, sent in _sent_runs(events).items():
        by_job[f"job:{sent['namespace']}:{sent['job']}"].append(run_id)

    # The DAG run: `airflow dags test` sends only its COMPLETE (the scheduler sends START).
    [dag_run_id] = by_job[DAG]
    dag_run = graph.run(dag_run_id)
    assert dag_run["job"]["type"] == "DAG" and dag_run["job"]["integration"] == "AIRFLOW"
    assert dag_run["state"] == "COMPLETE"
    assert dag_run["parentRunId"] is None
    task_run_ids = {r for job in (EXTRACT, LOAD, REPORT) for r in by_job[job]}
    assert len(task_run_ids) == 4  # load_orders ran twice
    assert set(dag_run["children"]) == task_run_ids

    # Task runs: linked to the DAG run, typed, with the lineage their inlets/outlets declare.
    expected_io = {
        EXTRACT: ({LANDING}, {RAW_ORDERS}),
        LOAD: ({RAW_ORDERS}, {ORDERS_DAILY}),
        REPORT: (set(), set()),
    }
    for job, io in expected_io.items():
        for run_id in by_job[job]:
            run = graph.run(run_id)
            assert run["job"]["type"] == "TASK" and run["job"]["integration"] == "AIRFLOW", job
            assert run["parentRunId"] == dag_run_id, job
            assert _io(run) == io, job
        node = graph.node(job)
        assert node["jobType"] == "TASK"
        assert (set(node["inputs"]), set(node["outputs"])) == io, job

    for job in (EXTRACT, REPORT):
        [run_id] = by_job[job]
        run = graph.run(run_id)
        assert (run["state"], run["attempt"], run["error"]) == ("COMPLETE", 1, None), job

    # The retried task: try 1 failed with the task's exception, try 2 succeeded; two runs.
    attempts = {graph.run(r)["attempt"]: graph.run(r) for r in by_job[LOAD]}
    assert sorted(attempts) == [1, 2]
    assert attempts[1]["state"] == "FAIL"
    assert "connection reset by peer" in attempts[1]["error"]
    assert attempts[2]["state"] == "COMPLETE" and attempts[2]["error"] is None
    assert {r["runId"] for r in graph.runs(LOAD)} == set(by_job[LOAD])

    # Datasets and their producers/consumers.
    assert graph.node(RAW_ORDERS)["producers"] == [EXTRACT]
    assert graph.node(RAW_ORDERS)["consumers"] == [LOAD]
    assert graph.node(ORDERS_DAILY)["producers"] == [LOAD]
    assert graph.node(LANDING)["consumers"] == [EXTRACT]

    # Lineage walks from the last dataset back to the landing file, job by job.
    upstream = graph.lineage(ORDERS_DAILY, direction="upstream", depth=5)
    assert node_ids(upstream) == {ORDERS_DAILY, LOAD, RAW_ORDERS, EXTRACT, LANDING}
    assert {(LANDING, EXTRACT), (EXTRACT, RAW_ORDERS), (RAW_ORDERS, LOAD), (LOAD, ORDERS_DAILY)} <= edges(upstream)
    downstream = graph.lineage(LANDING, direction="downstream", depth=5)
    assert node_ids(downstream) == node_ids(upstream)  # REPORT reads and writes nothing: not in lineage


@dataclass(frozen=True)
class AirflowLive:
    """One real DAG run whose events went to a ``sutura serve`` and to an embedded store at once."""

    server: SuturaServer
    engine_db_url: str
    events: list[dict[str, Any]]  # the file copy of what the provider sent
    output: str


@pytest.fixture(scope="module")
def airflow_live(tmp_path_factory: pytest.TempPathFactory, airflow_template_db: Path) -> Iterator[AirflowLive]:
    """Run ``sutura_orders`` once; the provider's composite transport feeds both doors."""
    root = tmp_path_factory.mktemp("airflow-live")
    home = new_airflow_home(root / "airflow", template=airflow_template_db)
    sent = root / "sent.jsonl"
    db_url = f"sqlite:///{root / 'embedded.db'}"
    with running_sutura_server(root / "sutura") as server:
        transport = composite_transport(http_transport(server.url), sutura_transport(db_url), file_transport(sent))
        result = home.dags_test("sutura_orders", env=openlineage_env(transport, namespace=NS)).check()
        yield AirflowLive(server=server, engine_db_url=db_url, events=read_events(sent), output=result.stdout + result.stderr)


@pytest.mark.slow
@pytest.mark.xdist_group("live_airflow")
def test_airflow_dag_run_over_http_into_sutura_serve(airflow_live: AirflowLive) -> None:
    with airflow_live.server.client() as client:
        health = client.get("/healthz")
        assert health.status_code == 200, health.text
        _assert_airflow_orders_graph(HttpGraph(client), airflow_live.events)
    assert "Traceback" not in airflow_live.server.log(), airflow_live.server.log()[-4000:]


@pytest.mark.slow
@pytest.mark.xdist_group("live_airflow")
def test_airflow_dag_run_through_in_process_transport(airflow_live: AirflowLive) -> None:
    assert "Sutura could not store" not in airflow_live.output
    engine = sutura.Engine(db_url=airflow_live.engine_db_url)
    try:
        _assert_airflow_orders_graph(EngineGraph(engine), airflow_live.events)
    finally:
        engine.close()


# -- dbt ---------------------------------------------------------------------------------

MODELS = ("stg_customers", "stg_orders", "customer_orders", "orders_daily")
MODEL_INPUTS = {  # default dbt-ol mode names the seeds only in the models' columnLineage facets
    "stg_customers": {"raw_customers"},
    "stg_orders": {"raw_orders"},
    "customer_orders": {"stg_customers", "stg_orders"},
    "orders_daily": {"stg_orders"},
}
ACCEPTED_STATUS = "accepted_values_stg_orders_status___var_order_statuses_"
CHECKS = {  # the generic tests on each model, as Sutura names a check: (dbt test name, column)
    "stg_customers": {("not_null_stg_customers_customer_id", "customer_id"), ("unique_stg_customers_customer_id", "customer_id")},
    "stg_orders": {
        ("not_null_stg_orders_order_id", "order_id"),
        ("unique_stg_orders_order_id", "order_id"),
        (ACCEPTED_STATUS, "status"),
        ("relationships_stg_orders_customer_id__customer_id__ref_stg_customers_", "customer_id"),
    },
    "customer_orders": {("not_null_customer_orders_customer_id", "customer_id"), ("unique_customer_orders_customer_id", "customer_id")},
    "orders_daily": {("not_null_orders_daily_order_date", "order_date"), ("unique_orders_daily_order_date", "order_date")},
}


@dataclass(frozen=True)
class DbtNames:
    """Node ids dbt-ol gives the small project's datasets and jobs for one warehouse file."""

    namespace: str  # dataset namespace: duckdb://<warehouse file>
    database: str  # the warehouse file's stem

    def dataset(self, model: str) -> str:
        return f"dataset:{self.namespace}:{self.database}.main.{model}"

    def model_job(self, model: str) -> str:
        return f"job:{NS}:{self.database}.main.dbt_small.{model}.build.run"

    def test_job(self, model: str) -> str:
        return f"job:{NS}:{self.database}.main.dbt_small.{model}.build.test"

    parent_job = f"job:{NS}:dbt-run-dbt_small"


def _assert_dbt_green_build(graph: GraphReader, events: list[dict[str, Any]], names: DbtNames) -> None:
    _assert_matches_sent(graph, events)
    [build] = graph.runs(names.parent_job)
    build = graph.run(build["runId"])
    assert (build["state"], build["job"]["type"], build["job"]["integration"]) == ("COMPLETE", "JOB", "DBT")
    assert len(build["children"]) == 2 * len(MODELS)  # one model run and one test run per model

    for m in MODELS:
        [run] = graph.runs(names.model_job(m))
        run = graph.run(run["runId"])
        assert (run["state"], run["job"]["type"], run["parentRunId"]) == ("COMPLETE", "MODEL", build["runId"]), m
        assert _io(run) == ({names.dataset(i) for i in MODEL_INPUTS[m]}, {names.dataset(m)}), m

        [check_run] = graph.runs(names.test_job(m))
        check_run = graph.run(check_run["runId"])
        assert (check_run["state"], check_run["job"]["type"]) == ("COMPLETE", "TEST"), m
        assert check_run["parentRunId"] == build["runId"], m
        assert {d["id"] for d in check_run["inputs"]} == {names.dataset(m)}, m

        checks = {(c["assertion"], c["field"], c["success"]) for c in graph.node(names.dataset(m))["checks"]}
        assert checks == {(a, f, True) for a, f in CHECKS[m]}, m

    upstream = graph.lineage(names.dataset("customer_orders"), direction="upstream", depth=5)
    assert node_ids(upstream) == {
        names.dataset("customer_orders"),
        names.model_job("customer_orders"),
        names.dataset("stg_customers"),
        names.dataset("stg_orders"),
        names.model_job("stg_customers"),
        names.model_job("stg_orders"),
        names.dataset("raw_customers"),  # seeds: no producing job in this mode
        names.dataset("raw_orders"),
    }
    assert (names.dataset("stg_orders"), names.model_job("customer_orders")) in edges(upstream)
    downstream = graph.lineage(names.dataset("stg_orders"), direction="downstream", depth=2)
    wanted = {names.dataset("customer_orders"), names.dataset("orders_daily"), names.test_job("stg_orders")}
    assert wanted <= node_ids(downstream)


def _assert_dbt_failing_test_build(graph: GraphReader, events: list[dict[str, Any]], names: DbtNames) -> None:
    """After a build whose accepted_values test on stg_orders failed (models below it skipped)."""
    _assert_matches_sent(graph, events)
    assert "FAIL" in {r["state"] for r in graph.runs(names.parent_job)}
    assert graph.runs(names.test_job("stg_orders"))[0]["state"] == "FAIL"
    checks = {(c["assertion"], c["field"], c["success"]) for c in graph.node(names.dataset("stg_orders"))["checks"]}
    assert (ACCEPTED_STATUS, "status", False) in checks
    assert ("unique_stg_orders_order_id", "order_id", True) in checks


@pytest.mark.slow
@pytest.mark.xdist_group("live_dbt")
def test_dbt_ol_build_over_http_into_sutura_serve(tmp_path: Path) -> None:
    project = new_dbt_project(tmp_path / "dbt")
    names = DbtNames(namespace=project.namespace, database=project.database)

    with running_sutura_server(tmp_path / "sutura") as server, server.client() as client:
        graph = HttpGraph(client)

        # 1. A green build: every model and every test.
        sent = tmp_path / "build.jsonl"
        transport = composite_transport(http_transport(server.url), file_transport(sent))
        project.dbt_ol("build", transport=transport, namespace=NS).check()
        _assert_dbt_green_build(graph, read_events(sent), names)

        # 2. A build whose accepted_values test fails: the test run fails, the check is recorded
        #    as failed, the build fails, and the models downstream of stg_orders are not rebuilt.
        sent_failing = tmp_path / "build_failing.jsonl"
        transport = composite_transport(http_transport(server.url), file_transport(sent_failing))
        project.dbt_ol(
            "build", "--vars", "{order_statuses: [placed, shipped, completed]}", transport=transport, namespace=NS
        ).check(returncode=1)
        _assert_dbt_failing_test_build(graph, read_events(sent_failing), names)
        assert {r["state"] for r in graph.runs(names.parent_job)} == {"COMPLETE", "FAIL"}
        assert [r["state"] for r in graph.runs(names.test_job("stg_orders"))] == ["FAIL", "COMPLETE"]
        for m in ("customer_orders", "orders_daily"):  # skipped by dbt: no new model run
            assert len(graph.runs(names.model_job(m))) == 1, m
        assert "Traceback" not in server.log(), server.log()[-4000:]


# -- the recorded events (tests/fixtures/producers), replayed in-process: fast ----------------

CAPTURED_DBT = DbtNames(namespace="duckdb:///tmp/sutura-capture/dbt-{run}/warehouse.duckdb", database="warehouse")


def _replay(tmp_path: Path, *relative: str) -> tuple[Any, list[list[dict[str, Any]]]]:
    engine = sutura.Engine(db_url=f"sqlite:///{tmp_path / 'replay.db'}")
    batches = [read_events(FIXTURES / r) for r in relative]
    for batch in batches:
        engine.ingest(batch)
    return engine, batches


def test_recorded_airflow_run_replays_into_the_same_graph(tmp_path: Path) -> None:
    engine, [events] = _replay(tmp_path, "airflow/sutura_orders.jsonl")
    try:
        _assert_airflow_orders_graph(EngineGraph(engine), events)
    finally:
        engine.close()


@pytest.mark.parametrize("run", ["build", "build_test_failure"])
def test_recorded_dbt_ol_builds_replay_into_the_same_graph(tmp_path: Path, run: str) -> None:
    engine, [events] = _replay(tmp_path, f"dbt/{run}.jsonl")
    names = DbtNames(namespace=CAPTURED_DBT.namespace.format(run=run), database="warehouse")
    try:
        if run == "build":
            _assert_dbt_green_build(EngineGraph(engine), events, names)
        else:
            _assert_dbt_failing_test_build(EngineGraph(engine), events, names)
    finally:
        engine.close()
