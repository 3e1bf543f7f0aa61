"""``SuturaRetryPolicy``: Airflow 3.3's ``retry_policy=`` answered by the engine.

The task runner calls ``evaluate(exception, try_number, max_tries, context)`` in the
worker, after a try raised (never for ``AirflowFailException``/``AirflowSensorTimeout``).
The engine's Decision maps onto Airflow's ``RetryDecision``:

=============  ======================================================================
engine         Airflow
=============  ======================================================================
RETRY          ``RetryDecision.retry(delay=<engine backoff>)`` (still capped by ``retries``)
FAIL           ``RetryDecision.fail()``: no retry spent on a deterministic error
WAIT           ``RetryDecision.retry(delay=<engine wait>)``: a retry policy cannot
               reschedule, so this spends a try; wrap the callable with ``heal`` to wait
               without spending one (it raises ``AirflowRescheduleException`` instead)
ESCALATE       ``RetryDecision.fail()``: the retry budget is spent, a person must look
Sutura down    ``RetryDecision.default()``: exactly Airflow's native retries, one warning
=============  ======================================================================

The engine's reason is logged by Airflow ("Retry policy decision ... reason=...") and kept
on the task instance; the Decision itself is in ``sutura decisions``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sutura import Action

from sutura_airflow._decide import decide

try:  # Airflow 3.3+
    from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy

    HAS_RETRY_POLICY = True
except ImportError:  # older Airflow: see sutura_airflow.heal
    HAS_RETRY_POLICY = False

    class RetryPolicy:  # type: ignore[no-redef]
        """Placeholder so this module imports on Airflow without ``retry_policy``."""

    RetryDecision = None  # type: ignore[assignment,misc]

__all__ = ["HAS_RETRY_POLICY", "SuturaRetryPolicy"]


class SuturaRetryPolicy(RetryPolicy):
    """Retry what is transient, fail fast on what is deterministic, wait on upstream causes.

    ``min_delay``/``max_delay`` (seconds) clamp the engine's delay, e.g. to keep a test fast
    or to respect a source's rate limit::

        @task(retries=3, retry_policy=SuturaRetryPolicy())
        def extract(): ...
    """

    def __init__(self, *, min_delay: float | None = None, max_delay: float | None = None) -> None:
        if not HAS_RETRY_POLICY:
            raise RuntimeError(
                "this Airflow has no retry_policy (added in Airflow 3.3); use sutura_airflow.heal instead"
            )
        self.min_delay = min_delay
        self.max_delay = max_delay

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
        return {"__type": "SuturaRetryPolicy", "min_delay": self.min_delay, "max_delay": self.max_delay}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> SuturaRetryPolicy:
        return cls(min_delay=data.get("min_delay"), max_delay=data.get("max_delay"))

    def __repr__(self) -> str:
        return f"SuturaRetryPolicy(min_delay={self.min_delay!r}, max_delay={self.max_delay!r})"
