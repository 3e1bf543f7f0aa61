"""Ingest throughput: events/s into the engine, against a raw-insert baseline of the same run.

What it measures, on one deterministic stream of realistic OpenLineage events (see
``_common.event_stream``: START/RUNNING/COMPLETE per run, schema, outputStatistics,
parent, columnLineage on a third of outputs, 3% FAIL, datasets reused, unique runIds):

- embedded, SQLite, batch: ``engine.ingest(text)`` with the JSON array text of 1000
  events (what ``sutura ingest`` and the HTTP batch door hand the engine; like the
  baseline, the figure covers parsing the JSON);
- embedded, SQLite, single: one ``engine.ingest(text)`` per event;
- embedded, PostgreSQL, batch (a database created for the run and dropped after;
  skipped with a message when PostgreSQL is unreachable);
- HTTP: ``sutura serve`` (one worker) as a subprocess, batches POSTed to
  ``/api/v1/lineage/batch`` with httpx;
- baseline: parse the JSON and insert each raw event as one row, in batches of 1000,
  into SQLite with the same driver (stdlib sqlite3, same WAL pragmas) — and into
  PostgreSQL with psycopg for the PostgreSQL ratio;
- memory: tracemalloc peak of one 1000-event batch, the process's peak RSS, the
  server's RSS; and SQL statements executed per event (counted with a SQLAlchemy
  listener), which explains most of the gap to the baseline.

Targets: >= 5,000 events/s embedded batch on one core, within 3x of the baseline.

    .venv/bin/python benchmarks/ingest.py [--quick] [--json] [--profile]
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Report, event_stream, free_port, parse_args, peak_rss_mb, pg_url, profile_call, sqlite_url, workdir  # noqa: E402

BATCH = 1000
TRIALS = 3  # the machine is shared: each figure is the median of interleaved trials


def count_statements(engine: Any) -> list[int]:
    """A counter of SQL statements the engine's connection pool executes."""
    import sqlalchemy as sa

    counter = [0]

    @sa.event.listens_for(engine.db, "before_cursor_execute")
    def _count(*_a: Any) -> None:
        counter[0] += 1

    return counter


def engine_batches(engine: Any, texts: list[str]) -> float:
    """Batches handed over as JSON text, as the CLI and HTTP doors do: the engine parses."""
    t0 = time.perf_counter()
    for i in range(0, len(texts), BATCH):
        engine.ingest("[" + ",".join(texts[i : i + BATCH]) + "]")
    return time.perf_counter() - t0


def engine_single(engine: Any, texts: list[str]) -> float:
    t0 = time.perf_counter()
    for s in texts:
        engine.ingest(s)
    return time.perf_counter() - t0


def _raw_rows(chunk: list[str]) -> list[tuple[Any, ...]]:
    rows = []
    for s in chunk:
        e = json.loads(s)
        rows.append((hashlib.sha256(s.encode()).hexdigest(), (e.get("run") or {}).get("runId"), e.get("eventType"), e["eventTime"], s))
    return rows


def baseline_sqlite(path: Path, texts: list[str]) -> float:
    """Parse + one INSERT per event, executemany per batch of 1000, stdlib sqlite3 (WAL)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE raw_event (id INTEGER PRIMARY KEY, event_key TEXT NOT NULL UNIQUE, run_id TEXT,"
        " event_type TEXT, event_time TEXT NOT NULL, payload TEXT NOT NULL)"
    )
    t0 = time.perf_counter()
    for i in range(0, len(texts), BATCH):
        rows = _raw_rows(texts[i : i + BATCH])
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO raw_event (event_key, run_id, event_type, event_time, payload) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING", rows)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - t0
    conn.close()
    return seconds


def baseline_pg(dsn: str, texts: list[str]) -> float:
    import psycopg

    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TABLE bench_raw_event (id BIGSERIAL PRIMARY KEY, event_key TEXT NOT NULL UNIQUE, run_id TEXT,"
            " event_type TEXT, event_time TEXT NOT NULL, payload TEXT NOT NULL)"
        )
        conn.commit()
        t0 = time.perf_counter()
        for i in range(0, len(texts), BATCH):
            rows = _raw_rows(texts[i : i + BATCH])
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO bench_raw_event (event_key, run_id, event_type, event_time, payload) VALUES (%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                    rows,
                )
            conn.commit()
        return time.perf_counter() - t0


class TempPgDatabase:
    """A PostgreSQL database created for this run and dropped after."""

    def __init__(self, url: str):
        import sqlalchemy as sa

        self.admin = sa.make_url(url)
        self.name = f"sutura_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.url = self.admin.set(database=self.name).render_as_string(hide_password=False)

    def libpq(self, url: str) -> str:
        import sqlalchemy as sa

        return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    def __enter__(self) -> TempPgDatabase:
        import psycopg

        with psycopg.connect(self.libpq(self.admin.render_as_string(hide_password=False)), autocommit=True, connect_timeout=3) as c:
            c.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *exc: Any) -> None:
        import psycopg

        with psycopg.connect(self.libpq(self.admin.render_as_string(hide_password=False)), autocommit=True, connect_timeout=3) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def pg_reachable(url: str) -> str | None:
    import psycopg
    import sqlalchemy as sa

    try:
        with psycopg.connect(sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False), connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure means: skip PostgreSQL
        return str(exc).strip().splitlines()[0]


def http_run(base: Path, texts: list[str], report: Report) -> tuple[float, float | None]:
    """Start ``sutura serve`` (one worker), POST batches, return (seconds, server RSS MiB)."""
    import httpx

    port = free_port()
    env = {**os.environ, "SUTURA_DB_URL": sqlite_url(base / "http.db")}
    exe = Path(sys.executable).with_name("sutura")
    cmd = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(timeout=600) as client:
            deadline = time.time() + 60
            while True:
                try:
                    if client.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"sutura serve did not start: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
                time.sleep(0.2)
            size = BATCH // 2
            bodies = ["[" + ",".join(texts[i : i + size]) + "]" for i in range(0, len(texts), size)]
            t0 = time.perf_counter()
            for body in bodies:
                r = client.post(f"{url}/api/v1/lineage/batch", content=body, headers={"content-type": "application/json"})
                if r.status_code >= 300:
                    raise RuntimeError(f"batch rejected: {r.status_code} {r.text[:300]}")
            seconds = time.perf_counter() - t0
        rss = None
        try:
            import psutil

            rss = psutil.Process(proc.pid).memory_info().rss / 2**20
        except Exception:  # noqa: BLE001 - memory is a bonus figure
            pass
        return seconds, rss
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    from sutura import Engine

    sizes = dict(batch=1000, single=100, pg=200, http=300) if args.quick else dict(batch=5000, single=300, pg=1000, http=1000)
    base = workdir(args)
    report = Report("ingest" + (" (quick)" if args.quick else ""))
    extra_n = 200 if args.quick else BATCH
    print(f"generating {sizes['batch'] + extra_n:,} events (seed {args.seed}) ...", flush=True)
    events = event_stream(sizes["batch"] + extra_n, seed=args.seed)
    texts = [json.dumps(e, separators=(",", ":")) for e in events]
    print(f"  mean event size {sum(map(len, texts)) / len(texts):,.0f} bytes; stores under {base}", flush=True)
    main_texts = texts[: sizes["batch"]]

    print(f"\nbaseline (parse + insert raw rows into SQLite: sqlite3, WAL, batches of 1000) and embedded SQLite"
          f" (engine.ingest(JSON text of {min(BATCH, len(main_texts))} events)), {TRIALS} interleaved trials on fresh stores", flush=True)
    b_rates, rates = [], []
    for trial in range(TRIALS):
        b_rates.append(len(main_texts) / baseline_sqlite(base / f"baseline-{trial}.db", main_texts))
        engine = Engine(sqlite_url(base / f"batch-{trial}.db"))
        stmts = count_statements(engine)
        rates.append(len(main_texts) / engine_batches(engine, main_texts))
        print(f"  trial {trial + 1}: baseline {b_rates[-1]:,.0f} events/s, engine {rates[-1]:,.0f} events/s", flush=True)
        if trial < TRIALS - 1:
            engine.close()
    b_rate, rate = statistics.median(b_rates), statistics.median(rates)
    report.add("baseline SQLite raw insert", b_rate, "events/s", detail=f"median of {TRIALS}")
    report.add("embedded SQLite batch", rate, "events/s", baseline=b_rate, ratio=b_rate / rate,
               target=">= 5,000 events/s and within 3x of baseline", met=rate >= 5000 and b_rate / rate <= 3,
               detail=f"median of {TRIALS}; ratio = how many times slower than the baseline")
    report.add("SQL statements per event (batch)", stmts[0] / len(main_texts), "stmts")

    extra = [json.loads(s) for s in texts[sizes["batch"] :]]
    tracemalloc.start()
    engine.ingest(extra)
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    report.add(f"Python heap peak, one {len(extra)}-event batch", heap_peak / 2**20, "MiB", detail="tracemalloc")
    engine.close()

    print("\nembedded SQLite, engine.ingest(event) per event", flush=True)
    single_texts = main_texts[: sizes["single"]]
    b_single = baseline_sqlite(base / "baseline-single.db", single_texts)
    engine = Engine(sqlite_url(base / "single.db"))
    secs = engine_single(engine, single_texts)
    rate1 = len(single_texts) / secs
    report.add("embedded SQLite single", rate1, "events/s", baseline=len(single_texts) / b_single,
               ratio=(len(single_texts) / b_single) / rate1)
    engine.close()

    print("\nembedded PostgreSQL, engine.ingest(JSON text of 1000 events)", flush=True)
    why = pg_reachable(pg_url())
    if why:
        report.note(f"PostgreSQL skipped: {pg_url()} unreachable ({why})")
    else:
        pg_texts = main_texts[: sizes["pg"]]
        with TempPgDatabase(pg_url()) as db:
            engine = Engine(db.url)
            secs = engine_batches(engine, pg_texts)
            engine.close()
            b_pg = baseline_pg(db.libpq(db.url), pg_texts)
        pg_b_rate = len(pg_texts) / b_pg
        pg_rate = len(pg_texts) / secs
        report.add("embedded PostgreSQL batch", pg_rate, "events/s", baseline=pg_b_rate, ratio=pg_b_rate / pg_rate,
                   detail="baseline: psycopg executemany of raw rows into the same database")

    print("\nHTTP: sutura serve (1 worker), POST /api/v1/lineage/batch (500 events per request)", flush=True)
    http_texts = main_texts[: sizes["http"]]
    try:
        secs, server_rss = http_run(base, http_texts, report)
        h_rate = len(http_texts) / secs
        report.add("HTTP batch, 1 worker", h_rate, "events/s", baseline=b_rate, ratio=b_rate / h_rate)
        if server_rss is not None:
            report.add("server RSS after the run", server_rss, "MiB")
    except Exception as exc:  # noqa: BLE001 - report and go on
        report.note(f"HTTP run failed: {exc}")

    report.add("benchmark process peak RSS", peak_rss_mb(), "MiB", detail="ru_maxrss, whole run")

    if args.profile:
        print("\nprofile: one more 1000-event batch into the embedded SQLite store", flush=True)
        engine = Engine(sqlite_url(base / "profile.db"))
        engine.ingest([json.loads(s) for s in main_texts[:BATCH]])
        more = [json.loads(s) for s in texts[sizes["batch"] :]]
        print(profile_call(lambda: engine.ingest(more), top=30))
        engine.close()
    report.print(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
