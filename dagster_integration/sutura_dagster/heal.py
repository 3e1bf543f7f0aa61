"""``@heal``: classified retries for an op or asset, with Dagster's own mechanisms.

When the decorated function raises, Sutura's engine is asked what to do
(``engine.on_failure``) and its decision is carried out the way Dagster expects:

==============  ===========================================================================
decision        what the step does
==============  ===========================================================================
RETRY           ``RetryRequested(max_retries=<this retry>, seconds_to_wait=<engine delay>)``
                (backoff with jitter, retry budget, circuit breaker per data source)
FAIL            ``Failure(description=<engine's reason>, allow_retries=False)``: a
                deterministic error is not retried, whatever the ``RetryPolicy`` says
WAIT            the cause is upstream: ``RetryRequested`` with the engine's delay. Dagster
                counts every retry request in ``context.retry_number``, so a wait DOES
                consume a Dagster retry; Sutura allows ``max_waits`` of them on top of the
                declared attempts, and the engine is told the attempt as Dagster counts it
ESCALATE        ``Failure(allow_retries=False)``: the retry budget is spent, a person decides
==============  ===========================================================================

``max_attempts`` is the op's ``RetryPolicy.max_retries + 1`` (or the ``max_attempts=``
option). Every decision's reason is written to the step log. When the engine cannot be
reached the exception propagates unchanged, so the declared ``RetryPolicy`` applies as in
plain Dagster, and one warning says so.

Put ``@heal`` under the Dagster decorator of an existing op or asset::

    from dagster import RetryPolicy, asset
    from sutura_dagster import heal

    @asset(retry_policy=RetryPolicy(max_retries=3))
    @heal
    def orders(context) -> list[dict]:
        return fetch_orders()  # TimeoutError: retried after a backoff; KeyError: failed at once

For new assets ``@sutura_asset`` does the same and adds blocking checks that quarantine.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sutura_dagster.resource import UNAVAILABLE, engine_call, resource_engine

__all__ = ["HealOptions", "heal"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class HealOptions:
    """How ``@heal`` asks the engine and acts on its decision."""

    max_attempts: int | None = None  # default: RetryPolicy.max_retries + 1
    max_waits: int = 3  # retries Dagster may spend waiting for an upstream cause
    resource_key: str = "sutura"
    translator: Any = None  # a SuturaDagsterTranslator; default names

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1 (one try, no retries), got {self.max_attempts}")
        if self.max_waits < 0:
            raise ValueError(f"max_waits must be 0 or more, got {self.max_waits}")


def heal(
    fn: F | None = None,
    *,
    max_attempts: int | None = None,
    max_waits: int = 3,
    resource_key: str = "sutura",
    translator: Any = None,
) -> Any:
    """Wrap an op or asset function so its failures are retried, failed or waited on as the engine decides.

    Works bare (``@heal``) or configured (``@heal(max_attempts=4)``); goes under
    ``@asset`` / ``@op`` / ``@multi_asset``, and keeps the function's signature, so
    Dagster sees the same inputs, context and resources as before.
    """
    options = HealOptions(max_attempts, max_waits, resource_key, translator)
    if fn is None:
        return lambda f: _wrap(f, options)
    return _wrap(fn, options)


def _wrap(fn: Any, options: HealOptions) -> Any:
    from dagster import AssetsDefinition, OpDefinition

    if isinstance(fn, (AssetsDefinition, OpDefinition)):
        raise TypeError(
            "@heal goes under @asset/@op (it wraps the function, not the definition): "
            "write '@asset(...)' on the line above '@heal'"
        )
    if not callable(fn):
        raise TypeError(f"@heal wraps a function, got {type(fn).__name__}")

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args: Any, **kwargs: Any) -> Any:
            try:
                return (yield from fn(*args, **kwargs))
            except Exception as exc:  # noqa: BLE001 - every failure is the engine's to judge
                on_failure(exc, options)
                raise

        return generator

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def coroutine(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001
                on_failure(exc, options)
                raise

        return coroutine

    @functools.wraps(fn)
    def function(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            on_failure(exc, options)
            raise

    return function


def current_context() -> Any:
    """The running op/asset context, or None outside of a Dagster step."""
    from dagster import AssetExecutionContext, OpExecutionContext

    for kind in (AssetExecutionContext, OpExecutionContext):
        try:
            return kind.get()
        except Exception:  # noqa: BLE001 - not this kind of step, or no step at all
            continue
    return None


def on_failure(exc: BaseException, options: HealOptions) -> None:
    """Ask the engine about ``exc`` and raise what Dagster should see; return to re-raise as is."""
    from dagster import Failure as DagsterFailure
    from dagster import RetryRequested

    if isinstance(exc, (DagsterFailure, RetryRequested)):
        return  # the function already told Dagster what to do
    context = current_context()
    if context is None:
        return
    decision = _decide(context, exc, options)
    if decision is UNAVAILABLE:
        return
    _act(context, decision, exc, options)


def max_attempts_of(context: Any, options: HealOptions) -> int:
    if options.max_attempts is not None:
        return options.max_attempts
    try:
        policy = context.get_step_execution_context().op_retry_policy
    except Exception:  # noqa: BLE001
        policy = None
    return (policy.max_retries if policy is not None else 0) + 1


def _decide(context: Any, exc: BaseException, options: HealOptions) -> Any:
    import sutura

    from sutura_dagster.identity import step_identity

    try:
        ident = step_identity(context, options.translator)
        failure = sutura.Failure(
            job=ident.job,
            error=sutura.ErrorInfo.from_exception(exc),
            run_id=ident.run_id,
            attempt=ident.attempt,
            max_attempts=max(max_attempts_of(context, options), ident.attempt),
            inputs=ident.inputs(),
            outputs=ident.outputs(),
        )
    except Exception as err:  # noqa: BLE001 - describing the failure must not mask it
        context.log.warning(f"Sutura: could not describe this failure ({type(err).__name__}: {err}); plain Dagster retries apply")
        return UNAVAILABLE
    resource = resource_engine(context, options.resource_key)
    try:
        return engine_call(resource, "on_failure", failure, context_log=context.log)
    except Exception as err:  # noqa: BLE001 - e.g. NotFound: still an answer we cannot use
        context.log.warning(f"Sutura: on_failure gave no decision ({type(err).__name__}: {err}); plain Dagster retries apply")
        return UNAVAILABLE


def _act(context: Any, decision: Any, exc: BaseException, options: HealOptions) -> None:
    from dagster import Failure as DagsterFailure
    from dagster import MetadataValue, RetryRequested
    from sutura import Action

    action = decision.action
    retry_number = context.retry_number
    delay = max(0.0, float(decision.delay_seconds or 0.0))
    metadata = {
        "sutura/decision": MetadataValue.text(action.value),
        "sutura/reason": MetadataValue.text(decision.reason),
        "sutura/subject": MetadataValue.text(decision.subject),
        "sutura/error": MetadataValue.text(f"{type(exc).__name__}: {exc}"[:1000]),
    }
    if decision.id:
        metadata["sutura/decision_id"] = MetadataValue.text(decision.id)
    if action is Action.RETRY:
        context.log.warning(f"Sutura decided RETRY: {decision.reason}")
        raise RetryRequested(max_retries=retry_number + 1, seconds_to_wait=delay) from exc
    if action is Action.WAIT:
        allowed = max_attempts_of(context, options) - 1 + options.max_waits
        if retry_number < allowed:
            context.log.warning(f"Sutura decided WAIT ({delay:.0f}s, retry {retry_number + 1} of at most {allowed}): {decision.reason}")
            raise RetryRequested(max_retries=retry_number + 1, seconds_to_wait=delay) from exc
        reason = f"{decision.reason}; gave up after {retry_number} retries (max_waits={options.max_waits})"
        context.log.error(f"Sutura decided WAIT but no retries are left: {reason}")
        raise DagsterFailure(description=f"Sutura: {reason}", metadata=metadata, allow_retries=False) from exc
    context.log.error(f"Sutura decided {action.value.upper()}: {decision.reason}")
    raise DagsterFailure(description=f"Sutura: {decision.reason}", metadata=metadata, allow_retries=False) from exc
