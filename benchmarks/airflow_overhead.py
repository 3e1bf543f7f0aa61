"""Per-task wall-clock overhead of Sutura's Airflow provider, side by side in one run.

The same DAG (``TASKS`` independent no-op tasks) runs with ``airflow dags test`` once per mode
and round:

- baseline: plain Airflow 3.3 (OpenLineage disabled, no Sutura plugin, no retry policy);
- the provider alone: the listener (plugins folder) and ``SuturaRetryPolicy`` on every task
  (cluster policy), OpenLineage still disabled;
- full: the same plus the OpenLineage provider emitting into the engine
  (``SuturaTransport``), once with its default fork-per-event and once with
  ``[openlineage] execute_in_thread = True``;
- for each OpenLineage mode, the OpenLineage provider alone with its ``noop`` transport
  and no Sutura at all: what OpenLineage itself costs, so the full mode's excess over it is
  Sutura's share.

``dags test`` runs all of them back to back in one scheduling pass, so per-task time =
(end of the last task - start of the first) / TASKS, from the Airflow metadata DB: it
includes the listener, OpenLineage emission and policy work between tasks, but not
interpreter start-up or DAG parsing. Modes run interleaved, ``--rounds`` times, the order
rotated each round; each figure is the median over rounds. Target: overhead < 50 ms per task.

On a busy machine those wall-clock figures move by tens of milliseconds from run to run.
A steadier one is printed too: in the full modes the transport is a subclass of
``SuturaTransport`` that records how long each ``emit`` takes in the process that emits
(the forked child, or the task process's thread), so Sutura's own time per event is
measured directly (median over every event of every round).

    .venv/bin/python benchmarks/airflow_overhead.py [TASKS] [--rounds N] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.airflow import migrated_db, new_airflow_home  # noqa: E402

BASELINE = "baseline (plain Airflow, no OpenLineage)"


def dag_source(tasks: int) -> str:
    return textwrap.dedent(
        f"""
        from datetime import datetime
        from airflow.sdk import dag, task

        @dag(dag_id="sutura_overhead", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
        def overhead():
            for i in range({tasks}):
                @task(task_id=f"step_{{i}}")
                def step():
                    return None
                step()

        overhead()
        """
    )


def per_task(home) -> float:
    with sqlite3.connect(home.db_path) as conn:
        rows = conn.execute("select start_date, end_date, state from task_instance where dag_id = 'sutura_overhead'").fetchall()
    ok = [r for r in rows if r[2] == "success"]
    if len(ok) != len(rows):
        raise RuntimeError(f"{len(rows) - len(ok)} task(s) did not succeed")
    starts = [datetime.fromisoformat(r[0]) for r in ok]
    ends = [datetime.fromisoformat(r[1]) for r in ok]
    return (max(ends) - min(starts)).total_seconds() / len(ok)


EMITS_ENV = "SUTURA_BENCH_EMITS"  # where the timed transport appends one duration (ms) per event
TIMED_TRANSPORT = f'''"""SuturaTransport, timing each emit in the process that emits (a forked child or a thread)."""
import os
import time

from sutura.transport import SuturaTransport as _Untimed


class SuturaTransport(_Untimed):
    def emit(self, event):
        started = time.perf_counter()
        try:
            super().emit(event)
        finally:
            with open(os.environ["{EMITS_ENV}"], "a") as out:
                out.write(f"{{(time.perf_counter() - started) * 1000:.3f}}\\n")
'''


def emit_times(path: Path) -> list[float]:
    """Milliseconds per event in Sutura's transport, as the timed transport recorded them."""
    return [float(line) for line in path.read_text().split()] if path.exists() else []


def modes(root: Path, db_url: str) -> dict[str, tuple[dict[str, str], str | None]]:
    """Mode name -> (env, the mode it is compared with for Sutura's share, if any)."""
    plugins = root / "plugins"
    plugins.mkdir()
    (plugins / "sutura_plugin.py").write_text("from sutura_airflow.plugin import SuturaPlugin  # noqa: F401\n")
    (root / "settings").mkdir()
    (root / "settings" / "airflow_local_settings.py").write_text("from sutura_airflow.policy import task_policy  # noqa: F401\n")
    (root / "settings" / "sutura_timed.py").write_text(TIMED_TRANSPORT)
    provider = {
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        "PYTHONPATH": str(root / "settings"),
        "SUTURA_AIRFLOW_CLUSTER_POLICY": "1",
        "SUTURA_DB_URL": db_url,
    }
    lineage = {
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "sutura_timed.SuturaTransport", "db_url": db_url}),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "bench",
    }
    noop = {"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "noop"}), "AIRFLOW__OPENLINEAGE__NAMESPACE": "bench"}
    off = {"AIRFLOW__OPENLINEAGE__DISABLED": "True"}
    thread = {"AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True"}
    return {
        BASELINE: (off, None),
        "listener + retry policy (no OpenLineage)": ({**off, **provider}, BASELINE),
        "OpenLineage alone, forked, noop transport": (noop, None),
        "full, OpenLineage forked per event (default)": ({**provider, **lineage}, "OpenLineage alone, forked, noop transport"),
        "OpenLineage alone, in thread, noop transport": ({**noop, **thread}, None),
        "full, OpenLineage execute_in_thread": ({**provider, **lineage, **thread}, "OpenLineage alone, in thread, noop transport"),
    }


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tasks", nargs="?", type=int, default=30, help="no-op tasks in the DAG (default 30)")
    parser.add_argument("--rounds", type=int, default=1, help="runs per mode, interleaved; figures are medians (default 1)")
    parser.add_argument("--quick", action="store_true", help="15 tasks, 1 round")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON too")
    args = parser.parse_args()
    tasks, rounds = (15, 1) if args.quick else (args.tasks, args.rounds)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dags = root / "dags"
        dags.mkdir()
        (dags / "overhead.py").write_text(dag_source(tasks))
        db_url = f"sqlite:///{root / 'sutura.db'}"
        template = migrated_db()
        table = modes(root, db_url)
        samples: dict[str, list[float]] = {mode: [] for mode in table}
        emits: dict[str, list[float]] = {mode: [] for mode in table}
        order = list(table)
        for r in range(rounds):
            for i, mode in enumerate(order[r % len(order) :] + order[: r % len(order)]):  # rotated: no mode always first
                home = new_airflow_home(root / f"round{r}-mode{i}", dags_folder=dags, template=template)
                env = {**table[mode][0], EMITS_ENV: str(home.path / "emits.txt")}
                home.dags_test("sutura_overhead", env=env, timeout=900).check()
                samples[mode].append(per_task(home))
                emits[mode] += emit_times(home.path / "emits.txt")
        figures = {mode: statistics.median(v) for mode, v in samples.items()}
        base = figures[BASELINE]
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"==== airflow_overhead — summary ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, load {load}) ====")
        print(f"{tasks} independent no-op tasks per run, `airflow dags test`, {rounds} round(s) per mode (median)")
        summary = {}
        for mode, seconds in figures.items():
            against = table[mode][1]
            share = f"   Sutura's share vs '{against}' {(seconds - figures[against]) * 1000:+7.1f} ms" if against else ""
            print(f"  {mode:46s} {seconds * 1000:8.1f} ms/task   overhead {(seconds - base) * 1000:+8.1f} ms   ratio {seconds / base:.2f}x{share}")
            summary[mode] = {
                "ms_per_task": round(seconds * 1000, 1),
                "overhead_ms": round((seconds - base) * 1000, 1),
                "sutura_share_ms": round((seconds - figures[against]) * 1000, 1) if against else None,
                "samples_ms": [round(x * 1000, 1) for x in samples[mode]],
            }
            if emits[mode]:
                summary[mode]["emit_ms"] = {"events": len(emits[mode]), "median": round(statistics.median(emits[mode]), 2), "p90": round(_p90(emits[mode]), 2)}
        for mode, times in emits.items():
            if times:
                print(
                    f"  time in Sutura's transport per event, {mode.split(', ', 1)[1]}: median {statistics.median(times):.1f} ms, "
                    f"p90 {_p90(times):.1f} ms ({len(times)} events, {len(times) / (tasks * rounds):.1f} per task)"
                )
        import sutura

        runs = sutura.Engine(db_url=db_url).runs("job:bench:sutura_overhead.step_0")
        print(f"target: overhead < 50 ms per task; the engine holds {len(runs)} run(s) of step_0 (one per full mode and round)")
        if args.json:
            print(json.dumps({"tasks": tasks, "rounds": rounds, "modes": summary}, indent=2))


if __name__ == "__main__":
    main()
