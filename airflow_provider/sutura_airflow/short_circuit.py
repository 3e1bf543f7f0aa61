"""Skip a DAG's work when none of its inputs changed since its last successful run.

``SuturaChangedShortCircuitOperator(datasets=[...])`` is a ``ShortCircuitOperator`` whose
condition asks the engine for content changes of ``datasets`` published after the start of
the DAG's previous successful run (``prev_start_date_success``). No previous success, or
Sutura unreachable → it lets the run proceed (what the DAG does without Sutura).
``inputs_changed_since`` is the same test for a ``@task.short_circuit`` function.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Sequence

try:
    from airflow.providers.standard.operators.python import ShortCircuitOperator
except ImportError:  # Airflow 2 without the standard provider
    from airflow.operators.python import ShortCircuitOperator  # type: ignore[no-redef]

from sutura_airflow.triggers import poll_changes

__all__ = ["SuturaChangedShortCircuitOperator", "inputs_changed_since"]

log = logging.getLogger("sutura.airflow")


def _aware(value: Any) -> datetime | None:
    if not value:  # None, or Airflow's lazy proxy around None (no previous successful run)
        return None
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def inputs_changed_since(datasets: Sequence[Any], since: datetime | None) -> bool:
    """True when any dataset changed after ``since`` (or ``since`` is None, or Sutura is unreachable)."""
    since = _aware(since)
    if since is None:
        return True
    cursor: str | None = None
    while True:
        found = poll_changes(datasets, cursor)
        if found is None:
            return True
        changes, nxt = found
        for change in changes:
            published = _aware(change.get("published_at"))
            if published is None or published > since:
                log.info("Sutura: %s changed at %s (after the last successful run at %s)", change["dataset"]["name"], published, since)
                return True
        if not changes or nxt in (None, cursor):
            log.info("Sutura: no input changed since the last successful run at %s", since)
            return False
        cursor = nxt


def _condition(datasets: Sequence[Any], **context: Any) -> bool:
    return inputs_changed_since(datasets, context.get("prev_start_date_success"))


class SuturaChangedShortCircuitOperator(ShortCircuitOperator):
    """Continue only if an input of ``datasets`` changed since the last successful DAG run."""

    def __init__(self, *, datasets: Sequence[Any], ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(
            python_callable=_condition,
            op_args=[list(datasets)],
            ignore_downstream_trigger_rules=ignore_downstream_trigger_rules,
            **kwargs,
        )
        self.datasets = list(datasets)
