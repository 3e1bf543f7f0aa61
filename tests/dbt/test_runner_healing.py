"""sutura-dbt heals what is transient and only that (real dbt on DuckDB, real lock errors).

The transient failure is real: another process writes the DuckDB file the ``flaky`` model
attaches, so DuckDB refuses the attach with "Could not set lock on file"; that process
lets go as soon as dbt's first attempt has finished. A SQL error is never retried, and a
failing dbt test becomes a quarantine of the tested model's dataset.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.dbt.projects.inprocess import hermetic, sutura_dbt

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("sutura_dbt_healing")]

HEALING = Path(__file__).parent / "projects" / "healing"

# Holds the feed file's write lock until the first dbt attempt has written run_results.json.
_HOLDER = """
import os, sys, time, duckdb
feed, results, ready = sys.argv[1:4]
con = duckdb.connect(feed)
con.execute("create or replace table payments as select range as id, range * 2.5 as amount from range(5)")
con.execute("checkpoint")
open(ready, "w").close()
deadline = time.time() + 600
while time.time() < deadline and not os.path.exists(results):
    time.sleep(0.01)
con.close()
"""


@pytest.fixture
def healing(tmp_path, monkeypatch):
    project = tmp_path / "healing"
    shutil.copytree(HEALING, project, ignore=shutil.ignore_patterns("target", "logs"))
    env = {
        "SUTURA_HEAL_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "SUTURA_HEAL_FEED_PATH": str(tmp_path / "feed.duckdb"),
        "SUTURA_DB_URL": f"sqlite:///{tmp_path / 'sutura.db'}",
        "SUTURA__RETRY__BASE_DELAY": "1",
    }
    hermetic(monkeypatch, tmp_path, env)
    return project


def _hold_feed(project: Path) -> subprocess.Popen:
    ready = project.parent / "holder.ready"
    results = project / "target" / "run_results.json"
    results.unlink(missing_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(project.parent / "feed.duckdb"), str(results), str(ready)])
    deadline = time.time() + 60
    while not ready.exists():
        assert holder.poll() is None and time.time() < deadline, "the lock holder did not start"
        time.sleep(0.05)
    return holder


def test_a_transient_lock_is_retried_alone_and_the_build_succeeds(healing):
    import sutura

    holder = _hold_feed(healing)
    try:
        run = sutura_dbt("build", healing, "--select", "ok_model", "flaky")
    finally:
        holder.wait(timeout=60)
    first, second = run.summary["attempts"][0], run.summary["attempts"][1]
    assert set(first["nodes"]) == {"model.healing.ok_model", "model.healing.flaky"}
    assert second["nodes"] == ["model.healing.flaky"]  # retried alone
    assert len(run.summary["attempts"]) == 2
    [decision] = run.summary["decisions"]
    assert decision["node"] == "model.healing.flaky" and decision["action"] == "retry"
    assert "could not set lock" in decision["error"].lower()
    assert run.summary["final"]["model.healing.flaky"] == "success"
    assert run.exit_code == 0
    assert any(line.startswith("Sutura: RETRY model.healing.flaky") for line in run.lines)

    engine = sutura.connect()
    [recorded] = engine.decisions(action="retry")
    job = engine.run(recorded.subject.removeprefix("run:")).job
    assert (job.namespace, job.name, job.type) == ("dbt", "warehouse.main.healing.flaky", "MODEL")
    assert recorded.diagnosis.kind.value == "transient"
    assert recorded.outcome == "succeeded"


def test_a_sql_error_is_not_retried_and_a_failing_test_quarantines(healing):
    import sutura

    run = sutura_dbt("build", healing, "--select", "broken", "checked")
    assert run.exit_code == 1
    assert len(run.summary["attempts"]) == 1  # nothing was run again
    [decision] = run.summary["decisions"]
    assert decision["node"] == "model.healing.broken" and decision["action"] == "fail"
    assert run.summary["final"]["model.healing.broken"] == "error"

    [check] = run.summary["checks"]
    assert check["node"] == "model.healing.checked" and check["action"] == "quarantine"
    assert check["failed"] == ["not_null_checked_amount"] and check["checks"] == 3

    engine = sutura.connect()
    [failed] = engine.decisions(action="fail")
    assert engine.run(failed.subject.removeprefix("run:")).job.name == "warehouse.main.healing.broken"
    assert failed.diagnosis.kind.value == "deterministic"
    [quarantine] = engine.decisions(action="quarantine")
    namespace = f"duckdb://{healing.parent / 'warehouse.duckdb'}"
    assert quarantine.subject.startswith(f"version:{namespace}:warehouse.main.checked@")
    staleness = engine.last_published(f"dataset:{namespace}:warehouse.main.checked")
    assert [v.status.value for v in staleness.quarantined] == ["quarantined"]
    show = engine.show(f"dataset:{namespace}:warehouse.main.checked")
    failing = {(c["assertion"], c["field"]) for c in show["checks"] if not c["success"]}
    assert failing == {("not_null_checked_amount", "amount")}


def _postgres_or_skip() -> dict[str, str]:
    import os

    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(os.environ.get("SUTURA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    params = {"host": url.host or "127.0.0.1", "port": str(url.port or 5432), "user": url.username or "postgres",
              "password": url.password or "", "dbname": url.database or "test"}
    try:
        psycopg.connect(connect_timeout=3, **params).close()
    except Exception as error:
        if os.environ.get("SUTURA_REQUIRE_PG") == "1":
            pytest.fail(f"PostgreSQL unreachable: {error}")
        pytest.skip(f"PostgreSQL unreachable: {error}")
    return params


def _terminate_once(params: dict[str, str], marker: str, done: list[int]):
    """Terminate the first backend running a statement that carries ``marker``."""
    import threading

    import psycopg

    def watch() -> None:
        with psycopg.connect(autocommit=True, **params) as con:
            deadline = time.time() + 300
            while time.time() < deadline and not done:
                row = con.execute(
                    "select pid from pg_stat_activity where state = 'active' and query like %s and pid <> pg_backend_pid()",
                    (f"%{marker}%",),
                ).fetchone()
                if row:
                    con.execute("select pg_terminate_backend(%s)", (row[0],))
                    done.append(row[0])
                time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.postgres
def test_postgres_terminated_backend_is_retried_sql_error_is_not(healing, monkeypatch):
    import uuid

    import psycopg

    import sutura

    params = _postgres_or_skip()
    schema = f"sutura_rt_{uuid.uuid4().hex[:10]}"
    for key, value in params.items():
        monkeypatch.setenv(f"SUTURA_HEAL_PG_{key.upper()}", value)
    monkeypatch.setenv("SUTURA_HEAL_PG_SCHEMA", schema)
    terminated: list[int] = []
    watcher = _terminate_once(params, f"sutura-terminate {schema}", terminated)
    try:
        run = sutura_dbt("build", healing, "--target", "pg", "--select", "pg_flaky", "broken", "checked")
    finally:
        terminated.append(0)
        watcher.join(timeout=10)
        with psycopg.connect(autocommit=True, **params) as con:
            con.execute(f'drop schema if exists "{schema}" cascade')
    decisions = {d["node"]: d for d in run.summary["decisions"] if d["attempt"] == 1}
    assert decisions["model.healing.pg_flaky"]["action"] == "retry", run.lines
    assert "connection" in decisions["model.healing.pg_flaky"]["error"]  # "server closed the connection unexpectedly"
    assert decisions["model.healing.broken"]["action"] == "fail"
    assert run.summary["attempts"][1]["nodes"] == ["model.healing.pg_flaky"]
    assert run.summary["final"]["model.healing.pg_flaky"] == "success"
    assert run.exit_code == 1  # broken still failed

    [check] = run.summary["checks"]
    namespace = f"postgres://{params['host']}:{params['port']}"
    assert check["dataset"] == f"dataset:{namespace}:{params['dbname']}.{schema}.checked"
    assert check["action"] == "quarantine" and check["failed"] == ["not_null_checked_amount"]
    engine = sutura.connect()
    [quarantined] = engine.last_published(check["dataset"]).quarantined
    assert quarantined.row_count == 3  # fingerprinted in PostgreSQL
