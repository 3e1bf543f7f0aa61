"""Dataset lineage answers against a plain walk of the store's tables, on SQLite and PostgreSQL.

The engine walks level by level in batches and, on SQLite, passes ids in as JSON and reads
rows back as JSON arrays. Every answer over a small random graph (cycles, a job that reads
what it writes, node ids that two rows spell alike, jobs with several runs) is checked
against a walk done one row at a time in Python: the nodes, their data and every edge, in
order.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from sutura import Engine
from sutura.store import reader
from sutura.store import schema as t
from tests.core.builders import dataset, run_event, run_lifecycle

# Two pairs of rows whose node ids are spelled alike: "dataset:wh:a:t1" and "job:etl:x:j".
DATASETS = [("wh", f"t{i}") for i in range(12)] + [("wh:a", "t1"), ("wh", "a:t1"), ("s3://raw", "events")]
JOBS = [("etl", f"j{i}") for i in range(13)] + [("etl:x", "j"), ("etl", "x:j")]


def _events(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for i, job in enumerate(JOBS):  # job i writes dataset i, and maybe one more
        inputs = [dataset(*d) for d in rng.sample(DATASETS, rng.randint(0, 3))]
        outputs = [dataset(*d) for d in {DATASETS[i], rng.choice(DATASETS)}]  # may overlap the inputs
        for _ in range(rng.randint(1, 3)):
            at = rng.uniform(0, 100)
            events += run_lifecycle(job, inputs=inputs, outputs=outputs, state=rng.choice(["COMPLETE", "FAIL"]), at=at)
    events.append(run_event("START", ("etl", "j0"), at=200))  # its latest run is still running
    return events


@dataclass
class Tables:
    io: list[tuple[int, int, str]]  # (job_id, dataset_id, direction)
    datasets: dict[int, tuple[str, str]]
    jobs: dict[int, dict[str, Any]]

    @classmethod
    def read(cls, engine: Engine) -> Tables:
        with engine.db.connect() as conn:
            io = [tuple(r) for r in conn.execute(sa.select(t.job_io.c.job_id, t.job_io.c.dataset_id, t.job_io.c.direction))]
            datasets = {r.id: (r.namespace, r.name) for r in conn.execute(sa.select(t.dataset))}
            latest: dict[int, tuple[Any, int, str]] = {}
            for r in conn.execute(sa.select(t.run.c.id, t.run.c.job_id, t.run.c.state, t.run.c.started_at)):
                if r.started_at is not None and (r.job_id not in latest or (r.started_at, r.id) > latest[r.job_id][:2]):
                    latest[r.job_id] = (r.started_at, r.id, r.state)
            jobs = {
                r.id: {"namespace": r.namespace, "name": r.name, "type": r.type, "integration": r.integration,
                       "latestRunState": latest[r.id][2] if r.id in latest else None}
                for r in conn.execute(sa.select(t.job))
            }
        return cls(io, datasets, jobs)

    def expected(self, kind: str, row_id: int, direction: str, depth: int) -> dict[str, Any]:
        """The answer, walked one row at a time."""
        ends = defaultdict(set)  # (row kind, row id, direction) -> the other ends
        for job_id, ds_id, way in self.io:
            ends["job", job_id, way].add(ds_id)
            ends["dataset", ds_id, way].add(job_id)
        levels: dict[int, int] = {}
        jobs: set[int] = set()
        if kind == "dataset":
            levels[row_id] = 0
            seeds = {"upstream": {row_id}, "downstream": {row_id}}
        else:
            jobs.add(row_id)
            seeds = {"upstream": ends["job", row_id, "in"], "downstream": ends["job", row_id, "out"]}
            depth = max(depth - 1, 0)
        for way, (near, far) in (("upstream", ("out", "in")), ("downstream", ("in", "out"))):
            if direction not in (way, "both"):
                continue
            found = dict.fromkeys(seeds[way], 0)
            walked: set[int] = set()
            frontier = set(found)
            for level in range(1, depth + 1):
                new_jobs = {j for d in frontier for j in ends["dataset", d, near]} - walked
                walked |= new_jobs
                frontier = {d for j in new_jobs for d in ends["job", j, far]} - found.keys()
                found.update(dict.fromkeys(frontier, level))
            for ds_id, level in found.items():
                levels[ds_id] = min(level, levels.get(ds_id, level))
            jobs |= walked
        if direction == "both":  # the readers of every dataset nearer than depth
            jobs |= {j for d, level in levels.items() if level < depth for j in ends["dataset", d, "in"]}
        nodes: dict[str, dict[str, Any]] = {}
        for ds_id in sorted(levels):  # a clashing node id shows the largest row id's data
            ns, name = self.datasets[ds_id]
            nodes[f"dataset:{ns}:{name}"] = {"namespace": ns, "name": name}
        for job_id in sorted(jobs):
            nodes[f"job:{self.jobs[job_id]['namespace']}:{self.jobs[job_id]['name']}"] = self.jobs[job_id]
        answer = {nid: {"id": nid, "type": nid.split(":")[0].upper(), "data": data, "inEdges": [], "outEdges": []} for nid, data in nodes.items()}
        for job_id, ds_id, way in self.io:
            if job_id in jobs and ds_id in levels:
                job = "job:{namespace}:{name}".format(**self.jobs[job_id])
                ds = "dataset:{}:{}".format(*self.datasets[ds_id])
                origin, destination = (ds, job) if way == "in" else (job, ds)
                link = {"origin": origin, "destination": destination}
                answer[origin]["outEdges"].append(link)
                answer[destination]["inEdges"].append(link)
        for n in answer.values():
            n["inEdges"].sort(key=lambda e: e["origin"])
            n["outEdges"].sort(key=lambda e: e["destination"])
        return {"graph": [answer[nid] for nid in sorted(answer)]}


def test_every_answer_matches_a_plain_walk_of_the_tables(engine: Engine, monkeypatch) -> None:
    engine.ingest(_events(seed=5))
    tables = Tables.read(engine)
    assert len(tables.datasets) == len(DATASETS) and len(tables.jobs) == len(JOBS)
    starts = [("dataset", i) for i in tables.datasets] + [("job", i) for i in tables.jobs]
    forms = ["json", "literal"] if engine.db.dialect.name == "sqlite" else ["literal"]
    for form in forms:  # SQLite without its JSON functions falls back to the literal form
        monkeypatch.setattr(reader, "_sqlite_has_json", lambda conn: form == "json")
        edges = 0
        for kind, row_id in starts:
            for direction in ("upstream", "downstream", "both"):
                for depth in (0, 1, 2, 4):
                    got = engine.read(lambda conn: reader.lineage(conn, reader.Node(kind, row_id, ""), direction, depth))
                    assert got == tables.expected(kind, row_id, direction, depth), (form, kind, row_id, direction, depth)
                    edges += sum(len(n["inEdges"]) for n in got["graph"])
        assert edges > 1000  # the graph is not trivially small


def test_lineage_reads_json_on_sqlite(sqlite_url: str) -> None:
    """The SQLite this runs on has the JSON functions, so the fast form is the one tested above."""
    engine = Engine(db_url=sqlite_url)
    with engine.db.connect() as conn:
        reads = reader._reads(conn)
        assert type(reads) is reader._JsonReads
        reads.close()
    engine.close()
