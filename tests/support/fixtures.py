"""Pytest fixtures for tests that run real producers (Airflow, dbt, dbt-ol) and ``sutura serve``.

Load with ``pytest_plugins = ["tests.support.fixtures"]`` in the top-level ``tests/conftest.py``.
Tests using these fixtures are slow (seconds to tens of seconds each): mark them ``slow`` and
put those sharing a fixture in one ``xdist_group``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.support.airflow import AirflowHome, migrated_db, new_airflow_home
from tests.support.dbt import DbtProject, new_dbt_project
from tests.support.server import SuturaServer, running_sutura_server

__all__ = ["airflow_home", "airflow_template_db", "dbt_project", "sutura_server"]


@pytest.fixture(scope="session")
def airflow_template_db() -> Path:
    """The migrated Airflow metadata DB (``airflow db migrate`` runs once per machine and version)."""
    return migrated_db()


@pytest.fixture
def airflow_home(tmp_path: Path, airflow_template_db: Path) -> AirflowHome:
    """A fresh AIRFLOW_HOME with the test DAG folder and its own copy of the metadata DB."""
    return new_airflow_home(tmp_path / "airflow", template=airflow_template_db)


@pytest.fixture
def dbt_project(tmp_path: Path) -> DbtProject:
    """A private copy of ``tests/fixtures/projects/dbt_small`` building into its own DuckDB file."""
    return new_dbt_project(tmp_path / "dbt")


@pytest.fixture
def sutura_server(tmp_path: Path) -> Iterator[SuturaServer]:
    """A ``sutura serve`` on a free port with an empty SQLite store."""
    with running_sutura_server(tmp_path / "sutura") as server:
        yield server
