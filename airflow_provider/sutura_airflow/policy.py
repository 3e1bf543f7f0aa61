"""Opt-in cluster policy: give every task ``SuturaRetryPolicy`` (entry point ``airflow.policy``).

Off unless ``[sutura] cluster_policy = True`` in the Airflow config (``AIRFLOW__SUTURA__CLUSTER_POLICY``)
or ``SUTURA_AIRFLOW_CLUSTER_POLICY=1``. A task that already has a ``retry_policy`` keeps it.
On Airflow without ``retry_policy`` (before 3.3) it does nothing: use ``heal`` there.

Without the entry point, load it from ``airflow_local_settings.py``::

    from sutura_airflow.policy import task_policy
"""

from __future__ import annotations

import os
from typing import Any

try:
    from airflow.policies import hookimpl
except ImportError:  # pragma: no cover
    hookimpl = None  # type: ignore[assignment]

__all__ = ["enabled", "task_policy"]


def enabled() -> bool:
    env = os.environ.get("SUTURA_AIRFLOW_CLUSTER_POLICY", "").strip().lower()
    if env:
        return env in ("1", "true", "yes", "on")
    try:
        from airflow.configuration import conf

        return conf.getboolean("sutura", "cluster_policy", fallback=False)
    except Exception:  # noqa: BLE001
        return False


def _apply(task: Any) -> None:
    if not enabled() or getattr(task, "retry_policy", None) is not None:
        return
    from sutura_airflow.retry import HAS_RETRY_POLICY, SuturaRetryPolicy

    if HAS_RETRY_POLICY and hasattr(task, "retry_policy"):
        task.retry_policy = SuturaRetryPolicy()


if hookimpl is not None:

    @hookimpl
    def task_policy(task: Any) -> None:
        """Set ``SuturaRetryPolicy`` on ``task`` when the cluster policy is switched on."""
        _apply(task)

else:  # pragma: no cover

    def task_policy(task: Any) -> None:
        _apply(task)
