"""Self-healing retries in a real Airflow 3.3 run: heal what is transient, fail fast on bugs,
and behave exactly like native retries when Sutura is down."""

from __future__ import annotations

import re

import pytest

from sutura import Action

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow-retry")]

DAG = "sutura_retry_scenarios"


def test_connection_reset_heals_on_second_try(retry_scenario):
    assert retry_scenario.tries("extract") == [1, 2]
    assert retry_scenario.task_states(DAG)["extract"] == ("success", 2)
    assert "Retry policy decision" in retry_scenario.output
    assert re.search(r"reason='Sutura: transient failure: retry 2/3", retry_scenario.output)


def test_key_error_runs_once_and_fails_with_engine_reason(retry_scenario):
    assert retry_scenario.tries("transform") == [1], "retries=3, but a KeyError must not be retried"
    assert retry_scenario.task_states(DAG)["transform"] == ("failed", 1)
    assert "Sutura: deterministic failure, a retry would fail the same way (KeyError: 'customer_id')" in retry_scenario.output
    assert retry_scenario.results[0].returncode == 1  # the DAG run failed


def test_heal_decorator_fails_fast_without_retry_policy(retry_scenario):
    assert retry_scenario.tries("transform_healed") == [1]
    assert retry_scenario.task_states(DAG)["transform_healed"] == ("failed", 1)


def test_every_decision_is_in_the_engine(retry_scenario):
    engine = retry_scenario.engine()
    decisions = engine.decisions()
    by_job = {}
    for d in decisions:
        run = engine.run(d.subject.removeprefix("run:"))
        by_job.setdefault(run.job.name, []).append(d)
    assert [d.action for d in by_job[f"{DAG}.extract"]] == [Action.RETRY]
    assert [d.action for d in by_job[f"{DAG}.transform"]] == [Action.FAIL]
    assert [d.action for d in by_job[f"{DAG}.transform_healed"]] == [Action.FAIL]
    assert "KeyError" in by_job[f"{DAG}.transform"][0].reason
    # the listener settled the retry once the second try succeeded
    assert by_job[f"{DAG}.extract"][0].outcome == "succeeded"


def test_listener_records_attempts_on_the_openlineage_runs(retry_scenario):
    engine = retry_scenario.engine()
    runs = engine.runs(f"job:sutura-test:{DAG}.extract")
    assert sorted(r.attempt for r in runs if r.attempt) == [1, 2]
    facets = [r.facets.get("suturaAttempt") for r in engine.runs(f"job:sutura-test:{DAG}.extract")]
    states = sorted(f["state"] for f in facets if f)
    assert states == ["success", "up_for_retry"]


def test_engine_down_means_native_retries_and_one_warning(degraded_scenario):
    sc = degraded_scenario
    assert sc.tries("extract") == [1, 2]
    assert sc.tries("transform") == [1, 2, 3, 4], "native Airflow: retries=3 means four tries"
    assert sc.tries("transform_healed") == [1, 2, 3, 4]
    states = sc.task_states(DAG)
    assert states["extract"] == ("success", 2)
    assert states["transform"] == ("failed", 4)
    assert sc.output.count("Sutura unavailable") == 1, sc.output.count("Sutura unavailable")
    assert not (sc.root / "sutura.db").exists()
