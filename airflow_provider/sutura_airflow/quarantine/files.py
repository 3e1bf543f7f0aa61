"""Write-audit-publish for files (Parquet or CSV): the audit file is checked with DuckDB and
published by an atomic rename onto the production path.

Files, for a target ``/data/orders.parquet``:

- ``/data/.orders.sutura-audit.parquet``: where new data lands and is checked;
- ``/data/orders.sutura-q-<fingerprint[:16]>.parquet``: a failed batch, held (never deleted).

Readers of ``orders.parquet`` see the old file or the new one, never a partial write.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import sqlalchemy as sa

from sutura import Dataset
from sutura.naming import file_dataset

__all__ = ["FileTarget", "file_fingerprint", "run_file_checks", "written_file_columns"]


@dataclass(frozen=True)
class FileTarget:
    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path).resolve())
        if self.format not in ("parquet", "csv"):
            raise ValueError(f"{self.path}: only .parquet and .csv files are supported")

    @property
    def format(self) -> str:
        return self.path.suffix.lstrip(".").lower()

    @property
    def dataset(self) -> Dataset:
        return file_dataset(self.path)

    @property
    def audit_path(self) -> Path:
        return self.path.with_name(f".{self.path.stem}.sutura-audit{self.path.suffix}")

    def quarantine_path(self, fingerprint: str) -> Path:
        return self.path.with_name(f"{self.path.stem}.sutura-q-{fingerprint[:16]}{self.path.suffix}")

    def relation(self, path: Path | None = None) -> str:
        """A DuckDB table expression reading the file."""
        p = str(path or self.audit_path).replace("'", "''")
        return f"read_parquet('{p}')" if self.format == "parquet" else f"read_csv_auto('{p}')"

    def write_audit(self, frame: Any) -> None:
        import pandas as pd

        df = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(list(frame))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.audit_path.with_name(self.audit_path.name + ".tmp")
        import duckdb  # writes Parquet without pyarrow

        con = duckdb.connect()
        try:
            con.register("frame", df)
            options = "FORMAT PARQUET" if self.format == "parquet" else "FORMAT CSV, HEADER"
            con.execute(f"COPY frame TO '{str(tmp).replace(chr(39), chr(39) * 2)}' ({options})")
        finally:
            con.close()
        os.replace(tmp, self.audit_path)

    def publish(self, source: Path | None = None) -> None:
        os.replace(source or self.audit_path, self.path)  # atomic on one filesystem

    def hold(self, fingerprint: str) -> Path:
        target = self.quarantine_path(fingerprint)
        if target.exists():
            self.audit_path.unlink()
        else:
            os.replace(self.audit_path, target)
        return target

    def quarantine_files(self) -> list[Path]:
        return sorted(self.path.parent.glob(f"{self.path.stem}.sutura-q-*{self.path.suffix}"))


def checker() -> sa.Engine:
    """An in-memory DuckDB to run checks and fingerprints over files."""
    return sa.create_engine("duckdb:///:memory:", poolclass=sa.pool.StaticPool)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def run_file_checks(target: FileTarget, checks: Sequence[Any]) -> list[Any]:
    from sutura_airflow.quarantine.checks import run_sql_checks

    db = checker()
    try:
        return run_sql_checks(db, target.relation(), target.dataset, checks, quote)
    finally:
        db.dispose()


def file_fingerprint(target: FileTarget) -> tuple[str, int]:
    from sutura_airflow.quarantine.sql import content_fingerprint

    db = checker()
    try:
        return content_fingerprint(db, target.relation())
    finally:
        db.dispose()


def written_file_columns(target: FileTarget) -> tuple[tuple[str, str], ...]:
    """(column, DuckDB type) of the audited file, for lineage; empty if it cannot be read."""
    db = checker()
    try:
        with db.connect() as conn:
            rows = conn.exec_driver_sql(f"DESCRIBE SELECT * FROM {target.relation()}").all()
        return tuple((str(r[0]), str(r[1])) for r in rows)
    except sa.exc.SQLAlchemyError:  # lineage degrades, never fails the task
        return ()
    finally:
        db.dispose()
