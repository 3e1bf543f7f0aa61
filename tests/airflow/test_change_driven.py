"""Downstream of a write-audit-publish table in real Airflow runs: skip when nothing changed,
stop on a quarantine with a message that says how to release it, and a deferred sensor
woken by the release."""

from __future__ import annotations

import re
import sqlite3

import pytest

from sutura import Action

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow-change")]


def states(sc, dag_id):
    with sqlite3.connect(sc.home.db_path) as conn:
        rows = conn.execute(
            "select run_id, task_id, state from task_instance where dag_id = ? order by start_date", (dag_id,)
        ).fetchall()
    runs: dict[str, dict[str, str]] = {}
    for run_id, task_id, state in rows:
        runs.setdefault(run_id, {})[task_id] = state
    return list(runs.values())


def test_report_runs_then_skips_when_nothing_changed(change_scenario):
    sc = change_scenario
    assert [r.returncode for r in sc.results[:3]] == [0, 0, 0]
    first, second = states(sc, "sutura_orders_report")[:2]
    assert first == {"guard": "success", "orders_changed": "success", "report": "success"}
    assert second == {"guard": "success", "orders_changed": "success", "report": "skipped"}
    assert sc.tries("report") == [1]
    assert "no input changed since the last successful run" in sc.results[2].stdout + sc.results[2].stderr


def test_guard_stops_downstream_of_a_quarantine(change_scenario):
    sc = change_scenario
    assert sc.results[3].returncode == 1 and sc.results[4].returncode == 1
    third = states(sc, "sutura_orders_report")[2]
    assert third["guard"] == "failed" and third.get("report") in ("upstream_failed", None)
    out = sc.results[4].stdout + sc.results[4].stderr
    assert "input held in quarantine" in out and "has quarantined version version:duckdb://" in out
    assert "Release it with: sutura release version:duckdb://" in out


def test_wait_on_a_quarantined_input(change_scenario):
    sc = change_scenario
    engine = sc.engine()
    waits = [d for d in engine.decisions(action="wait")]
    assert waits and all("upstream" in d.reason for d in waits)
    # heal: two reschedules that spend no try (try 1 runs three times), then the native retry
    healed = sc.tries("waits_healed")
    assert healed[:3] == [1, 1, 1] and set(healed) == {1, 2}, healed
    # retry_policy alone waits the same way (max_waits=2 per try): then the wait spends the retry
    assert sc.tries("waits_policy") == [1, 1, 1, 2, 2, 2]
    assert sc.task_states("sutura_reads_quarantined")["waits_with_retry_policy"] == ("failed", 2)
    out = sc.results[5].stdout + sc.results[5].stderr
    assert re.search(r"rescheduling in \d+s without spending a try \(1/2 waits\)", out)
    assert "rescheduling in 1s without spending a try (2/2 waits)" in out, "the policy's max_delay=1 clamps the wait"


def test_deferred_sensor_wakes_on_the_release(change_scenario):
    sc = change_scenario
    assert sc.observed["released"] == Action.RELEASE.value
    assert sc.results[6].returncode == 0, sc.results[6].stdout[-3000:]
    assert states(sc, "sutura_wait_for_orders")[0] == {"wait": "success"}
    out = sc.results[6].stdout + sc.results[6].stderr
    assert "Sutura: 1 change(s) of" in out or "Pausing task as DEFERRED" not in out
