"""Dataset health, and whether a failure's cause is upstream of the failing job.

A dataset is unhealthy when its newest version is quarantined or failed its checks, or
when the last run of a job writing it did not complete (it is stale). The retry policy
waits on an unhealthy input; ``explain`` walks through them to the root cause.

Health is looked up set-based: two statements answer for any number of datasets, and
a ``Health`` remembers the answers for the rest of one connection's work (a decision,
an explanation, or the incidents of one ingested batch), so each dataset and each job
is read once however many causal chains pass through it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.ontology import Failure, VersionStatus
from sutura.store import schema as t

__all__ = [
    "Health", "Problem", "dataset_problem", "dataset_problems", "input_dataset_ids", "last_run", "last_run_id", "name_params",
    "unhealthy_inputs", "upstream_problems",
]


class Problem(NamedTuple):
    """Why a dataset is unhealthy, who wrote it, and since when."""

    state: str  # QUARANTINED | FAILED_CHECKS | STALE
    evidence: str
    producer: int | None  # job id
    since: datetime | None  # the bad version's status time, or the end of the failed run


_CHUNK = 900  # ids per IN list: below SQLite's default limit of bound parameters

_v, _newer = t.dataset_version, t.dataset_version.alias("newer")
_NEWEST_ID = (
    sa.select(_newer.c.id)
    .where(_newer.c.dataset_id == t.dataset.c.id, _newer.c.status != VersionStatus.DISCARDED.value)
    .order_by(_newer.c.created_at.desc(), _newer.c.id.desc())
    .limit(1)
    .scalar_subquery()
)
# Per dataset: its newest version that is not discarded, the job of the run that wrote
# it, and one row per failed check of that version (none: assertion is NULL).
_NEWEST = (
    sa.select(_v.c.dataset_id, _v.c.status, _v.c.status_at, t.run.c.job_id.label("writer"), t.check_result.c.assertion)
    .select_from(
        _v.outerjoin(t.run, t.run.c.run_id == _v.c.run_id).outerjoin(
            t.check_result, sa.and_(t.check_result.c.version_id == _v.c.id, t.check_result.c.success.is_(False))
        )
    )
    .where(_v.c.id.in_(sa.select(_NEWEST_ID).where(t.dataset.c.id.in_(sa.bindparam("ids", expanding=True)))))
    .order_by(_v.c.dataset_id, t.check_result.c.id)
)



def last_run_id(job_id: Any) -> Any:
    """The id of the job's latest run (started last, then newest), as a scalar subquery
    correlated on ``job_id``: the column of the enclosing query that holds the job's id."""
    last = t.run.alias("last")
    return (
        sa.select(last.c.id)
        .where(last.c.job_id == job_id, last.c.state.is_not(None))
        .order_by(last.c.started_at.desc().nulls_last(), last.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


_LAST_RUN_OF_IO = last_run_id(t.job_io.c.job_id)
# Per dataset: the jobs writing it, with the last run of each.
_PRODUCERS = (
    sa.select(t.job_io.c.dataset_id, t.job_io.c.job_id, t.job.c.name, t.run.c.state, t.run.c.started_at, t.run.c.ended_at)
    .select_from(t.job_io.join(t.job, t.job.c.id == t.job_io.c.job_id).outerjoin(t.run, t.run.c.id == _LAST_RUN_OF_IO))
    .where(t.job_io.c.dataset_id.in_(sa.bindparam("ids", expanding=True)), t.job_io.c.direction == "out")
    .order_by(t.job_io.c.dataset_id, t.job_io.c.job_id)
)

_DATASETS_BY_NAME = sa.select(t.dataset.c.id, t.dataset.c.canonical_id, t.dataset.c.namespace, t.dataset.c.name).where(
    t.dataset.c.namespace.in_(sa.bindparam("namespaces", expanding=True)), t.dataset.c.name.in_(sa.bindparam("names", expanding=True))
)
_INPUTS_OF_JOB = (
    sa.select(t.dataset.c.id, t.dataset.c.namespace, t.dataset.c.name)
    .join(t.job_io, t.job_io.c.dataset_id == t.dataset.c.id)
    .join(t.job, t.job.c.id == t.job_io.c.job_id)
    .where(t.job.c.namespace == sa.bindparam("namespace"), t.job.c.name == sa.bindparam("name"), t.job_io.c.direction == "in")
)
_JOB_NAMES = sa.select(t.job.c.id, t.job.c.namespace, t.job.c.name).where(t.job.c.id.in_(sa.bindparam("ids", expanding=True)))
_LAST_RUN = (
    sa.select(t.run)
    .where(t.run.c.job_id == sa.bindparam("job_id"), t.run.c.state.is_not(None))
    .order_by(t.run.c.started_at.desc().nulls_last(), t.run.c.id.desc())
    .limit(1)
)


def _chunks(values: list[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def name_params(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """``namespaces`` and ``names`` IN lists for (namespace, name) pairs.

    Their cross product is searched through the (namespace, name) index, where SQLite
    scans for a row-value IN; the caller keeps only the rows that are one of the pairs.
    """
    pairs = list(pairs)
    return {"namespaces": sorted({ns for ns, _ in pairs}), "names": sorted({name for _, name in pairs})}


def input_dataset_ids(conn: Connection, failure: Failure) -> list[tuple[int, str, str]]:
    """(id, namespace, name) of the inputs: those the plugin named, else the job's known inputs."""
    if failure.inputs:
        found = {}
        for chunk in _chunks(list(dict.fromkeys((d.namespace, d.name) for d in failure.inputs)), 400):
            rows, wanted = conn.execute(_DATASETS_BY_NAME, name_params(chunk)), set(chunk)
            found.update({(r.namespace, r.name): r.canonical_id or r.id for r in rows if (r.namespace, r.name) in wanted})
        return [(found[(d.namespace, d.name)], d.namespace, d.name) for d in failure.inputs if (d.namespace, d.name) in found]
    rows = conn.execute(_INPUTS_OF_JOB, {"namespace": failure.job.namespace, "name": failure.job.name})
    return [(r.id, r.namespace, r.name) for r in rows]


def last_run(conn: Connection, job_id: int) -> Any:
    return conn.execute(_LAST_RUN, {"job_id": job_id}).first()


def dataset_problems(conn: Connection, ds_ids: Iterable[int]) -> dict[int, Problem | None]:
    """``dataset_problem`` of many datasets in two statements."""
    ids = list(dict.fromkeys(ds_ids))
    newest: dict[int, tuple[Any, list[str]]] = {}
    producers: dict[int, list[Any]] = {}
    for chunk in _chunks(ids):
        for r in conn.execute(_NEWEST, {"ids": chunk}):
            entry = newest.setdefault(r.dataset_id, (r, []))
            if r.assertion is not None:
                entry[1].append(r.assertion)
        for r in conn.execute(_PRODUCERS, {"ids": chunk}):
            producers.setdefault(r.dataset_id, []).append(r)
    return {i: _problem(newest.get(i), producers.get(i, ())) for i in ids}


def _problem(newest: tuple[Any, list[str]] | None, producers: Any) -> Problem | None:
    """Bad newest version first (quarantined, or failed checks not released), else a failed writer."""
    if newest is not None:
        version, failed = newest
        quarantined = version.status == VersionStatus.QUARANTINED.value
        if quarantined or (failed and version.status != VersionStatus.RELEASED.value):  # released: accepted despite its checks
            names = ", ".join(failed[:3]) or "its checks"
            state = "QUARANTINED" if quarantined else "FAILED_CHECKS"
            producer = version.writer or (producers[0].job_id if producers else None)
            return Problem(state, f"newest version failed {names}", producer, _utc(version.status_at))
    for p in producers:
        if p.state in ("FAIL", "ABORT"):
            evidence = f"last written by a run that did not complete ({p.name} {p.state})"
            return Problem("STALE", evidence, p.job_id, _utc(p.ended_at or p.started_at))
    return None


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def dataset_problem(conn: Connection, ds_id: int) -> Problem | None:
    """Why a dataset is unhealthy (a ``Problem``), or None when it is healthy."""
    return dataset_problems(conn, [ds_id])[ds_id]


class Health:
    """Dataset problems and job names read once each, for the rest of one connection's work.

    Valid while the graph it read does not change: within one read, or one transaction
    that writes only incidents and decisions.
    """

    def __init__(self, conn: Connection):
        self.conn = conn
        self._problems: dict[int, Problem | None] = {}
        self._jobs: dict[int, tuple[str, str]] = {}
        self.links: dict[int, Any] = {}  # job id -> its row with last run (see rootcause)

    def problems(self, ds_ids: Iterable[int]) -> dict[int, Problem | None]:
        ids = list(ds_ids)
        missing = [i for i in dict.fromkeys(ids) if i not in self._problems]
        if missing:
            self._problems.update(dataset_problems(self.conn, missing))
        return {i: self._problems[i] for i in ids}

    def problem(self, ds_id: int) -> Problem | None:
        return self.problems([ds_id])[ds_id]

    def job_names(self, job_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        ids = list(dict.fromkeys(job_ids))
        missing = [i for i in ids if i not in self._jobs]
        for chunk in _chunks(missing):
            self._jobs.update({r.id: (r.namespace, r.name) for r in self.conn.execute(_JOB_NAMES, {"ids": chunk})})
        return {i: self._jobs[i] for i in ids}


def unhealthy_inputs(conn: Connection, failure: Failure, health: Health) -> list[tuple[int, str, str, Problem, str]]:
    """(id, namespace, name, problem, by) of the failing job's unhealthy inputs, in input order.

    ``by`` names the job that wrote the input ("" when unknown); an input the failing job
    wrote itself is left out: its own output is not an upstream cause.
    """
    inputs = input_dataset_ids(conn, failure)
    found = health.problems(ds_id for ds_id, _, _ in inputs)
    if not any(found.values()):
        return []
    names = health.job_names(p.producer for p in found.values() if p is not None and p.producer is not None)
    own = (failure.job.namespace, failure.job.name)
    out = []
    for ds_id, ns, name in inputs:
        problem = found[ds_id]
        if problem is None or (problem.producer is not None and names[problem.producer] == own):
            continue
        by = "" if problem.producer is None else f"job:{names[problem.producer][0]}:{names[problem.producer][1]}"
        out.append((ds_id, ns, name, problem, by))
    return out


def upstream_problems(conn: Connection, failure: Failure, health: Health | None = None) -> list[str]:
    """Evidence that an input of the failing job is unhealthy (quarantined, failed checks, stale)."""
    from sutura.diagnose.rootcause import dataset_chain

    health = health or Health(conn)
    problems = []
    for ds_id, ns, name, problem, by in unhealthy_inputs(conn, failure, health):
        written = f" (written by {by})" if by else ""
        hint = "; release it with `sutura release`" if problem.state == "QUARANTINED" else ""
        problems.append(f"input dataset:{ns}:{name} is {problem.state.lower().replace('_', ' ')}: {problem.evidence}{written}{hint}")
        chain = dataset_chain(health, ds_id, f"dataset:{ns}:{name}")
        if len(chain) > 1:
            root = chain[-1]
            problems.append(f"root cause: {root['id']} {root.get('state') or ''} {root.get('evidence') or ''}".strip())
    return problems
