"""One estate on one machine: Airflow loads, dbt transforms, Dagster builds features, one engine.

``Estate`` owns a work directory holding everything: the engine's SQLite store, the DuckDB
warehouse, an Airflow home (``airflow dags test`` in a subprocess), a copy of the dbt
project (``sutura-dbt`` in a subprocess), Dagster storage (``materialize`` and sensor ticks
in this process) and the source API the load reads (a thread of this process). Each
method is one step a scheduler would take; ``sutura_estate.situations`` plays them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import sutura
from sutura.naming import duckdb_dataset

from sutura_estate.airflow import AirflowHome, AirflowRun, clean_env
from sutura_estate.source import OrdersSource

__all__ = ["DbtBuild", "Estate", "FeatureBuild", "HERE"]

HERE = Path(__file__).resolve().parents[1]  # examples/estate
REPO = HERE.parents[1]
DAG_ID = "estate_load"
LOAD_JOB = f"job:estate:{DAG_ID}.load_orders"

# Demo-sized healing: short backoffs, a circuit that opens after two transient failures.
SETTINGS = {
    "SUTURA__RETRY__BASE_DELAY": "0.5",
    "SUTURA__RETRY__MAX_DELAY": "5",
    "SUTURA__RETRY__BREAKER_THRESHOLD": "2",
    "SUTURA__RETRY__BREAKER_COOLDOWN": "120",
}


@dataclass
class DbtBuild:
    """What one ``sutura-dbt build`` did: dbt's node executions and Sutura's decisions."""

    exit_code: int
    summary: dict[str, Any]
    output: str
    seconds: float

    @property
    def held(self) -> list[str]:
        """Unique ids of the models ``--changed`` left out because the engine holds them
        (a breaking schema change in an input), as the runner's summary lists them."""
        return [h["node"] for h in self.summary.get("held", [])]

    @property
    def held_lines(self) -> list[str]:
        """The runner's ``Sutura: HELD ...`` lines: which model, why, since when, how to release it."""
        return [line for line in self.output.splitlines() if line.startswith("Sutura: HELD ")]

    @property
    def executions(self) -> list[str]:
        """Unique ids of every node execution (a node retried or waited on counts each time)."""
        return [n for a in self.summary.get("attempts", []) for n in a.get("nodes", []) if n.startswith("model.")]

    def ran(self, model: str) -> int:
        return sum(1 for n in self.executions if n.rsplit(".", 1)[-1] == model)

    @property
    def decisions(self) -> list[dict[str, Any]]:
        return self.summary.get("decisions", [])


@dataclass
class FeatureBuild:
    """What Dagster did for ``customer_features``: requested by the sensor or scheduled, and the outcome."""

    requested: bool
    success: bool | None = None
    run_id: str | None = None
    reason: str = ""
    attempts: int = 0
    seconds: float = 0.0
    log: list[str] = field(default_factory=list)


class Estate:
    """The estate in ``workdir``; ``echo`` receives one line per thing that happened."""

    def __init__(self, workdir: Path, *, echo: Callable[[str], None] = print) -> None:
        self.workdir = Path(workdir).resolve()
        self.echo = echo
        self.db_url = f"sqlite:///{self.workdir / 'sutura.db'}"
        self.warehouse = self.workdir / "warehouse.duckdb"
        self.dbt_dir = self.workdir / "dbt"
        self.source = OrdersSource()
        self.engine: sutura.Engine | None = None
        self.airflow: AirflowHome | None = None
        self.defs: Any = None
        self.translator: Any = None
        self.instance: Any = None
        self.sensor_cursor: str | None = None
        self.ol_cursor: str | None = None
        self.timings: dict[str, float] = {"airflow": 0.0, "dbt": 0.0, "dagster": 0.0}
        self._deps: subprocess.Popen[str] | None = None

    # ------------------------------------------------------------------ names

    @property
    def raw_orders(self) -> sutura.Dataset:
        return duckdb_dataset(self.warehouse, "raw_orders")

    @property
    def mart(self) -> sutura.Dataset:
        return duckdb_dataset(self.warehouse, "customer_revenue")

    @property
    def features(self) -> sutura.Dataset:
        from sutura_dagster.identity import asset_dataset
        from dagster import AssetKey

        from sutura_estate.features import FEATURES_KEY

        return asset_dataset(AssetKey(FEATURES_KEY), {}, self.translator)

    # ------------------------------------------------------------------ setup

    def setup(self) -> "Estate":
        """Create the work dir, start the source, point every tool at one engine, install dbt deps."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.environ.update(SETTINGS)
        os.environ.update(
            {
                "SUTURA_DB_URL": self.db_url,
                "AIRFLOW__SUTURA__DB_URL": self.db_url,
                "AIRFLOW_HOME": str(self.workdir / "airflow"),  # release_quarantine imports Airflow here
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
                "ESTATE_WAREHOUSE": str(self.warehouse),
                "DAGSTER_HOME": str(self.workdir / "dagster"),
            }
        )
        (self.workdir / "dagster").mkdir(exist_ok=True)
        self.engine = sutura.Engine(db_url=self.db_url)
        self.source.start()
        self.airflow = AirflowHome.create(self.workdir / "airflow", HERE / "dags", self.db_url)
        if not self.dbt_dir.exists():  # a copy, so dbt's target/ and logs/ stay out of the repository
            shutil.copytree(HERE / "dbt", self.dbt_dir, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb*"))
            (self.dbt_dir / "packages.yml").write_text(f"packages:\n  - local: {REPO / 'dbt_package'}\n")
            # in the background: it overlaps the first Airflow run; awaited before the first build
            self._deps = subprocess.Popen(
                [str(Path(sys.executable).parent / "dbt"), "deps", "--project-dir", str(self.dbt_dir), "--profiles-dir", str(self.dbt_dir)],
                env=self._dbt_env(), cwd=self.dbt_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
        (self.workdir / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        from dagster import DagsterInstance

        from sutura_estate.features import build_definitions

        self.defs, self.translator = build_definitions(warehouse=self.warehouse, storage=self.workdir / "dagster" / "storage", db_url=self.db_url)
        self.instance = DagsterInstance.get()
        return self

    def close(self) -> None:
        self.source.stop()
        if self._deps is not None:
            self._deps.kill()
            self._deps.wait()
        if self.instance is not None:
            self.instance.dispose()
            self.instance = None

    def __enter__(self) -> "Estate":
        return self.setup()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ Airflow

    def load(self) -> AirflowRun:
        """One run of the Airflow DAG ``estate_load`` (real ``airflow dags test``)."""
        assert self.airflow is not None
        env = {"ESTATE_SOURCE_URL": self.source.url, "ESTATE_WAREHOUSE": str(self.warehouse), **SETTINGS}
        run = self.airflow.dags_test(DAG_ID, env=env)
        self.timings["airflow"] += run.seconds
        return run

    # ------------------------------------------------------------------ dbt

    def _dbt_env(self) -> dict[str, str]:
        return clean_env({"ESTATE_WAREHOUSE": str(self.warehouse), "SUTURA_DB_URL": self.db_url, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
                          "DBT_USE_COLORS": "False", **SETTINGS})

    def dbt_build(self, day: str, *, changed: bool) -> DbtBuild:
        """``sutura-dbt build`` of the project for batch ``day``; with ``changed`` only what changed.

        With ``changed``, the runner leaves out the models the engine holds (a breaking schema
        change in an input) and what only they feed; ``DbtBuild.held`` names them.
        """
        self._await_deps()
        argv = [sys.executable, str(Path(__file__).with_name("dbt_step.py")), str(self.dbt_dir), *(["--changed"] if changed else []),
                "--vars", json.dumps({"batch_date": day}), "--quiet"]
        started = time.perf_counter()
        proc = subprocess.run(argv, env=self._dbt_env(), cwd=self.dbt_dir, capture_output=True, text=True, timeout=600)
        seconds = time.perf_counter() - started
        self.timings["dbt"] += seconds
        output = proc.stdout + proc.stderr
        with (self.workdir / "dbt.log").open("a") as log:
            log.write(f"\n===== sutura-dbt build changed={changed} day={day} (exit {proc.returncode})\n{output}")
        summary: dict[str, Any] = {}
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith("{"):
                summary = json.loads(line)
                break
        if not summary:
            raise RuntimeError(f"sutura-dbt printed no summary (exit {proc.returncode}):\n{output[-3000:]}")
        return DbtBuild(proc.returncode, summary, output, seconds)

    def _await_deps(self) -> None:
        if self._deps is None:
            return
        out, _ = self._deps.communicate(timeout=600)
        code, self._deps = self._deps.returncode, None
        if code != 0:
            raise RuntimeError(f"dbt deps failed:\n{out[-3000:]}")

    # ------------------------------------------------------------------ Dagster

    def features_tick(self) -> FeatureBuild:
        """One tick of ``sutura_changes``: materialize exactly what it requests (or nothing)."""
        from dagster import build_sensor_context

        sensor = _sensor(self.defs, "sutura_changes")
        started = time.perf_counter()
        context = build_sensor_context(instance=self.instance, cursor=self.sensor_cursor, definitions=self.defs)
        tick = sensor.evaluate_tick(context)
        self.sensor_cursor = tick.cursor or self.sensor_cursor
        if not tick.run_requests:
            self.timings["dagster"] += time.perf_counter() - started
            return FeatureBuild(False, reason="no input changed")
        result = FeatureBuild(True, reason=", ".join(r.tags.get("sutura/changed", "") for r in tick.run_requests))
        for request in tick.run_requests:
            self._materialize(result, selection=list(request.asset_selection or []), tags=request.tags)
        result.seconds = time.perf_counter() - started
        self.timings["dagster"] += result.seconds
        return result

    def features_scheduled(self, day: str) -> FeatureBuild:
        """The daily scheduled materialization of ``customer_features`` for batch ``day``."""
        from dagster import AssetKey

        from sutura_estate.features import FEATURES_KEY

        started = time.perf_counter()
        result = FeatureBuild(False, reason=f"daily schedule, batch {day}")
        os.environ["ESTATE_BATCH_DATE"] = day
        try:
            self._materialize(result, selection=[AssetKey(FEATURES_KEY)], tags={"estate/batch": day})
        finally:
            os.environ.pop("ESTATE_BATCH_DATE", None)
        result.seconds = time.perf_counter() - started
        self.timings["dagster"] += result.seconds
        return result

    def _materialize(self, result: FeatureBuild, *, selection: list[Any], tags: dict[str, str]) -> None:
        from dagster import DagsterEventType, materialize

        assets = [a for a in self.defs.assets]  # type: ignore[union-attr]
        quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
        out = materialize(assets, selection=selection, instance=self.instance, resources=self.defs.resources,
                          raise_on_error=False, run_config=quiet, tags={k: v for k, v in tags.items() if k.startswith(("sutura/", "estate/"))})
        result.success = out.success
        result.run_id = out.run_id
        steps = [e for e in out.all_events if e.event_type in (DagsterEventType.STEP_START, DagsterEventType.STEP_RESTARTED)]
        result.attempts += len(steps)  # the first try, and each retry Dagster restarted
        for record in self.instance.all_logs(out.run_id):
            message = record.user_message or ""
            if message.startswith("Sutura") or "Sutura" in message[:40]:
                result.log.append(message.splitlines()[0][:300])
        self.ship_dagster_lineage()

    def ship_dagster_lineage(self) -> int:
        """One tick of ``sutura_openlineage``: Dagster's runs go to the engine as OpenLineage."""
        from dagster import build_sensor_context

        sensor = _sensor(self.defs, "sutura_openlineage")
        sent = 0
        for _ in range(20):  # each tick ships a batch; drain the event log
            context = build_sensor_context(instance=self.instance, cursor=self.ol_cursor, definitions=self.defs)
            tick = sensor.evaluate_tick(context)
            if not tick.cursor or tick.cursor == self.ol_cursor:
                break
            self.ol_cursor = tick.cursor
            sent += 1
        return sent

    # ------------------------------------------------------------------ reading the estate

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        import duckdb

        con = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def tables(self) -> list[str]:
        return [r[0] for r in self.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1")]

    def columns(self, table: str) -> dict[str, str]:
        return {r[0]: r[1] for r in self.query(f"DESCRIBE {table}")}

    def features_value(self) -> Any:
        """The last published ``customer_features`` value, read through ``SuturaIOManager``'s storage."""
        import pickle

        path = self.workdir / "dagster" / "storage" / "customer_features"
        return pickle.loads(path.read_bytes()) if path.exists() else None

    def jobs(self) -> dict[str, str]:
        """Job ids by role: load (Airflow task), stg_orders, customer_revenue (dbt), features (Dagster)."""
        assert self.engine is not None
        graph = self.engine.lineage(self.raw_orders.id, "downstream", 8)["graph"]
        out = {"load": LOAD_JOB}
        for node in graph:
            if node["type"] != "JOB":
                continue
            name = node["id"].split(":", 2)[-1]
            for role in ("stg_orders", "customer_revenue"):
                if name.endswith(f".{role}") or name.endswith(f".{role}.build.run") or f".{role}." in name + ".":
                    if "test" not in name and "sutura_check" not in name:
                        out.setdefault(role, node["id"])
            if "customer_features" in name and "check" not in name.lower() and "features" not in out:
                out["features"] = node["id"]
        return out

    def run_states(self, job_id: str, since: datetime | None = None) -> list[str]:
        """States of a job's runs (oldest first), optionally only those started after ``since``."""
        assert self.engine is not None
        try:
            runs = self.engine.runs(job_id, limit=200)
        except sutura.NotFound:
            return []
        keep = [r for r in runs if since is None or (r.started_at or r.ended_at or since) >= since]
        return [r.state.value if r.state else "?" for r in reversed(keep)]


def _sensor(defs: Any, name: str) -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return defs.get_sensor_def(name)


def now() -> datetime:
    return datetime.now(timezone.utc)
