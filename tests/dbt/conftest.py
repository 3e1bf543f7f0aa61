"""Fixtures for the dbt package tests: a real dbt CLI run in a private copy of dbt_package/.

Each adapter gets its own copy of ``dbt_package/`` in a temporary directory, so that
``target/``, ``logs/`` and ``dbt_packages/`` never appear in the repository, and its own
warehouse: a DuckDB file, or a fresh PostgreSQL schema (dropped afterwards) at
``SUTURA_TEST_PG_URL``. PostgreSQL tests skip when the server is unreachable, unless
``SUTURA_REQUIRE_PG=1``. ``SUTURA_TEST_DBT`` runs another dbt executable (another dbt-core
version) instead of the virtualenv's.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pickle
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO_ROOT / "dbt_package"
VENV_BIN = Path(sys.executable).parent
# The dbt CLI under test: the venv's, unless SUTURA_TEST_DBT names another (another dbt version).
DBT_EXECUTABLE = Path(os.environ.get("SUTURA_TEST_DBT", str(VENV_BIN / "dbt")))
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# What a copy of the package leaves behind: build output, installed packages, warehouses.
_IGNORED = shutil.ignore_patterns(
    "target", "logs", "dbt_packages", "package-lock.yml", "__pycache__", "*.duckdb", "*.wal", "sutura_dbt"
)


@dataclass
class DbtResult:
    """One dbt invocation: its exit code, its output and its run_results.json."""

    args: tuple[str, ...]
    returncode: int
    output: str
    run_results: dict[str, Any] = field(default_factory=dict)

    def status(self, unique_id: str) -> str | None:
        """The status dbt recorded for a node in this invocation, or None if it did not run."""
        for result in self.run_results.get("results", []):
            if result["unique_id"] == unique_id:
                return result["status"]
        return None

    @property
    def invocation_id(self) -> str:
        return self.run_results["metadata"]["invocation_id"]


class Warehouse:
    """Read-only access to the warehouse a dbt target writes to."""

    schema: str
    target: str

    def rows(self, sql: str) -> list[tuple]:
        raise NotImplementedError

    def relation(self, identifier: str) -> str:
        return f'"{self.schema}"."{identifier}"'

    def table(self, identifier: str, order_by: str = "1") -> list[tuple]:
        """All rows of a relation of the test schema, numbers as Decimal-free Python values."""
        return [_plain(row) for row in self.rows(f"select * from {self.relation(identifier)} order by {order_by}")]

    def relations(self, prefix: str = "") -> set[str]:
        rows = self.rows(
            "select table_name from information_schema.tables "
            f"where table_schema = '{self.schema}' and table_name like '{prefix}%'"
        )
        return {name for (name,) in rows}


class DuckDBWarehouse(Warehouse):
    target = "duckdb"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.schema = "main"

    def env(self) -> dict[str, str]:
        return {"SUTURA_IT_DUCKDB_PATH": str(self.path)}

    def rows(self, sql: str) -> list[tuple]:
        import duckdb

        with duckdb.connect(str(self.path), read_only=True) as connection:
            return connection.execute(sql).fetchall()

    def close(self) -> None:
        pass


class PostgresWarehouse(Warehouse):
    target = "postgres"

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        self.params = {
            "host": parsed.host or "127.0.0.1",
            "port": parsed.port or 5432,
            "user": parsed.username or "postgres",
            "password": parsed.password or "",
            "dbname": parsed.database or "test",
        }
        self.schema = f"sutura_it_{uuid.uuid4().hex[:10]}"

    def connect(self):
        import psycopg

        return psycopg.connect(connect_timeout=3, autocommit=True, **self.params)

    def env(self) -> dict[str, str]:
        return {
            "SUTURA_IT_PG_HOST": str(self.params["host"]),
            "SUTURA_IT_PG_PORT": str(self.params["port"]),
            "SUTURA_IT_PG_USER": str(self.params["user"]),
            "SUTURA_IT_PG_PASSWORD": str(self.params["password"]),
            "SUTURA_IT_PG_DBNAME": str(self.params["dbname"]),
            "SUTURA_IT_PG_SCHEMA": self.schema,
        }

    def rows(self, sql: str) -> list[tuple]:
        with self.connect() as connection:
            return connection.execute(sql).fetchall()

    def close(self) -> None:
        with self.connect() as connection:
            connection.execute(f'drop schema if exists "{self.schema}" cascade')


def _plain(row: tuple) -> tuple:
    """Decimals as floats, so expected rows can be written as plain literals."""
    return tuple(float(value) if isinstance(value, Decimal) else value for value in row)


class DbtProject:
    """The integration_tests project of a private copy of the package, run with real dbt."""

    def __init__(self, root: Path, warehouse: Warehouse) -> None:
        self.root = root
        self.project_dir = root / "integration_tests"
        self.warehouse = warehouse

    def dbt(self, *args: str, env: dict[str, str] | None = None) -> DbtResult:
        """Run ``dbt ARGS`` in the project with extra ``env`` (the project picks its data
        with ``SUTURA_IT_*`` variables); never raises on a failing build, tests assert it."""
        command = [str(DBT_EXECUTABLE), *args, "--project-dir", str(self.project_dir)]
        if args[0] != "deps":
            command += ["--target", self.warehouse.target, "--profiles-dir", str(self.project_dir)]
        extra_env = env or {}
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DBT_", "SUTURA_IT_", "OPENLINEAGE"))
        }
        env.update(self.warehouse.env())
        env.update(extra_env)
        env["PATH"] = f"{DBT_EXECUTABLE.parent}{os.pathsep}{env.get('PATH', '')}"
        env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
        env["DBT_USE_COLORS"] = "false"
        run_results_path = self.project_dir / "target" / "run_results.json"
        run_results_path.unlink(missing_ok=True)
        completed = subprocess.run(
            command, cwd=self.project_dir, env=env, capture_output=True, text=True, timeout=600
        )
        run_results = json.loads(run_results_path.read_text()) if run_results_path.exists() else {}
        return DbtResult(tuple(args), completed.returncode, completed.stdout + completed.stderr, run_results)


def _postgres_url() -> str:
    return os.environ.get("SUTURA_TEST_PG_URL", DEFAULT_PG_URL)


def _postgres_or_skip() -> PostgresWarehouse:
    warehouse = PostgresWarehouse(_postgres_url())
    try:
        with warehouse.connect():
            pass
    except Exception as error:  # any connection failure means "no server here"
        message = f"PostgreSQL unreachable at {_postgres_url()}: {error}"
        if os.environ.get("SUTURA_REQUIRE_PG") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return warehouse


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("duckdb", marks=pytest.mark.xdist_group("dbt_package")),
        pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.xdist_group("dbt_package")]),
    ],
)
def dbt_package_adapter(request) -> str:
    """The adapter a dbt package test runs on; PostgreSQL skips when unreachable."""
    if request.param == "postgres":
        _postgres_or_skip()
    return request.param


@contextlib.contextmanager
def dbt_package_project(adapter: str, workdir: Path) -> Iterator[DbtProject]:
    """A private copy of dbt_package/ under ``workdir`` with ``dbt deps`` done, on a fresh
    warehouse for ``adapter`` that is removed on exit."""
    root = workdir / "dbt_package"
    shutil.copytree(PACKAGE_DIR, root, ignore=_IGNORED)
    warehouse: Warehouse = (
        DuckDBWarehouse(workdir / "warehouse.duckdb") if adapter == "duckdb" else _postgres_or_skip()
    )
    try:
        project = DbtProject(root, warehouse)
        deps = project.dbt("deps")
        assert deps.returncode == 0, deps.output
        yield project
    finally:
        warehouse.close()


def run_once(tmp_path_factory, key: str, build: Callable[[Path], Any]) -> Any:
    """``build(workdir)`` once per pytest run, even when several xdist workers ask for it:
    the first computes and pickles the result under a file lock, the others read it.
    Scenarios of real dbt runs cost a minute; they must never run twice."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    result_file = shared / f"{key}.pickle"
    with open(shared / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if result_file.exists():
            return pickle.loads(result_file.read_bytes())
        workdir = shared / key
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir()
        value = build(workdir)
        result_file.write_bytes(pickle.dumps(value))
        return value
