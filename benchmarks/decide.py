"""Decision latency: ``engine.on_failure`` and ``engine.explain`` on a 100,000-dataset graph.

The graph is the one lineage.py measures (``_common.GraphSpec``, written by the bulk
loader, 1% of jobs last FAILED). Measured, embedded on SQLite:

- ``engine.on_failure(Failure(...))`` for random jobs, with the job's real inputs, half
  transient and half deterministic errors drawn from the labelled corpus of real
  exceptions (tests/fixtures/errors/collected.jsonl); every call stores its Decision.
  Some land on jobs whose input producer failed, so the upstream check has work to do.
- ``engine.explain(node)`` over three samples: jobs whose last run failed, consumers of
  their outputs (a causal chain to walk), and random datasets (mostly healthy).

Baselines in the same run, on the same store: the pure ``classify(error)`` step (no I/O)
and the minimal write a recorded decision needs (one transaction: an indexed job lookup
and one INSERT into ``decision``). Targets: p99 < 10 ms per decision, < 50 ms per explain.

    .venv/bin/python benchmarks/decide.py [--quick] [--json] [--profile] [--graph-store PATH]
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Report, error_corpus, graph_nodes, parse_args, profile_call, summarize_ms, workdir  # noqa: E402
from ingest import count_statements  # noqa: E402
from lineage import graph_spec, open_or_build  # noqa: E402


def job_inputs(engine: Any) -> dict[str, tuple[tuple[str, str], ...]]:
    import sqlalchemy as sa
    from sutura.store import schema as t

    out: dict[str, list[tuple[str, str]]] = {}
    q = (
        sa.select(t.job.c.namespace.label("jns"), t.job.c.name.label("jname"), t.dataset.c.namespace, t.dataset.c.name)
        .join(t.job_io, t.job_io.c.job_id == t.job.c.id)
        .join(t.dataset, t.dataset.c.id == t.job_io.c.dataset_id)
        .where(t.job_io.c.direction == "in")
    )
    with engine.db.connect() as conn:
        for r in conn.execute(q):
            out.setdefault(f"job:{r.jns}:{r.jname}", []).append((r.namespace, r.name))
    return {k: tuple(v) for k, v in out.items()}


def consumers_of_failed(engine: Any) -> list[str]:
    import sqlalchemy as sa
    from sutura.store import schema as t

    o, i, j = t.job_io.alias("o"), t.job_io.alias("i"), t.job.alias("j")
    failed = sa.select(t.run.c.job_id).where(t.run.c.state == "FAIL")
    q = (
        sa.select(j.c.namespace, j.c.name)
        .distinct()
        .select_from(o.join(i, sa.and_(i.c.dataset_id == o.c.dataset_id, i.c.direction == "in")).join(j, j.c.id == i.c.job_id))
        .where(o.c.direction == "out", o.c.job_id.in_(failed))
    )
    with engine.db.connect() as conn:
        return [f"job:{r.namespace}:{r.name}" for r in conn.execute(q)]


def minimal_write(engine: Any, job: str) -> None:
    """The baseline: one transaction with an indexed job lookup and one decision INSERT."""
    import sqlalchemy as sa
    from sutura.store import schema as t

    _, ns_name = job.split(":", 1)
    ns, name = ns_name.rsplit(":", 1)
    with engine.db.begin() as conn:
        jid = conn.execute(sa.select(t.job.c.id).where(t.job.c.namespace == ns, t.job.c.name == name)).scalar()
        conn.execute(t.decision.insert().values(id=str(uuid.uuid4()), action="retry", subject=job, reason="baseline", evidence="[]",
                                                policy="baseline", job_id=jid, created_at=datetime.now(timezone.utc)))


def main() -> int:
    def extra(p: Any) -> None:
        p.add_argument("--graph-store", help="SQLite file to build the graph in once and reuse (keyed by the graph spec)")
        p.add_argument("--no-verify", action="store_true", help="(kept for symmetry with lineage.py; the loader is checked there)")

    args = parse_args(__doc__.splitlines()[0], extra)
    args.no_verify = True
    from sutura.diagnose import classify
    from sutura.ontology import Dataset, Failure, Job

    spec = graph_spec(args.quick, args.seed)
    base = workdir(args)
    report = Report("decide" + (" (quick)" if args.quick else ""))
    engine = open_or_build(args, spec, report, base)
    nodes = graph_nodes(engine)
    inputs = job_inputs(engine)
    corpus = error_corpus(host="warehouse.internal")
    rng = random.Random(args.seed)
    n_fail = 150 if args.quick else 600
    n_explain = 60 if args.quick else 200

    consumers = consumers_of_failed(engine)
    jobs = rng.sample(nodes["jobs"], n_fail - n_fail // 5) + rng.sample(consumers, min(len(consumers), n_fail // 5))
    rng.shuffle(jobs)
    failures = []
    for k, job in enumerate(jobs):
        kind = "transient" if k % 2 == 0 else "deterministic"
        err_id, error = rng.choice(corpus[kind])
        _, ns_name = job.split(":", 1)
        ns, name = ns_name.rsplit(":", 1)
        failures.append((kind, Failure(job=Job(ns, name), error=error, run_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                                       attempt=1, max_attempts=4, inputs=tuple(Dataset(a, b) for a, b in inputs.get(job, ())))))

    print(f"\n{len(failures)} engine.on_failure calls (half transient, half deterministic; a fifth on consumers of failed jobs)", flush=True)
    engine.on_failure(failures[0][1])  # warm up
    statements = count_statements(engine)
    classify_s, base_s, decide_s, actions = [], [], [], {}
    for kind, f in failures:
        t0 = time.perf_counter()
        classify(f.error)
        classify_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        minimal_write(engine, f.job.id)
        base_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        d = engine.on_failure(f)
        decide_s.append(time.perf_counter() - t0)
        actions[(kind, d.action.value)] = actions.get((kind, d.action.value), 0) + 1
    d, b, c = summarize_ms(decide_s), summarize_ms(base_s), summarize_ms(classify_s)
    per_decision = (statements[0] - 2 * len(failures)) / len(failures)  # minus the baseline's 2 statements
    report.add("on_failure p50", d["p50"], "ms", baseline=b["p50"], detail="baseline: lookup + INSERT in one transaction")
    report.add("on_failure p99", d["p99"], "ms", baseline=b["p99"], target="p99 < 10 ms", met=d["p99"] < 10)
    report.add("SQL statements per on_failure", per_decision, "stmts")
    report.add("classify (pure) p50", c["p50"], "ms", detail=f"p99 {c['p99']:.3f} ms")
    report.note("decisions: " + ", ".join(f"{k[0]}->{k[1]}: {v}" for k, v in sorted(actions.items())))

    samples = {
        "failed jobs": rng.sample(nodes["failed_jobs"], min(n_explain, len(nodes["failed_jobs"]))),
        "consumers of failed jobs": rng.sample(consumers, min(n_explain, len(consumers))),
        "random datasets": rng.sample(nodes["datasets"], n_explain),
    }
    for label, sample in samples.items():
        print(f"\n{len(sample)} engine.explain over {label}", flush=True)
        times, chains = [], []
        before = statements[0]
        for n in sample:
            t0 = time.perf_counter()
            x = engine.explain(n)
            times.append(time.perf_counter() - t0)
            chains.append(len(x.chain))
        e = summarize_ms(times)
        report.add(f"explain {label} p50", e["p50"], "ms", baseline=b["p50"])
        report.add(f"explain {label} p99", e["p99"], "ms", baseline=b["p99"], target="p99 < 50 ms", met=e["p99"] < 50,
                   detail=f"chain length max {max(chains)}, mean {sum(chains) / len(chains):.1f}; "
                   f"{(statements[0] - before) / len(sample):.0f} SQL statements per call")
    if args.profile:
        print("\nprofile: 50 on_failure calls", flush=True)
        print(profile_call(lambda: [engine.on_failure(f) for _, f in failures[:50]], top=30))
        print("\nprofile: explain over 30 consumers of failed jobs", flush=True)
        print(profile_call(lambda: [engine.explain(n) for n in samples["consumers of failed jobs"][:30]], top=30))
    engine.close()
    report.print(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
