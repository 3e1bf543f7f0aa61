"""Real Airflow 3.3 runs (``airflow dags test``) shared by the provider's tests.

Each DAG run costs tens of seconds, so every scenario runs once per test run and the
tests read what it left: the Airflow metadata DB, the engine's store, the warehouse,
the tries file and the command output. The provider is loaded the way a user without the
entry points would: the plugin from ``AIRFLOW__CORE__PLUGINS_FOLDER`` (tests/airflow/plugins).
Engine retry delays are zeroed (``SUTURA__RETRY__BASE_DELAY=0``): ``dags test`` honours
retry delays by waiting for them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import duckdb
import pytest

from tests.support._process import CommandResult, file_lock, free_port
from tests.support.airflow import AirflowHome, migrated_db, new_airflow_home, openlineage_env

HERE = Path(__file__).parent
DAGS = HERE / "dags"
PLUGINS = HERE / "plugins"


@dataclass
class Scenario:
    """What one or more DAG runs left behind."""

    home: AirflowHome
    root: Path
    results: list[CommandResult]
    observed: dict[str, Any] = field(default_factory=dict)  # facts recorded while building

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'sutura.db'}"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def output(self) -> str:
        return "\n".join(r.stdout + r.stderr for r in self.results)

    def tries(self, task: str) -> list[int]:
        path = self.root / "tries.txt"
        lines = path.read_text().splitlines() if path.exists() else []
        return [int(n) for name, n in (line.split() for line in lines) if name == task]

    def task_states(self, dag_id: str) -> dict[str, tuple[str, int]]:
        with sqlite3.connect(self.home.db_path) as conn:
            rows = conn.execute("select task_id, state, try_number from task_instance where dag_id = ? order by start_date", (dag_id,)).fetchall()
        return {task_id: (state, try_number) for task_id, state, try_number in rows}

    def engine(self):
        import sutura

        return sutura.Engine(db_url=self.db_url)


def scenario_env(root: Path, **extra: str) -> dict[str, str]:
    db_url = f"sqlite:///{root / 'sutura.db'}"
    env = {
        "SUTURA_DB_URL": db_url,
        "SUTURA__RETRY__BASE_DELAY": "0",
        "SUTURA_TEST_TRIES": str(root / "tries.txt"),
        "SUTURA_TEST_WAREHOUSE": str(root / "warehouse.duckdb"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
    }
    env.update(openlineage_env({"type": "sutura.transport.SuturaTransport", "db_url": db_url}))
    env.update(extra)
    return env


def new_scenario(root: Path) -> Scenario:
    root.mkdir(parents=True, exist_ok=True)
    return Scenario(new_airflow_home(root / "airflow", dags_folder=DAGS, template=migrated_db()), root, [])


def shared_scenario(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Scenario], None]) -> Scenario:
    """Build a scenario once per test run, whichever pytest-xdist worker asks first.

    The runs' outputs and the ``observed`` facts are kept as JSON beside the scenario, so
    every worker reads the same results; tests only read, never change, a scenario.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    root = base / f"sutura-airflow-{name}"
    record = root / "scenario.json"
    with file_lock(base / f"sutura-airflow-{name}.lock"):
        if record.exists():
            data = json.loads(record.read_text())
            sc = Scenario(AirflowHome(path=root / "airflow", dags_folder=DAGS), root, [CommandResult(**r) for r in data["results"]])
            sc.observed = data["observed"]
            return sc
        sc = new_scenario(root)
        build(sc)
        record.write_text(json.dumps({"results": [dataclasses.asdict(r) for r in sc.results], "observed": sc.observed}, default=str))
        sc.observed = json.loads(record.read_text())["observed"]  # the same JSON shapes in every worker
        return sc


def write_raw_orders(warehouse: Path, rows: list[tuple]) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("create or replace table raw_orders(id integer, customer varchar, status varchar, amount double)")
        con.executemany("insert into raw_orders values (?, ?, ?, ?)", rows)
    finally:
        con.close()


def read_table(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return sorted(con.execute(sql).fetchall())
    finally:
        con.close()


@pytest.fixture(scope="session")
def retry_scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """``sutura_retry_scenarios`` run once with an embedded engine (OpenLineage → the same store)."""

    def build(sc: Scenario) -> None:
        sc.results.append(sc.home.dags_test("sutura_retry_scenarios", env=scenario_env(sc.root)))

    return shared_scenario(tmp_path_factory, "retry", build)


@pytest.fixture(scope="session")
def degraded_scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """The same DAG with ``SUTURA_URL`` at a closed port and no OpenLineage: Sutura is down."""

    def build(sc: Scenario) -> None:
        env = scenario_env(sc.root, SUTURA_URL=f"http://127.0.0.1:{free_port()}", SUTURA__TIMEOUT="2")
        env["AIRFLOW__OPENLINEAGE__DISABLED"] = "True"
        sc.results.append(sc.home.dags_test("sutura_retry_scenarios", env=env))

    return shared_scenario(tmp_path_factory, "degraded", build)


GOOD_BATCH = [(1, "ann", "new", 10.0), (2, "bob", "paid", 20.0)]
BAD_BATCH = [(3, "cat", "new", 5.0), (3, "dan", "lost", -5.0), (4, "eve", "paid", 7.0)]


def _with_engine(db_url: str) -> None:
    """Point this process's provider at a scenario's engine."""
    from sutura_airflow._engine import reset_engine

    os.environ.pop("SUTURA_URL", None)
    os.environ["SUTURA_DB_URL"] = db_url
    reset_engine()


@pytest.fixture(scope="session")
def wap_scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """``sutura_wap_orders`` with a good batch (published), then a bad one (quarantined); then a
    release from Python and the change trigger run for real against the engine.

    ``observed`` holds the facts before and after the release.
    """
    import asyncio

    import sutura
    from sutura.naming import duckdb_dataset

    def build(sc: Scenario) -> None:
        from sutura_airflow import DatasetChangedTrigger, release_quarantine
        from sutura_airflow.triggers import latest_cursor

        env = scenario_env(sc.root)
        write_raw_orders(sc.warehouse, GOOD_BATCH)
        sc.results.append(sc.home.dags_test("sutura_wap_orders", env=env))
        write_raw_orders(sc.warehouse, BAD_BATCH)
        sc.results.append(sc.home.dags_test("sutura_wap_orders", env=env))

        ds = duckdb_dataset(str(sc.warehouse), "orders")
        engine = sutura.Engine(db_url=sc.db_url)
        obs = sc.observed
        obs["tables"] = [t for (t,) in read_table(sc.warehouse, "show tables")]
        held = [t for t in obs["tables"] if t.startswith("orders__sutura_q_")]
        obs["held_table"] = held[0] if len(held) == 1 else None
        obs["orders_before"] = read_table(sc.warehouse, "select * from orders")
        obs["held_rows"] = read_table(sc.warehouse, f"select * from {held[0]}") if held else []
        staleness = engine.last_published(ds)
        obs["published_rows"] = staleness.version.row_count if staleness.version else None
        obs["quarantined_rows"] = [v.row_count for v in staleness.quarantined]
        obs["version_statuses"] = [v.status.value for v in engine.versions(ds)]
        obs["decisions_before"] = [d.action.value for d in engine.decisions()]
        obs["task_state"] = sc.task_states("sutura_wap_orders")["load_orders"]

        _with_engine(sc.db_url)
        cursor = latest_cursor([ds])
        obs["cursor"] = cursor

        async def first_event(timeout: float) -> Any:
            trigger = DatasetChangedTrigger(datasets=[ds.id], cursor=cursor, poll_interval=0.1)
            try:
                return (await asyncio.wait_for(trigger.run().__anext__(), timeout)).payload
            except asyncio.TimeoutError:
                return None

        obs["event_before_release"] = asyncio.run(first_event(1.0))
        decision = release_quarantine(url=f"duckdb:///{sc.warehouse}", table="orders", reason="late batch accepted", by="test")
        obs["release_action"] = decision.action.value
        obs["orders_after"] = read_table(sc.warehouse, "select * from orders")
        obs["tables_after"] = [t for (t,) in read_table(sc.warehouse, "show tables")]
        obs["event_after_release"] = asyncio.run(first_event(10.0))
        obs["quarantined_after"] = len(engine.last_published(ds).quarantined)
        obs["decisions_after"] = [d.action.value for d in engine.decisions()]
        obs["dataset_name"] = ds.name

    return shared_scenario(tmp_path_factory, "wap", build)


@pytest.fixture(scope="session")
def change_scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Downstream of ``orders``, seven real runs in order:

    0 ``sutura_wap_orders`` (good batch, published); 1 ``sutura_orders_report`` (first run:
    proceeds); 2 the report again (nothing changed: skipped); 3 ``sutura_wap_orders`` (bad
    batch, quarantined); 4 the report (the guard stops it, naming the quarantine);
    5 ``sutura_reads_quarantined`` (tasks failing while their input is held: WAIT);
    6 ``sutura_wait_for_orders`` deferred on the change feed while a thread releases the batch.
    """
    return shared_scenario(tmp_path_factory, "change", _build_change)


def _build_change(sc: Scenario) -> None:
    import threading
    import time

    import sutura
    from sutura.naming import duckdb_dataset

    env = scenario_env(sc.root)
    write_raw_orders(sc.warehouse, GOOD_BATCH)
    sc.results.append(sc.home.dags_test("sutura_wap_orders", env=env))
    sc.results.append(sc.home.dags_test("sutura_orders_report", env=env))
    sc.results.append(sc.home.dags_test("sutura_orders_report", env=env))
    write_raw_orders(sc.warehouse, BAD_BATCH)
    sc.results.append(sc.home.dags_test("sutura_wap_orders", env=env))
    sc.results.append(sc.home.dags_test("sutura_orders_report", env=env))
    sc.results.append(sc.home.dags_test("sutura_reads_quarantined", env=env))

    orders = duckdb_dataset(str(sc.warehouse), "orders")
    engine = sutura.Engine(db_url=sc.db_url)
    _, cursor = engine.changes(datasets=[orders])
    released: dict[str, object] = {}

    def release_later() -> None:
        time.sleep(45)  # the sensor has usually deferred by now; if not, its first poll sees the change
        from sutura_airflow.quarantine.wap import release_quarantine

        _with_engine(sc.db_url)
        released["decision"] = release_quarantine(url=f"duckdb:///{sc.warehouse}", table="orders", reason="accepted in test").action.value

    thread = threading.Thread(target=release_later)
    thread.start()
    sc.results.append(sc.home.dags_test("sutura_wait_for_orders", env={**env, "SUTURA_TEST_CURSOR": cursor}, timeout=600))
    thread.join()
    sc.observed["released"] = released.get("decision")


@pytest.fixture(scope="session")
def wait_scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """``sutura_waits_for_release`` while a bad batch of ``orders`` is held, released by a thread
    once the task has been rescheduled twice. The engine's upstream wait is 6 s
    (``SUTURA__RETRY__BASE_DELAY=1``: a wait is six base delays), so the release lands while
    the task is parked, never while it runs."""
    return shared_scenario(tmp_path_factory, "wait", _build_wait)


def _reschedules(sc: Scenario, task_id: str) -> list[tuple[str, str]]:
    """(end_date, reschedule_date) of each reschedule of ``task_id``'s current try, from Airflow's DB."""
    with sqlite3.connect(sc.home.db_path, timeout=30) as conn:
        return conn.execute(
            "select r.end_date, r.reschedule_date from task_reschedule r join task_instance t on t.id = r.ti_id "
            "where t.task_id = ? order by r.id",
            (task_id,),
        ).fetchall()


def _build_wait(sc: Scenario) -> None:
    import threading
    import time

    from sutura_airflow.quarantine.run import run_sql_wap
    from sutura_airflow.quarantine.wap import release_quarantine

    env = scenario_env(sc.root, SUTURA__RETRY__BASE_DELAY="1")
    write_raw_orders(sc.warehouse, BAD_BATCH)
    _with_engine(sc.db_url)
    held, _ = run_sql_wap(
        url=f"duckdb:///{sc.warehouse}", table="orders", schema=None, data="SELECT * FROM raw_orders",
        checks=[{"unique": "id"}], gx_expectations=None, on_quarantine="succeed", context=None,
    )
    sc.observed["held"] = held.action
    released: dict[str, Any] = {}

    def release_after_two_waits() -> None:
        deadline = time.monotonic() + 500
        while time.monotonic() < deadline:
            try:
                if len(_reschedules(sc, "report_orders")) >= 2:
                    break
            except sqlite3.Error:
                pass  # the run is still creating its rows
            time.sleep(0.2)
        released["reschedules_seen"] = len(_reschedules(sc, "report_orders"))
        released["decision"] = release_quarantine(url=f"duckdb:///{sc.warehouse}", table="orders", reason="accepted in test").action.value

    thread = threading.Thread(target=release_after_two_waits)
    thread.start()
    sc.results.append(sc.home.dags_test("sutura_waits_for_release", env=env, timeout=600))
    thread.join()
    sc.observed.update(released)
    sc.observed["reschedules"] = _reschedules(sc, "report_orders")
    with sqlite3.connect(sc.home.db_path) as conn:
        sc.observed["max_tries"] = conn.execute(
            "select max_tries from task_instance where dag_id = 'sutura_waits_for_release' and task_id = 'report_orders'"
        ).fetchone()[0]
