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

The value is stored after the engine decided. When the asset's IO manager is a
:class:`~sutura_dagster.SuturaIOManager`, the engine is asked with ``defer_publish=True``
and the IO manager reports the write (``published`` once stored, ``failed_write`` if
storing raised), so the change feed never names a version the store does not hold. With
any other IO manager the PUBLISH takes effect at once, as nothing would report the write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from sutura_dagster.checks import Check, CheckOutcome
from sutura_dagster.content import content_fingerprint, row_count
from sutura_dagster.resource import UNAVAILABLE, engine_call, resource_engine

__all__ = ["PUBLISH_CHECK", "Audited", "audit", "check_specs", "stamp", "take_audited"]

PUBLISH_CHECK = "sutura_publish"


class Audited(NamedTuple):
    """What the step knows of an output before the IO manager stores it."""

    fingerprint: str
    audited: bool  # the engine decided on it (checks ran)
    settle: Callable[[str], None] | None = None  # reports the write of a deferred PUBLISH


_AUDITED: dict[tuple[str, str, str], Audited] = {}  # (run, step, asset key) -> what the step knows
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
    resource = resource_engine(context, resource_key)
    deferred = _stored_by_sutura(context, key)
    decision = engine_call(
        resource,
        "on_checks",
        dataset,
        results,
        run_id=ident.run_id,
        fingerprint=fingerprint,
        row_count=rows,
        defer_publish=deferred,
        context_log=context.log,
    )
    settle = None
    if deferred and decision is not UNAVAILABLE and decision.action is sutura.Action.PUBLISH and decision.id:
        settle = _settler(resource, decision, context.log)
    _remember((context.run_id, ident.step_key, key.to_user_string()), Audited(fingerprint, True, settle))

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
    _remember((context.run_id, step_key, key.to_user_string()), Audited(fingerprint, False))
    return Output(result, data_version=DataVersion(fingerprint))


def _stored_by_sutura(context: Any, asset_key: Any) -> bool:
    """Whether a SuturaIOManager stores this asset's value (so it can report the write)."""
    from sutura_dagster.io_manager import SuturaIOManager

    try:
        io_key = context.assets_def.get_io_manager_key_for_asset_key(asset_key)
        return isinstance(getattr(context.resources, io_key), SuturaIOManager)
    except Exception:  # noqa: BLE001 - cannot tell: publish at once, as without a SuturaIOManager
        return False


def _settler(resource: Any, decision: Any, log: Any) -> Callable[[str], None]:
    """Reports the write of a deferred PUBLISH; a failure to report only warns."""
    import sutura

    def settle(outcome: str) -> None:
        try:
            reported = engine_call(resource, "record_outcome", decision.id, outcome, context_log=log) is not UNAVAILABLE
        except sutura.SuturaError:
            reported = False
        if not reported:
            log.warning(
                f"Sutura: could not report {outcome!r} for {decision.subject}; it stays unannounced "
                f"(no change, not last published) until a later materialization publishes it"
            )

    return settle


def _remember(key: tuple[str, str, str], known: Audited) -> None:
    with _LOCK:
        _AUDITED[key] = known
        while len(_AUDITED) > _MAX_REMEMBERED:  # outputs no SuturaIOManager collected
            _AUDITED.pop(next(iter(_AUDITED)))


def take_audited(run_id: str, step_key: str, asset_key: str) -> Audited | None:
    """What the step knows of this output, once: the IO manager then does not hash it again,
    publishes it only when no check audited it, and reports the write of a deferred PUBLISH."""
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
