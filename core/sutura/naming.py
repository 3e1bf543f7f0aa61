"""Dataset names for the warehouses Sutura's plugins write, per the OpenLineage naming spec.

Every plugin names a table through these functions, so a DuckDB table written by an
Airflow task, built by dbt (dbt-ol names it the same way) and read by a Dagster asset
is one Dataset in the graph.

>>> duckdb_dataset("/data/warehouse.duckdb", "customers")
Dataset(namespace='duckdb:///data/warehouse.duckdb', name='warehouse.main.customers', facets={})
>>> postgres_dataset("127.0.0.1", 5432, "test", "public", "orders").id
'dataset:postgres://127.0.0.1:5432:test.public.orders'
"""

from __future__ import annotations

import os
from pathlib import Path

from sutura.ontology import Dataset

__all__ = ["duckdb_dataset", "file_dataset", "postgres_dataset", "sqlite_dataset", "dataset_for_url"]


def duckdb_dataset(path: str | os.PathLike[str], table: str, schema: str = "main", database: str | None = None) -> Dataset:
    """``duckdb://<path>`` / ``<database>.<schema>.<table>``: what dbt-ol emits for dbt-duckdb.

    ``path`` is used as given (dbt-ol copies the profile's ``path``): pass the same
    absolute path everywhere. The database defaults to the file's stem, as in dbt-duckdb.
    """
    text = os.fspath(path)
    db = database or (Path(text).stem if text not in ("", ":memory:") else "memory")
    return Dataset(f"duckdb://{text}", f"{db}.{schema}.{table}")


def postgres_dataset(host: str, port: int | str, database: str, schema: str, table: str) -> Dataset:
    return Dataset(f"postgres://{host}:{port}", f"{database}.{schema}.{table}")


def sqlite_dataset(path: str | os.PathLike[str], table: str) -> Dataset:
    return Dataset(f"sqlite://{os.fspath(path)}", table)


def file_dataset(path: str | os.PathLike[str]) -> Dataset:
    """A local file or folder: namespace ``file``, name the absolute path."""
    return Dataset("file", str(Path(path).resolve()))


def dataset_for_url(url: str, table: str, schema: str | None = None) -> Dataset:
    """The Dataset of ``table`` in the database a SQLAlchemy URL points at."""
    import sqlalchemy as sa

    u = sa.make_url(url)
    backend = u.get_backend_name()
    if backend == "duckdb":
        return duckdb_dataset(u.database or ":memory:", table, schema or "main")
    if backend == "postgresql":
        return postgres_dataset(u.host or "localhost", u.port or 5432, u.database or "postgres", schema or "public", table)
    if backend == "sqlite":
        return sqlite_dataset(u.database or ":memory:", table)
    return Dataset(f"{backend}://{u.host or ''}{':' + str(u.port) if u.port else ''}", f"{u.database}.{schema + '.' if schema else ''}{table}")
