"""The seed scenario: one causal chain across Airflow, dbt and Dagster, one incident.

An Airflow load task fails with a connection timeout, the table it feeds goes stale,
a dbt test on the model reading it fails, and a Dagster asset built on that model
degrades. ``explain`` on the last symptom names the Airflow task as the root cause.
Events follow the shapes the real producers send (see tests/fixtures/producers).
"""

from __future__ import annotations

import uuid

from sutura import Action, Engine, ErrorInfo, Failure, Job
from tests.core.builders import PRODUCER, dataset, run_event

WH = "duckdb:///data/warehouse.duckdb"
CRM = ("postgres://crm:5432", "crm.public.customers")
RAW = (WH, "warehouse.analytics.customers")
STG = (WH, "warehouse.analytics.stg_customers")
DBT_PARENT = (str(uuid.uuid4()), "dbt", "dbt-run-shop")


def _facet(**body):
    return {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/X.json", **body}


def airflow_load(day: int, state: str, error: str | None = None) -> list[dict]:
    dag_run, task_run = str(uuid.uuid4()), str(uuid.uuid4())
    parent = (dag_run, "airflow", "daily_etl")
    io = dict(inputs=[dataset(*CRM)], outputs=[dataset(*RAW, fields=[("customer_id", "INTEGER"), ("email", "VARCHAR")])])
    at = day * 1440 + 7  # 03:47
    return [
        run_event("START", ("airflow", "daily_etl"), dag_run, at=at - 1, job_type=("AIRFLOW", "DAG")),
        run_event("START", ("airflow", "daily_etl.load_customers"), task_run, at=at, parent=parent, try_number=1, job_type=("AIRFLOW", "TASK"), **io),
        run_event(state, ("airflow", "daily_etl.load_customers"), task_run, at=at + 0.5, parent=parent, try_number=1, error=error, job_type=("AIRFLOW", "TASK"), **io),
        run_event(state, ("airflow", "daily_etl"), dag_run, at=at + 1, job_type=("AIRFLOW", "DAG")),
    ]


def dbt_model(day: int) -> list[dict]:
    run_id = str(uuid.uuid4())
    out = dataset(*STG, fields=[("customer_id", "INTEGER")])
    out["facets"]["columnLineage"] = _facet(fields={"customer_id": {"inputFields": [{"namespace": RAW[0], "name": RAW[1], "field": "customer_id"}]}})
    job_facets = {"dbt_node": _facet(unique_id="model.shop.stg_customers")}
    events = []
    for state, at in (("START", 30), ("COMPLETE", 31)):
        ev = run_event(state, ("dbt", "warehouse.analytics.shop.stg_customers.build.run"), run_id, at=day * 1440 + at, parent=DBT_PARENT, outputs=[out], job_type=("DBT", "MODEL"))
        ev["job"]["facets"].update(job_facets)
        events.append(ev)
    return events


def dbt_test(day: int, success: bool) -> list[dict]:
    run_id = str(uuid.uuid4())
    tested = dataset(*STG)
    tested["facets"]["dataQualityAssertions"] = _facet(
        assertions=[{"assertion": "not_null", "name": "not_null_stg_customers_customer_id", "column": "customer_id", "success": success, "actual": "0" if success else "412"}]
    )
    state = "COMPLETE" if success else "FAIL"
    return [
        run_event("START", ("dbt", "warehouse.analytics.shop.stg_customers.build.test"), run_id, at=day * 1440 + 32, parent=DBT_PARENT, inputs=[tested], job_type=("DBT", "TEST")),
        run_event(state, ("dbt", "warehouse.analytics.shop.stg_customers.build.test"), run_id, at=day * 1440 + 33, parent=DBT_PARENT, inputs=[tested], job_type=("DBT", "TEST")),
    ]


def dagster_asset(day: int, state: str, error: str | None = None) -> list[dict]:
    run_id = str(uuid.uuid4())
    io = dict(inputs=[dataset(*STG)], outputs=[dataset("dagster://shop", "customer_features")])
    return [
        run_event("START", ("dagster", "customer_features"), run_id, at=day * 1440 + 40, job_type=("DAGSTER", "ASSET"), **io),
        run_event(state, ("dagster", "customer_features"), run_id, at=day * 1440 + 41, error=error, job_type=("DAGSTER", "ASSET"), **io),
    ]


def test_explain_walks_from_the_dagster_asset_to_the_airflow_task(engine: Engine) -> None:
    # Day 0: everything healthy.
    engine.ingest(airflow_load(0, "COMPLETE") + dbt_model(0) + dbt_test(0, True) + dagster_asset(0, "COMPLETE"))
    assert engine.incidents() == []
    # Day 1, 03:47: the load times out; dbt builds on the stale table, its test fails; the asset degrades.
    engine.ingest(airflow_load(1, "FAIL", error="ConnectionTimeout: connection to crm.internal:5432 timed out after 30s"))
    engine.ingest(dbt_model(1) + dbt_test(1, False))
    engine.ingest(dagster_asset(1, "FAIL", error="ValueError: 412 customers without an id"))

    explanation = engine.explain("job:dagster:customer_features")
    chain = explanation.chain
    assert explanation.root_cause["id"] == "job:airflow:daily_etl.load_customers"
    assert explanation.root_cause["state"] == "FAIL" and "ConnectionTimeout" in explanation.root_cause["evidence"]
    assert [link["id"] for link in chain] == [
        "job:dagster:customer_features",
        f"dataset:{STG[0]}:{STG[1]}",
        "job:dbt:warehouse.analytics.shop.stg_customers.build.run",
        f"dataset:{RAW[0]}:{RAW[1]}",
        "job:airflow:daily_etl.load_customers",
    ]
    assert "not_null_stg_customers_customer_id" in chain[1]["evidence"]
    assert chain[3]["state"] == "STALE"
    text = explanation.text()
    assert text.splitlines()[0].startswith("dagster asset job:dagster:customer_features FAIL")
    assert "← airflow task job:airflow:daily_etl.load_customers FAIL" in text

    # One incident holds every symptom: the failed load, the failed dbt test, the degraded asset.
    incidents = engine.incidents(state="open")
    assert len(incidents) == 1
    symptoms = set(incidents[0].symptoms)
    assert {
        "job:airflow:daily_etl.load_customers",
        "job:dbt:warehouse.analytics.shop.stg_customers.build.test",
        "job:dagster:customer_features",
        f"dataset:{RAW[0]}:{RAW[1]}",
    } <= symptoms
    assert incidents[0].root_cause == "job:airflow:daily_etl.load_customers"
    assert engine.explain("job:dbt:warehouse.analytics.shop.stg_customers.build.test").incident["id"] == incidents[0].id

    # The asset asking for a remedy is told to wait: its cause is upstream.
    decision = engine.on_failure(
        Failure(job=Job("dagster", "customer_features"), error=ErrorInfo("ValueError", "412 customers without an id"), max_attempts=3)
    )
    assert decision.action is Action.WAIT and "daily_etl.load_customers" in decision.reason

    # Day 2: the load succeeds again: the incident resolves.
    engine.ingest(airflow_load(2, "COMPLETE"))
    assert engine.incidents(state="open") == []


def test_one_batch_holding_the_whole_chain_opens_one_incident(engine: Engine) -> None:
    engine.ingest(airflow_load(0, "COMPLETE") + dbt_model(0) + dbt_test(0, True) + dagster_asset(0, "COMPLETE"))
    engine.ingest(
        airflow_load(1, "FAIL", error="ConnectionTimeout: connection to crm.internal:5432 timed out after 30s")
        + dbt_model(1) + dbt_test(1, False)
        + dagster_asset(1, "FAIL", error="ValueError: 412 customers without an id")
    )  # fmt: skip
    [incident] = engine.incidents(state="open")
    assert incident.root_cause == "job:airflow:daily_etl.load_customers"
    assert {
        "job:airflow:daily_etl.load_customers",
        "job:dbt:warehouse.analytics.shop.stg_customers.build.test",
        "job:dagster:customer_features",
        f"dataset:{STG[0]}:{STG[1]}",
    } <= set(incident.symptoms)


def test_healthy_node_has_nothing_to_explain(engine: Engine) -> None:
    engine.ingest(airflow_load(0, "COMPLETE"))
    explanation = engine.explain("job:airflow:daily_etl.load_customers")
    assert explanation.root_cause is None and explanation.chain == []
    assert "nothing to explain" in explanation.text()
