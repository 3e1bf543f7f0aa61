"""One write-audit-publish run inside an Airflow task: shared by operators and decorators."""

from __future__ import annotations

import logging
from typing import Any, Sequence

from sutura import CheckResult

from sutura_airflow._identity import run_id_of
from sutura_airflow.quarantine.checks import parse_checks
from sutura_airflow.quarantine.wap import (
    WapResult,
    audit_and_publish,
    publish_confirmed,
    publish_failed,
    publish_released,
    quarantine_message,
)

__all__ = ["ON_QUARANTINE", "run_file_wap", "run_sql_wap"]

log = logging.getLogger("sutura.airflow")
ON_QUARANTINE = ("fail", "skip", "succeed")


def _task_id(context: Any) -> str | None:
    ti = (context or {}).get("ti")
    return f"{ti.dag_id}.{ti.task_id}" if ti is not None else None


def settle(result: WapResult, message: str, on_quarantine: str) -> dict[str, Any]:
    """Raise or return as ``on_quarantine`` says: fail (no retry), skip, or succeed with a warning."""
    if result.action == "quarantine":
        if on_quarantine == "fail":
            from sutura_airflow._compat import AirflowFailException

            exc: Exception = AirflowFailException(message)
        elif on_quarantine == "skip":
            from sutura_airflow._compat import AirflowSkipException

            exc = AirflowSkipException(message)
        else:
            log.warning(message)
            return result.to_dict()
        exc.__sutura_wap__ = result  # type: ignore[attr-defined]  # the operator's lineage reads it
        raise exc
    return result.to_dict()


def run_sql_wap(
    *,
    url: str,
    table: str,
    schema: str | None,
    data: Any,
    checks: Sequence[Any],
    gx_expectations: Any,
    on_quarantine: str,
    context: Any,
) -> tuple[WapResult, dict[str, Any]]:
    """Write ``data`` (a SELECT statement, DataFrame or rows) to the audit table, audit, publish or hold."""
    from sutura_airflow.quarantine.sql import SqlTarget, open_engine

    target = SqlTarget(url, table, schema)
    engine = open_engine(url)
    try:
        publish_released(target, engine)
        if isinstance(data, str):
            target.write_audit_sql(engine, data)
        else:
            target.write_audit_frame(engine, data)

        def gx(t: Any, e: Any) -> list[CheckResult]:
            import pandas as pd

            from sutura_airflow.quarantine.gx import gx_check_results

            frame = pd.read_sql(f"SELECT * FROM {t.relation(e, t.audit_table)}", e)
            return gx_check_results(frame, t.dataset, gx_expectations)

        result = audit_and_publish(
            target,
            engine,
            checks=parse_checks(checks),
            extra_results=gx if gx_expectations is not None else None,
            run_id=run_id_of(context),
        )
    finally:
        engine.dispose()
    message = quarantine_message(result, target, _task_id(context)) if result.action == "quarantine" else result.reason
    return result, settle(result, message, on_quarantine)


def run_file_wap(
    *,
    path: str,
    data: Any,
    checks: Sequence[Any],
    gx_expectations: Any,
    on_quarantine: str,
    context: Any,
) -> tuple[WapResult, dict[str, Any]]:
    """Write a DataFrame to an audit file next to ``path``, audit it, rename it into place or hold it.

    The engine's PUBLISH is deferred until the rename succeeded (then reported
    ``published``); a failed rename is reported ``failed_write`` and fails the task.
    """
    from sutura import Action, Decision

    from sutura_airflow._engine import call_engine
    from sutura_airflow.quarantine.files import FileTarget, file_fingerprint, run_file_checks, written_file_columns

    target = FileTarget(path)
    target.write_audit(data)
    results = run_file_checks(target, parse_checks(checks))
    if gx_expectations is not None:
        import duckdb

        from sutura_airflow.quarantine.gx import gx_check_results

        frame = duckdb.query(f"SELECT * FROM {target.relation()}").df()
        results += gx_check_results(frame, target.dataset, gx_expectations)
    fingerprint, rows = file_fingerprint(target)
    dataset = target.dataset
    decision = call_engine(
        "reporting check results",
        lambda e: e.on_checks(dataset, results, run_id=run_id_of(context), fingerprint=fingerprint, row_count=rows, defer_publish=True),
    )
    failed = [r.assertion for r in results if not r.success]
    decided_by = "sutura"
    if decision is None:
        decided_by = "local"
        action = Action.QUARANTINE if failed else Action.PUBLISH
        decision = Decision(action, dataset.id, f"{len(failed)} of {len(results)} checks failed (decided locally: Sutura unreachable)")
    version = decision.subject if decision.subject.startswith("version:") else None
    columns = written_file_columns(target)
    if decision.action is Action.PUBLISH:
        try:
            target.publish()
        except OSError as exc:
            publish_failed(decision, exc)
            raise
        publish_confirmed(decision)
        result = WapResult(dataset.id, "publish", fingerprint, rows, decision.reason, version, None, failed, decided_by, columns)
        return result, settle(result, decision.reason, on_quarantine)
    held = target.hold(fingerprint)
    result = WapResult(dataset.id, "quarantine", fingerprint, rows, decision.reason, version, str(held), failed, decided_by, columns)
    release = f"sutura release {version or dataset.id}"
    message = (
        f"Quarantined new data for {dataset.id}: {decision.reason}. {target.path} keeps its last good content; "
        f"the {rows} new rows are held in {held}. To publish them: `{release}` and move the file into place "
        f"(sutura_airflow.release_quarantined_file(path={str(target.path)!r}) does both)."
    )
    return result, settle(result, message, on_quarantine)


def release_quarantined_file(*, path: str, version: str | None = None, reason: str = "released by hand", by: str | None = None) -> Any:
    """Rename a held file onto ``path`` (atomic), then record the release in the engine."""
    from sutura import NotFound

    from sutura_airflow._engine import get_engine
    from sutura_airflow.quarantine.files import FileTarget

    target = FileTarget(path)
    engine = get_engine()
    held = [v for v in engine.last_published(target.dataset).quarantined if version is None or v.id == version]
    if not held:
        raise NotFound(f"no quarantined version of {target.dataset.id}")
    chosen = held[-1]
    source = target.quarantine_path(chosen.content_fingerprint.removeprefix("c:"))
    if not source.exists():
        raise NotFound(f"quarantined file {source} of {chosen.id} does not exist")
    target.publish(source)
    return engine.release(chosen.id, reason, by=by)
