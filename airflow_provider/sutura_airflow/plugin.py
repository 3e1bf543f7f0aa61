"""``SuturaPlugin``: registers the listener (entry point ``airflow.plugins``)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from sutura_airflow.listener import listener, preload

__all__ = ["SuturaPlugin"]

preload()  # task processes forked from this one inherit the engine's imports


class SuturaPlugin(AirflowPlugin):
    name = "sutura"
    listeners = [listener]
