"""Write-audit-publish for SQL tables through SQLAlchemy (DuckDB, PostgreSQL, SQLite...).

Tables, for a target ``<table>``:

- ``<table>__sutura_audit``: where new data lands and is checked (scratch, rebuilt per run);
- ``<table>__sutura_q_<fingerprint[:16]>``: an audit table kept as a quarantine when checks
  failed. Never deleted by Sutura; published into ``<table>`` on release.

Publishing is one transaction: ``DELETE`` + ``INSERT ... SELECT`` when the columns and
their types match
(the production table keeps its identity, grants and dependent views), else drop and
rename. Readers see the old rows or the new rows, never a mix or an empty table.
``publishing`` stages that transaction and commits it when its block exits, so a caller
can ask for the publish decision between a swap that is ready and its commit.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import sqlalchemy as sa

from sutura import Dataset
from sutura.naming import dataset_for_url

__all__ = ["SqlTarget", "content_fingerprint", "open_engine"]

AUDIT_SUFFIX = "__sutura_audit"
QUARANTINE_INFIX = "__sutura_q_"


def open_engine(url: str) -> sa.Engine:
    """A SQLAlchemy engine whose transactions cover DDL too (SQLite needs an explicit BEGIN)."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _no_implicit(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

    return engine


@dataclass(frozen=True)
class SqlTarget:
    """A production table and the names of its audit and quarantine tables."""

    url: str
    table: str
    schema: str | None = None

    @property
    def dataset(self) -> Dataset:
        return dataset_for_url(self.url, self.table, self.schema)

    @property
    def audit_table(self) -> str:
        return f"{self.table}{AUDIT_SUFFIX}"

    def quarantine_table(self, fingerprint: str) -> str:
        return f"{self.table}{QUARANTINE_INFIX}{fingerprint[:16]}"

    def relation(self, engine: sa.Engine, name: str) -> str:
        quote = engine.dialect.identifier_preparer.quote
        if self.schema and engine.dialect.name != "sqlite":
            return f"{quote(self.schema)}.{quote(name)}"
        return quote(name)

    def exists(self, engine: sa.Engine, name: str) -> bool:
        schema = self.schema if engine.dialect.name != "sqlite" else None
        return sa.inspect(engine).has_table(name, schema=schema)

    def columns(self, engine: sa.Engine, name: str) -> list[str]:
        """Column names, read from an empty SELECT (portable: duckdb-engine lacks reflection)."""
        with engine.connect() as conn:
            return list(conn.execute(sa.text(f"SELECT * FROM {self.relation(engine, name)} WHERE 1 = 0")).keys())

    def shape(self, engine: sa.Engine, name: str) -> list[tuple[str, str]]:
        """(column, driver type code) pairs: a retyped column changes the shape, not only a renamed one."""
        with engine.connect() as conn:
            result = conn.execute(sa.text(f"SELECT * FROM {self.relation(engine, name)} WHERE 1 = 0"))
            description = result.cursor.description or []
            return [(str(d[0]), str(d[1])) for d in description]

    def column_types(self, engine: sa.Engine, name: str) -> list[tuple[str, str]]:
        """(column, declared type) pairs as the database's catalog states them, in column order."""
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                rows = conn.exec_driver_sql(f"PRAGMA table_info({self.relation(engine, name)})").all()
                return [(str(r[1]), str(r[2] or "")) for r in rows]
            rows = conn.execute(
                sa.text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_catalog = current_database() AND table_schema = coalesce(:schema, current_schema()) "
                    "AND table_name = :name ORDER BY ordinal_position"
                ),
                {"schema": self.schema, "name": name},
            ).all()
            return [(str(r[0]), str(r[1])) for r in rows]

    # -- write ------------------------------------------------------------------------
    def write_audit_sql(self, engine: sa.Engine, select_sql: str) -> None:
        """Land the result of ``select_sql`` in a fresh audit table."""
        audit = self.relation(engine, self.audit_table)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {audit}"))
            conn.execute(sa.text(f"CREATE TABLE {audit} AS {select_sql}"))

    def write_audit_frame(self, engine: sa.Engine, frame: Any) -> None:
        """Land a pandas DataFrame (or a list of dicts) in a fresh audit table."""
        import pandas as pd

        df = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(list(frame))
        schema = self.schema if engine.dialect.name != "sqlite" else None
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {self.relation(engine, self.audit_table)}"))
            df.to_sql(self.audit_table, conn, schema=schema, index=False)

    # -- publish / hold ---------------------------------------------------------------
    def publish(self, engine: sa.Engine, source: str) -> None:
        """Replace production's rows by ``source``'s in one transaction, then drop ``source``."""
        with self.publishing(engine, source):
            pass

    @contextmanager
    def publishing(self, engine: sa.Engine, source: str) -> Iterator[None]:
        """Stage the swap of ``source`` into production; it commits when the block exits.

        If the block raises, the swap is rolled back: production and ``source`` are as before.
        Readers keep seeing the old rows until the commit.
        """
        statements = self._swap(engine, source)
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
            yield

    def _swap(self, engine: sa.Engine, source: str) -> list[str]:
        """The statements that move ``source``'s rows into production and drop ``source``."""
        prod = self.relation(engine, self.table)
        src = self.relation(engine, source)
        quote = engine.dialect.identifier_preparer.quote
        if self.exists(engine, self.table) and self.shape(engine, self.table) == self.shape(engine, source):
            cols = ", ".join(quote(c) for c in self.columns(engine, source))
            return [f"DELETE FROM {prod}", f"INSERT INTO {prod} ({cols}) SELECT {cols} FROM {src}", f"DROP TABLE {src}"]
        return [f"DROP TABLE IF EXISTS {prod}", f"ALTER TABLE {src} RENAME TO {quote(self.table)}"]

    def hold(self, engine: sa.Engine, fingerprint: str) -> str:
        """Keep the audit table as the quarantine of this content; returns its name."""
        name = self.quarantine_table(fingerprint)
        quote = engine.dialect.identifier_preparer.quote
        with engine.begin() as conn:
            if self.exists(engine, name):  # the same content held before: keep the first copy
                conn.execute(sa.text(f"DROP TABLE {self.relation(engine, self.audit_table)}"))
            else:
                conn.execute(sa.text(f"ALTER TABLE {self.relation(engine, self.audit_table)} RENAME TO {quote(name)}"))
        return name

    def quarantine_tables(self, engine: sa.Engine) -> list[str]:
        schema = self.schema if engine.dialect.name != "sqlite" else None
        prefix = f"{self.table}{QUARANTINE_INFIX}"
        return sorted(n for n in sa.inspect(engine).get_table_names(schema=schema) if n.startswith(prefix))


def content_fingerprint(engine: sa.Engine, relation: str) -> tuple[str, int]:
    """A hash of a relation's content (column names + rows, order-independent) and its row count."""
    digests: list[bytes] = []
    with engine.connect() as conn:
        result = conn.execute(sa.text(f"SELECT * FROM {relation}"))
        header = "|".join(result.keys())
        for row in result:
            digests.append(hashlib.sha256(repr(tuple(_norm(v) for v in row)).encode()).digest())
    digests.sort()
    h = hashlib.sha256(header.encode())
    for d in digests:
        h.update(d)
    return h.hexdigest()[:32], len(digests)


def _norm(value: Any) -> Any:
    """Values as comparable text, so the same rows hash the same across drivers."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
