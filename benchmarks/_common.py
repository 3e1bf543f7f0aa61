"""Shared pieces of the benchmark scripts: arguments, timing, reports, synthetic data.

Every benchmark prints figures with a baseline measured in the same run and the ratio
to it, because the machines they run on are shared and noisy: an absolute time means
little, a ratio to a baseline measured a second earlier means more. Nothing here
asserts a time.

Synthetic data is deterministic (seeded ``random.Random``), so two runs with the same
``--seed`` ingest byte-identical events and build the same graph.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import random
import resource
import socket
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = [
    "GraphSpec",
    "Report",
    "error_corpus",
    "bulk_load_graph",
    "store_digest",
    "summarize_ms",
    "verify_loader",
    "workdir",
    "event_stream",
    "free_port",
    "graph_nodes",
    "parse_args",
    "peak_rss_mb",
    "percentile",
    "pg_url",
    "profile_call",
    "sqlite_url",
]

PRODUCER_AIRFLOW = "https://github.com/apache/airflow/tree/providers-openlineage/2.20.3"
PRODUCER_DBT = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/dbt"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACET_SCHEMA = "https://openlineage.io/spec/facets/1-0-1/{}.json#/$defs/{}"
EPOCH = datetime(2026, 11, 1, tzinfo=timezone.utc)


# -- arguments and reporting -----------------------------------------------------------


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a smaller run (seconds to a minute)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON as well")
    p.add_argument("--seed", type=int, default=7, help="seed of the synthetic data")
    p.add_argument("--profile", action="store_true", help="print a cProfile of the engine's hot path")
    p.add_argument("--workdir", help="directory for stores (default: a fresh temporary directory)")
    if extra:
        extra(p)
    return p.parse_args()


def workdir(args: argparse.Namespace) -> Path:
    if args.workdir:
        path = Path(args.workdir).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(tempfile.mkdtemp(prefix="sutura-bench-"))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def pg_url() -> str:
    return os.environ.get("SUTURA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank; samples need not be sorted."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), int(round(q / 100.0 * len(ordered) + 0.5))))
    return ordered[rank - 1]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def profile_call(fn: Callable[[], Any], *, top: int = 25, sort: str = "cumulative") -> str:
    """Run ``fn`` under cProfile; return the top entries as text."""
    prof = cProfile.Profile()
    prof.enable()
    try:
        fn()
    finally:
        prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


@dataclass
class Report:
    """Figures of one benchmark run, printed as a plain-text block and optionally JSON."""

    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: float | None, unit: str, *, baseline: float | None = None, ratio: float | None = None,
            target: str | None = None, met: bool | None = None, detail: str | None = None) -> None:
        if ratio is None and baseline and value is not None:
            ratio = value / baseline
        self.rows.append(
            {"name": name, "value": value, "unit": unit, "baseline": baseline, "ratio": ratio, "target": target, "met": met, "detail": detail}
        )
        shown = "n/a" if value is None else f"{value:,.2f}"
        extra = f"  (ratio {ratio:.2f} to baseline {baseline:,.2f})" if ratio is not None and baseline is not None else ""
        print(f"  {name}: {shown} {unit}{extra}", flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def machine(self) -> dict[str, Any]:
        load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
        return {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg": [round(x, 2) for x in load if x is not None],
        }

    def print(self, as_json: bool) -> None:
        m = self.machine()
        width = max([len(r["name"]) for r in self.rows] + [10])
        print()
        print(f"==== {self.title} — summary ({m['date']}, {m['cpus']} CPUs, load {m['loadavg']}) ====")
        for r in self.rows:
            value = "n/a" if r["value"] is None else f"{r['value']:,.2f}"
            line = f"{r['name']:<{width}}  {value:>14} {r['unit']:<10}"
            if r["baseline"] is not None:
                line += f"  baseline {r['baseline']:,.2f}"
            if r["ratio"] is not None:
                line += f"  ratio {r['ratio']:.2f}"
            if r["target"]:
                verdict = "" if r["met"] is None else (" MET" if r["met"] else " NOT MET")
                line += f"  [target {r['target']}{verdict}]"
            if r["detail"]:
                line += f"  ({r['detail']})"
            print(line)
        for n in self.notes:
            print(f"note: {n}")
        print("=" * 40)
        if as_json:
            print(json.dumps({"benchmark": self.title, "machine": m, "figures": self.rows, "notes": self.notes}, indent=2, default=str))


# -- a realistic OpenLineage stream ---------------------------------------------------------


def _facet(name: str, body: dict[str, Any], producer: str = PRODUCER_AIRFLOW) -> dict[str, Any]:
    return {"_producer": producer, "_schemaURL": FACET_SCHEMA.format(name, name[0].upper() + name[1:] + "DatasetFacet"), **body}


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_TYPES = ("bigint", "varchar", "timestamp", "numeric(18,2)", "boolean", "date", "double precision")


def _schema(rng: random.Random, n: int) -> list[dict[str, str]]:
    return [{"name": f"col_{i}", "type": rng.choice(_TYPES)} for i in range(n)]


def event_stream(n_events: int, *, seed: int = 7, n_jobs: int = 2000, n_datasets: int = 6000) -> list[dict[str, Any]]:
    """``n_events`` OpenLineage RunEvents as an Airflow + dbt estate emits them.

    Per run: START (inputs and outputs with schema), RUNNING on a third of runs, then
    COMPLETE (outputs carry schema and outputStatistics, a third carry columnLineage) or,
    for 3% of runs, FAIL with an errorMessage facet. Every run has a parent facet (its DAG
    run or dbt invocation) and a nominalTime. Datasets are reused across runs (a pool of
    ``n_datasets``, each job reads 1-4 and writes 1-2 of them); every runId is unique.
    """
    rng = random.Random(seed)
    schemas = {d: _schema(rng, rng.randint(3, 12)) for d in range(n_datasets)}
    jobs = []
    for j in range(n_jobs):
        dbt = j % 3 == 0
        reads = rng.sample(range(n_datasets), rng.randint(1, 4))
        writes = rng.sample(range(n_datasets), rng.randint(1, 2))
        jobs.append((dbt, j, reads, writes))

    def ds(d: int, *, out: bool, stats: bool, lineage_from: list[int] | None) -> dict[str, Any]:
        namespace = "postgres://warehouse.internal:5432" if d % 5 else "s3://acme-raw"
        facets: dict[str, Any] = {"schema": _facet("schema", {"fields": schemas[d]})}
        if lineage_from:
            fields = {}
            for f in schemas[d][:4]:
                src = lineage_from[0]
                fields[f["name"]] = {
                    "inputFields": [
                        {"namespace": "postgres://warehouse.internal:5432" if src % 5 else "s3://acme-raw", "name": f"analytics.public.table_{src}",
                         "field": schemas[src][0]["name"], "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}]}
                    ]
                }
            facets["columnLineage"] = _facet("columnLineage", {"fields": fields})
        item: dict[str, Any] = {"namespace": namespace, "name": f"analytics.public.table_{d}", "facets": facets}
        if out and stats:
            item["outputFacets"] = {"outputStatistics": _facet("outputStatistics", {"rowCount": rng.randint(0, 10**7), "size": rng.randint(0, 10**10)})}
        return item

    events: list[dict[str, Any]] = []
    clock = EPOCH
    while len(events) < n_events:
        dbt, j, reads, writes = rng.choice(jobs)
        run_id = _uuid(rng)
        parent_id = _uuid(rng)
        producer = PRODUCER_DBT if dbt else PRODUCER_AIRFLOW
        job_ns = "dbt-prod" if dbt else "airflow-prod"
        job_name = f"analytics.model_{j}" if dbt else f"dag_{j // 8}.task_{j}"
        parent_name = "dbt-run-analytics" if dbt else f"dag_{j // 8}"
        nominal = clock.replace(minute=0, second=0, microsecond=0)
        run_facets = {
            "parent": {"_producer": producer, "_schemaURL": FACET_SCHEMA.format("parent", "ParentRunFacet"),
                       "run": {"runId": parent_id}, "job": {"namespace": job_ns, "name": parent_name}},
            "nominalTime": {"_producer": producer, "_schemaURL": FACET_SCHEMA.format("nominalTime", "NominalTimeRunFacet"),
                            "nominalStartTime": _iso(nominal)},
        }
        job = {"namespace": job_ns, "name": job_name,
               "facets": {"jobType": {"_producer": producer, "_schemaURL": FACET_SCHEMA.format("jobType", "JobTypeJobFacet"),
                                      "processingType": "BATCH", "integration": "DBT" if dbt else "AIRFLOW",
                                      "jobType": "MODEL" if dbt else "TASK"}}}
        start = clock
        clock += timedelta(seconds=rng.uniform(0.5, 5))
        base = {"producer": producer, "schemaURL": SCHEMA_URL, "job": job}
        inputs = [ds(d, out=False, stats=False, lineage_from=None) for d in reads]
        events.append({**base, "eventType": "START", "eventTime": _iso(start), "run": {"runId": run_id, "facets": run_facets},
                       "inputs": inputs, "outputs": [ds(d, out=True, stats=False, lineage_from=None) for d in writes]})
        if rng.random() < 1 / 3:
            events.append({**base, "eventType": "RUNNING", "eventTime": _iso(start + timedelta(seconds=30)),
                           "run": {"runId": run_id, "facets": {}}, "inputs": [], "outputs": []})
        end = start + timedelta(seconds=rng.uniform(40, 900))
        if rng.random() < 0.03:
            msg = 'relation "analytics.public.table_%d" does not exist' % rng.randrange(n_datasets)
            err = {"_producer": producer, "_schemaURL": FACET_SCHEMA.format("errorMessage", "ErrorMessageRunFacet"),
                   "message": msg, "programmingLanguage": "python"}
            events.append({**base, "eventType": "FAIL", "eventTime": _iso(end), "run": {"runId": run_id, "facets": {"errorMessage": err}},
                           "inputs": inputs, "outputs": []})
        else:
            lineage = rng.random() < 1 / 3
            outs = [ds(d, out=True, stats=True, lineage_from=reads if lineage else None) for d in writes]
            events.append({**base, "eventType": "COMPLETE", "eventTime": _iso(end), "run": {"runId": run_id, "facets": {}},
                           "inputs": inputs, "outputs": outs})
    return events[:n_events]


# -- a large layered graph ----------------------------------------------------------------------


@dataclass(frozen=True)
class GraphSpec:
    """A layered lineage graph: sources at layer 0, each job reads earlier layers, writes its own.

    Datasets belong to ``domains`` (a team's project of about 200 datasets); a job reads
    from its own domain with probability ``locality`` and from anywhere otherwise, mostly from the layer just below
    (deep chains), with a few shared hub datasets (calendars, currency rates) read by
    many jobs (wide fan-out). Fan-in is 1-6 inputs (mean about 2.4); each job writes 1-3
    outputs. ``fail_fraction`` of jobs have a last run that FAILED (for explain).
    """

    n_datasets: int = 100_000
    n_jobs: int = 50_000
    layers: int = 24
    domains: int = 500
    locality: float = 0.95
    fail_fraction: float = 0.01
    seed: int = 7

    def key(self) -> str:
        return f"d{self.n_datasets}-j{self.n_jobs}-l{self.layers}-m{self.domains}-loc{self.locality}-f{self.fail_fraction}-s{self.seed}"


NS_WAREHOUSE = "postgres://warehouse.internal:5432"
NS_RAW = "s3://acme-raw"
NS_JOBS = "airflow-prod"


def dataset_name(layer: int, domain: int, idx: int) -> tuple[str, str]:
    ns = NS_RAW if layer == 0 else NS_WAREHOUSE
    return ns, f"d{domain:03d}.l{layer:02d}.t{idx}"


def graph_events(spec: GraphSpec) -> Iterator[list[dict[str, Any]]]:
    """The graph as OpenLineage COMPLETE/FAIL events, one per job, yielded per layer."""
    rng = random.Random(spec.seed)
    n_sources = spec.n_datasets // 10
    # Outputs per job: 1-3; scale so the jobs write exactly n_datasets - n_sources datasets.
    produced = spec.n_datasets - n_sources
    counts = [1 + (rng.random() < 0.55) + (rng.random() < 0.25) for _ in range(spec.n_jobs)]
    total = sum(counts)
    i = 0
    while total != produced:
        step = 1 if total < produced else -1
        j = i % spec.n_jobs
        if 1 <= counts[j] + step <= 3:
            counts[j] += step
            total += step
        i += 7919
    # by_layer[layer][domain] -> list of dataset (ns, name)
    by_layer: list[dict[int, list[tuple[str, str]]]] = [dict() for _ in range(spec.layers)]
    all_by_layer: list[list[tuple[str, str]]] = [[] for _ in range(spec.layers)]
    idx = 0
    for k in range(n_sources):
        d = k % spec.domains
        name = dataset_name(0, d, idx)
        idx += 1
        by_layer[0].setdefault(d, []).append(name)
        all_by_layer[0].append(name)
    hubs = rng.sample(all_by_layer[0], max(1, n_sources // 100))
    jobs_per_layer = spec.n_jobs // (spec.layers - 1)
    clock = EPOCH
    job_index = 0
    for layer in range(1, spec.layers):
        n = jobs_per_layer if layer < spec.layers - 1 else spec.n_jobs - job_index
        batch = []
        new: list[tuple[int, tuple[str, str]]] = []
        for _ in range(n):
            domain = rng.randrange(spec.domains)
            fan_in = rng.choices((1, 2, 3, 4, 5, 6), weights=(25, 30, 20, 12, 8, 5))[0]
            inputs: set[tuple[str, str]] = set()
            while len(inputs) < fan_in:
                lower = layer - 1 if rng.random() < 0.6 else rng.randrange(0, layer)
                pool = by_layer[lower].get(domain) if rng.random() < spec.locality else None
                pool = pool or all_by_layer[lower]
                inputs.add(rng.choice(pool))
            if rng.random() < 0.1:
                inputs.add(rng.choice(hubs))
            outputs = []
            for _ in range(counts[job_index]):
                name = dataset_name(layer, domain, idx)
                idx += 1
                outputs.append(name)
                new.append((domain, name))
            run_id = _uuid(rng)
            failed = rng.random() < spec.fail_fraction
            clock += timedelta(seconds=1)
            event: dict[str, Any] = {
                "eventType": "FAIL" if failed else "COMPLETE",
                "eventTime": _iso(clock),
                "producer": PRODUCER_AIRFLOW,
                "schemaURL": SCHEMA_URL,
                "run": {"runId": run_id, "facets": {}},
                "job": {"namespace": NS_JOBS, "name": f"dag_{job_index // 10}.task_{job_index}"},
                "inputs": [{"namespace": ns, "name": nm} for ns, nm in sorted(inputs)],
                "outputs": [
                    {"namespace": ns, "name": nm,
                     "outputFacets": {"outputStatistics": _facet("outputStatistics", {"rowCount": rng.randint(1, 10**6)})}}
                    for ns, nm in outputs
                ],
            }
            if failed:
                event["run"]["facets"]["errorMessage"] = {
                    "_producer": PRODUCER_AIRFLOW, "_schemaURL": FACET_SCHEMA.format("errorMessage", "ErrorMessageRunFacet"),
                    "message": 'psycopg.errors.UndefinedColumn: column "amount_eur" does not exist', "programmingLanguage": "python"}
            batch.append(event)
            job_index += 1
        for domain, name in new:
            by_layer[layer].setdefault(domain, []).append(name)
            all_by_layer[layer].append(name)
        yield batch


def graph_nodes(engine: Any) -> dict[str, Any]:
    """Node ids of the built graph by kind, and datasets by layer (from their names)."""
    import sqlalchemy as sa
    from sutura.store import schema as t

    with engine.db.connect() as conn:
        ds = conn.execute(sa.select(t.dataset.c.namespace, t.dataset.c.name)).all()
        jobs = conn.execute(sa.select(t.job.c.namespace, t.job.c.name, t.job.c.id)).all()
        failed = conn.execute(
            sa.select(t.job.c.namespace, t.job.c.name).join(t.run, t.run.c.job_id == t.job.c.id).where(t.run.c.state == "FAIL")
        ).all()
    by_layer: dict[int, list[str]] = {}
    for ns, name in ds:
        layer = int(name.split(".")[1][1:]) if name.startswith("d") and ".l" in name else -1
        by_layer.setdefault(layer, []).append(f"dataset:{ns}:{name}")
    return {
        "datasets": [f"dataset:{ns}:{name}" for ns, name in ds],
        "by_layer": by_layer,
        "jobs": [f"job:{ns}:{name}" for ns, name, _ in jobs],
        "failed_jobs": [f"job:{ns}:{name}" for ns, name in failed],
    }


def summarize_ms(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {"p50": percentile(ms, 50), "p90": percentile(ms, 90), "p99": percentile(ms, 99), "max": max(ms), "mean": statistics.fmean(ms)}


def log(msg: str) -> None:
    print(msg, file=sys.stdout, flush=True)


# -- writing the graph straight into the store's tables ------------------------------------------


def bulk_load_graph(engine: Any, spec: GraphSpec, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Write the graph of ``spec`` with executemany INSERTs into ``sutura.store.schema`` tables.

    Used because ``engine.ingest`` is too slow to build 50,000 jobs in minutes (measured
    by ingest.py). Writes the rows ``Writer.apply`` would write for the same events
    (raw_event, dataset, job, run, job_io, run_io, dataset_version); ``verify_loader``
    checks that on a small graph by comparing with a store built through ``engine.ingest``.
    """
    import sqlalchemy as sa
    from sutura.events import parse_event
    from sutura.store import schema as t
    from sutura.store.db import dumps
    from sutura.store.writer import default_fingerprints
    from sutura.translate import DatasetFacts

    t0 = time.perf_counter()
    now = datetime.now(timezone.utc)
    layers = list(graph_events(spec))
    events = [e for layer in layers for e in layer]
    names: dict[tuple[str, str], int] = {}
    for e in events:
        for d in e["inputs"] + e["outputs"]:
            names.setdefault((d["namespace"], d["name"]), 0)
    with engine.db.begin() as conn:
        conn.execute(t.dataset.insert(), [
            {"namespace": ns, "name": nm, "is_primary": True, "facets": "{}", "facet_keys": "{}", "created_at": now, "updated_at": now}
            for ns, nm in names
        ])
        for r in conn.execute(sa.select(t.dataset.c.id, t.dataset.c.namespace, t.dataset.c.name)):
            names[(r.namespace, r.name)] = r.id
        conn.execute(t.job.insert(), [
            {"namespace": e["job"]["namespace"], "name": e["job"]["name"], "type": "TASK", "integration": "AIRFLOW",
             "facets": "{}", "facet_keys": "{}", "created_at": now, "updated_at": now}
            for e in events
        ])
        job_ids = {(r.namespace, r.name): r.id for r in conn.execute(sa.select(t.job.c.id, t.job.c.namespace, t.job.c.name))}
        raw_rows, run_rows, job_io, run_io, versions, ds_facets = [], [], [], [], [], {}
        seq = 0
        for e in events:
            p = parse_event(e)
            rank = p.event_type.rank
            tkey = p.event_time.strftime("%Y-%m-%dT%H:%M:%S.%f")
            facet_key = f"{tkey}|{rank}|{p.key}"
            raw_rows.append({"event_key": p.key, "kind": p.kind, "run_id": p.run_id, "event_type": p.event_type.value, "event_time": p.event_time,
                             "received_at": now, "producer": p.producer, "payload": dumps(e)})
            jid = job_ids[(e["job"]["namespace"], e["job"]["name"])]
            rf = e["run"]["facets"]
            err = (rf.get("errorMessage") or {}).get("message")
            run_rows.append({"run_id": p.run_id, "job_id": jid, "state": p.event_type.value, "state_key": f"{rank}|{tkey}|{p.key}",
                             "started_at": p.event_time, "ended_at": p.event_time, "error_message": err,
                             "facets": dumps(rf), "facet_keys": dumps({k: facet_key for k in rf}), "updated_at": now})
            for d in e["inputs"]:
                did = names[(d["namespace"], d["name"])]
                job_io.append({"job_id": jid, "dataset_id": did, "direction": "in"})
                run_io.append({"run_id": p.run_id, "dataset_id": did, "direction": "in", "version_id": None})
            for d in e["outputs"]:
                did = names[(d["namespace"], d["name"])]
                stats = d["outputFacets"]["outputStatistics"]
                ds_facets[did] = (dumps({"outputStatistics": stats}), dumps({"outputStatistics": facet_key}))
                job_io.append({"job_id": jid, "dataset_id": did, "direction": "out"})
                run_io.append({"run_id": p.run_id, "dataset_id": did, "direction": "out", "version_id": None})
                facts = DatasetFacts(d["namespace"], d["name"], "output", facets={"outputStatistics": stats}, row_count=stats.get("rowCount"))
                fp, content = default_fingerprints(facts, p.run_id)
                published = p.event_type.value == "COMPLETE"
                if published:
                    seq += 1
                versions.append({"dataset_id": did, "fingerprint": fp, "content_fingerprint": content, "run_id": p.run_id,
                                 "status": "published" if published else "failed_write", "created_at": p.event_time, "status_at": p.event_time,
                                 "row_count": stats.get("rowCount"), "bytes": None, "schema_hash": None, "schema": None, "metrics": None,
                                 "seq": seq if published else None})
        conn.execute(t.raw_event.insert(), raw_rows)
        conn.execute(t.run.insert(), run_rows)
        conn.execute(t.job_io.insert(), job_io)
        conn.execute(t.dataset_version.insert(), versions)
        vid = {(r.dataset_id, r.run_id): r.id for r in conn.execute(sa.select(t.dataset_version.c.id, t.dataset_version.c.dataset_id, t.dataset_version.c.run_id))}
        for r in run_io:
            if r["direction"] == "out":
                r["version_id"] = vid.get((r["dataset_id"], r["run_id"]))
        conn.execute(t.run_io.insert(), run_io)
        conn.execute(
            t.dataset.update().where(t.dataset.c.id == sa.bindparam("did")).values(facets=sa.bindparam("f"), facet_keys=sa.bindparam("k")),
            [{"did": did, "f": f, "k": k} for did, (f, k) in ds_facets.items()],
        )
        if seq:
            conn.execute(t.sequence.insert().values(name="version", value=seq))
    seconds = time.perf_counter() - t0
    log(f"    wrote {len(names):,} datasets, {len(events):,} jobs/runs, {len(job_io):,} job_io edges in {seconds:.1f}s")
    return {"events": len(events), "datasets": len(names), "edges": len(job_io), "seconds": seconds}


def store_digest(engine: Any) -> dict[str, Any]:
    """The rows the queries under test read, by name (not row id), for comparing two stores."""
    import sqlalchemy as sa
    from sutura.store import schema as t

    ds, jb, v = t.dataset, t.job, t.dataset_version
    with engine.db.connect() as conn:
        dsn = {r.id: (r.namespace, r.name) for r in conn.execute(sa.select(ds.c.id, ds.c.namespace, ds.c.name))}
        jbn = {r.id: (r.namespace, r.name) for r in conn.execute(sa.select(jb.c.id, jb.c.namespace, jb.c.name))}
        utc = lambda x: None if x is None else x.replace(tzinfo=None)  # noqa: E731
        return {
            "dataset": sorted((n, r.canonical_id, r.is_primary, r.facets) for r in conn.execute(sa.select(ds)) for n in [dsn[r.id]]),
            "job": sorted((jbn[r.id], r.type, r.integration) for r in conn.execute(sa.select(jb))),
            "job_io": sorted((jbn[r.job_id], dsn[r.dataset_id], r.direction) for r in conn.execute(sa.select(t.job_io))),
            "run": sorted((r.run_id, jbn[r.job_id], r.state, r.state_key, utc(r.started_at), utc(r.ended_at), r.error_message, r.facets)
                          for r in conn.execute(sa.select(t.run))),
            "run_io": sorted((r.run_id, dsn[r.dataset_id], r.direction, r.version_id is not None) for r in conn.execute(sa.select(t.run_io))),
            "version": sorted((dsn[r.dataset_id], r.fingerprint, r.content_fingerprint, r.status, r.run_id, r.row_count, utc(r.created_at))
                              for r in conn.execute(sa.select(v))),
            "raw_event": sorted(r.event_key for r in conn.execute(sa.select(t.raw_event.c.event_key))),
        }


def verify_loader(base: Path, report: Report, *, seed: int) -> bool:
    """Build a small graph both ways (engine.ingest and bulk_load_graph) and compare the stores."""
    from sutura import Engine

    spec = GraphSpec(n_datasets=600, n_jobs=300, layers=8, domains=6, seed=seed)
    for name in ("verify-ingest.db", "verify-bulk.db"):
        for suffix in ("", "-wal", "-shm"):
            (base / f"{name}{suffix}").unlink(missing_ok=True)
    a = Engine(sqlite_url(base / "verify-ingest.db"))
    b = Engine(sqlite_url(base / "verify-bulk.db"))
    t0 = time.perf_counter()
    for layer in graph_events(spec):
        a.ingest(layer)
    ingest_s = time.perf_counter() - t0
    bulk = bulk_load_graph(b, spec, log=lambda _m: None)
    da, db = store_digest(a), store_digest(b)
    diff = [k for k in da if da[k] != db[k]]
    a.close()
    b.close()
    report.add("loader check: ingest of 300 jobs", ingest_s, "s", detail="same graph through engine.ingest")
    report.add("loader check: bulk load of 300 jobs", bulk["seconds"], "s", baseline=ingest_s)
    if diff:
        report.note(f"bulk loader differs from engine.ingest in: {', '.join(diff)}")
    else:
        report.note("bulk loader writes exactly the rows engine.ingest writes (compared table by table on a 300-job graph)")
    return not diff


# -- real error messages ------------------------------------------------------------------------

ERROR_CORPUS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "errors" / "collected.jsonl"


def error_corpus(host: str | None = None) -> dict[str, list[Any]]:
    """Labelled real exceptions (tests/fixtures/errors/collected.jsonl) as ErrorInfo, by kind.

    Every record there is an exception really raised by PostgreSQL/psycopg, DuckDB,
    sqlite3, httpx/requests, dbt, Dagster or Python. With ``host``, the collector's
    ``127.0.0.1``/``localhost`` is replaced so the message names that data source.
    """
    from sutura.ontology import ErrorInfo

    def info(d: dict[str, Any]) -> Any:
        msg = d.get("message") or ""
        if host:
            msg = msg.replace("127.0.0.1", host).replace("localhost", host)
        causes = tuple(info(c) for c in d.get("causes") or ())
        return ErrorInfo(type=d["type"], message=msg, module=d.get("module"), causes=causes)

    out: dict[str, list[Any]] = {}
    for line in ERROR_CORPUS.read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            out.setdefault(d["kind"], []).append((d["id"], info(d)))
    return out
