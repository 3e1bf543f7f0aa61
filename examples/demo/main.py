"""The demo: an embedded engine on a SQLite file fed real OpenLineage events.

Run with ``make demo`` (``--json`` for machines). It ingests events that real producers
sent (Airflow's OpenLineage provider, dbt-ol, Marquez's fixtures), then prints the
lineage it assembled and the state of every run, and what the engine decides about a
failure, a bad batch and a change.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import sutura
from sutura import CheckResult, Dataset, ErrorInfo, Failure, Job

ROOT = Path(__file__).resolve().parents[2]
EVENTS = [
    ROOT / "tests/fixtures/corpus/marquez/literal/api/src/test/resources/apples",
    ROOT / "tests/fixtures/producers/airflow",
    ROOT / "tests/fixtures/producers/dbt",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--db", help="store URL (default: a fresh SQLite file)")
    args = parser.parse_args(argv)
    db = args.db or f"sqlite:///{Path(tempfile.mkdtemp(prefix='sutura-demo-')) / 'sutura.db'}"
    engine = sutura.Engine(db_url=db)
    say = (lambda *a: None) if args.json else print
    report: dict = {"store": db, "ingested": {}}

    say(f"Sutura demo: embedded engine on {db}\n")
    for folder in EVENTS:
        files = sorted(p for p in folder.rglob("*") if p.suffix in (".json", ".jsonl"))
        accepted = sum(engine.ingest(p.read_bytes()).accepted for p in files)
        report["ingested"][folder.name] = accepted
        say(f"  ingested {accepted:3} events from {folder.relative_to(ROOT)}")

    node = "dataset:grandmas.kitchen:apple.pie"
    graph = engine.lineage(node, "upstream", 5)
    report["lineage"] = graph
    say(f"\nUpstream lineage of {node}:")
    for n in graph["graph"]:
        if n["type"] == "JOB":
            ins = ", ".join(e["origin"].split(":")[-1] for e in n["inEdges"])
            outs = ", ".join(e["destination"].split(":")[-1] for e in n["outEdges"])
            say(f"  {ins:>32}  --[{n['data']['name']} {n['data']['latestRunState']}]-->  {outs}")

    say("\nRuns:")
    report["runs"] = []
    jobs = sorted({n["id"] for n in engine.lineage(node, "upstream", 5)["graph"] if n["type"] == "JOB"})
    for job in jobs + ["job:airflow-capture:sutura_failing.summarise"]:
        try:
            runs = engine.runs(job, limit=3)
        except sutura.NotFound:
            continue
        for r in runs:
            report["runs"].append({"job": job, "run": r.run_id, "state": r.state.value, "attempt": r.attempt})
            err = f"  ({r.error_message.splitlines()[0][:70]})" if r.error_message else ""
            say(f"  {job:55} {r.state.value:8}{err}")

    say("\nWhat the engine decides:")
    wh = Dataset("duckdb:///demo/warehouse.duckdb", "warehouse.main.orders")
    transient = engine.on_failure(Failure(job=Job("airflow", "etl.extract"), error=ErrorInfo("ConnectionResetError", "[Errno 104] Connection reset by peer"), max_attempts=3))
    deterministic = engine.on_failure(Failure(job=Job("airflow", "etl.transform"), error=ErrorInfo("KeyError", "'customer_id'"), max_attempts=3))
    bad = engine.on_checks(wh, [CheckResult(wh, "not_null_order_id", False, field="order_id")], fingerprint="batch-2")
    for d in (transient, deterministic, bad):
        say(f"  {d.action.value.upper():10} {d.reason}")
    report["decisions"] = [d.to_dict() for d in (transient, deterministic, bad)]
    say(f"\nExplore it: SUTURA_DB_URL={db} .venv/bin/sutura decisions")
    if args.json:
        print(json.dumps(report, default=str, indent=2))
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
