"""The write-audit-publish flow for SQL tables, shared by the operator and the decorator.

``audit_and_publish`` runs after new data landed in the audit table: checks, a content
fingerprint, the engine's publish-or-quarantine decision, then the matching action.
With the engine unreachable the decision is made locally (publish only if every check
passed), so data is never published unchecked and the task behaves as it would without
Sutura; one warning says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import sqlalchemy as sa

from sutura import Action, CheckResult, Decision, NotFound, VersionStatus

from sutura_airflow._engine import call_engine
from sutura_airflow.quarantine.checks import Check, run_sql_checks
from sutura_airflow.quarantine.sql import SqlTarget, content_fingerprint, open_engine

__all__ = ["WapResult", "audit_and_publish", "publish_released", "release_quarantine"]

log = logging.getLogger("sutura.airflow")


@dataclass(frozen=True)
class WapResult:
    """What one write-audit-publish did (returned by the operator, pushed to XCom as a dict)."""

    dataset: str
    action: str  # publish | quarantine
    fingerprint: str
    row_count: int
    reason: str
    version: str | None = None
    quarantine_table: str | None = None
    failed_checks: list[str] = field(default_factory=list)
    decided_by: str = "sutura"  # sutura | local (engine unreachable)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def audit_and_publish(
    target: SqlTarget,
    engine: sa.Engine,
    *,
    checks: Sequence[Check] = (),
    extra_results: Callable[[SqlTarget, sa.Engine], list[CheckResult]] | None = None,
    run_id: str | None = None,
) -> WapResult:
    """Check the audit table, ask the engine, then publish it or hold it as a quarantine."""
    dataset = target.dataset
    audit = target.relation(engine, target.audit_table)
    results = run_sql_checks(engine, audit, dataset, checks, engine.dialect.identifier_preparer.quote)
    if extra_results is not None:
        results += extra_results(target, engine)
    fingerprint, rows = content_fingerprint(engine, audit)
    for r in results:
        log.info("check %s on %s: %s%s", r.assertion, dataset.id, "pass" if r.success else "FAIL", f" ({r.message})" if r.message else "")
    decision = call_engine(
        "reporting check results",
        lambda e: e.on_checks(dataset, results, run_id=run_id, fingerprint=fingerprint, row_count=rows),
    )
    failed = [r.assertion for r in results if not r.success]
    if decision is None:
        action = Action.QUARANTINE if failed else Action.PUBLISH
        reason = f"{len(failed)} of {len(results)} checks failed ({', '.join(failed)})" if failed else f"all {len(results)} checks passed"
        decision = Decision(action, dataset.id, reason + " (decided locally: Sutura unreachable)")
        decided_by = "local"
    else:
        decided_by = "sutura"
    if decision.action is Action.PUBLISH:
        target.publish(engine, target.audit_table)
        log.info("published %s (%d rows, content %s): %s", dataset.id, rows, fingerprint, decision.reason)
        return WapResult(dataset.id, "publish", fingerprint, rows, decision.reason, decision.subject if decided_by == "sutura" else None, None, failed, decided_by)
    held = target.hold(engine, fingerprint)
    version = decision.subject if decision.subject.startswith("version:") else None
    return WapResult(dataset.id, "quarantine", fingerprint, rows, decision.reason, version, held, failed, decided_by)


def quarantine_message(result: WapResult, target: SqlTarget, task_id: str | None = None) -> str:
    """The text a person reads in the task log: what is held, where, and how to release it."""
    release = f"sutura release {result.version}" if result.version else f"sutura release {result.dataset}"
    again = f" by the next run of {task_id}" if task_id else " by the next write-audit-publish run"
    return (
        f"Quarantined new data for {result.dataset}: {result.reason}. Production table {target.table!r} keeps its "
        f"last good data; the {result.row_count} new rows are held in table {result.quarantine_table!r} "
        f"(failed checks: {', '.join(result.failed_checks) or 'none'}). To publish them: `{release}` "
        f"(moved into production{again}), or sutura_airflow.release_quarantine(url=..., table={target.table!r}) "
        f"to publish at once."
    )


def publish_released(target: SqlTarget, engine: sa.Engine) -> list[str]:
    """Publish quarantine tables the engine has since released (``sutura release``); returns them.

    Called at the start of every write-audit-publish run, so a release made from the CLI
    reaches production the next time the task runs.
    """
    held = target.quarantine_tables(engine)
    if not held:
        return []
    versions = call_engine("reading released versions", lambda e: e.versions(target.dataset, limit=200)) or []
    released = {v.content_fingerprint.removeprefix("c:")[:16] for v in versions if v.status is VersionStatus.RELEASED}
    done = []
    for name in held:
        if name.rsplit("_", 1)[-1] in released:
            target.publish(engine, name)
            log.info("published %s, released in Sutura since it was quarantined", name)
            done.append(name)
    return done


def release_quarantine(
    *,
    url: str | None = None,
    conn_id: str | None = None,
    table: str,
    schema: str | None = None,
    version: str | None = None,
    reason: str = "released by hand",
    by: str | None = None,
) -> Decision:
    """Publish a quarantined batch into production now, then record the release in the engine.

    ``version`` is a ``version:<ns>:<name>@<fp>`` id (default: the latest quarantine). The
    data moves first, so the change the release announces is already in production when
    downstream wakes. Unlike the task-side calls this raises: a person asked for it.
    """
    from sutura_airflow._engine import get_engine
    from sutura_airflow.hooks import sql_url

    target = SqlTarget(sql_url(url=url, conn_id=conn_id), table, schema)
    engine = get_engine()
    staleness = engine.last_published(target.dataset)
    candidates = [v for v in staleness.quarantined if version is None or v.id == version]
    if not candidates:
        raise NotFound(f"no quarantined version of {target.dataset.id}" + (f" matching {version}" if version else ""))
    chosen = candidates[-1]
    name = target.quarantine_table(chosen.content_fingerprint.removeprefix("c:"))
    db = open_engine(target.url)
    try:
        if not target.exists(db, name):
            raise NotFound(f"quarantine table {name!r} of {chosen.id} is not in the database")
        target.publish(db, name)
    finally:
        db.dispose()
    return engine.release(chosen.id, reason, by=by)
