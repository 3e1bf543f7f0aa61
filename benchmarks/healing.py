"""Fault injection: the engine's healing decisions against a naive retry policy, same faults.

Fault model (deterministic for a seed; both policies face exactly the same episodes)
===================================================================================

An *episode* is one task whose execution fails; it ends when an execution succeeds
(recovered) or the policy gives up. Episodes arrive at random times over a few
simulated days on an estate of load jobs (each reads one data source: three PostgreSQL
databases and three HTTP APIs), vendor-feed producers with their consumers, and
audited mart jobs. Each execution takes 20-120 s of simulated time (an upstream failure
fails fast: 2-8 s). Errors are real exceptions from the labelled corpus
tests/fixtures/errors/collected.jsonl (raised by psycopg, SQLAlchemy, DuckDB, httpx,
requests, dbt, Dagster, Python), with the collector's 127.0.0.1 replaced by the data
source's host so per-source circuits see distinct sources.

- transient (50%): network errors, timeouts, 429/5xx, deadlocks, lock waits on the
  job's source. The first k executions fail (k uniform in 1..3), the next succeeds.
  Every one is recoverable within the tool's 4 attempts (3 retries).
- deterministic (20%): KeyError, syntax errors, missing columns/tables, 4xx. Every
  execution fails; nothing recovers it.
- upstream (15%): the consumer's input is not there because its producer failed (half
  of them) or because the input's newest version is quarantined (the other half).
  Executions fail until the upstream is fixed at time T after the episode starts (T
  uniform in 5-30 min): the producer's next run completes, or the version is released.
- data (15%): the job's output has bad rows (a not_null / unique / accepted_values
  check fails). Those rows must never be published. The data is fixed upstream after T
  (30-120 min) and the next run writes good rows.

Policies
========

- engine: a simulated plugin that does what a Sutura plugin does, against a real
  embedded engine (SQLite): it ingests START and FAIL/COMPLETE OpenLineage events for
  every execution, asks ``engine.on_failure`` after every failed execution and obeys:
  RETRY (after ``delay_seconds``, consuming an attempt), WAIT (after ``delay_seconds``,
  not consuming one; gives up after 6 h of waiting), FAIL / ESCALATE (stop). Output of
  audited jobs goes through ``engine.on_checks`` (publish or quarantine) before the
  run's COMPLETE; quarantined upstream inputs are released with ``engine.release``
  when fixed. The engine's circuit breaker, retry budget and history are real.
- naive: 3 retries (4 attempts) with a fixed 60 s delay, no quarantine: a run that
  completes publishes its output, bad rows included.

Simulated clock: the engine reads the time only through ``sutura.engine.now_utc``
(every policy imports it from there at call time), so the simulation replaces that one
function with the simulated clock and advances it by the decisions' ``delay_seconds``;
event times are simulated too. Nothing else of the engine is replaced.

Figures, per policy: recovered episodes (of the recoverable ones), wasted executions
(re-executions that could not succeed: retries of deterministic failures, re-runs of
upstream-blocked tasks before the fix), retries spent on deterministic failures, bad
versions published (read back from the store for the engine), mean time to recovery
(first failure to successful completion) over each policy's recovered episodes and
over the episodes both recovered; and the ratios. Targets: every recoverable transient
recovered, zero retries on deterministic failures, zero quarantined versions
published, MTTR at least 2x better than naive.

    .venv/bin/python benchmarks/healing.py [--quick] [--json] [--profile]
"""

from __future__ import annotations

import hashlib
import heapq
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import EPOCH, PRODUCER_AIRFLOW, SCHEMA_URL, Report, error_corpus, parse_args, profile_call, sqlite_url, workdir  # noqa: E402

MAX_ATTEMPTS = 4  # the tool's setting, the same for both policies: 3 retries
NAIVE_DELAY = 60.0
MAX_WAIT = 6 * 3600.0
WAREHOUSE = "postgres://warehouse.internal:5432"
SOURCES = [
    ("postgres://orders-db.internal:5432", "orders-db.internal", "pg"),
    ("postgres://crm-db.internal:5432", "crm-db.internal", "pg"),
    ("postgres://billing-db.internal:5432", "billing-db.internal", "pg"),
    ("https://api.payments.example.com", "api.payments.example.com", "http"),
    ("https://api.shipping.example.com", "api.shipping.example.com", "http"),
    ("https://api.ads.example.com", "api.ads.example.com", "http"),
]
_PG_IDS = ("pg-", "sa-", "dbt-postgres", "dagster-pg")
_HTTP_IDS = ("httpx-", "requests-", "urllib-", "socket-", "ssl-eof", "asyncio-timeout", "dagster-connection-reset")
_ANY_IDS = ("duckdb-conflict", "duckdb-file-lock", "sqlite-locked", "airflow-task-timeout", "subprocess-timeout")
_CHECKS = [
    ("not_null_orders_customer_id", "customer_id", "Got 14 results, configured to fail if != 0"),
    ("unique_orders_order_id", "order_id", "Got 3 results, configured to fail if != 0"),
    ("accepted_values_orders_status", "status", "Got 2 results, configured to fail if != 0"),
]


# -- the episodes -----------------------------------------------------------------------------


@dataclass
class Episode:
    id: int
    kind: str  # transient | deterministic | upstream | data
    start: float  # seconds since the simulation epoch
    job: str
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]
    error: Any  # ErrorInfo of the failing executions
    error_id: str
    k: int = 0  # transient: executions that fail before one succeeds
    fix_at: float = 0.0  # upstream/data: absolute simulated time of the fix
    sub: str = ""  # upstream: producer_failed | quarantined
    producer: str = ""
    run_seconds: list[float] = field(default_factory=list)

    def recoverable(self) -> bool:
        return self.kind in ("transient", "upstream", "data")


def make_episodes(n: int, seed: int) -> list[Episode]:
    rng = random.Random(seed)
    corpora = {host: error_corpus(host=host) for _, host, _ in SOURCES}
    plain = error_corpus()
    episodes: list[Episode] = []
    t = 0.0
    busy_until: dict[str, float] = {}
    for i in range(n):
        t += rng.expovariate(1 / 420.0)  # one episode every 7 minutes on average
        kind = rng.choices(("transient", "deterministic", "upstream", "data"), weights=(50, 20, 15, 15))[0]
        runs = [rng.uniform(20, 120) for _ in range(2000)]
        if kind in ("transient", "deterministic"):
            s = rng.randrange(len(SOURCES))
            ns, host, flavour = SOURCES[s]
            while True:
                j = rng.randrange(40)
                job = f"load_{ns.split('//')[1].split('.')[0].split(':')[0]}.extract_{j}"
                if busy_until.get(job, -1) < t:
                    break
            inputs = ((ns, f"public.table_{j}"),)
            outputs = ((WAREHOUSE, f"staging.{job.replace('.', '_')}"),)
            if kind == "transient":
                prefixes = (_PG_IDS if flavour == "pg" else _HTTP_IDS) + _ANY_IDS
                pool = [(eid, e) for eid, e in corpora[host]["transient"] if eid.startswith(prefixes)]
                err_id, err = rng.choice(pool)
                ep = Episode(i, kind, t, job, inputs, outputs, err, err_id, k=rng.randint(1, 3))
            else:
                err_id, err = rng.choice(plain["deterministic"])
                ep = Episode(i, kind, t, job, inputs, outputs, err, err_id)
        elif kind == "upstream":
            f = i
            feed = (WAREHOUSE, f"raw.vendor_feed_{f}")
            err_id, err = rng.choice(plain["upstream"])
            ep = Episode(i, kind, t, f"marts.consume_feed_{f}", (feed,), ((WAREHOUSE, f"marts.feed_{f}_daily"),), err, err_id,
                         fix_at=t + rng.uniform(300, 1800), sub="producer_failed" if i % 2 else "quarantined",
                         producer=f"ingest.vendor_feed_{f}")
            runs = [rng.uniform(2, 8) for _ in range(2000)]
        else:
            ep = Episode(i, kind, t, f"marts.build_metrics_{i}", ((WAREHOUSE, f"staging.events_{i % 50}"),),
                         ((WAREHOUSE, f"marts.metrics_{i}"),), None, rng.choice(_CHECKS)[0], fix_at=t + rng.uniform(1800, 7200))
        ep.run_seconds = runs
        busy_until[ep.job] = t + 4 * 3600
        episodes.append(ep)
    return episodes


@dataclass
class Outcome:
    recovered_at: float | None = None
    first_failure: float | None = None
    executions: int = 0
    wasted: int = 0
    det_retries: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    gave_up: str = ""
    bad_published: int = 0

    def mttr(self) -> float | None:
        if self.recovered_at is None or self.first_failure is None:
            return None
        return self.recovered_at - self.first_failure


def would_succeed(ep: Episode, execution: int, at: float) -> bool:
    """Does execution number ``execution`` (1-based) starting at ``at`` succeed?"""
    if ep.kind == "transient":
        return execution > ep.k
    if ep.kind == "deterministic":
        return False
    if ep.kind == "upstream":
        return at >= ep.fix_at
    return True  # data: the run completes; its rows are what is wrong


def wasted(ep: Episode, execution: int, at: float) -> bool:
    """A re-execution that could not succeed whatever the timing (see the module doc)."""
    if execution == 1:
        return False
    return ep.kind == "deterministic" or (ep.kind == "upstream" and at < ep.fix_at)


# -- the simulation loop -----------------------------------------------------------------------


class Sim:
    def __init__(self) -> None:
        self.now = 0.0
        self.heap: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = 0

    def at(self, when: float, fn: Callable[[], None]) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (when, self.seq, fn))

    def run(self) -> None:
        while self.heap:
            when, _, fn = heapq.heappop(self.heap)
            self.now = max(self.now, when)
            fn()

    def dt(self, t: float | None = None) -> datetime:
        return EPOCH + timedelta(seconds=self.now if t is None else t)


def naive(episodes: list[Episode]) -> dict[int, Outcome]:
    """Fixed 3 retries, fixed 60 s delay, no quarantine."""
    out = {}
    for ep in episodes:
        o = Outcome()
        t, attempt = ep.start, 1
        if ep.kind == "data":
            o.executions, o.bad_published = 1, 1  # the bad rows are published by the run that wrote them
            o.first_failure = ep.start + ep.run_seconds[0]
            o.recovered_at = ep.fix_at + ep.run_seconds[1]  # the good rows land with the next run after the fix
            out[ep.id] = o
            continue
        while True:
            o.executions += 1
            o.wasted += wasted(ep, o.executions, t)
            if ep.kind == "deterministic" and attempt > 1:
                o.det_retries += 1
            end = t + ep.run_seconds[o.executions - 1]
            if would_succeed(ep, o.executions, t):
                o.recovered_at = end
                break
            o.first_failure = o.first_failure if o.first_failure is not None else end
            if attempt >= MAX_ATTEMPTS:
                o.gave_up = "no attempts left"
                break
            attempt += 1
            t = end + NAIVE_DELAY
        out[ep.id] = o
    return out


class EngineWorld:
    """The simulated plugin: real events, real decisions, simulated time."""

    def __init__(self, engine: Any, sim: Sim, rng: random.Random):
        from sutura.ontology import CheckResult, Dataset, Failure, Job

        self.engine, self.sim, self.rng = engine, sim, rng
        self.Dataset, self.Failure, self.Job, self.CheckResult = Dataset, Failure, Job, CheckResult
        self.out: dict[int, Outcome] = {}
        self.bad_fps: set[str] = set()
        self.quarantined: dict[int, str] = {}  # episode -> version node held by the producer's audit
        self.engine_seconds = 0.0
        self.calls = 0

    def call(self, fn: Callable[..., Any], *a: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            self.engine_seconds += time.perf_counter() - t0
            self.calls += 1

    # -- OpenLineage events as a plugin emits them
    def event(self, etype: str, job: str, run_id: str, inputs: Any, outputs: Any, *, error: Any = None, content: str | None = None,
              rows: int | None = None) -> dict[str, Any]:
        ns = "airflow-prod"
        outs = []
        for o_ns, o_name in outputs:
            item: dict[str, Any] = {"namespace": o_ns, "name": o_name}
            if etype == "COMPLETE":
                item["facets"] = {"suturaContent": {"_producer": PRODUCER_AIRFLOW, "_schemaURL": "https://sutura.dev/facets/suturaContent.json",
                                                    "fingerprint": content or run_id}}
                item["outputFacets"] = {"outputStatistics": {"_producer": PRODUCER_AIRFLOW,
                                                             "_schemaURL": "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json",
                                                             "rowCount": rows or 1000}}
            outs.append(item)
        run: dict[str, Any] = {"runId": run_id, "facets": {}}
        if error is not None:
            run["facets"]["errorMessage"] = {"_producer": PRODUCER_AIRFLOW,
                                             "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json",
                                             "message": f"{error.type}: {error.message}"[:2000], "programmingLanguage": "python"}
        return {"eventType": etype, "eventTime": self.sim.dt().isoformat(), "producer": PRODUCER_AIRFLOW, "schemaURL": SCHEMA_URL,
                "run": run, "job": {"namespace": ns, "name": job},
                "inputs": [{"namespace": a, "name": b} for a, b in inputs], "outputs": outs}

    def new_run(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # -- the environment: upstream producers
    def setup(self, ep: Episode) -> None:
        if ep.kind != "upstream":
            return
        good = self.new_run()
        self.sim.at(ep.start - 86400 + 1, lambda: self._producer_run(ep, good, ok=True))  # yesterday's good version
        self.sim.at(ep.start - 300, lambda: self._producer_run(ep, self.new_run(), ok=False))
        self.sim.at(ep.fix_at, lambda: self._fix_upstream(ep))

    def _producer_run(self, ep: Episode, run_id: str, *, ok: bool) -> None:
        feed = ep.inputs[0]
        src = (SOURCES[ep.id % len(SOURCES)][0], f"vendor.feed_{ep.id}")
        self.call(self.engine.ingest, self.event("START", ep.producer, run_id, (src,), (feed,)))
        if ok:
            self.call(self.engine.ingest, self.event("COMPLETE", ep.producer, run_id, (src,), (feed,), content=f"good-{run_id}"))
        elif ep.sub == "producer_failed":
            from sutura.ontology import ErrorInfo

            err = ErrorInfo("HTTPStatusError", "Client error '404 Not Found' for url 'https://sftp-gw.vendor.example.com/feeds/today.csv'")
            self.call(self.engine.ingest, self.event("FAIL", ep.producer, run_id, (src,), (feed,), error=err))
        else:  # the producer wrote today's feed, its audit quarantined it
            fp = hashlib.sha256(f"bad-feed-{ep.id}".encode()).hexdigest()[:20]
            self.bad_fps.add(fp)
            ds = self.Dataset(*feed)
            results = [self.CheckResult(ds, "row_count_within_baseline", False, source="sutura", message="rows fell from 1.2M to 40k")]
            d = self.call(self.engine.on_checks, ds, results, run_id=run_id, fingerprint=fp, row_count=40_000)
            self.quarantined[ep.id] = d.subject
            self.call(self.engine.ingest, self.event("COMPLETE", ep.producer, run_id, (src,), (feed,), content=fp, rows=40_000))

    def _fix_upstream(self, ep: Episode) -> None:
        if ep.sub == "producer_failed":
            self._producer_run(ep, self.new_run(), ok=True)
        else:
            self.call(self.engine.release, self.quarantined[ep.id], "the vendor confirmed the smaller file is complete", by="oncall")

    # -- the task under the plugin
    def start(self, ep: Episode) -> None:
        o = self.out.setdefault(ep.id, Outcome())
        self._execute(ep, o, attempt=1)

    def _execute(self, ep: Episode, o: Outcome, attempt: int) -> None:
        t = self.sim.now
        o.executions += 1
        o.wasted += wasted(ep, o.executions, t)
        if ep.kind == "deterministic" and attempt > 1:
            o.det_retries += 1
        run_id = self.new_run()
        self.call(self.engine.ingest, self.event("START", ep.job, run_id, ep.inputs, ep.outputs))
        ok = would_succeed(ep, o.executions, t)
        end = t + ep.run_seconds[min(o.executions - 1, len(ep.run_seconds) - 1)]
        self.sim.at(end, lambda: self._finish(ep, o, attempt, run_id, ok))

    def _finish(self, ep: Episode, o: Outcome, attempt: int, run_id: str, ok: bool) -> None:
        if ep.kind == "data":
            self._audit(ep, o, run_id)
            return
        if ok:
            self.call(self.engine.ingest, self.event("COMPLETE", ep.job, run_id, ep.inputs, ep.outputs))
            o.recovered_at = self.sim.now
            return
        self.call(self.engine.ingest, self.event("FAIL", ep.job, run_id, ep.inputs, ep.outputs, error=ep.error))
        if o.first_failure is None:
            o.first_failure = self.sim.now
        failure = self.Failure(job=self.Job("airflow-prod", ep.job), error=ep.error, run_id=run_id, attempt=attempt,
                               max_attempts=MAX_ATTEMPTS, inputs=tuple(self.Dataset(a, b) for a, b in ep.inputs),
                               outputs=tuple(self.Dataset(a, b) for a, b in ep.outputs))
        d = self.call(self.engine.on_failure, failure)
        action = d.action.value
        o.decisions[action] = o.decisions.get(action, 0) + 1
        delay = float(d.delay_seconds or 0.0)
        if action == "retry":
            self.sim.at(self.sim.now + delay, lambda: self._execute(ep, o, attempt + 1))
        elif action == "wait":
            if self.sim.now + delay - o.first_failure > MAX_WAIT:
                o.gave_up = "waited 6 h"
                return
            self.sim.at(self.sim.now + delay, lambda: self._execute(ep, o, attempt))
        else:
            o.gave_up = action

    def _audit(self, ep: Episode, o: Outcome, run_id: str) -> None:
        """Write-audit-publish: the checks decide before the run reports COMPLETE."""
        ds = self.Dataset(*ep.outputs[0])
        fixed = self.sim.now >= ep.fix_at
        fp = hashlib.sha256(f"{ep.id}-{'good' if fixed else 'bad'}-{o.executions}".encode()).hexdigest()[:20]
        name = next(c for c in _CHECKS if c[0] == ep.error_id)
        results = [self.CheckResult(ds, name[0], fixed, field=name[1], source="dbt", message=None if fixed else name[2]),
                   self.CheckResult(ds, "row_count_positive", True, source="dbt")]
        if not fixed:
            self.bad_fps.add(fp)
        d = self.call(self.engine.on_checks, ds, results, run_id=run_id, fingerprint=fp, row_count=50_000)
        o.decisions[d.action.value] = o.decisions.get(d.action.value, 0) + 1
        self.call(self.engine.ingest, self.event("COMPLETE", ep.job, run_id, ep.inputs, ep.outputs, content=fp, rows=50_000))
        if fixed and d.action.value == "publish":
            o.recovered_at = self.sim.now
            return
        if o.first_failure is None:
            o.first_failure = self.sim.now
        # The next scheduled run after the data is fixed upstream (runs are hourly; the fix wakes it).
        self.sim.at(max(ep.fix_at, self.sim.now), lambda: self._execute(ep, o, 1))

    def bad_published(self) -> int:
        import sqlalchemy as sa
        from sutura.store import schema as t

        with self.engine.db.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count()).select_from(t.dataset_version).where(
                    t.dataset_version.c.content_fingerprint.in_([f"c:{fp}" for fp in self.bad_fps]),
                    t.dataset_version.c.status.in_(["published"]),
                )
            ).scalar_one()

    def released(self) -> int:
        import sqlalchemy as sa
        from sutura.store import schema as t

        with self.engine.db.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count()).select_from(t.dataset_version).where(
                    t.dataset_version.c.content_fingerprint.in_([f"c:{fp}" for fp in self.bad_fps]), t.dataset_version.c.status == "released")
            ).scalar_one()


def run_engine(episodes: list[Episode], db_url: str, seed: int) -> tuple[dict[int, Outcome], EngineWorld, float]:
    import sutura.engine as engine_module
    from sutura import Engine

    random.seed(seed)  # the engine's backoff jitter
    sim = Sim()
    original = engine_module.now_utc
    engine_module.now_utc = lambda: sim.dt()  # the one clock the engine reads (see the module doc)
    try:
        sim.now = min(ep.start for ep in episodes) - 2 * 86400
        engine = Engine(db_url)
        world = EngineWorld(engine, sim, random.Random(seed + 1))
        for ep in episodes:
            world.setup(ep)
            sim.at(ep.start, lambda ep=ep: world.start(ep))
        t0 = time.perf_counter()
        sim.run()
        wall = time.perf_counter() - t0
        return world.out, world, wall
    finally:
        engine_module.now_utc = original


def summarize(name: str, episodes: list[Episode], out: dict[int, Outcome]) -> dict[str, Any]:
    by_kind: dict[str, list[Episode]] = {}
    for ep in episodes:
        by_kind.setdefault(ep.kind, []).append(ep)
    s: dict[str, Any] = {"policy": name}
    for kind, eps in by_kind.items():
        s[f"{kind}_total"] = len(eps)
        s[f"{kind}_recovered"] = sum(1 for ep in eps if out[ep.id].recovered_at is not None)
    rec = [ep for ep in episodes if ep.kind in ("transient", "upstream") and out[ep.id].mttr() is not None]
    s["recoverable"] = sum(1 for ep in episodes if ep.kind in ("transient", "upstream"))
    s["recovered"] = len(rec)
    s["wasted"] = sum(o.wasted for o in out.values())
    s["executions"] = sum(o.executions for o in out.values())
    s["det_retries"] = sum(out[ep.id].det_retries for ep in episodes if ep.kind == "deterministic")
    s["mttr"] = statistics.fmean([out[ep.id].mttr() for ep in rec]) if rec else float("nan")
    for kind in ("transient", "upstream"):
        vals = [out[ep.id].mttr() for ep in by_kind.get(kind, []) if out[ep.id].mttr() is not None]
        s[f"mttr_{kind}"] = statistics.fmean(vals) if vals else float("nan")
    return s


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    n = 200 if args.quick else 1000
    base = workdir(args)
    report = Report("healing" + (" (quick)" if args.quick else ""))
    episodes = make_episodes(n, args.seed)
    kinds = {k: sum(1 for e in episodes if e.kind == k) for k in ("transient", "deterministic", "upstream", "data")}
    print(f"{n} episodes over {episodes[-1].start / 86400:.1f} simulated days: {kinds}", flush=True)

    nv = naive(episodes)
    print("engine policy: real engine decisions on a simulated clock ...", flush=True)
    runner = lambda: run_engine(episodes, sqlite_url(base / "healing.db"), args.seed)  # noqa: E731
    if args.profile:
        holder: dict[str, Any] = {}
        print(profile_call(lambda: holder.setdefault("r", runner()), top=35))
        eng, world, wall = holder["r"]
    else:
        eng, world, wall = runner()
    s_e, s_n = summarize("engine", episodes, eng), summarize("naive", episodes, nv)
    s_e["bad_published"] = world.bad_published()
    s_n["bad_published"] = sum(o.bad_published for o in nv.values())
    both = [ep for ep in episodes if ep.kind in ("transient", "upstream") and eng[ep.id].mttr() is not None and nv[ep.id].mttr() is not None]
    mttr_both_e = statistics.fmean([eng[ep.id].mttr() for ep in both]) if both else float("nan")
    mttr_both_n = statistics.fmean([nv[ep.id].mttr() for ep in both]) if both else float("nan")

    def num(x: Any) -> Any:
        return None if isinstance(x, float) and x != x else x  # NaN: nothing recovered to average

    def row(label: str, key: str, unit: str, **kw: Any) -> None:
        report.add(f"{label}: engine", num(s_e[key]), unit, baseline=num(s_n[key]) or None, **kw)
        report.add(f"{label}: naive", num(s_n[key]), unit)

    trans_ok = s_e["transient_recovered"] == s_e["transient_total"]
    row("transient recovered", "transient_recovered", f"of {kinds['transient']}", target="all", met=trans_ok)
    row("upstream recovered", "upstream_recovered", f"of {kinds['upstream']}")
    row("deterministic recovered", "deterministic_recovered", f"of {kinds['deterministic']}", detail="none can be")
    row("retries spent on deterministic failures", "det_retries", "retries", target="0", met=s_e["det_retries"] == 0)
    row("wasted executions", "wasted", "executions", detail="re-executions that could not succeed")
    row("executions in all", "executions", "executions")
    row("bad versions published", "bad_published", "versions", target="0", met=s_e["bad_published"] == 0)
    row("MTTR (own recovered transient+upstream)", "mttr", "s")
    row("MTTR transient", "mttr_transient", "s")
    row("MTTR upstream", "mttr_upstream", "s")
    ratio = mttr_both_n / mttr_both_e if mttr_both_e else float("nan")
    report.add("MTTR on episodes both recovered: engine", mttr_both_e, "s", baseline=mttr_both_n, detail=f"{len(both)} episodes")
    report.add("MTTR improvement (naive / engine)", ratio, "x", target=">= 2x", met=ratio >= 2)
    actions: dict[str, dict[str, int]] = {}
    for ep in episodes:
        for a, c in eng[ep.id].decisions.items():
            actions.setdefault(ep.kind, {}).setdefault(a, 0)
            actions[ep.kind][a] += c
    report.note("engine decisions by fault: " + "; ".join(f"{k}: {v}" for k, v in actions.items()))
    gave = {}
    for ep in episodes:
        if eng[ep.id].gave_up and ep.recoverable():
            gave[(ep.kind, eng[ep.id].gave_up, ep.error_id)] = gave.get((ep.kind, eng[ep.id].gave_up, ep.error_id), 0) + 1
    if gave:
        report.note("recoverable episodes the engine gave up on: " + "; ".join(f"{k[0]} {k[2]} -> {k[1]}: {v}" for k, v in sorted(gave.items())))
    det_retry = {}
    for ep in episodes:
        if ep.kind == "deterministic" and eng[ep.id].det_retries:
            det_retry[ep.error_id] = det_retry.get(ep.error_id, 0) + eng[ep.id].det_retries
    if det_retry:
        report.note("deterministic errors the engine retried: " + ", ".join(f"{k} x{v}" for k, v in sorted(det_retry.items())))
    report.note(f"released quarantined versions (by a person, counted apart from bad publications): {world.released()}")
    report.add("engine calls", world.calls, "calls", detail=f"{world.engine_seconds:.1f} s inside the engine, simulation wall {wall:.1f} s")
    report.add("mean engine call", world.engine_seconds / max(world.calls, 1) * 1000, "ms")
    report.print(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
