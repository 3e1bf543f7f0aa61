"""Loads the Sutura plugin (its listener) without the ``airflow.plugins`` entry point installed."""

from sutura_airflow.plugin import SuturaPlugin  # noqa: F401
