"""The built-in quarantine policy: publish a version only if its checks pass.

Life cycle of a DatasetVersion (``VersionStatus``):
pending_audit -> published, or pending_audit -> quarantined -> released | discarded.
Nothing is deleted: a quarantined version stays in the store (and, in the plugins, in
its quarantine table) until a person or a fix releases or discards it. Downstream reads
``last_published`` meanwhile, with its staleness.

Two-phase publish (``on_checks(..., defer_publish=True)``), for a plugin that writes
production after asking: a PUBLISH is recorded with outcome ``pending_publish`` and the
version stays pending_audit (not live, no publication seq, no change) until the plugin
reports ``record_outcome(decision.id, "published")`` once production holds the data
(then it is published exactly as a one-phase PUBLISH is) or ``"failed_write"`` when the
write failed (the version becomes failed_write). Quarantines are never deferred.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.api import Staleness
from sutura.errors import NotFound, PolicyError, SuturaError
from sutura.hookspecs import hookimpl
from sutura.ontology import Action, CheckResult, Dataset, Decision, VersionStatus, version_id
from sutura.plugins import notify
from sutura.store import reader
from sutura.store import schema as t
from sutura.store.db import dumps, insert_new
from sutura.store.writer import next_seq

__all__ = ["PENDING_PUBLISH", "PUBLISH_OUTCOMES", "decide_checks", "last_published", "settle", "settle_publish"]

POLICY = "sutura.quarantine"
PENDING_PUBLISH = "pending_publish"  # outcome of a deferred PUBLISH until the plugin reports the write
PUBLISH_OUTCOMES = (VersionStatus.PUBLISHED.value, VersionStatus.FAILED_WRITE.value)  # what it may report
_LIVE = (VersionStatus.PUBLISHED.value, VersionStatus.RELEASED.value)
_HELD = (VersionStatus.QUARANTINED.value, VersionStatus.FAILED_WRITE.value, VersionStatus.PENDING_AUDIT.value)

# Statements of every on_checks / last_published call, built once (building a statement
# costs several times what SQLite takes to run it); values are bound per call.
_V = t.dataset_version
_D = t.dataset
_DATASET = sa.select(_D.c.id, _D.c.namespace, _D.c.name, _D.c.canonical_id, _D.c.is_primary).where(
    _D.c.namespace == sa.bindparam("b_namespace"), _D.c.name == sa.bindparam("b_name")
)
_DATASET_BY_ID = sa.select(_D.c.namespace, _D.c.name).where(_D.c.id == sa.bindparam("b_id"))
_BY_CONTENT = (
    sa.select(_V)
    .where(_V.c.dataset_id == sa.bindparam("b_dataset"), _V.c.content_fingerprint == sa.bindparam("b_content"))
    .order_by(_V.c.id.desc())
    .limit(1)
)
_BY_RUN = sa.select(_V).where(_V.c.dataset_id == sa.bindparam("b_dataset"), _V.c.run_id == sa.bindparam("b_run")).limit(1)
_LATEST_PENDING = (
    sa.select(_V)
    .where(_V.c.dataset_id == sa.bindparam("b_dataset"), _V.c.status == VersionStatus.PENDING_AUDIT.value)
    .order_by(_V.c.id.desc())
    .limit(1)
)
_BY_FINGERPRINT = sa.select(_V).where(_V.c.dataset_id == sa.bindparam("b_dataset"), _V.c.fingerprint == sa.bindparam("b_fingerprint"))
_INSERT_VERSION = _V.insert()
_UPDATE_VERSION = _V.update().where(_V.c.id == sa.bindparam("b_id"))  # SET what the call's values name
_JOB_OF_RUN = sa.select(t.run.c.job_id).where(t.run.c.run_id == sa.bindparam("b_run"))
_LIVE_VERSION = (
    sa.select(_V).where(_V.c.dataset_id == sa.bindparam("b_dataset"), _V.c.status.in_(_LIVE)).order_by(_V.c.seq.desc()).limit(1)
)
_HELD_VERSIONS = sa.select(_V).where(_V.c.dataset_id == sa.bindparam("b_dataset"), _V.c.status.in_(_HELD)).order_by(_V.c.created_at)
_HELD_SINCE = (
    sa.select(_V)
    .where(
        _V.c.dataset_id == sa.bindparam("b_dataset"),
        _V.c.status.in_(_HELD),
        _V.c.created_at >= sa.bindparam("b_since", type_=_V.c.created_at.type),
        _V.c.id != sa.bindparam("b_live"),
    )
    .order_by(_V.c.created_at)
)


def decide_checks(
    engine: Any,
    dataset: Any,
    results: Sequence[CheckResult],
    *,
    run_id: str | None,
    fingerprint: str | None,
    row_count: int | None,
    defer_publish: bool = False,
) -> Decision:
    """Record the checks of a new version and decide publish or quarantine (see the module doc)."""
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
        ds_id, ds = _audited_dataset(conn, engine, namespace, name, now)
        version = _audited_version(conn, ds_id, run_id, fingerprint, row_count, now)
        _store_results(conn, ds_id, version.id, run_id, results, now)
        context = {
            "version": version_id(ds, version.fingerprint),
            "anomalies": anomalies(conn, ds_id, version, engine.settings),
            "require_checks": engine.settings.get("quarantine.require_checks"),
        }
        decision = engine.hooks.hook.sutura_decide_publish(dataset=ds, results=list(results), context=context)
        if decision.action is Action.PUBLISH and defer_publish:
            if decision.subject != context["version"]:
                raise PolicyError(f"a deferred publish must be about the version under audit {context['version']}, got {decision.subject}")
            _await_write(conn, version, now)
            decision = replace(decision, outcome=PENDING_PUBLISH)
        elif decision.action is Action.PUBLISH:
            _set_status(conn, version.id, VersionStatus.PUBLISHED, now, publish=True)
        elif decision.action is Action.QUARANTINE:
            _set_status(conn, version.id, VersionStatus.QUARANTINED, now, publish=False)
        else:
            raise SuturaError(f"sutura_decide_publish must return publish or quarantine, got {decision.action.value}")
        job_id = conn.execute(_JOB_OF_RUN, {"b_run": run_id}).scalar() if run_id else None
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
    if decision.outcome != PENDING_PUBLISH:  # a deferred publish is announced once it is settled
        notify(engine.hooks, "sutura_decision_made", decision=decision, engine=engine)
    return decision


def _await_write(conn: Connection, version: Any, now: datetime) -> None:
    """A deferred PUBLISH: the version waits, pending_audit, for the plugin's write.

    A version already live (the same content written again by its run) stays live: the
    production data it names is still there whatever becomes of this write.
    """
    if version.status not in _LIVE and version.status != VersionStatus.PENDING_AUDIT.value:
        _set_status(conn, version.id, VersionStatus.PENDING_AUDIT, now, publish=False)


def settle_publish(engine: Any, decision_id: str, outcome: str) -> None:
    """Settle a PUBLISH decided with ``defer_publish``: ``published`` or ``failed_write``.

    ``published``: the version is marked published as a one-phase PUBLISH marks it (next
    publication seq, so it appears in ``changes``; ``sutura_decision_made`` is notified).
    ``failed_write``: the version becomes failed_write; ``last_published`` stays where it
    was and no change appears. Saying the same outcome again changes nothing. Refused
    (SuturaError): ``published`` for any decision but a deferred PUBLISH, and an outcome
    contradicting one already settled. ``failed_write`` about a decision that was not
    deferred only records the outcome, as before (its version was announced already).
    """
    from sutura.decisions import get, record_outcome
    from sutura.engine import now_utc

    def do(conn: Connection) -> Decision | None:
        now = now_utc()
        decision = get(conn, decision_id, lock=True)
        if decision.outcome == outcome:
            return None  # said already
        if decision.action is not Action.PUBLISH or decision.outcome != PENDING_PUBLISH:
            if outcome == VersionStatus.FAILED_WRITE.value and (decision.action is not Action.PUBLISH or decision.outcome is None):
                record_outcome(conn, decision_id, outcome, now)
                return None
            raise SuturaError(_not_awaiting(decision, outcome))
        row = _version_of(conn, decision.subject)
        if outcome == VersionStatus.PUBLISHED.value:
            _set_status(conn, row.id, VersionStatus.PUBLISHED, now, publish=True)
        elif row.status == VersionStatus.PENDING_AUDIT.value:
            _set_status(conn, row.id, VersionStatus.FAILED_WRITE, now, publish=False)
        record_outcome(conn, decision_id, outcome, now)
        return replace(decision, outcome=outcome)

    settled = engine.transaction(do)
    if settled is not None:
        notify(engine.hooks, "sutura_decision_made", decision=settled, engine=engine)


def _not_awaiting(decision: Decision, outcome: str) -> str:
    if decision.action is not Action.PUBLISH:
        return (
            f"decision {decision.id} is a {decision.action.value} decision, not a deferred publish: "
            f"only a publish decided with defer_publish=True can be reported {outcome!r}"
        )
    if decision.outcome is None:
        return (
            f"decision {decision.id} published {decision.subject} when it was made (on_checks without "
            "defer_publish): there is no publish to confirm"
        )
    return f"decision {decision.id} is settled already as {decision.outcome!r}; it cannot become {outcome!r}"


def _split_version(ref: str) -> tuple[str, str | None]:
    """(dataset ref, fingerprint) of ``version:<ns>:<name>@<fingerprint>``; any other ref has no fingerprint."""
    rest, at, fingerprint = ref.removeprefix("version:").rpartition("@")
    if not ref.startswith("version:") or not at:
        return ref, None
    return f"dataset:{rest}", fingerprint


def _version_of(conn: Connection, subject: str) -> Any:
    """The stored version a ``version:<ns>:<name>@<fingerprint>`` id names."""
    ref, fingerprint = _split_version(subject)
    if fingerprint is None:
        raise NotFound(f"{subject} is not a dataset version")
    node = reader.resolve(conn, ref)
    row = conn.execute(_BY_FINGERPRINT, {"b_dataset": node.id, "b_fingerprint": fingerprint}).first()
    if row is None:
        raise NotFound(f"no version {subject}")
    return row


def _audited_dataset(conn: Connection, engine: Any, namespace: str, name: str, now: datetime) -> tuple[int, Dataset]:
    """The dataset under audit (created, or marked as named directly, when needed)."""
    row = conn.execute(_DATASET, {"b_namespace": namespace, "b_name": name}).first()
    if row is not None and row.is_primary and row.canonical_id is None:
        return row.id, Dataset(row.namespace, row.name)
    ds_id = engine.writer.dataset_id(conn, namespace, name, now, primary=True)
    return ds_id, _dataset_named(conn, ds_id)


def _dataset_named(conn: Connection, ds_id: int) -> Dataset:
    row = conn.execute(_DATASET_BY_ID, {"b_id": ds_id}).one()
    return Dataset(row.namespace, row.name)


def _audited_version(
    conn: Connection, ds_id: int, run_id: str | None, fingerprint: str | None, row_count: int | None, now: datetime
) -> Any:
    """The version under audit: by content fingerprint, else by run, else the latest pending one."""
    row = None
    content = f"c:{fingerprint}" if fingerprint else None
    if fingerprint:
        row = conn.execute(_BY_CONTENT, {"b_dataset": ds_id, "b_content": content}).first()
        if row is not None and row.status not in (VersionStatus.PENDING_AUDIT.value,) and run_id and row.run_id != run_id:
            row = None  # the same content written again by a new run: a new version to audit
    if row is None and run_id:
        row = conn.execute(_BY_RUN, {"b_dataset": ds_id, "b_run": run_id}).first()
    if row is None and not fingerprint and not run_id:
        row = conn.execute(_LATEST_PENDING, {"b_dataset": ds_id}).first()
    if row is not None:
        values: dict[str, Any] = {}
        if content and row.content_fingerprint != content:
            values["content_fingerprint"] = content
        if row_count is not None:
            values["row_count"] = row_count
        if values:
            conn.execute(_UPDATE_VERSION, {"b_id": row.id, **values})
            return SimpleNamespace(**{**row._asdict(), **values})
        return row
    identity = hashlib.sha256(f"{fingerprint}|{run_id}|{now.isoformat()}".encode()).hexdigest()[:20]
    values = {
        "dataset_id": ds_id,
        "fingerprint": identity,
        "content_fingerprint": content or identity,
        "run_id": run_id,
        "status": VersionStatus.PENDING_AUDIT.value,
        "created_at": now,
        "status_at": now,
        "row_count": row_count,
    }
    new_id = conn.execute(_INSERT_VERSION, values).inserted_primary_key[0]
    return SimpleNamespace(**{**dict.fromkeys(_V.c.keys()), **values, "id": new_id})


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
        conn.execute(insert_new(conn, t.check_result, "check_key"), rows)


def _set_status(conn: Connection, version_id: int, status: VersionStatus, now: datetime, *, publish: bool) -> None:
    values: dict[str, Any] = {"b_id": version_id, "status": status.value, "status_at": now}
    if publish:
        values["seq"] = next_seq(conn)
    conn.execute(_UPDATE_VERSION, values)


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
    ref, fingerprint = _split_version(ref)
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
    """The dataset's last published (or released) version, the newer ones held back, and how stale it is."""
    from sutura.engine import now_utc

    ds = _dataset_named(conn, ds_id)
    live = conn.execute(_LIVE_VERSION, {"b_dataset": ds_id}).first()
    if live is None:
        held = conn.execute(_HELD_VERSIONS, {"b_dataset": ds_id}).all()
    else:
        held = conn.execute(_HELD_SINCE, {"b_dataset": ds_id, "b_since": live.created_at, "b_live": live.id}).all()
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
