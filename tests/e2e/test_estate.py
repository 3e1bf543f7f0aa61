"""The estate, end to end: real Airflow, dbt and Dagster feeding one engine.

One estate is built for the module and the situations are played once, in the demo's
order, by the same code as ``make demo`` (``examples/estate/sutura_estate``); each test
then asserts one situation: table contents (production vs quarantine), how many times
each node ran, the engine's decisions and the explain chain.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

import pytest

ESTATE = Path(__file__).resolve().parents[2] / "examples" / "estate"
if str(ESTATE) not in sys.path:
    sys.path.insert(0, str(ESTATE))

from sutura_estate import Estate, situations  # noqa: E402
from sutura_estate.estate import LOAD_JOB  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e")]

D1, D2, D3, D4, D5 = situations.DAYS[:5]


class Played:
    def __init__(self, estate: Estate) -> None:
        self.estate = estate
        self.results: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, str] = {}


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Any:
    estate = Estate(tmp_path_factory.mktemp("estate"), echo=lambda _line: None)
    estate.setup()
    out = Played(estate)
    try:
        for step in (situations.transient_failure, situations.unchanged_pass, situations.outage, situations.bad_batch, situations.schema_change):
            try:
                record = step(estate)
                out.results[record["situation"]] = record
            except Exception:  # noqa: BLE001 - the situation's test reports it
                out.errors[step.__name__] = traceback.format_exc()
                break  # later situations build on earlier ones
        yield out
    finally:
        estate.close()


def _result(played: Played, name: str) -> dict[str, Any]:
    if name not in played.results:
        pytest.fail(f"situation {name} did not complete: {played.errors or 'an earlier situation failed'}")
    return played.results[name]


def _models(executions: list[str]) -> list[str]:
    return [e.rsplit(".", 1)[-1] for e in executions]


def test_transient_failure_is_retried_and_nothing_downstream_notices(played: Played) -> None:
    r = _result(played, "transient_failure")
    assert r["load_succeeded"]
    assert r["load_tries"] == ["FAIL", "COMPLETE"]  # the timed-out try, then the retry
    assert r["source_requests"] == 2
    [retry] = [d for d in r["decisions"] if d["action"] == "retry"]
    assert "ReadTimeout" in retry["reason"] and retry["delay_seconds"] <= 0.5  # the engine's backoff (base 0.5s)
    assert [d["action"] for d in r["decisions"] if d["action"] in ("fail", "wait", "escalate", "quarantine")] == []
    assert r["raw_orders_rows"] == 8
    assert _models(r["dbt"]["executions"]) == ["stg_orders", "customer_revenue"]  # each once, no retry
    assert r["dbt"]["decisions"] == [] and r["dbt"]["exit_code"] == 0
    assert r["dagster"] == {"requested": True, "success": True, "attempts": 1}


def test_unchanged_source_runs_nothing_downstream(played: Played) -> None:
    r = _result(played, "unchanged_pass")
    assert r["load_succeeded"]
    assert [d["action"] for d in r["decisions"]] == ["publish"]  # the load did run and publish...
    assert r["dbt"]["executions"] == [] and r["dbt"]["exit_code"] == 0  # ...identical content: no change
    assert r["dagster"]["requested"] is False


def test_outage_opens_the_circuit_waits_downstream_and_explains_from_dagster_to_airflow(played: Played) -> None:
    r = _result(played, "outage")
    estate = played.estate
    source = f"http://127.0.0.1:{estate.source.port}"
    assert not r["load_succeeded"]
    assert r["load_tries"] == ["FAIL", "FAIL", "FAIL"]
    assert r["during"]["circuits"].get(source) == "open"
    assert r["during"]["raw_orders_batches"] == [D1]  # production kept the last good batch
    assert any(d["action"] == "retry" and "ConnectError" in d["reason"] for d in r["decisions"]) or r["decisions"][0]["action"] == "wait"
    assert any(d["action"] == "wait" and f"circuit open for {source}" in d["reason"] for d in r["decisions"])
    # dbt: stg_orders waited once (upstream), then gave up; customer_revenue never ran
    waits = [d for d in r["dbt"]["decisions"] if d["action"] == "wait"]
    assert waits and all(d["node"] == "model.estate.stg_orders" for d in waits)
    assert "upstream" in waits[0]["reason"] and LOAD_JOB.split(":", 2)[-1] in waits[0]["reason"]
    assert _models(r["dbt"]["executions"]) == ["stg_orders", "stg_orders"] and r["dbt"]["exit_code"] != 0
    # Dagster: customer_features waited (one retry request), then failed without burning more
    assert r["dagster"]["success"] is False and r["dagster"]["attempts"] == 2
    assert any("WAIT" in line for line in r["dagster"]["log"])
    # explain on the Dagster asset names the Airflow task as the root cause, through dbt
    explain = r["explain"]
    assert explain["root_cause"]["id"] == LOAD_JOB and explain["root_cause"]["state"] == "FAIL"
    chain = [link["id"] for link in explain["chain"]]
    assert chain[0] == estate.features.id
    staged = estate.mart.id.replace("customer_revenue", "stg_orders")
    assert staged in chain and estate.raw_orders.id in chain  # features <- stg_orders <- raw_orders
    assert any(c.endswith("stg_orders") or ".stg_orders." in c for c in chain if c.startswith("job:"))
    # one incident holds every symptom
    symptoms = explain["incident"]["symptoms"]
    assert estate.features.id in symptoms and LOAD_JOB in symptoms and staged in symptoms
    # recovery: backfill, then everything downstream exactly once
    rec = r["recovery"]
    assert rec["load_succeeded"] and rec["raw_orders_batches"] == [D2] and rec["mart_batches"] == [D2]
    assert _models(rec["dbt_executions"]) == ["stg_orders", "customer_revenue"] and rec["dbt_exit_code"] == 0
    assert rec["dagster_requested"] and rec["dagster_success"] and rec["dagster_attempts"] == 1
    assert rec["circuits"].get(source) == "closed"
    assert all(i["state"] == "resolved" for i in rec["incidents"] if i["root_cause"] == LOAD_JOB)


def test_bad_batch_is_quarantined_at_the_load_and_release_wakes_downstream(played: Played) -> None:
    r = _result(played, "bad_batch")
    estate = played.estate
    assert not r["load_succeeded"]  # the write-audit-publish task fails with the quarantine's message
    [q] = [d for d in r["decisions"] if d["action"] == "quarantine"]
    assert q["subject"].startswith(f"version:{estate.raw_orders.namespace}:{estate.raw_orders.name}@")
    assert not [d for d in r["decisions"] if d["action"] == "retry"]  # bad data is not retried
    d = r["during"]
    assert d["raw_orders_unchanged"] and d["raw_orders_batches"] == [D2]
    assert len(d["quarantine_tables"]) == 1 and d["quarantine_rows"] == 8
    assert d["quarantined_versions"] == [q["subject"]]
    assert r["dbt_during"]["executions"] == [] and r["dagster_during"]["requested"] is False
    assert d["mart_batches"] == [D2] and d["features_batches"] == [D2]  # last good features...
    assert d["raw_orders_stale_seconds"] > 0 and d["features_age_seconds"] > 0  # ...with their staleness
    assert r["release"]["action"] == "release"
    a = r["after"]
    assert a["raw_orders_rows"] == 6 and a["raw_orders_batches"] == [D3]  # the fixed rows, published
    assert _models(a["dbt_executions"]) == ["stg_orders", "customer_revenue"]
    assert a["dagster_requested"] and a["dagster_success"]
    assert a["mart_batches"] == [D3] and a["features_batches"] == [D3]


def test_schema_change_additive_flows_breaking_holds_the_models_using_it(played: Played) -> None:
    r = _result(played, "schema_change")
    estate = played.estate
    ad = r["additive"]
    assert ad["load_succeeded"] and ad["kind"] == "schema_additive"
    assert _models(ad["dbt_executions"]) == ["stg_orders", "customer_revenue"] and ad["dbt_exit_code"] == 0
    assert "channel" in ad["stg_columns"]
    assert ad["dagster_requested"] and ad["dagster_success"]
    br = r["breaking"]
    assert br["load_succeeded"] and br["kind"] == "schema_breaking" and "amount" not in br["raw_columns"]
    # sutura-dbt build --changed itself holds stg_orders and leaves customer_revenue (fed only by it) out
    assert br["held"] == ["model.estate.stg_orders"]
    [hold] = br["holds"]
    assert f"breaking schema change in {estate.raw_orders.id}" in hold["reason"]
    assert hold["datasets"] == [estate.raw_orders.id] and hold["not_built"] == ["model.estate.customer_revenue"]
    [line] = br["held_lines"]
    assert line.startswith("Sutura: HELD model.estate.stg_orders and 1 downstream, not built")
    assert "sutura-dbt build --select stg_orders+" in line  # how to accept the new schema
    assert br["dbt_exit_code"] == 0 and br["dbt_executions"] == []  # dbt not invoked: everything reached is held
    assert br["dagster_requested"] is False and br["mart_unchanged"]
    [skip] = [d for d in r["decisions"] if d["action"] == "skip"]  # the engine's plan, asked once by the runner
    assert skip["subject"] == estate.jobs()["stg_orders"]
    assert f"breaking schema change in {estate.raw_orders.id}" in skip["reason"]
