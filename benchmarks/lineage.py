"""Lineage query latency: depth-20 upstream walks on a 100,000-dataset, 50,000-job graph.

The graph (``_common.GraphSpec``): 24 layers, 500 domains with 95% locality, fan-in
1-6 (+ shared hub datasets), 1-3 outputs per job, 1% of jobs last FAILED. It is written
straight into the store's tables by ``_common.bulk_load_graph``, because building it
through ``engine.ingest`` would take far more than a few minutes (this script measures
ingest on a 300-job sample of the same graph and prints the projection); the same
sample built both ways is compared table by table first, so the bulk loader is known to
write what ``engine.ingest`` writes.

Measured: p50/p90/p99 latency of ``engine.lineage(node, "upstream", 20)`` over random
datasets (all layers) and over random datasets of the deepest layers (the worst case),
with the number of nodes each answer holds. Baselines in the same run, on the same
store and nodes: the raw recursive CTE the engine runs (ids only, one reused
connection), and an indexed point lookup of the node. Target: p99 < 50 ms on SQLite.

    .venv/bin/python benchmarks/lineage.py [--quick] [--json] [--profile] [--graph-store PATH]
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    GraphSpec,
    Report,
    bulk_load_graph,
    graph_nodes,
    parse_args,
    percentile,
    profile_call,
    sqlite_url,
    summarize_ms,
    verify_loader,
    workdir,
)

DEPTH = 20


def graph_spec(quick: bool, seed: int) -> GraphSpec:
    if quick:
        return GraphSpec(n_datasets=20_000, n_jobs=10_000, domains=100, seed=seed)
    return GraphSpec(seed=seed)


def open_or_build(args: Any, spec: GraphSpec, report: Report, base: Path) -> Any:
    """An engine over the graph; built with the bulk loader (or reused with --graph-store)."""
    from sutura import Engine

    if args.graph_store:
        path = Path(args.graph_store).resolve()
        marker = Path(str(path) + ".spec")
        if path.exists() and marker.exists() and marker.read_text() == spec.key():
            report.note(f"reused the graph store {path} built for {spec.key()}")
            return Engine(sqlite_url(path))
        for p in (path, marker, Path(str(path) + "-wal"), Path(str(path) + "-shm")):
            p.unlink(missing_ok=True)
    else:
        path, marker = base / "graph.db", None
    engine = Engine(sqlite_url(path))
    print(f"building {spec.n_datasets:,} datasets / {spec.n_jobs:,} jobs with the bulk loader ...", flush=True)
    built = bulk_load_graph(engine, spec)
    report.add("graph build (bulk loader)", built["seconds"], "s", detail=f"{built['datasets']:,} datasets, {built['events']:,} jobs, {built['edges']:,} job_io edges")
    if marker is not None:
        marker.write_text(spec.key())
    return engine


def build_figures(args: Any, spec: GraphSpec, report: Report, base: Path) -> Any:
    """Check the loader against engine.ingest, project the ingest time, open the graph."""
    if not args.no_verify:
        print("checking the bulk loader against engine.ingest on a 300-job graph ...", flush=True)
        ok = verify_loader(base, report, seed=spec.seed)
        ingest_s = next(r["value"] for r in report.rows if r["name"].startswith("loader check: ingest"))
        projected = ingest_s / 300 * spec.n_jobs
        report.add("projected build through engine.ingest", projected / 60, "min",
                   detail=f"{spec.n_jobs:,} job events at the measured {300 / ingest_s:,.0f} events/s")
        if not ok:
            raise SystemExit("the bulk loader does not write what engine.ingest writes; fix it before trusting the figures")
    return open_or_build(args, spec, report, base)


_RECURSIVE_CTE = """
WITH RECURSIVE walk(dataset_id, depth) AS (
    SELECT id, 0 FROM dataset WHERE id IN ({seed})
    UNION
    SELECT i.dataset_id, walk.depth + 1
    FROM walk
    JOIN job_io o ON o.dataset_id = walk.dataset_id AND o.direction = 'out'
    JOIN job_io i ON i.job_id = o.job_id AND i.direction = 'in'
    WHERE walk.depth < :depth
)
SELECT dataset_id, MIN(depth) AS depth FROM walk GROUP BY dataset_id
"""


def walk_sql(engine: Any) -> Any:
    """A raw recursive CTE over the adjacency table, ids only: the raw-query baseline.

    (The engine itself now walks level by level, expanding each dataset once.)"""
    return _RECURSIVE_CTE


def bfs_upstream(conn: Any, seed: int, depth: int) -> dict[int, int]:
    """A bare level-by-level walk over ids (the engine walks this way; no answer is built): each dataset expanded once."""
    seen = {seed: 0}
    frontier = [seed]
    for level in range(1, depth + 1):
        if not frontier:
            break
        marks = ",".join("?" * len(frontier))
        rows = conn.exec_driver_sql(
            "SELECT DISTINCT i.dataset_id FROM job_io o JOIN job_io i ON i.job_id = o.job_id AND i.direction = 'in' "
            f"WHERE o.direction = 'out' AND o.dataset_id IN ({marks})",
            tuple(frontier),
        ).all()
        frontier = [r[0] for r in rows if r[0] not in seen]
        for d in frontier:
            seen[d] = level
    return seen


def measure(engine: Any, nodes: list[str], label: str, report: Report, target: bool) -> list[float]:
    import sqlalchemy as sa
    from sutura.store import reader

    sql = walk_sql(engine)
    engine_s, sizes, cte_s, cte_sizes, point_s, bfs_s = [], [], [], [], [], []
    with engine.db.connect() as conn:
        ids = {n: reader.resolve(conn, n).id for n in nodes}
        for n in nodes:
            t0 = time.perf_counter()
            rows = conn.exec_driver_sql(sql.format(seed=int(ids[n])).replace(":depth", str(DEPTH))).all()
            cte_s.append(time.perf_counter() - t0)
            cte_sizes.append(len(rows))
            t0 = time.perf_counter()
            walked = bfs_upstream(conn, int(ids[n]), DEPTH)
            bfs_s.append(time.perf_counter() - t0)
            if set(walked) != {r[0] for r in rows}:
                raise SystemExit(f"the level-by-level walk disagrees with the CTE on {n}")
            _, ns_name = n.split(":", 1)
            ns, name = ns_name.rsplit(":", 1)
            t0 = time.perf_counter()
            conn.exec_driver_sql("SELECT id FROM dataset WHERE namespace = ? AND name = ?", (ns, name)).scalar()
            point_s.append(time.perf_counter() - t0)
    for n in nodes:
        t0 = time.perf_counter()
        g = engine.lineage(n, "upstream", DEPTH)
        engine_s.append(time.perf_counter() - t0)
        sizes.append(len(g["graph"]))
        del g  # freed here, not inside the next query's timing (a 5,000-node answer takes milliseconds to free)
    e, c, p, b = summarize_ms(engine_s), summarize_ms(cte_s), summarize_ms(point_s), summarize_ms(bfs_s)
    report.add(f"{label}: engine.lineage p50", e["p50"], "ms", baseline=c["p50"], detail="baseline: raw recursive CTE p50")
    report.add(f"{label}: engine.lineage p99", e["p99"], "ms", baseline=c["p99"], target="p99 < 50 ms" if target else None,
               met=e["p99"] < 50 if target else None, detail="baseline: raw recursive CTE p99")
    report.add(f"{label}: level-by-level walk over ids p99", b["p99"], "ms", baseline=c["p99"],
               detail=f"p50 {b['p50']:.2f} ms; same dataset set as the CTE, each dataset expanded once")
    report.add(f"{label}: indexed point lookup p50", p["p50"], "ms", detail=f"engine p50 is {e['p50'] / max(p['p50'], 1e-9):,.0f}x this")
    report.add(f"{label}: nodes per answer p50/p99/max", percentile(sizes, 50), "nodes",
               detail=f"p99 {percentile(sizes, 99):,.0f}, max {max(sizes):,}; upstream datasets p50 {percentile(cte_sizes, 50):,.0f}")
    return engine_s


def main() -> int:
    def extra(p: Any) -> None:
        p.add_argument("--graph-store", help="SQLite file to build the graph in once and reuse (keyed by the graph spec)")
        p.add_argument("--queries", type=int, help="queries per sample (default 200, quick 100)")
        p.add_argument("--no-verify", action="store_true", help="skip the loader check against engine.ingest")

    args = parse_args(__doc__.splitlines()[0], extra)
    spec = graph_spec(args.quick, args.seed)
    base = workdir(args)
    report = Report("lineage" + (" (quick)" if args.quick else ""))
    engine = build_figures(args, spec, report, base)
    nodes = graph_nodes(engine)
    rng = random.Random(args.seed)
    k = args.queries or (100 if args.quick else 200)
    k_deep = max(20, k // 2)
    deep_layers = [layer for layer in nodes["by_layer"] if layer >= spec.layers - 4]
    deep = [n for layer in deep_layers for n in nodes["by_layer"][layer]]
    samples = {
        "random datasets": rng.sample(nodes["datasets"], k),
        f"deepest-layer datasets (layers {min(deep_layers)}-{max(deep_layers)})": rng.sample(deep, k_deep),
    }
    engine.lineage(samples["random datasets"][0], "upstream", DEPTH)  # warm the connection pool and caches
    for label, sample in samples.items():
        print(f"\n{len(sample)} upstream depth-{DEPTH} queries over {label}", flush=True)
        measure(engine, sample, label, report, target=True)
    if args.profile:
        worst = samples[next(iter(k for k in samples if k.startswith("deepest")))][:20]
        print("\nprofile: 20 deep upstream queries", flush=True)
        print(profile_call(lambda: [engine.lineage(n, "upstream", DEPTH) for n in worst], top=30))
    engine.close()
    report.print(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
