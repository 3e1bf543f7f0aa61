"""Airflow names that moved between versions, imported once (Airflow 3.3 first, then 2.x)."""

from __future__ import annotations

try:  # Airflow 3
    from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException, AirflowSkipException
except ImportError:  # Airflow 2
    from airflow.exceptions import AirflowFailException, AirflowRescheduleException, AirflowSkipException  # type: ignore[no-redef]

try:
    from airflow.sdk import BaseOperator, get_current_context
except ImportError:  # Airflow 2
    from airflow.models import BaseOperator  # type: ignore[no-redef]
    from airflow.operators.python import get_current_context  # type: ignore[no-redef]

__all__ = [
    "AirflowFailException",
    "AirflowRescheduleException",
    "AirflowSkipException",
    "BaseOperator",
    "get_current_context",
]
