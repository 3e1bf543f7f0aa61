"""Queries over the graph: node lookup, lineage walks, runs, versions.

Dataset lineage is walked level by level over ``job_io`` (dataset -> job -> dataset),
field lineage with a recursive CTE over ``field_lineage``; depth counts dataset hops (a
job sits between two hops), capped by the caller. Answers use Marquez's graph shape so
existing tooling reads them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timezone
from operator import itemgetter
from typing import Any, Iterable

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.errors import NotFound
from sutura.ontology import Dataset, DatasetVersion, Job, Run, RunState, VersionStatus, parse_node_id
from sutura.store import schema as t

__all__ = ["Node", "dataset_by_name", "dataset_row", "find", "lineage", "resolve", "run_of", "runs_of", "to_dataset", "to_job", "versions_of"]


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
            found = dataset_by_name(conn, ns, nm)
        else:
            found = conn.execute(sa.select(t.job.c.id).where(t.job.c.namespace == ns, t.job.c.name == nm)).scalar()
        if found is not None:
            return found
    return None


_DATASET_BY_NAME = sa.select(t.dataset.c.id, t.dataset.c.canonical_id).where(
    t.dataset.c.namespace == sa.bindparam("namespace"), t.dataset.c.name == sa.bindparam("name")
)


def dataset_by_name(conn: Connection, namespace: str, name: str) -> int | None:
    """The canonical id of the dataset named exactly so (an alias resolves to its canonical)."""
    row = conn.execute(_DATASET_BY_NAME, {"namespace": namespace, "name": name}).first()
    return None if row is None else (row.canonical_id or row.id)


def dataset_row(conn: Connection, dataset_id: int) -> Any:
    return conn.execute(sa.select(t.dataset).where(t.dataset.c.id == dataset_id)).one()


def to_dataset(row: Any, with_facets: bool = False) -> Dataset:
    return Dataset(row.namespace, row.name, json.loads(row.facets) if with_facets else {})


def to_job(row: Any, with_facets: bool = False) -> Job:
    return Job(row.namespace, row.name, row.type, row.integration, json.loads(row.facets) if with_facets else {})


# -- lineage ---------------------------------------------------------------------------

# The hot path reads through the driver's cursor with fixed SQL, in one of two forms.
# SQLite (with its JSON functions, built in since 3.38): the ids go in as one JSON array
# parameter, so each statement is prepared once, and the matching rows come back as JSON
# arrays in a single row, decoded by orjson. A 5,000-node answer then crosses the driver a
# few dozen times instead of ~20,000: each fetched row costs a step that locks the
# database and releases the GIL, then a tuple of new objects. Several aggregates in one
# statement step over the same rows in the same order, so their arrays line up item by
# item. Elsewhere (PostgreSQL): ids are inlined as integer literals (nothing to bind, no
# variable limit) and rows come back as tuples.
_LATEST_STATE = (
    "(SELECT r.state FROM run r WHERE r.job_id = j.id AND r.started_at IS NOT NULL"
    " ORDER BY r.started_at DESC, r.id DESC LIMIT 1)"
)
_ID_CHUNK = 5000
_BY_ORIGIN, _BY_DESTINATION = itemgetter("origin"), itemgetter("destination")
_Edge = tuple[int, int]  # (job_id, dataset_id) of a job_io row


class _Reads:
    """Lineage reads with ids inlined as literals, rows as the cursor's plain tuples: the portable form.

    Plain tuples, not Rows: an answer reads thousands, and Rows cost time to build.
    """

    _IO = {
        (side, way): f"SELECT job_id, dataset_id FROM job_io WHERE direction = '{way}' AND {side}_id IN ({{ids}})"
        for side in ("dataset", "job")
        for way in ("in", "out")
    }
    _DATASETS = "SELECT id, namespace, name FROM dataset WHERE id IN ({ids})"
    _JOBS = f"SELECT j.id, j.namespace, j.name, j.type, j.integration, {_LATEST_STATE} FROM job j WHERE j.id IN ({{ids}})"

    def __init__(self, conn: Connection):
        self.cursor = conn.connection.cursor()

    def close(self) -> None:
        self.cursor.close()

    def edges(self, side: str, way: str, ids: Iterable[int]) -> list[_Edge]:
        """The job_io rows of direction ``way`` whose ``side`` (dataset or job) is one of ``ids``."""
        return self._rows(self._IO[side, way], ids)

    def datasets(self, ids: Iterable[int]) -> Iterable[tuple[int, str, str]]:
        return self._rows(self._DATASETS, ids)

    def jobs(self, ids: Iterable[int]) -> Iterable[tuple[int, str, str, str | None, str | None, str | None]]:
        """Jobs with the state of their latest started run."""
        return self._rows(self._JOBS, ids)

    def _rows(self, sql: str, ids: Iterable[int]) -> list[Any]:
        ids = list(ids)
        rows: list[Any] = []
        for i in range(0, len(ids), _ID_CHUNK):
            self.cursor.execute(sql.format(ids=",".join(map(str, map(int, ids[i : i + _ID_CHUNK])))))
            rows.extend(self.cursor.fetchall())
        return rows


_JSON_IDS = "json_each(?) ids CROSS JOIN"  # CROSS JOIN: the ids drive the loop, one index search each


class _JsonReads(_Reads):
    """SQLite: ids in as one JSON parameter, rows out as JSON arrays (see above)."""

    _IO = {
        (side, way): f"SELECT json_group_array(io.job_id), json_group_array(io.dataset_id) FROM {_JSON_IDS} job_io io "
        f"ON io.{side}_id = ids.value AND io.direction = '{way}'"
        for side in ("dataset", "job")
        for way in ("in", "out")
    }
    _DATASETS = (
        "SELECT json_group_array(d.id), json_group_array(d.namespace), json_group_array(d.name) "
        f"FROM {_JSON_IDS} dataset d ON d.id = ids.value"
    )
    _JOBS = (
        "SELECT json_group_array(j.id), json_group_array(j.namespace), json_group_array(j.name), json_group_array(j.type), "
        f"json_group_array(j.integration), json_group_array({_LATEST_STATE}) FROM {_JSON_IDS} job j ON j.id = ids.value"
    )

    def edges(self, side: str, way: str, ids: Iterable[int]) -> list[_Edge]:
        return list(zip(*self._columns(self._IO[side, way], ids)))

    def datasets(self, ids: Iterable[int]) -> Iterable[tuple[int, str, str]]:
        return zip(*self._columns(self._DATASETS, ids))

    def jobs(self, ids: Iterable[int]) -> Iterable[tuple[int, str, str, str | None, str | None, str | None]]:
        return zip(*self._columns(self._JOBS, ids))

    def _columns(self, sql: str, ids: Iterable[int]) -> list[list[Any]]:
        param = orjson.dumps(list(ids)).decode()
        if param == "[]":
            return []
        self.cursor.execute(sql, (param,))
        return [orjson.loads(column) for column in self.cursor.fetchone()]


_HAS_JSON: dict[Any, bool] = {}  # per SQLite driver module


def _sqlite_has_json(conn: Connection) -> bool:
    """Whether the SQLite behind ``conn`` has the JSON functions (always since 3.38, a build option before)."""
    driver = conn.dialect.dbapi
    if driver not in _HAS_JSON:
        cursor = conn.connection.cursor()
        try:
            cursor.execute("SELECT json_group_array(value) FROM json_each('[1]')")
            cursor.fetchall()
            _HAS_JSON[driver] = True
        except driver.OperationalError:  # no such function
            _HAS_JSON[driver] = False
        finally:
            cursor.close()
    return _HAS_JSON[driver]


def _reads(conn: Connection) -> _Reads:
    return _JsonReads(conn) if conn.dialect.name == "sqlite" and _sqlite_has_json(conn) else _Reads(conn)


@dataclass
class _Reach:
    datasets: dict[int, int]  # dataset id -> the hop it is first reached at
    jobs: set[int]
    edges: dict[str, list[_Edge]]  # direction (in: Dataset -> Job, out: Job -> Dataset) -> (job_id, dataset_id)


def _walk(reads: _Reads, seeds: Iterable[int], direction: str, depth: int) -> _Reach:
    """Datasets within ``depth`` hops, the jobs that connect them, and every edge among them.

    Level by level, skipping what was already reached: each dataset and each job is
    expanded once, where a recursive CTE would re-expand a node at every depth it can be
    reached at. The rows that find the next level are the answer's edges: the jobs
    touching a frontier dataset (near side), then the far side of the new jobs; the
    last level is not expanded, only linked to the jobs already reached.
    """
    near, far = ("out", "in") if direction == "upstream" else ("in", "out")
    reach = _Reach(dict.fromkeys(seeds, 0), set(), {"in": [], "out": []})
    frontier = list(reach.datasets)
    for level in range(1, depth + 1):
        if not frontier:
            break
        touching = reads.edges("dataset", near, frontier)
        reach.edges[near].extend(touching)
        new_jobs = {job_id for job_id, _ in touching}.difference(reach.jobs)
        reach.jobs |= new_jobs
        beyond = reads.edges("job", far, new_jobs) if new_jobs else []
        reach.edges[far].extend(beyond)
        frontier = [ds_id for ds_id in dict.fromkeys(ds_id for _, ds_id in beyond) if ds_id not in reach.datasets]
        reach.datasets.update(dict.fromkeys(frontier, level))
    if frontier and reach.jobs:
        last = reads.edges("dataset", near, frontier)
        reach.edges[near].extend(edge for edge in last if edge[0] in reach.jobs)
    return reach


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
    reads = _reads(conn)
    try:
        if direction == "both":
            return _both_ways(reads, datasets, jobs, seeds_up, seeds_down, depth)
        reach = _walk(reads, seeds_up if direction == "upstream" else seeds_down, direction, depth)
        _merge_levels(datasets, reach.datasets)
        for way in ("in", "out"):  # the start job's edges, unless the walk came back to it
            reach.edges[way].extend(reads.edges("job", way, jobs - reach.jobs))
        return _graph(reads, datasets, jobs | reach.jobs, reach.edges)
    finally:
        reads.close()


def _both_ways(
    reads: _Reads, datasets: dict[int, int], jobs: set[int], seeds_up: list[int], seeds_down: list[int], depth: int
) -> dict[str, Any]:
    """Upstream and downstream at once; a job may link datasets found by different walks."""
    for way, seeds in (("upstream", seeds_up), ("downstream", seeds_down)):
        reach = _walk(reads, seeds, way, depth)
        _merge_levels(datasets, reach.datasets)
        jobs |= reach.jobs
    jobs |= _connecting_jobs(reads, datasets, "downstream", depth)  # readers of upstream datasets too
    edges = {way: reads.edges("job", way, jobs) for way in ("in", "out")}
    return _graph(reads, datasets, jobs, edges)


def _merge_levels(datasets: dict[int, int], reached: dict[int, int]) -> None:
    """Keep the nearer hop of a dataset reached both ways."""
    for ds_id, level in reached.items():
        if level < datasets.get(ds_id, level + 1):
            datasets[ds_id] = level


def _connecting_jobs(reads: _Reads, datasets: dict[int, int], way: str, depth: int) -> set[int]:
    """Jobs writing (upstream) or reading (downstream) a dataset nearer than ``depth``."""
    inner = [d for d, level in datasets.items() if level < depth]
    side = "out" if way == "upstream" else "in"
    return {job_id for job_id, _ in reads.edges("dataset", side, inner)}


def _graph(reads: _Reads, datasets: dict[int, int], jobs: set[int], edges: dict[str, list[_Edge]]) -> dict[str, Any]:
    """The Marquez-shaped answer: nodes sorted by id, edges kept inside the node set."""
    ds_nodes = {
        ds_id: {"id": f"dataset:{ns}:{name}", "type": "DATASET", "data": {"namespace": ns, "name": name}, "inEdges": [], "outEdges": []}
        for ds_id, ns, name in reads.datasets(datasets)
    }
    job_nodes = {
        job_id: {
            "id": f"job:{ns}:{name}",
            "type": "JOB",
            "data": {"namespace": ns, "name": name, "type": kind, "integration": integration, "latestRunState": state},
            "inEdges": [],
            "outEdges": [],
        }
        for job_id, ns, name, kind, integration, state in reads.jobs(jobs)
    }
    by_id = {n["id"]: n for n in (*ds_nodes.values(), *job_nodes.values())}
    if len(by_id) < len(ds_nodes) + len(job_nodes):
        _share_ids(by_id, ds_nodes, job_nodes)
    ds_node, job_node = ds_nodes.get, job_nodes.get
    for job_id, ds_id in edges["in"]:  # Dataset -> Job
        ds, job = ds_node(ds_id), job_node(job_id)
        if ds is not None and job is not None:
            link = {"origin": ds["id"], "destination": job["id"]}
            ds["outEdges"].append(link)
            job["inEdges"].append(link)
    for job_id, ds_id in edges["out"]:  # Job -> Dataset
        ds, job = ds_node(ds_id), job_node(job_id)
        if ds is not None and job is not None:
            link = {"origin": job["id"], "destination": ds["id"]}
            job["outEdges"].append(link)
            ds["inEdges"].append(link)
    for n in by_id.values():
        if len(n["inEdges"]) > 1:
            n["inEdges"].sort(key=_BY_ORIGIN)
        if len(n["outEdges"]) > 1:
            n["outEdges"].sort(key=_BY_DESTINATION)
    return {"graph": [by_id[nid] for nid in sorted(by_id)]}


def _share_ids(by_id: dict[str, dict[str, Any]], *by_row: dict[int, dict[str, Any]]) -> None:
    """Rows that make the same node id (a colon in a namespace or a name) share one node: the largest row id's."""
    for nodes in by_row:
        for key in sorted(nodes):
            by_id[nodes[key]["id"]] = nodes[key]
        for key, node in nodes.items():
            nodes[key] = by_id[node["id"]]


def _chunks(values: list[int], size: int = 900) -> Iterable[list[int]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


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
