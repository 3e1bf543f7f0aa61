"""Ask the engine what to do about one failed try, from anything that has the task context.

Shared by ``SuturaRetryPolicy`` (Airflow 3.3+), the ``heal`` decorator (older Airflow)
and the listener. A decision is asked once per exception: it is remembered on the
exception object, so a task whose ``execute`` is wrapped to wait (see ``wait_instead``)
and that also carries ``SuturaRetryPolicy`` asks the engine once.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sutura import Action, Decision, ErrorInfo, Failure

from sutura_airflow._engine import call_engine
from sutura_airflow._identity import as_datasets, job_of, run_id_of

__all__ = ["decide", "failure_of", "passthrough", "tries_of", "wait_instead"]

log = logging.getLogger("sutura.airflow")
_ATTR = "__sutura_decision__"
DEFAULT_WAIT = 60.0  # seconds, when the engine names no delay


def failure_of(exception: BaseException, *, context: Any, try_number: int, max_tries: int) -> Failure | None:
    """The ``Failure`` the engine is asked about; None without a task in the context."""
    ti = (context or {}).get("ti") or (context or {}).get("task_instance")
    task = (context or {}).get("task") or getattr(ti, "task", None)
    if ti is None:
        return None
    return Failure(
        job=job_of(ti.dag_id, ti.task_id),
        error=ErrorInfo.from_exception(exception),
        run_id=run_id_of(context),
        attempt=max(1, int(try_number)),
        max_attempts=max(1, int(max_tries) + 1),  # Airflow's max_tries counts retries, not tries
        inputs=as_datasets(getattr(task, "inlets", None)),
        outputs=as_datasets(getattr(task, "outlets", None)),
    )


def decide(exception: BaseException, *, context: Any, try_number: int, max_tries: int) -> Decision | None:
    """The engine's Decision for this failure, or None (Sutura down/disabled: native behaviour)."""
    cached = getattr(exception, _ATTR, None)
    if isinstance(cached, Decision):
        return cached
    failure = failure_of(exception, context=context, try_number=try_number, max_tries=max_tries)
    if failure is None:
        return None
    decision = call_engine("asking for a retry decision", lambda engine: engine.on_failure(failure))
    if decision is not None:
        try:
            setattr(exception, _ATTR, decision)
        except Exception:  # noqa: BLE001 - some exceptions refuse attributes; we just ask again
            pass
        delay = f" (delay {decision.delay_seconds:.1f}s)" if decision.delay_seconds is not None else ""
        log.info("Sutura decision: %s%s: %s", decision.action.value, delay, decision.reason)
    return decision


@functools.lru_cache(maxsize=1)
def passthrough() -> tuple[type[BaseException], ...]:
    """Exceptions that steer Airflow itself (skip, defer, fail, reschedule): never judged."""
    names = ("AirflowFailException", "AirflowRescheduleException", "AirflowSkipException", "TaskDeferred", "AirflowSensorTimeout", "DownstreamTasksSkipped")
    found: list[type[BaseException]] = []
    for module in ("airflow.sdk.exceptions", "airflow.exceptions"):
        try:
            mod = __import__(module, fromlist=list(names))
        except ImportError:
            continue
        found += [getattr(mod, n) for n in names if isinstance(getattr(mod, n, None), type)]
    return tuple(found)


def tries_of(context: Any) -> tuple[int, int, int]:
    """(try number, max tries, reschedules of this try so far) of the running task instance."""
    ti = context["ti"]
    server = getattr(ti, "_ti_context_from_server", None)
    max_tries = getattr(server, "max_tries", None)
    if max_tries is None:
        max_tries = getattr(ti, "max_tries", None)
    if max_tries is None:
        max_tries = getattr(context.get("task"), "retries", 0) or 0
    waits = int(getattr(server, "task_reschedule_count", 0) or 0)
    return int(getattr(ti, "try_number", 1) or 1), int(max_tries), waits


def wait_instead(
    exception: BaseException,
    *,
    context: Any,
    max_waits: int,
    delay: Callable[[float | None], float] = lambda s: DEFAULT_WAIT if s is None else s,
) -> BaseException | None:
    """An ``AirflowRescheduleException`` when the engine says WAIT and waits remain, else None.

    Raised from inside the task, it parks the try ``up_for_reschedule`` until the engine's
    delay has passed: the try number stays, so no retry is spent. ``delay`` maps the
    engine's delay (seconds or None) to the one used.
    """
    from sutura_airflow._compat import AirflowRescheduleException

    try:
        try_number, max_tries, waits = tries_of(context)
    except Exception:  # noqa: BLE001 - not inside a task: nothing to decide
        return None
    decision = decide(exception, context=context, try_number=try_number, max_tries=max_tries)
    if decision is None or decision.action is not Action.WAIT or waits >= max_waits:
        return None
    seconds = max(0.0, delay(decision.delay_seconds))
    log.warning("Sutura: %s; rescheduling in %.0fs without spending a try (%d/%d waits)", decision.reason, seconds, waits + 1, max_waits)
    return AirflowRescheduleException(datetime.now(timezone.utc) + timedelta(seconds=seconds))
