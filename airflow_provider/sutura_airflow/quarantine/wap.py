"""The write-audit-publish flow for SQL tables, shared by the operator and the decorator.

``audit_and_publish`` runs after new data landed in the audit table: checks, a content
fingerprint, then the swap into production is staged (in a transaction, not committed),
then the engine is asked to publish or quarantine, then the swap is committed (publish)
or rolled back and the audit table held (quarantine). So a swap that cannot be made fails
before the engine hears of the version (it stays unpublished). The engine is asked with
``defer_publish=True``: its PUBLISH announces nothing until the COMMIT succeeded and the
outcome ``published`` is reported (then ``last_published`` and the change feed name the
version); if the COMMIT fails, the outcome is ``failed_write``, the version never goes
live and the task fails. If reporting ``published`` fails, production keeps the data and
the task succeeds with a warning. (A warehouse that is the embedded engine's own SQLite
file is asked before staging, as a staged swap locks it.) With the engine unreachable the
decision is made locally (publish only if every check passed), so data is never published
unchecked and the task behaves as it would without Sutura; one warning says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import sqlalchemy as sa

from sutura import Action, CheckResult, Decision, NotFound, VersionStatus

from sutura_airflow._engine import call_engine
from sutura_airflow.quarantine.checks import Check, run_sql_checks
from sutura_airflow.quarantine.sql import SqlTarget, content_fingerprint, open_engine

__all__ = [
    "WapResult",
    "audit_and_publish",
    "publish_confirmed",
    "publish_failed",
    "publish_released",
    "release_quarantine",
    "written_columns",
]

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
    columns: tuple[tuple[str, str], ...] = ()  # the written table's (column, type), for lineage

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        del out["columns"]
        return out


def audit_and_publish(
    target: SqlTarget,
    engine: sa.Engine,
    *,
    checks: Sequence[Check] = (),
    extra_results: Callable[[SqlTarget, sa.Engine], list[CheckResult]] | None = None,
    run_id: str | None = None,
) -> WapResult:
    """Check the audit table, stage the swap, ask the engine, then commit it or hold the table."""
    dataset = target.dataset
    audit = target.relation(engine, target.audit_table)
    results = run_sql_checks(engine, audit, dataset, checks, engine.dialect.identifier_preparer.quote)
    if extra_results is not None:
        results += extra_results(target, engine)
    fingerprint, rows = content_fingerprint(engine, audit)
    for r in results:
        log.info("check %s on %s: %s%s", r.assertion, dataset.id, "pass" if r.success else "FAIL", f" ({r.message})" if r.message else "")
    failed = [r.assertion for r in results if not r.success]

    def ask() -> tuple[Decision, str]:
        return _decide(dataset, results, failed, run_id, fingerprint, rows)

    decided = ask() if _is_the_store(target.url) else None  # a staged swap would lock the engine out
    try:
        if decided is not None and decided[0].action is not Action.PUBLISH:
            raise _Hold()
        with target.publishing(engine, target.audit_table):
            decided = decided or ask()
            if decided[0].action is not Action.PUBLISH:
                raise _Hold()
    except _Hold:
        decision, decided_by = decided
        held = target.hold(engine, fingerprint)
        version = decision.subject if decision.subject.startswith("version:") else None
        return WapResult(dataset.id, "quarantine", fingerprint, rows, decision.reason, version, held, failed, decided_by, written_columns(target, engine, held))
    except Exception as exc:
        if decided is not None:
            publish_failed(decided[0], exc)
        raise
    decision, decided_by = decided
    publish_confirmed(decision)
    log.info("published %s (%d rows, content %s): %s", dataset.id, rows, fingerprint, decision.reason)
    version = decision.subject if decided_by == "sutura" else None
    return WapResult(dataset.id, "publish", fingerprint, rows, decision.reason, version, None, failed, decided_by, written_columns(target, engine, target.table))


class _Hold(Exception):
    """Rolls the staged swap back: the engine did not say publish."""


def _is_the_store(url: str) -> bool:
    """Whether the warehouse is the embedded engine's own SQLite file.

    A staged swap holds that file's write lock, so the engine could not record its
    Decision until the swap ends: there the engine is asked before the swap is staged.
    """
    mine = sa.make_url(url)
    if mine.get_backend_name() != "sqlite" or mine.database in (None, "", ":memory:"):
        return False
    store = call_engine("locating the store", lambda e: getattr(getattr(e, "settings", None), "db_url", None))
    if not store:
        return False
    theirs = sa.make_url(store)
    return theirs.get_backend_name() == "sqlite" and bool(theirs.database) and Path(theirs.database).resolve() == Path(mine.database).resolve()


def _decide(
    dataset: Any, results: list[CheckResult], failed: list[str], run_id: str | None, fingerprint: str, rows: int
) -> tuple[Decision, str]:
    """The engine's publish-or-quarantine Decision, else the local one; and who decided."""
    decision = call_engine(
        "reporting check results",
        lambda e: e.on_checks(dataset, results, run_id=run_id, fingerprint=fingerprint, row_count=rows, defer_publish=True),
    )
    if decision is not None:
        return decision, "sutura"
    action = Action.QUARANTINE if failed else Action.PUBLISH
    reason = f"{len(failed)} of {len(results)} checks failed ({', '.join(failed)})" if failed else f"all {len(results)} checks passed"
    return Decision(action, dataset.id, reason + " (decided locally: Sutura unreachable)"), "local"


def publish_confirmed(decision: Decision) -> None:
    """Production holds what the engine said to publish: report it, so the engine announces it.

    Never raises: production is committed, so a failure here only warns (the version stays
    unannounced until a later run publishes it again).
    """
    if not decision.id:  # decided locally: nothing to report
        return
    reported = call_engine("confirming a publish", lambda e: e.record_outcome(decision.id, VersionStatus.PUBLISHED.value) or True)
    if reported is None:
        log.warning(
            "%s is in production, but Sutura did not hear it: it stays unannounced (no change, not last published) "
            "until a later run publishes it, or record_outcome(%r, 'published')",
            decision.subject,
            decision.id,
        )


def publish_failed(decision: Decision, exc: BaseException) -> None:
    """The engine said publish but the write did not commit: the version never goes live."""
    log.error("publishing %s failed after the engine decided to publish it (%s: %s)", decision.subject, type(exc).__name__, exc)
    if decision.id:
        call_engine("recording a failed publish", lambda e: e.record_outcome(decision.id, VersionStatus.FAILED_WRITE.value))


def written_columns(target: SqlTarget, engine: sa.Engine, name: str) -> tuple[tuple[str, str], ...]:
    """The columns of the table holding the written rows; empty if the catalog cannot say."""
    try:
        return tuple(target.column_types(engine, name))
    except sa.exc.SQLAlchemyError as exc:  # lineage degrades, never fails the task
        log.debug("could not read the columns of %s: %s", name, exc)
        return ()


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
