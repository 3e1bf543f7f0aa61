"""Ask the engine what to do about one failed try, from anything that has the task context.

Shared by ``SuturaRetryPolicy`` (Airflow 3.3+), the ``heal`` decorator (older Airflow,
and waiting without spending a try) and the listener. A decision is asked once per
exception: it is remembered on the exception object, so a task wrapped by ``heal`` *and*
carrying ``SuturaRetryPolicy`` asks the engine once.
"""

from __future__ import annotations

import logging
from typing import Any

from sutura import Decision, ErrorInfo, Failure

from sutura_airflow._engine import call_engine
from sutura_airflow._identity import as_datasets, job_of, run_id_of

__all__ = ["decide", "failure_of"]

log = logging.getLogger("sutura.airflow")
_ATTR = "__sutura_decision__"


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
