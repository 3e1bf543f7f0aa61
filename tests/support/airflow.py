"""Run real Airflow 3 DAGs from tests with ``airflow dags test`` in a subprocess.

Each test gets its own ``AIRFLOW_HOME`` (config, logs, SQLite metadata DB). ``airflow db migrate``
takes about 10 s, so it runs once per Airflow version on this machine: the migrated DB is kept
in the test cache (see ``_process.cache_dir``) and copied into every new home.

OpenLineage is configured the way a user would configure it, through ``[openlineage]``
options in the env (``AIRFLOW__OPENLINEAGE__TRANSPORT`` etc.); see ``openlineage_env``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Mapping

from tests.support._process import CommandResult, VENV_BIN, cache_dir, file_lock, hermetic_env, run_command

__all__ = [
    "AIRFLOW_DAGS",
    "AirflowHome",
    "airflow_version",
    "migrated_db",
    "new_airflow_home",
    "openlineage_env",
]

AIRFLOW_DAGS = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "airflow_dags"


def airflow_version() -> str:
    """The installed apache-airflow-core version, read without importing Airflow."""
    return version("apache-airflow-core")


def _airflow_argv(*args: str) -> list[str]:
    script = VENV_BIN / "airflow"
    return [str(script), *args] if script.exists() else [str(VENV_BIN / "python"), "-m", "airflow", *args]


def _base_env(home: Path, dags_folder: Path, db_path: Path) -> dict[str, str]:
    return hermetic_env(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db_path}",
            "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        }
    )


def migrated_db() -> Path:
    """A SQLite metadata DB migrated by ``airflow db migrate``; built once per Airflow version.

    Safe under pytest-xdist and parallel runs: a file lock serialises the build and the DB
    appears under its final name only once migration succeeded.
    """
    root = cache_dir() / f"airflow-{airflow_version()}"
    target = root / "airflow.db"
    with file_lock(root.parent / f"{root.name}.lock"):
        if target.exists():
            return target
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root) as scratch:
            home = Path(scratch)
            db = home / "airflow.db"
            empty_dags = home / "dags"
            empty_dags.mkdir()
            result = run_command(_airflow_argv("db", "migrate"), env=_base_env(home, empty_dags, db), timeout=600)
            result.check()
            db.replace(target)
        (root / "migrate-seconds.txt").write_text(f"{result.duration:.2f}\n")
    return target


@dataclass(frozen=True)
class AirflowHome:
    """One throwaway Airflow installation: home dir, DAG folder and metadata DB."""

    path: Path
    dags_folder: Path

    @property
    def db_path(self) -> Path:
        return self.path / "airflow.db"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The full env an ``airflow`` command of this home runs with (``extra`` wins)."""
        env = _base_env(self.path, self.dags_folder, self.db_path)
        env.update(extra or {})
        return env

    def airflow(self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 300) -> CommandResult:
        """Run ``airflow <args>`` against this home."""
        return run_command(_airflow_argv(*args), env=self.env(env), cwd=self.path, timeout=timeout)

    def dags_test(
        self,
        dag_id: str,
        *,
        env: Mapping[str, str] | None = None,
        logical_date: str | None = None,
        timeout: float = 300,
    ) -> CommandResult:
        """Run one DAG run in-process (``airflow dags test``): exit 0 if the run succeeded, 1 if it failed.

        Retries happen inside the same command: a task that fails with retries left goes
        ``up_for_retry`` and ``dags test`` runs it again once ``retry_delay`` has passed.
        """
        args = ["dags", "test", dag_id] + ([logical_date] if logical_date else [])
        return self.airflow(*args, env=env, timeout=timeout)


def new_airflow_home(root: Path, *, dags_folder: Path = AIRFLOW_DAGS, template: Path | None = None) -> AirflowHome:
    """Create an Airflow home under ``root`` holding a copy of the migrated DB."""
    home = AirflowHome(path=Path(root), dags_folder=Path(dags_folder))
    home.path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template or migrated_db(), home.db_path)
    return home


def openlineage_env(
    transport: Mapping[str, Any],
    *,
    namespace: str = "sutura-test",
    **options: str,
) -> dict[str, str]:
    """``[openlineage]`` settings as env: the transport JSON, the job namespace, any other option.

    ``options`` are other keys of the section, e.g. ``disable_source_code="True"`` or
    ``disabled_for_operators`` (``;``-separated fully qualified class names; ``@task`` tasks are
    ``airflow.providers.standard.decorators.python._PythonDecoratedOperator``). OpenLineage is
    off unless a transport (or ``config_path``/``OPENLINEAGE_URL``) is set.
    """
    env = {
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(dict(transport)),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": namespace,
        # Task events are emitted by a forked child the task waits for at most this long
        # (default 10 s), then kills: on a loaded CI machine that silently drops events.
        "AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT": "120",
    }
    for key, value in options.items():
        env[f"AIRFLOW__OPENLINEAGE__{key.upper()}"] = str(value)
    return env
