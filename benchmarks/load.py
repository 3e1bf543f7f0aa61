"""Concurrent load on ``sutura serve --workers 4`` over PostgreSQL, then a recount.

What it does, per mode (``single``: one event per ``POST /api/v1/lineage``, what the
OpenLineage HTTP transport sends by default; ``batch``: ``--batch`` events per
``POST /api/v1/lineage/batch``):

1. creates a fresh database ``sutura_load_<random>`` (dropped at the end);
2. starts ``sutura serve --host 127.0.0.1 --workers 4`` on it;
3. runs ``--procs`` producer processes x ``--threads`` threads, bounded by ``--events``
   and ``--seconds``. Each producer owns a set of Airflow-like tasks; every task run has
   1-3 attempts, each attempt a new runId (START, RUNNING, then FAIL with an
   errorMessage facet, or COMPLETE with outputStatistics), a parent facet (its DAG run)
   and the try number. Deliveries are shuffled within a window (out of order) and 5% are
   sent twice (duplicates). After each FAIL the producer asks ``POST /api/v1/failures``;
4. prints sustained events/s, p50/p99 latency of ingest and of failures, errors;
5. recounts the store against what was sent: raw events = distinct events sent, runs =
   distinct runIds (+ parent runs), each run's state = its highest-ranked event sent,
   decisions = failures answered, and PostgreSQL's own deadlock counter for the database
   (deadlocks there are replayed by ``Engine.transaction``; none may reach a client).

    .venv/bin/python benchmarks/load.py [--quick] [--modes single,batch] [--json]

Targets: >= 2,000 events/s with 4 workers, p99 ingest < 50 ms. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Report, free_port, parse_args, percentile, pg_url  # noqa: E402

PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/2.20.3"
SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
WAREHOUSE = "postgres://warehouse.internal:5432"
VENV_BIN = Path(sys.executable).parent


def _facet(**body: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/x.json", **body}


def task_run(rng: random.Random, producer: int, task: int, clock: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Events of one task run (every attempt) and the failures a plugin would ask about."""
    dag = f"dag_{producer}_{task % 7}"
    job = {"namespace": "airflow-load", "name": f"{dag}.task_{task}", "facets": {
        "jobType": _facet(processingType="BATCH", integration="AIRFLOW", jobType="TASK")}}
    dag_run = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    src = {"namespace": WAREHOUSE, "name": f"raw.public.src_{rng.randrange(200)}",
           "facets": {"schema": _facet(fields=[{"name": "id", "type": "bigint"}, {"name": "v", "type": "text"}])}}
    out_name = f"analytics.public.t_{producer}_{task}"
    attempts = rng.choices((1, 2, 3), weights=(70, 20, 10))[0]
    events, failures = [], []
    t = clock
    for attempt in range(1, attempts + 1):
        run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        facets = {"parent": _facet(run={"runId": dag_run}, job={"namespace": "airflow-load", "name": dag}),
                  "airflow": _facet(taskInstance={"try_number": attempt})}
        base = {"producer": PRODUCER, "schemaURL": SCHEMA, "job": job}

        def at(s: float) -> str:
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{int(s * 1000) % 1000:03d}Z"

        out = {"namespace": WAREHOUSE, "name": out_name, "facets": {}}
        events.append({**base, "eventType": "START", "eventTime": at(t), "run": {"runId": run_id, "facets": facets},
                       "inputs": [src], "outputs": [out]})
        events.append({**base, "eventType": "RUNNING", "eventTime": at(t + 1), "run": {"runId": run_id, "facets": {}},
                       "inputs": [], "outputs": []})
        if attempt < attempts:
            msg = f"connection to server at \"warehouse.internal\" (10.0.0.5), port 5432 failed: timeout expired (run {run_id[:8]})"
            events.append({**base, "eventType": "FAIL", "eventTime": at(t + 5), "run": {"runId": run_id, "facets": {
                "errorMessage": _facet(message=msg, programmingLanguage="python")}}, "inputs": [src], "outputs": []})
            failures.append({"job": {"namespace": job["namespace"], "name": job["name"]}, "run_id": run_id, "attempt": attempt,
                             "max_attempts": 3, "error": {"type": "OperationalError", "module": "psycopg", "message": msg},
                             "inputs": [{"namespace": WAREHOUSE, "name": src["name"]}]})
        else:
            done = {**out, "outputFacets": {"outputStatistics": _facet(rowCount=rng.randrange(10**6), size=rng.randrange(10**9))}}
            events.append({**base, "eventType": "COMPLETE", "eventTime": at(t + 60), "run": {"runId": run_id, "facets": {}},
                           "inputs": [src], "outputs": [done]})
        t += 120
    return events, failures


def producer_thread(url: str, mode: str, batch: int, seed: int, producer: int, budget: int, deadline: float) -> dict[str, Any]:
    """One producer: sends its tasks' events (shuffled, some twice) until budget or deadline."""
    import httpx

    from sutura.events import parse_event

    rng = random.Random(seed * 1_000_003 + producer)
    sent: dict[str, tuple[str, str, str]] = {}  # event key -> (run id, event type, parent run id)
    acked: set[str] = set()
    lat_ingest: list[float] = []
    lat_fail: list[float] = []
    errors: list[str] = []
    decisions = 0
    n_sent = 0
    task = 0
    clock = 1_790_000_000.0 + producer * 1e6
    with httpx.Client(base_url=url, timeout=30) as client:
        while n_sent < budget and time.monotonic() < deadline:
            # A window of a few task runs, interleaved and shuffled (out of order), 5% resent.
            window, asks = [], []
            for _ in range(3):
                evs, fails = task_run(rng, producer, task, clock)
                task += 1
                clock += 1000
                window += evs
                asks += fails
            rng.shuffle(window)
            window += [e for e in window if rng.random() < 0.05]
            groups = [[e] for e in window] if mode == "single" else [window[i:i + batch] for i in range(0, len(window), batch)]
            for group in groups:
                keys = []
                for e in group:
                    p = parse_event(e)
                    keys.append(p.key)
                    sent[p.key] = (e["run"]["runId"], e["eventType"], (e["run"]["facets"].get("parent") or {}).get("run", {}).get("runId"))
                t0 = time.perf_counter()
                try:
                    r = (client.post("/api/v1/lineage", json=group[0]) if mode == "single"
                         else client.post("/api/v1/lineage/batch", json=group))
                    lat_ingest.append(time.perf_counter() - t0)
                    if 200 <= r.status_code < 300:
                        acked.update(keys)
                    else:
                        errors.append(f"ingest {r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    errors.append(f"ingest {type(exc).__name__}: {exc}")
                n_sent += len(group)
            for f in asks:
                t0 = time.perf_counter()
                try:
                    r = client.post("/api/v1/failures", json=f)
                    lat_fail.append(time.perf_counter() - t0)
                    if r.status_code == 200:
                        decisions += 1
                    else:
                        errors.append(f"failures {r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    errors.append(f"failures {type(exc).__name__}: {exc}")
    return {"sent": sent, "acked": acked, "lat_ingest": lat_ingest, "lat_fail": lat_fail, "errors": errors,
            "decisions": decisions, "deliveries": n_sent}


def producer_process(url: str, mode: str, batch: int, seed: int, first: int, threads: int, budget: int, deadline_in: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + deadline_in
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(producer_thread, url, mode, batch, seed, first + i, budget, deadline) for i in range(threads)]
        return [f.result() for f in futures]


def start_server(db_url: str, port: int, workers: int, log: Path) -> subprocess.Popen:
    """``sutura serve`` in its own process group (so all its workers stop together)."""
    import httpx

    env = {k: v for k, v in os.environ.items() if not k.startswith("SUTURA")}
    env["SUTURA_DB_URL"] = db_url
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(VENV_BIN / "sutura"), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sutura serve exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                time.sleep(2)  # let every worker finish importing
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(f"sutura serve did not become healthy: {log.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its children (the server's workers)."""
    import psutil

    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                c = proc.cpu_times()
                total += c.user + c.system
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def recount(db_url: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Compare the store with what the producers sent and had acknowledged."""
    import sqlalchemy as sa

    rank = {"START": 1, "RUNNING": 2, "COMPLETE": 3, "FAIL": 3}
    sent: dict[str, tuple[str, str, str]] = {}
    acked: set[str] = set()
    for r in results:
        sent.update(r["sent"])
        acked |= r["acked"]
    expected_state: dict[str, str] = {}
    parents = set()
    for run_id, etype, parent in sent.values():
        if run_id not in expected_state or rank[etype] > rank[expected_state[run_id]]:
            expected_state[run_id] = etype
        if parent:
            parents.add(parent)
    eng = sa.create_engine(db_url)
    with eng.connect() as conn:
        keys = [k for (k,) in conn.exec_driver_sql("SELECT event_key FROM raw_event")]
        runs = dict(conn.exec_driver_sql("SELECT run_id, state FROM run").all())
        decisions = conn.exec_driver_sql("SELECT count(*) FROM decision").scalar()
        orphans = conn.exec_driver_sql(
            "SELECT count(*) FROM raw_event e WHERE e.run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM run r WHERE r.run_id = e.run_id)").scalar()
        dangling_io = conn.exec_driver_sql(
            "SELECT count(*) FROM run_io i WHERE NOT EXISTS (SELECT 1 FROM run r WHERE r.run_id = i.run_id)").scalar()
    eng.dispose()
    stored = set(keys)
    wrong_state = sum(1 for rid, st in expected_state.items() if runs.get(rid) != st)
    return {
        "events_sent_distinct": len(sent),
        "events_acked": len(acked),
        "raw_events": len(keys),
        "lost": len(acked - stored),
        "unexpected": len(stored - set(sent)),
        "duplicated_raw": len(keys) - len(stored),
        "runs_expected": len(set(expected_state) | parents),
        "runs": len(runs),
        "runs_missing": len((set(expected_state) | parents) - set(runs)),
        "wrong_final_state": wrong_state,
        "decisions": decisions,
        "decisions_answered": sum(r["decisions"] for r in results),
        "orphan_raw_events": orphans,
        "dangling_run_io": dangling_io,
    }


def run_mode(args: Any, mode: str, report: Report, base: str) -> bool:
    import sqlalchemy as sa

    name = f"sutura_load_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db_url = str(sa.make_url(base).set(database=name).render_as_string(hide_password=False))
    port = free_port()
    log = Path(f"/tmp/{name}.log")
    proc = None
    ok = True
    try:
        proc = start_server(db_url, port, args.workers, log)
        with admin.connect() as conn:
            dl0 = conn.exec_driver_sql("SELECT deadlocks FROM pg_stat_database WHERE datname = %s", (name,)).scalar() or 0
        producers = args.procs * args.threads
        budget = max(1, args.events // producers)
        print(f"[{mode}] {producers} producers ({args.procs} processes x {args.threads} threads), <= {budget} deliveries each, "
              f"<= {args.seconds}s, server: {args.workers} workers on PostgreSQL database {name}", flush=True)
        cpu0 = tree_cpu(proc.pid)
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        with ProcessPoolExecutor(args.procs) as pool:
            futs = [pool.submit(producer_process, f"http://127.0.0.1:{port}", mode, args.batch, args.seed, i * args.threads,
                                args.threads, budget, args.seconds) for i in range(args.procs)]
            results = [r for f in futs for r in f.result()]
        wall = time.perf_counter() - t0
        server_cpu = tree_cpu(proc.pid) - cpu0
        load1 = os.getloadavg()[0]
        time.sleep(1.0)
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            dl1 = conn.exec_driver_sql("SELECT deadlocks FROM pg_stat_database WHERE datname = %s", (name,)).scalar() or 0
        deliveries = sum(r["deliveries"] for r in results)
        lat_i = [x for r in results for x in r["lat_ingest"]]
        lat_f = [x for r in results for x in r["lat_fail"]]
        errors = [e for r in results for e in r["errors"]]
        tag = f"{mode}"
        report.add(f"{tag}: sustained ingest", deliveries / wall, "events/s", target=">= 2,000", met=deliveries / wall >= 2000,
                   detail=f"{deliveries} deliveries (incl. duplicates) + {len(lat_f)} failure decisions in {wall:.1f}s")
        report.add(f"{tag}: ingest requests", len(lat_i) / wall, "req/s")
        report.add(f"{tag}: server CPU", server_cpu, "s", detail=f"{wall:.1f}s wall, load average {load0:.1f} -> {load1:.1f} on {os.cpu_count()} CPUs")
        if server_cpu > 0:
            report.add(f"{tag}: events per server CPU-second", deliveries / server_cpu, "events/s",
                       detail="what one dedicated core would sustain in the server (PostgreSQL's own CPU not counted)")
        report.add(f"{tag}: ingest p50", percentile(lat_i, 50) * 1000, "ms")
        report.add(f"{tag}: ingest p99", percentile(lat_i, 99) * 1000, "ms", target="< 50", met=percentile(lat_i, 99) < 0.05)
        report.add(f"{tag}: failures p50", percentile(lat_f, 50) * 1000, "ms")
        report.add(f"{tag}: failures p99", percentile(lat_f, 99) * 1000, "ms")
        report.add(f"{tag}: client errors", len(errors), "", target="0", met=not errors)
        for e in errors[:5]:
            report.note(f"{mode} error: {e}")
        c = recount(db_url, results)
        report.add(f"{tag}: deadlocks seen by PostgreSQL (replayed)", dl1 - dl0, "")
        good = (c["lost"] == 0 and c["unexpected"] == 0 and c["duplicated_raw"] == 0 and c["raw_events"] == c["events_sent_distinct"] == c["events_acked"]
                and c["runs"] == c["runs_expected"] and c["runs_missing"] == 0 and c["wrong_final_state"] == 0
                and c["decisions"] == c["decisions_answered"] and c["orphan_raw_events"] == 0 and c["dangling_run_io"] == 0 and not errors)
        report.add(f"{tag}: recount", 0 if good else 1, "problems", target="0", met=good,
                   detail=", ".join(f"{k}={v}" for k, v in c.items()))
        ok = good
        if "deadlock" in log.read_text(errors="replace").lower():
            report.note(f"{mode}: the server log mentions a deadlock (see {log})")
    finally:
        if proc is not None:
            stop_server(proc)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    return ok


def main() -> int:
    def extra(p: Any) -> None:
        p.add_argument("--modes", default="single,batch")
        p.add_argument("--workers", type=int, default=4)
        p.add_argument("--procs", type=int, default=4, help="producer processes")
        p.add_argument("--threads", type=int, default=8, help="producer threads per process")
        p.add_argument("--events", type=int, default=40_000, help="deliveries per mode, at most")
        p.add_argument("--seconds", type=float, default=60, help="time per mode, at most")
        p.add_argument("--batch", type=int, default=50, help="events per batch request in batch mode")

    args = parse_args("Concurrent load on sutura serve --workers 4 over PostgreSQL", extra)
    if args.quick:
        args.events, args.seconds = min(args.events, 6000), min(args.seconds, 20)
    base = pg_url()
    report = Report("load: sutura serve on PostgreSQL")
    ok = True
    for mode in args.modes.split(","):
        ok = run_mode(args, mode.strip(), report, base) and ok
    report.note("producers, server workers and PostgreSQL share this machine's CPUs: figures are a floor for a dedicated server")
    report.print(args.json)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
