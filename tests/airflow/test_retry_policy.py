"""Self-healing retries in a real Airflow 3.3 run: heal what is transient, fail fast on bugs,
wait without spending a try on upstream causes, and behave exactly like native retries
when Sutura is down."""

from __future__ import annotations

import re
from datetime import datetime

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


def test_wait_reschedules_without_spending_a_try_until_the_release(wait_scenario):
    """``retry_policy=SuturaRetryPolicy()`` alone: an input held in quarantine is an upstream
    cause, so each failing run is rescheduled for the engine's delay with its try number kept;
    the run after the release succeeds on try 1 with ``retries`` untouched."""
    sc, obs = wait_scenario, wait_scenario.observed
    assert obs["held"] == "quarantine" and obs["decision"] == Action.RELEASE.value
    assert sc.results[0].returncode == 0, sc.output[-3000:]
    tries = sc.tries("report_orders")
    assert len(tries) >= 3 and set(tries) == {1}, tries
    assert sc.task_states("sutura_waits_for_release")["report_orders"] == ("success", 1)
    assert obs["max_tries"] == 1, "the retry budget is the task's own: retries=1"
    engine = sc.engine()
    assert not engine.decisions(action="retry")
    waits = sorted(engine.decisions(action="wait"), key=lambda d: d.created_at)
    assert all("upstream" in d.reason and any("is quarantined" in e for e in d.evidence) for d in waits)
    # every failing run became one WAIT and one reschedule, dated by the engine's delay
    assert len(waits) == len(obs["reschedules"]) == len(tries) - 1 >= obs["reschedules_seen"] >= 2
    for n, (wait, (end, when)) in enumerate(zip(waits, obs["reschedules"]), start=1):
        parked = (datetime.fromisoformat(when) - datetime.fromisoformat(end)).total_seconds()
        assert wait.delay_seconds >= 6.0 and wait.delay_seconds - 1.0 < parked <= wait.delay_seconds, (parked, wait.delay_seconds)
        assert f"rescheduling in {wait.delay_seconds:.0f}s without spending a try ({n}/30 waits)" in sc.output
