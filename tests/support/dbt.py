"""Run real ``dbt`` and ``dbt-ol`` builds of a small DuckDB project in a subprocess.

Each test works on its own copy of the project (dbt writes ``target/`` and ``logs/`` next to
it) and its own DuckDB file: ``profiles.yml`` reads the path from ``SUTURA_DBT_DUCKDB_PATH``.

``dbt-ol`` has two modes. The default reads ``target/run_results.json`` after dbt exits and
emits everything at the end (model column lineage; tests grouped per model; no seeds).
``--consume-structured-logs`` follows dbt's JSON log while it runs (seeds, one job per test,
real start times, plus one child job per SQL statement; no column lineage).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from tests.support._process import CommandResult, VENV_BIN, hermetic_env, run_command
from tests.support.openlineage import write_openlineage_yml

__all__ = ["DBT_SMALL", "DbtProject", "new_dbt_project"]

DBT_SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "dbt_small"
_BUILD_OUTPUTS = shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb", "*.duckdb.wal", ".user.yml")


@dataclass(frozen=True)
class DbtProject:
    """A private copy of a dbt project plus the DuckDB file it builds into."""

    path: Path
    warehouse: Path

    @property
    def database(self) -> str:
        """The catalog name DuckDB gives the warehouse (the file's stem), first part of dataset names."""
        return self.warehouse.stem

    @property
    def namespace(self) -> str:
        """The OpenLineage dataset namespace dbt-ol uses for this warehouse."""
        return f"duckdb://{self.warehouse}"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = hermetic_env(
            {
                "DBT_PROFILES_DIR": str(self.path),
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
                "DBT_USE_COLORS": "False",
                "SUTURA_DBT_DUCKDB_PATH": str(self.warehouse),
            }
        )
        env.update(extra or {})
        return env

    def dbt(self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 300) -> CommandResult:
        """Run ``dbt <args>`` in the project dir."""
        return run_command([str(VENV_BIN / "dbt"), *args], env=self.env(env), cwd=self.path, timeout=timeout)

    def dbt_ol(
        self,
        *args: str,
        transport: Mapping[str, Any],
        namespace: str = "sutura-test",
        structured_logs: bool = False,
        env: Mapping[str, str] | None = None,
        timeout: float = 300,
    ) -> CommandResult:
        """Run ``dbt-ol <args>`` with its OpenLineage client configured by ``OPENLINEAGE_CONFIG``.

        dbt-ol launches ``dbt`` from PATH, which is why the venv's bin dir is put first.
        """
        config = write_openlineage_yml(self.path / "openlineage.yml", dict(transport))
        ol_env = {"OPENLINEAGE_CONFIG": str(config), "OPENLINEAGE_NAMESPACE": namespace, **(env or {})}
        argv = [str(VENV_BIN / "dbt-ol"), *args] + (["--consume-structured-logs"] if structured_logs else [])
        return run_command(argv, env=self.env(ol_env), cwd=self.path, timeout=timeout)


def new_dbt_project(root: Path, *, source: Path = DBT_SMALL, warehouse_name: str = "warehouse") -> DbtProject:
    """Copy ``source`` to ``root/<name>`` and point it at ``root/<warehouse_name>.duckdb``."""
    root = Path(root)
    path = root / source.name
    shutil.copytree(source, path, ignore=_BUILD_OUTPUTS)
    return DbtProject(path=path, warehouse=root / f"{warehouse_name}.duckdb")
