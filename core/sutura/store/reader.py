"""Queries over the graph: node lookup, lineage walks, runs, versions.

Lineage is walked with recursive CTEs over ``job_io`` (dataset -> job -> dataset) and
``field_lineage``; depth counts dataset hops (a job sits between two hops), capped by
the caller. Answers use Marquez's graph shape so existing tooling reads them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timezone
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.errors import NotFound
from sutura.ontology import Dataset, DatasetVersion, Job, Run, RunState, VersionStatus, parse_node_id
from sutura.store import schema as t

__all__ = ["Node", "dataset_row", "find", "lineage", "resolve", "run_of", "runs_of", "to_dataset", "to_job", "versions_of"]


@dataclass(frozen=True)
class Node:
    kind: str  # dataset | job | run | field
    id: Any  # row id (dataset, job, field) or runId (run)
    node_id: str


def _utc(value: Any) -> Any:
    if value is not None and getattr(value, "tzinfo", 1) is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def resolve(conn: Connection, ref: str) -> Node:
    """Find the node a node id names; namespaces with colons are tried at every split."""
    kind, first, name = parse_node_id(ref)
    if kind == "run":
        if conn.execute(sa.select(t.run.c.id).where(t.run.c.run_id == first)).first() is None:
            raise NotFound(f"no run {first!r} in the store")
        return Node("run", first, ref)
    rest = ref[len(kind) + 1 :]
    if kind == "field":
        ds_part, _, column = rest.rpartition(":")
        ds_id = find(conn, "dataset", ds_part)
        fid = None
        if ds_id is not None:
            fid = conn.execute(sa.select(t.field.c.id).where(t.field.c.dataset_id == ds_id, t.field.c.name == column)).scalar()
        if fid is None:
            raise NotFound(f"no field {ref!r} in the store")
        return Node("field", fid, ref)
    found = find(conn, kind, rest)
    if found is None:
        raise NotFound(f"no {kind} {ref!r} in the store")
    return Node(kind, found, ref)


def find(conn: Connection, kind: str, rest: str) -> int | None:
    """Try every ``namespace:name`` split of ``rest``, longest namespace first."""
    splits = [(rest[:i], rest[i + 1 :]) for i, ch in enumerate(rest) if ch == ":"]
    for ns, nm in reversed(splits):
        if kind == "dataset":
            found = _dataset_by_name(conn, ns, nm)
        else:
            found = conn.execute(sa.select(t.job.c.id).where(t.job.c.namespace == ns, t.job.c.name == nm)).scalar()
        if found is not None:
            return found
    return None


def _dataset_by_name(conn: Connection, namespace: str, name: str) -> int | None:
    row = conn.execute(
        sa.select(t.dataset.c.id, t.dataset.c.canonical_id).where(t.dataset.c.namespace == namespace, t.dataset.c.name == name)
    ).first()
    return None if row is None else (row.canonical_id or row.id)


def dataset_row(conn: Connection, dataset_id: int) -> Any:
    return conn.execute(sa.select(t.dataset).where(t.dataset.c.id == dataset_id)).one()


def to_dataset(row: Any, with_facets: bool = False) -> Dataset:
    return Dataset(row.namespace, row.name, json.loads(row.facets) if with_facets else {})


def to_job(row: Any, with_facets: bool = False) -> Job:
    return Job(row.namespace, row.name, row.type, row.integration, json.loads(row.facets) if with_facets else {})


# -- lineage ---------------------------------------------------------------------------

def _walk(conn: Connection, seeds: Iterable[int], direction: str, depth: int) -> dict[int, int]:
    """Datasets within ``depth`` hops, and the hop each is first reached at.

    Level by level, skipping datasets already reached: each dataset is expanded once,
    where a recursive CTE would re-expand it at every depth it can be reached at.
    """
    near, far = ("out", "in") if direction == "upstream" else ("in", "out")
    o, i = t.job_io.alias("o"), t.job_io.alias("i")
    step = (
        sa.select(i.c.dataset_id)
        .distinct()
        .select_from(o.join(i, sa.and_(i.c.job_id == o.c.job_id, i.c.direction == far)))
        .where(o.c.direction == near, o.c.dataset_id.in_(sa.bindparam("frontier", expanding=True)))
    )
    reached = {s: 0 for s in seeds}
    frontier = list(reached)
    for level in range(1, depth + 1):
        if not frontier:
            break
        found = []
        for chunk in _chunks(frontier):
            found.extend(r[0] for r in conn.execute(step, {"frontier": list(chunk)}))
        frontier = [d for d in dict.fromkeys(found) if d not in reached]
        reached.update((d, level) for d in frontier)
    return reached


def lineage(conn: Connection, node: Node, direction: str, depth: int) -> dict[str, Any]:
    """Datasets and jobs within ``depth`` dataset hops of ``node``, Marquez-shaped."""
    if direction not in ("upstream", "downstream", "both"):
        raise ValueError("direction must be upstream, downstream or both")
    if node.kind == "run":
        job_id = conn.execute(sa.select(t.run.c.job_id).where(t.run.c.run_id == node.id)).scalar_one()
        node = Node("job", job_id, "")
    datasets: dict[int, int] = {}
    jobs: set[int] = set()
    if node.kind == "dataset":
        seeds_up = seeds_down = [node.id]
        datasets[node.id] = 0
    elif node.kind == "job":
        jobs.add(node.id)
        io = conn.execute(sa.select(t.job_io.c.dataset_id, t.job_io.c.direction).where(t.job_io.c.job_id == node.id)).all()
        seeds_up = [r.dataset_id for r in io if r.direction == "in"]
        seeds_down = [r.dataset_id for r in io if r.direction == "out"]
        depth = max(depth - 1, 0)
    else:
        raise ValueError(f"lineage of a {node.kind} node: use columns=True for fields")
    for way, seeds in (("upstream", seeds_up), ("downstream", seeds_down)):
        if direction in (way, "both"):
            for ds_id, d in _walk(conn, seeds, way, depth).items():
                datasets[ds_id] = min(d, datasets.get(ds_id, d))
            jobs |= _connecting_jobs(conn, datasets, way, depth)
    return _graph(conn, datasets, jobs)


def _connecting_jobs(conn: Connection, datasets: dict[int, int], way: str, depth: int) -> set[int]:
    inner = [d for d, level in datasets.items() if level < depth]
    if not inner:
        return set()
    side = "out" if way == "upstream" else "in"
    found: set[int] = set()
    for chunk in _chunks(inner):
        found |= {
            r.job_id
            for r in conn.execute(
                sa.select(t.job_io.c.job_id).where(t.job_io.c.dataset_id.in_(chunk), t.job_io.c.direction == side)
            )
        }
    return found


def _chunks(values: list[int], size: int = 900) -> Iterable[list[int]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


_DS_BY_ID = sa.select(t.dataset.c.id, t.dataset.c.namespace, t.dataset.c.name).where(
    t.dataset.c.id.in_(sa.bindparam("ids", expanding=True))
)
_JOB_BY_ID = sa.select(t.job.c.id, t.job.c.namespace, t.job.c.name, t.job.c.type, t.job.c.integration).where(
    t.job.c.id.in_(sa.bindparam("ids", expanding=True))
)
_EDGES_OF_JOBS = sa.select(t.job_io.c.job_id, t.job_io.c.dataset_id, t.job_io.c.direction).where(
    t.job_io.c.job_id.in_(sa.bindparam("ids", expanding=True))
)


def _graph(conn: Connection, datasets: dict[int, int], jobs: set[int]) -> dict[str, Any]:
    """The Marquez-shaped answer; each node id is built once, edges are kept inside the set."""
    nodes: dict[str, dict[str, Any]] = {}
    ds_node: dict[int, str] = {}
    for chunk in _chunks(list(datasets)):
        for ds_id, ns, name in conn.execute(_DS_BY_ID, {"ids": chunk}):
            nid = ds_node[ds_id] = f"dataset:{ns}:{name}"
            nodes[nid] = {"id": nid, "type": "DATASET", "data": {"namespace": ns, "name": name}, "inEdges": [], "outEdges": []}
    job_node: dict[int, str] = {}
    edges: list[Any] = []
    job_data = []
    for chunk in _chunks(list(jobs)):
        job_data.extend(conn.execute(_JOB_BY_ID, {"ids": chunk}))
        edges.extend(conn.execute(_EDGES_OF_JOBS, {"ids": chunk}))
    states = _latest_states(conn, [r[0] for r in job_data])
    for job_id, ns, name, kind, integration in job_data:
        nid = job_node[job_id] = f"job:{ns}:{name}"
        data = {"namespace": ns, "name": name, "type": kind, "integration": integration, "latestRunState": states.get(job_id)}
        nodes[nid] = {"id": nid, "type": "JOB", "data": data, "inEdges": [], "outEdges": []}
    for job_id, ds_id, direction in edges:
        ds, jb = ds_node.get(ds_id), job_node.get(job_id)
        if ds is None or jb is None:
            continue
        origin, dest = (ds, jb) if direction == "in" else (jb, ds)
        link = {"origin": origin, "destination": dest}
        nodes[origin]["outEdges"].append(link)
        nodes[dest]["inEdges"].append(link)
    for n in nodes.values():
        n["inEdges"].sort(key=lambda x: x["origin"])
        n["outEdges"].sort(key=lambda x: x["destination"])
    return {"graph": sorted(nodes.values(), key=lambda n: n["id"])}


def _latest_states(conn: Connection, job_ids: list[int]) -> dict[int, str]:
    """The state of each job's newest run."""
    states: dict[int, str] = {}
    for chunk in _chunks(job_ids):
        latest = (
            sa.select(t.run.c.job_id, sa.func.max(t.run.c.started_at).label("started"))
            .where(t.run.c.job_id.in_(chunk))
            .group_by(t.run.c.job_id)
            .subquery()
        )
        rows = conn.execute(
            sa.select(t.run.c.job_id, t.run.c.state).join(
                latest, sa.and_(t.run.c.job_id == latest.c.job_id, t.run.c.started_at == latest.c.started)
            )
        )
        states.update((job_id, state) for job_id, state in rows)
    return states


_FIELD_WALK = """
WITH RECURSIVE walk(field_id, depth) AS (
    SELECT id, 0 FROM field WHERE id IN ({seeds})
    UNION
    SELECT fl.{far}, walk.depth + 1 FROM walk JOIN field_lineage fl ON fl.{near} = walk.field_id
    WHERE walk.depth < :depth
)
SELECT field_id, MIN(depth) AS depth FROM walk GROUP BY field_id
"""


def column_lineage(conn: Connection, node: Node, direction: str, depth: int) -> dict[str, Any]:
    """Field-level lineage of a dataset (all its fields) or of one field."""
    if node.kind == "dataset":
        seeds = [r.id for r in conn.execute(sa.select(t.field.c.id).where(t.field.c.dataset_id == node.id))]
    elif node.kind == "field":
        seeds = [node.id]
    else:
        raise ValueError("column lineage starts at a dataset or a field")
    fields: set[int] = set(seeds)
    ways = [("upstream", "field_id", "source_field_id"), ("downstream", "source_field_id", "field_id")]
    for way, near, far in ways:
        if direction in (way, "both") and seeds:
            sql = _FIELD_WALK.format(seeds=",".join(map(str, seeds)), near=near, far=far)
            fields |= {r.field_id for r in conn.execute(sa.text(sql), {"depth": depth})}
    rows = {}
    for chunk in _chunks(list(fields)):
        q = (
            sa.select(t.field.c.id, t.field.c.name, t.field.c.type, t.dataset.c.namespace, t.dataset.c.name.label("dataset"))
            .join(t.dataset, t.dataset.c.id == t.field.c.dataset_id)
            .where(t.field.c.id.in_(chunk))
        )
        rows.update({r.id: r for r in conn.execute(q)})
    edges = []
    for chunk in _chunks(list(fields)):
        edges.extend(conn.execute(sa.select(t.field_lineage).where(t.field_lineage.c.field_id.in_(chunk))))

    def fid(r: Any) -> str:
        return f"field:{r.namespace}:{r.dataset}:{r.name}"

    nodes = {
        fid(r): {
            "id": fid(r),
            "type": "FIELD",
            "data": {"namespace": r.namespace, "dataset": r.dataset, "field": r.name, "type": r.type},
            "inEdges": [],
            "outEdges": [],
        }
        for r in rows.values()
    }
    for e in edges:
        src, dst = rows.get(e.source_field_id), rows.get(e.field_id)
        if src is None or dst is None:
            continue
        link = {"origin": fid(src), "destination": fid(dst), "transformations": json.loads(e.transformations)}
        nodes[fid(src)]["outEdges"].append(link)
        nodes[fid(dst)]["inEdges"].append(link)
    return {"graph": sorted(nodes.values(), key=lambda n: n["id"])}


# -- runs and versions -------------------------------------------------------------------


def _run(row: Any, job: Job) -> Run:
    return Run(
        run_id=row.run_id,
        job=job,
        state=RunState(row.state) if row.state else RunState.OTHER,
        attempt=row.attempt,
        parent_run_id=row.parent_run_id,
        started_at=_utc(row.started_at),
        ended_at=_utc(row.ended_at),
        nominal_start=_utc(row.nominal_start),
        error_message=row.error_message,
        facets=json.loads(row.facets),
    )


def run_of(conn: Connection, run_id: str) -> Run:
    row = conn.execute(sa.select(t.run).where(t.run.c.run_id == run_id)).first()
    if row is None:
        raise NotFound(f"no run {run_id!r} in the store")
    job = conn.execute(sa.select(t.job).where(t.job.c.id == row.job_id)).one()
    return _run(row, to_job(job))


def runs_of(conn: Connection, job_id: int, limit: int) -> list[Run]:
    job = to_job(conn.execute(sa.select(t.job).where(t.job.c.id == job_id)).one())
    rows = conn.execute(
        sa.select(t.run)
        .where(t.run.c.job_id == job_id)
        .order_by(t.run.c.started_at.desc().nulls_last(), t.run.c.id.desc())
        .limit(limit)
    )
    return [_run(r, job) for r in rows]


def to_version(row: Any, dataset: Dataset) -> DatasetVersion:
    return DatasetVersion(
        dataset=dataset,
        fingerprint=row.fingerprint,
        content_fingerprint=row.content_fingerprint,
        status=VersionStatus(row.status),
        run_id=row.run_id,
        created_at=_utc(row.created_at),
        row_count=row.row_count,
        schema_hash=row.schema_hash,
    )


def versions_of(conn: Connection, dataset_id: int, limit: int, status: Iterable[str] | None = None) -> list[DatasetVersion]:
    ds = to_dataset(dataset_row(conn, dataset_id))
    q = sa.select(t.dataset_version).where(t.dataset_version.c.dataset_id == dataset_id)
    if status is not None:
        q = q.where(t.dataset_version.c.status.in_(list(status)))
    q = q.order_by(t.dataset_version.c.created_at.desc(), t.dataset_version.c.id.desc()).limit(limit)
    return [to_version(r, ds) for r in conn.execute(q)]
