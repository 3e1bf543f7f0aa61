"""The built-in quarantine policy: publish a version only if its checks pass.

Life cycle of a DatasetVersion (``VersionStatus``):
pending_audit -> published, or pending_audit -> quarantined -> released | discarded.
Nothing is deleted: a quarantined version stays in the store (and, in the plugins, in
its quarantine table) until a person or a fix releases or discards it. Downstream reads
``last_published`` meanwhile, with its staleness.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.api import Staleness
from sutura.errors import NotFound, SuturaError
from sutura.hookspecs import hookimpl
from sutura.ontology import Action, CheckResult, Dataset, Decision, VersionStatus, version_id
from sutura.plugins import notify
from sutura.store import reader
from sutura.store import schema as t
from sutura.store.db import dumps, insert
from sutura.store.writer import next_seq

__all__ = ["decide_checks", "last_published", "settle"]

POLICY = "sutura.quarantine"
_LIVE = (VersionStatus.PUBLISHED.value, VersionStatus.RELEASED.value)


def decide_checks(
    engine: Any,
    dataset: Any,
    results: Sequence[CheckResult],
    *,
    run_id: str | None,
    fingerprint: str | None,
    row_count: int | None,
) -> Decision:
    from sutura.decisions import record
    from sutura.engine import node_ref, now_utc
    from sutura.ontology import parse_node_id
    from sutura.policies.baseline import anomalies

    ref = node_ref(dataset)
    kind, namespace, name = parse_node_id(ref)
    if kind != "dataset" or name is None:
        raise SuturaError(f"on_checks needs a dataset, got {ref!r}")

    def decide(conn: Connection) -> Decision:
        now = now_utc()
        ds_id = engine.writer.dataset_id(conn, namespace, name, now, primary=True)
        ds = reader.to_dataset(reader.dataset_row(conn, ds_id))
        version = _audited_version(conn, ds_id, run_id, fingerprint, row_count, now)
        _store_results(conn, ds_id, version.id, run_id, results, now)
        context = {
            "version": version_id(ds, version.fingerprint),
            "anomalies": anomalies(conn, ds_id, version, engine.settings),
            "require_checks": engine.settings.get("quarantine.require_checks"),
        }
        decision = engine.hooks.hook.sutura_decide_publish(dataset=ds, results=list(results), context=context)
        if decision.action is Action.PUBLISH:
            _set_status(conn, version.id, VersionStatus.PUBLISHED, now, publish=True)
        elif decision.action is Action.QUARANTINE:
            _set_status(conn, version.id, VersionStatus.QUARANTINED, now, publish=False)
        else:
            raise SuturaError(f"sutura_decide_publish must return publish or quarantine, got {decision.action.value}")
        job_id = None
        if run_id:
            job_id = conn.execute(sa.select(t.run.c.job_id).where(t.run.c.run_id == run_id)).scalar()
        decision = record(conn, decision, now, job_id=job_id, run_id=run_id)
        if decision.action is Action.QUARANTINE:
            from sutura.diagnose.rootcause import open_incident

            root = context["version"]
            if job_id is not None:
                job = conn.execute(sa.select(t.job.c.namespace, t.job.c.name).where(t.job.c.id == job_id)).one()
                root = f"job:{job.namespace}:{job.name}"
            open_incident(conn, root=root, symptoms=[ds.id, context["version"]], summary=decision.reason, now=now)
        return decision

    decision = engine.transaction(decide)
    notify(engine.hooks, "sutura_decision_made", decision=decision, engine=engine)
    return decision


def _audited_version(
    conn: Connection, ds_id: int, run_id: str | None, fingerprint: str | None, row_count: int | None, now: datetime
) -> Any:
    """The version under audit: by content fingerprint, else by run, else the latest pending one."""
    v = t.dataset_version
    row = None
    if fingerprint:
        row = conn.execute(sa.select(v).where(v.c.dataset_id == ds_id, v.c.content_fingerprint == f"c:{fingerprint}").order_by(v.c.id.desc())).first()
        if row is not None and row.status not in (VersionStatus.PENDING_AUDIT.value,) and run_id and row.run_id != run_id:
            row = None  # the same content written again by a new run: a new version to audit
    if row is None and run_id:
        row = conn.execute(sa.select(v).where(v.c.dataset_id == ds_id, v.c.run_id == run_id)).first()
    if row is None and not fingerprint and not run_id:
        row = conn.execute(
            sa.select(v).where(v.c.dataset_id == ds_id, v.c.status == VersionStatus.PENDING_AUDIT.value).order_by(v.c.id.desc())
        ).first()
    if row is not None:
        values: dict[str, Any] = {}
        if fingerprint and row.content_fingerprint != f"c:{fingerprint}":
            values["content_fingerprint"] = f"c:{fingerprint}"
        if row_count is not None:
            values["row_count"] = row_count
        if values:
            conn.execute(v.update().where(v.c.id == row.id).values(**values))
            row = conn.execute(sa.select(v).where(v.c.id == row.id)).one()
        return row
    identity = hashlib.sha256(f"{fingerprint}|{run_id}|{now.isoformat()}".encode()).hexdigest()[:20]
    content = f"c:{fingerprint}" if fingerprint else identity
    conn.execute(
        insert(conn, v).values(
            dataset_id=ds_id,
            fingerprint=identity,
            content_fingerprint=content,
            run_id=run_id,
            status=VersionStatus.PENDING_AUDIT.value,
            created_at=now,
            status_at=now,
            row_count=row_count,
        )
    )
    return conn.execute(sa.select(v).where(v.c.dataset_id == ds_id, v.c.fingerprint == identity)).one()


def _store_results(conn: Connection, ds_id: int, version_id: int, run_id: str | None, results: Sequence[CheckResult], now: datetime) -> None:
    rows = []
    for r in results:
        key = hashlib.sha256(f"{version_id}|{run_id}|{r.assertion}|{r.field}|{r.source}".encode()).hexdigest()
        rows.append(
            {
                "check_key": key,
                "dataset_id": ds_id,
                "field": r.field,
                "assertion": r.assertion,
                "success": bool(r.success),
                "run_id": run_id or r.run_id,
                "version_id": version_id,
                "source": r.source,
                "observed": dumps(r.observed) if r.observed is not None else None,
                "message": r.message,
                "created_at": now,
            }
        )
    if rows:
        conn.execute(insert(conn, t.check_result).on_conflict_do_nothing(index_elements=["check_key"]), rows)


def _set_status(conn: Connection, version_id: int, status: VersionStatus, now: datetime, *, publish: bool) -> None:
    values: dict[str, Any] = {"status": status.value, "status_at": now}
    if publish:
        values["seq"] = next_seq(conn)
    conn.execute(t.dataset_version.update().where(t.dataset_version.c.id == version_id).values(**values))


def settle(engine: Any, version: Any, reason: str, *, by: str | None, release: bool) -> Decision:
    """Release (publish) or discard a quarantined version."""
    from sutura.decisions import record
    from sutura.diagnose.rootcause import resolve_incidents
    from sutura.engine import node_ref, now_utc

    ref = node_ref(version)

    def do(conn: Connection) -> Decision:
        now = now_utc()
        row, ds = _find_quarantined(conn, ref)
        status = VersionStatus.RELEASED if release else VersionStatus.DISCARDED
        _set_status(conn, row.id, status, now, publish=release)
        subject = version_id(ds, row.fingerprint)
        who = f" by {by}" if by else ""
        action = Action.RELEASE if release else Action.DISCARD
        what = "released and published" if release else "discarded (never to be published)"
        decision = Decision(action, subject, f"{what}{who}: {reason}", (f"was quarantined since {row.status_at}",), POLICY)
        conn.execute(
            t.decision.update()
            .where(t.decision.c.subject == subject, t.decision.c.action == Action.QUARANTINE.value, t.decision.c.outcome.is_(None))
            .values(outcome=status.value, outcome_at=now)
        )
        resolve_incidents(conn, symptom=subject, now=now)
        return record(conn, decision, now, run_id=row.run_id)

    decision = engine.transaction(do)
    notify(engine.hooks, "sutura_decision_made", decision=decision, engine=engine)
    return decision


def _find_quarantined(conn: Connection, ref: str) -> tuple[Any, Dataset]:
    """A version by ``version:<ns>:<name>@<fingerprint>``, or a dataset's latest quarantine."""
    v = t.dataset_version
    fingerprint = None
    if ref.startswith("version:"):
        ref, _, fingerprint = ref[len("version:") :].rpartition("@")
        ref = f"dataset:{ref}"
    node = reader.resolve(conn, ref)
    if node.kind != "dataset":
        raise NotFound(f"{ref} is not a dataset or a dataset version")
    q = sa.select(v).where(v.c.dataset_id == node.id)
    q = q.where(v.c.fingerprint == fingerprint) if fingerprint else q.where(v.c.status == VersionStatus.QUARANTINED.value)
    row = conn.execute(q.order_by(v.c.id.desc())).first()
    if row is None:
        raise NotFound(f"no quarantined version of {ref}" + (f" with fingerprint {fingerprint}" if fingerprint else ""))
    if row.status != VersionStatus.QUARANTINED.value:
        raise SuturaError(f"version {fingerprint} of {ref} is {row.status}, not quarantined")
    return row, reader.to_dataset(reader.dataset_row(conn, node.id))


def last_published(conn: Connection, ds_id: int) -> Staleness:
    from sutura.engine import now_utc

    ds = reader.to_dataset(reader.dataset_row(conn, ds_id))
    v = t.dataset_version
    live = conn.execute(sa.select(v).where(v.c.dataset_id == ds_id, v.c.status.in_(_LIVE)).order_by(v.c.seq.desc()).limit(1)).first()
    newer = sa.select(v).where(v.c.dataset_id == ds_id, v.c.status.in_([VersionStatus.QUARANTINED.value, VersionStatus.FAILED_WRITE.value, VersionStatus.PENDING_AUDIT.value]))
    if live is not None:
        newer = newer.where(v.c.created_at >= live.created_at, v.c.id != live.id)
    held = conn.execute(newer.order_by(v.c.created_at)).all()
    quarantined = tuple(reader.to_version(r, ds) for r in held if r.status == VersionStatus.QUARANTINED.value)
    published_at = _aware(live.status_at) if live is not None else None
    stale = None
    if held:
        stale = max(0.0, (now_utc() - _aware(held[0].created_at)).total_seconds())
    elif live is not None:
        stale = 0.0
    return Staleness(ds, reader.to_version(live, ds) if live is not None else None, published_at, stale, quarantined)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@hookimpl(trylast=True)
def sutura_decide_publish(dataset: Dataset, results: Sequence[CheckResult], context: dict[str, Any]) -> Decision:
    failed = [r for r in results if not r.success]
    anomalies = context.get("anomalies") or []
    evidence = tuple(
        [f"check {r.assertion}{f' on {r.field}' if r.field else ''} failed" + (f": {r.message}" if r.message else "") for r in failed]
        + [f"baseline: {a}" for a in anomalies]
    )
    subject = context["version"]
    if failed:
        names = ", ".join(r.assertion for r in failed[:5])
        return Decision(
            Action.QUARANTINE,
            subject,
            f"{len(failed)} of {len(results)} checks failed ({names}); production keeps its last good version. "
            f"Release with: sutura release {subject}",
            evidence,
            POLICY,
        )
    if not results and context.get("require_checks"):
        return Decision(Action.QUARANTINE, subject, "no checks ran and checks are required", evidence, POLICY)
    return Decision(Action.PUBLISH, subject, f"all {len(results)} checks passed", evidence, POLICY)
