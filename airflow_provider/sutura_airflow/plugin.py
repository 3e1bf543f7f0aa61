"""``SuturaPlugin``: registers the listener (entry point ``airflow.plugins``)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from sutura_airflow.listener import listener

__all__ = ["SuturaPlugin"]


class SuturaPlugin(AirflowPlugin):
    name = "sutura"
    listeners = [listener]
