"""Per-task wall-clock overhead of Sutura's Airflow provider, side by side in one run.

The same DAG (``TASKS`` independent no-op tasks) runs with ``airflow dags test`` once per mode:

- baseline: plain Airflow 3.3 (OpenLineage disabled, no Sutura plugin, no retry policy);
- the provider alone: the listener (plugins folder) and ``SuturaRetryPolicy`` on every task
  (cluster policy), OpenLineage still disabled;
- full: the same plus the OpenLineage provider emitting into the engine
  (``SuturaTransport``), once with its default fork-per-event and once with
  ``[openlineage] execute_in_thread = True``.

``dags test`` runs all of them back to back in one scheduling pass, so per-task time =
(end of the last task - start of the first) / TASKS, from the Airflow metadata DB: it
includes the listener, OpenLineage emission and policy work between tasks, but not
interpreter start-up or DAG parsing. Target: overhead < 50 ms per task.

    .venv/bin/python benchmarks/airflow_overhead.py [TASKS]
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import textwrap
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.airflow import migrated_db, new_airflow_home  # noqa: E402

TASKS = int(sys.argv[1]) if len(sys.argv) > 1 else 30

DAG = textwrap.dedent(
    f"""
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(dag_id="sutura_overhead", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
    def overhead():
        for i in range({TASKS}):
            @task(task_id=f"step_{{i}}")
            def step():
                return None
            step()

    overhead()
    """
)


def per_task(home) -> tuple[float, int]:
    with sqlite3.connect(home.db_path) as conn:
        rows = conn.execute("select start_date, end_date, state from task_instance where dag_id = 'sutura_overhead'").fetchall()
    ok = [r for r in rows if r[2] == "success"]
    starts = [datetime.fromisoformat(r[0]) for r in ok]
    ends = [datetime.fromisoformat(r[1]) for r in ok]
    return (max(ends) - min(starts)).total_seconds() / len(ok), len(ok)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dags = root / "dags"
        dags.mkdir()
        (dags / "overhead.py").write_text(DAG)
        plugins = root / "plugins"
        plugins.mkdir()
        (plugins / "sutura_plugin.py").write_text("from sutura_airflow.plugin import SuturaPlugin  # noqa: F401\n")
        (root / "settings").mkdir()
        (root / "settings" / "airflow_local_settings.py").write_text("from sutura_airflow.policy import task_policy  # noqa: F401\n")
        db_url = f"sqlite:///{root / 'sutura.db'}"
        template = migrated_db()
        provider = {
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
            "PYTHONPATH": str(root / "settings"),
            "SUTURA_AIRFLOW_CLUSTER_POLICY": "1",
            "SUTURA_DB_URL": db_url,
        }
        lineage = {
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "sutura.transport.SuturaTransport", "db_url": db_url}),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "bench",
        }
        off = {"AIRFLOW__OPENLINEAGE__DISABLED": "True"}
        thread = {"AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True"}
        modes = {
            "baseline (plain Airflow, no OpenLineage)": off,
            "listener + retry policy (no OpenLineage)": {**off, **provider},
            "full, OpenLineage forked per event (default)": {**provider, **lineage},
            "full, OpenLineage execute_in_thread": {**provider, **lineage, **thread},
        }
        figures = {}
        for i, (mode, env) in enumerate(modes.items()):
            home = new_airflow_home(root / f"mode{i}", dags_folder=dags, template=template)
            home.dags_test("sutura_overhead", env=env, timeout=900).check()
            figures[mode] = per_task(home)
        base = next(iter(figures.values()))[0]
        print(f"{TASKS} independent no-op tasks per run, `airflow dags test`, one run per mode")
        for mode, (seconds, n) in figures.items():
            print(f"  {mode:46s} {seconds * 1000:8.1f} ms/task   overhead {(seconds - base) * 1000:+8.1f} ms   ratio {seconds / base:.2f}x")
        import sutura

        runs = sutura.Engine(db_url=db_url).runs("job:bench:sutura_overhead.step_0")
        print(f"target: overhead < 50 ms per task; the engine holds {len(runs)} run(s) of step_0 (one per OpenLineage mode)")


if __name__ == "__main__":
    main()
