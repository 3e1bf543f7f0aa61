"""Run the estate's DAG with real Airflow: ``airflow dags test`` in a subprocess, own AIRFLOW_HOME.

``airflow db migrate`` takes 10 s or more, so the migrated SQLite metadata DB is built once
per Airflow version and machine (under ``SUTURA_TEST_CACHE``, else the temp dir; the same
cache the project's tests use) and copied into each new home. A file lock makes parallel
builds safe. Adapted from the project's test harness (tests/support/airflow.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Iterator, Mapping

__all__ = ["AirflowHome", "AirflowRun", "clean_env", "migrated_db"]

VENV_BIN = Path(sys.executable).parent
_LEAKY = ("AIRFLOW__", "AIRFLOW_", "OPENLINEAGE", "DBT_", "SUTURA_", "DAGSTER_")
_KEEP = {"SUTURA_TEST_CACHE"}


def cache_dir() -> Path:
    root = os.environ.get("SUTURA_TEST_CACHE") or os.path.join(tempfile.gettempdir(), f"sutura-test-cache-{os.getuid()}")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's env without producer settings, the venv first on PATH, a shared bytecode cache."""
    env = {k: v for k, v in os.environ.items() if k in _KEEP or not k.startswith(_LEAKY)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(cache_dir() / "pycache")
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    env.setdefault("NO_COLOR", "1")
    env.update(extra or {})
    return env


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _argv(*args: str) -> list[str]:
    script = VENV_BIN / "airflow"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "airflow", *args]


def _base_env(home: Path, dags: Path, db: Path) -> dict[str, str]:
    return clean_env(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}",
            "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        }
    )


def migrated_db() -> Path:
    """A SQLite metadata DB migrated by ``airflow db migrate``, built once per Airflow version."""
    root = cache_dir() / f"airflow-{version('apache-airflow-core')}"
    target = root / "airflow.db"
    with _lock(root.parent / f"{root.name}.lock"):
        if target.exists():
            return target
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root) as scratch:
            home = Path(scratch)
            (home / "dags").mkdir()
            proc = subprocess.run(_argv("db", "migrate"), env=_base_env(home, home / "dags", home / "airflow.db"),
                                  capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                raise RuntimeError(f"airflow db migrate failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
            (home / "airflow.db").replace(target)
    return target


@dataclass(frozen=True)
class AirflowRun:
    """One ``airflow dags test``: exit code (0 = the DAG run succeeded), output, seconds."""

    dag_id: str
    returncode: int
    output: str
    seconds: float

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0


@dataclass(frozen=True)
class AirflowHome:
    """A throwaway Airflow installation (home, DAG folder, metadata DB) with OpenLineage into the engine."""

    path: Path
    dags_folder: Path
    db_url: str  # the Sutura store the OpenLineage transport and the retry policy write to

    @classmethod
    def create(cls, path: Path, dags_folder: Path, db_url: str) -> "AirflowHome":
        path.mkdir(parents=True, exist_ok=True)
        home = cls(path, dags_folder, db_url)
        if not home.db_path.exists():
            shutil.copyfile(migrated_db(), home.db_path)
        return home

    @property
    def db_path(self) -> Path:
        return self.path / "airflow.db"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = _base_env(self.path, self.dags_folder, self.db_path)
        env.update(
            {
                "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "sutura.transport.SuturaTransport", "db_url": self.db_url}),
                "AIRFLOW__OPENLINEAGE__NAMESPACE": "estate",
                # task events come from a forked child the task waits for (default 10 s): too short on a busy machine
                "AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT": "120",
                "AIRFLOW__SUTURA__DB_URL": self.db_url,
                "SUTURA_DB_URL": self.db_url,
            }
        )
        env.update(extra or {})
        return env

    def dags_test(self, dag_id: str, *, env: Mapping[str, str] | None = None, timeout: float = 300) -> AirflowRun:
        """One DAG run in-process (retries included: ``dags test`` waits for each retry's delay)."""
        started = time.perf_counter()
        proc = subprocess.run(_argv("dags", "test", dag_id), env=self.env(env), cwd=self.path,
                              capture_output=True, text=True, timeout=timeout)
        output = proc.stdout + proc.stderr
        (self.path / "runs.log").open("a").write(f"\n===== dags test {dag_id} (exit {proc.returncode})\n{output}")
        return AirflowRun(dag_id, proc.returncode, output, time.perf_counter() - started)
