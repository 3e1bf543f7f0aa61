"""``SuturaRetryPolicy``: Airflow 3.3's ``retry_policy=`` answered by the engine.

The task runner calls ``evaluate(exception, try_number, max_tries, context)`` in the
worker, after a try raised (never for ``AirflowFailException``/``AirflowSensorTimeout``).
The engine's Decision maps onto Airflow's ``RetryDecision``:

=============  ======================================================================
engine         Airflow
=============  ======================================================================
RETRY          ``RetryDecision.retry(delay=<engine backoff>)`` (still capped by ``retries``)
FAIL           ``RetryDecision.fail()``: no retry spent on a deterministic error
WAIT           ``up_for_reschedule`` until the engine's delay has passed: the try is run
               again with the same try number, so no retry is spent (at most ``max_waits``
               times per try; then ``RetryDecision.retry(delay=<engine wait>)``)
ESCALATE       ``RetryDecision.fail()``: the retry budget is spent, a person must look
Sutura down    ``RetryDecision.default()``: exactly Airflow's native retries, one warning
=============  ======================================================================

Why WAIT needs more than ``evaluate``: Airflow 3.3's ``RetryAction`` has only RETRY,
FAIL and DEFAULT, and ``task_runner._handle_current_task_failed`` turns every answer into
``RetryTask`` (``up_for_retry``: the next run is a new try) or ``TaskState(FAILED)``; an
exception raised by ``evaluate`` is logged and treated as DEFAULT. Only an
``AirflowRescheduleException`` raised by the task's ``execute`` becomes ``RescheduleTask``
(``up_for_reschedule``, try number kept). So the provider's listener, in
``on_task_instance_running`` (called by the task runner just before it reads
``task.execute``), wraps ``execute`` of this try's task copy when its ``retry_policy`` is
a ``SuturaRetryPolicy`` (``arm``): a WAIT is raised from inside the task as a reschedule.
Without the plugin loaded (``SuturaPlugin``, entry point ``airflow.plugins``) a WAIT falls
back to ``RetryDecision.retry`` and spends a try; ``heal`` waits without the plugin.

The engine's reason is logged by Airflow ("Retry policy decision ... reason=...") and kept
on the task instance; the Decision itself is in ``sutura decisions``.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any, Callable

from sutura import Action

from sutura_airflow._decide import DEFAULT_WAIT, decide, passthrough, wait_instead

try:  # Airflow 3.3+
    from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy

    HAS_RETRY_POLICY = True
except ImportError:  # older Airflow: see sutura_airflow.heal
    HAS_RETRY_POLICY = False

    class RetryPolicy:  # type: ignore[no-redef]
        """Placeholder so this module imports on Airflow without ``retry_policy``."""

    RetryDecision = None  # type: ignore[assignment,misc]

__all__ = ["HAS_RETRY_POLICY", "SuturaRetryPolicy", "arm"]

_ARMED = "__sutura_armed__"


class SuturaRetryPolicy(RetryPolicy):
    """Retry what is transient, fail fast on what is deterministic, wait on upstream causes.

    ``min_delay``/``max_delay`` (seconds) clamp the engine's delay, e.g. to keep a test fast
    or to respect a source's rate limit; ``max_waits`` bounds the reschedules of one try::

        @task(retries=3, retry_policy=SuturaRetryPolicy())
        def extract(): ...
    """

    def __init__(self, *, min_delay: float | None = None, max_delay: float | None = None, max_waits: int = 10) -> None:
        if not HAS_RETRY_POLICY:
            raise RuntimeError(
                "this Airflow has no retry_policy (added in Airflow 3.3); use sutura_airflow.heal instead"
            )
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.max_waits = max_waits

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int, context: Any = None) -> Any:
        decision = decide(exception, context=context, try_number=try_number, max_tries=max_tries)
        if decision is None:
            return RetryDecision.default()
        reason = f"Sutura: {decision.reason}"
        if decision.action in (Action.FAIL, Action.ESCALATE):
            return RetryDecision.fail(reason=reason)
        if decision.action in (Action.RETRY, Action.WAIT):
            return RetryDecision.retry(delay=self._delay(decision.delay_seconds), reason=reason)
        return RetryDecision.default()

    def wait_seconds(self, seconds: float | None) -> float:
        """How long a WAIT reschedules the task: the engine's delay, clamped."""
        return self._delay(DEFAULT_WAIT if seconds is None else seconds).total_seconds()  # type: ignore[union-attr]

    def waiting(self, execute: Callable[..., Any]) -> Callable[..., Any]:
        """``execute`` raising a reschedule instead of its exception when the engine says WAIT."""

        @functools.wraps(execute)
        def execute_or_wait(*args: Any, **kwargs: Any) -> Any:
            try:
                return execute(*args, **kwargs)
            except passthrough():
                raise
            except Exception as exc:
                context = kwargs.get("context", args[0] if args else None)
                reschedule = wait_instead(exc, context=context, max_waits=self.max_waits, delay=self.wait_seconds)
                if reschedule is None:
                    raise
                raise reschedule from exc

        setattr(execute_or_wait, _ARMED, True)
        return execute_or_wait

    def _delay(self, seconds: float | None) -> timedelta | None:
        if seconds is None:
            return None
        if self.min_delay is not None:
            seconds = max(seconds, self.min_delay)
        if self.max_delay is not None:
            seconds = min(seconds, self.max_delay)
        return timedelta(seconds=max(0.0, seconds))

    # retry_policy is not part of the serialized DAG; these exist for callers that ask.
    def serialize(self) -> dict[str, Any]:
        return {"__type": "SuturaRetryPolicy", "min_delay": self.min_delay, "max_delay": self.max_delay, "max_waits": self.max_waits}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> SuturaRetryPolicy:
        return cls(min_delay=data.get("min_delay"), max_delay=data.get("max_delay"), max_waits=data.get("max_waits", 10))

    def __repr__(self) -> str:
        return f"SuturaRetryPolicy(min_delay={self.min_delay!r}, max_delay={self.max_delay!r}, max_waits={self.max_waits!r})"


def arm(task_instance: Any) -> bool:
    """Let a WAIT reschedule this try: wrap its task's ``execute`` if it has ``SuturaRetryPolicy``.

    Called by the listener when a try starts; the task runner runs a per-try copy of the
    operator, so the wrapper never outlives the try. Returns whether it wrapped.
    """
    task = getattr(task_instance, "task", None)
    policy = getattr(task, "retry_policy", None)
    if not isinstance(policy, SuturaRetryPolicy) or getattr(task.execute, _ARMED, False):
        return False
    task.execute = policy.waiting(task.execute)
    return True
