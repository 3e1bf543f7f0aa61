"""Write-audit-publish inside an asset's step: check the value, let the engine publish or quarantine it.

The asset's value is checked where it was produced (its checks are blocking asset checks
of its own step), fingerprinted by content, and handed to ``engine.on_checks`` with the
step attempt's OpenLineage runId, so the version Sutura audits is the one the OpenLineage
sensor later reports as written. One more blocking check, ``sutura_publish``, carries the
engine's decision: it fails when the engine quarantines the version, also when every
declared check passed but the version breaks its baseline.

A failed blocking check fails the step after its output was stored: Dagster runs nothing
downstream of it in that run, and :class:`~sutura_dagster.SuturaIOManager` keeps serving
the last published version to later runs until the quarantine is released.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from sutura_dagster.checks import Check, CheckOutcome
from sutura_dagster.content import content_fingerprint, row_count
from sutura_dagster.resource import UNAVAILABLE, engine_call, resource_engine

__all__ = ["PUBLISH_CHECK", "audit", "check_specs", "stamp", "take_audited"]

PUBLISH_CHECK = "sutura_publish"

_AUDITED: dict[tuple[str, str, str], tuple[str, bool]] = {}  # (run, step, asset key) -> (fingerprint, audited)
_LOCK = threading.Lock()
_MAX_REMEMBERED = 10_000


def check_specs(asset_key: Any, checks: Sequence[Check]) -> list[Any]:
    """The blocking ``AssetCheckSpec``s of ``checks`` on ``asset_key``, plus ``sutura_publish``."""
    from dagster import AssetCheckSpec

    names = [c.name for c in checks]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"two checks of {asset_key.to_user_string()} are named {duplicated}; pass name='...' to tell them apart")
    if PUBLISH_CHECK in names:
        raise ValueError(f"{PUBLISH_CHECK!r} is the check Sutura adds itself; name yours differently")
    specs = [AssetCheckSpec(c.name, asset=asset_key, description=c.description or None, blocking=True) for c in checks]
    specs.append(
        AssetCheckSpec(
            PUBLISH_CHECK,
            asset=asset_key,
            description="Sutura published this version (fails when it quarantines it)",
            blocking=True,
        )
    )
    return specs


def audit(context: Any, result: Any, checks: Sequence[Check], *, resource_key: str, translator: Any) -> Any:
    """Check the value an asset returned and return the ``MaterializeResult`` Dagster stores."""
    import sutura
    from dagster import AssetCheckResult, AssetCheckSeverity, DataVersion, MaterializeResult, MetadataValue

    from sutura_dagster.identity import step_identity

    value, metadata, tags = _unpack(result)
    key = context.asset_key
    ident = step_identity(context, translator)
    dataset = ident.dataset(key)
    evaluated: list[tuple[Check, list[CheckOutcome]]] = [(c, c.evaluate(value)) for c in checks]
    fingerprint = content_fingerprint(value)
    rows = row_count(value)
    results = [
        sutura.CheckResult(
            dataset,
            o.assertion,
            o.success,
            field=o.field,
            run_id=ident.run_id,
            source=o.source,
            observed=o.observed,
            message=o.message,
        )
        for _, outcomes in evaluated
        for o in outcomes
    ]
    decision = engine_call(
        resource_engine(context, resource_key),
        "on_checks",
        dataset,
        results,
        run_id=ident.run_id,
        fingerprint=fingerprint,
        row_count=rows,
        context_log=context.log,
    )
    _remember((context.run_id, ident.step_key, key.to_user_string()), fingerprint, True)

    check_results = []
    for check, outcomes in evaluated:
        failed = [o for o in outcomes if not o.success]
        check_results.append(
            AssetCheckResult(
                asset_key=key,
                check_name=check.name,
                passed=not failed,
                severity=AssetCheckSeverity.ERROR,
                description="; ".join(o.message or f"{o.assertion} failed" for o in failed)[:2000] or None,
                metadata={
                    "assertions": MetadataValue.json([_outcome_json(o) for o in outcomes]),
                    **({"dagster/column": check.column} if check.column else {}),
                },
            )
        )
    published = decision is UNAVAILABLE or decision.action is sutura.Action.PUBLISH
    reason = "Sutura engine unavailable: not audited, Dagster's own checks decide" if decision is UNAVAILABLE else decision.reason
    check_results.append(
        AssetCheckResult(
            asset_key=key,
            check_name=PUBLISH_CHECK,
            passed=published,
            severity=AssetCheckSeverity.ERROR,
            description=reason[:2000],
            metadata={"sutura/fingerprint": fingerprint},
        )
    )
    sutura_metadata: dict[str, Any] = {
        "sutura/fingerprint": fingerprint,
        "sutura/dataset": dataset.id,
        "sutura/decision": "unavailable" if decision is UNAVAILABLE else decision.action.value,
        "sutura/reason": reason,
    }
    if decision is not UNAVAILABLE:
        sutura_metadata["sutura/version"] = decision.subject
        (context.log.info if published else context.log.error)(f"Sutura decided {decision.action.value.upper()}: {reason}")
    if rows is not None:
        sutura_metadata.setdefault("dagster/row_count", rows)
    return MaterializeResult(
        value=value,
        metadata={**sutura_metadata, **metadata},
        data_version=DataVersion(fingerprint),
        check_results=check_results,
        tags=tags or None,
    )


def stamp(context: Any, result: Any) -> Any:
    """An unchecked value as ``Output(value, data_version=<content fingerprint>)``.

    Dagster then records the fingerprint as the input data version of every downstream
    materialization, which tells the change sensor that they already read this version.
    Values that are already Dagster results, or None, pass unchanged.
    """
    from dagster import DataVersion, MaterializeResult, Output

    if context is None or result is None or isinstance(result, (Output, MaterializeResult)):
        return result
    try:
        key = context.asset_key
        step_key = context.get_step_execution_context().step.key
    except Exception:  # noqa: BLE001 - not a single-asset step: nothing to stamp
        return result
    fingerprint = content_fingerprint(result)
    _remember((context.run_id, step_key, key.to_user_string()), fingerprint, False)
    return Output(result, data_version=DataVersion(fingerprint))


def _remember(key: tuple[str, str, str], fingerprint: str, audited: bool) -> None:
    with _LOCK:
        _AUDITED[key] = (fingerprint, audited)
        while len(_AUDITED) > _MAX_REMEMBERED:  # outputs no SuturaIOManager collected
            _AUDITED.pop(next(iter(_AUDITED)))


def take_audited(run_id: str, step_key: str, asset_key: str) -> tuple[str, bool] | None:
    """``(fingerprint, audited)`` of this output, once: the IO manager then does not hash it again,
    and publishes it only when no check audited it."""
    with _LOCK:
        return _AUDITED.pop((run_id, step_key, asset_key), None)


def _unpack(result: Any) -> tuple[Any, dict[str, Any], dict[str, str]]:
    from dagster import MaterializeResult, Output

    if isinstance(result, Output):
        return result.value, dict(result.metadata or {}), dict(result.tags or {})
    if isinstance(result, MaterializeResult):
        value = getattr(result, "value", None)
        if value is None or getattr(value, "__name__", "") == "NoValueSentinel" or result.check_results:
            raise TypeError(
                "@sutura_asset with checks needs the asset to return its value (a DataFrame, a list…) "
                "or MaterializeResult(value=...) without check_results; Sutura runs the checks itself"
            )
        return value, dict(result.metadata or {}), dict(result.tags or {})
    return result, {}, {}


def _outcome_json(o: CheckOutcome) -> dict[str, Any]:
    return {k: v for k, v in {
        "assertion": o.assertion, "success": o.success, "column": o.field,
        "observed": o.observed, "message": o.message, "source": o.source,
    }.items() if v is not None}
