"""Content fingerprints of relations: did a table's content really change?

One query per relation, a full scan computed inside the warehouse (nothing is fetched):
the row count plus an order-independent sum of per-row hashes, plus the column names and
types. Equal content (whatever the row order or the write time) gives an equal
fingerprint; any changed, added or removed row changes it (a sum, unlike XOR, does not
cancel duplicate rows).

- DuckDB: ``count(*)`` and ``sum(hash(t))`` over the row as a struct (DuckDB's hash is
  deterministic for a given DuckDB version; an upgrade may count once as a change).
- PostgreSQL: ``count(*)`` and the sum of the first 60 bits of ``md5(t::text)`` per row.

Other adapters get no fingerprint (the engine then falls back to output statistics).
Views are not fingerprinted: scanning one costs as much as running its query.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Callable, Iterable

__all__ = ["Fingerprinter", "open_fingerprinter"]

log = logging.getLogger("sutura_dbt")

FINGERPRINTED = {"table", "incremental", "seed", "snapshot", "write_audit_publish", "source"}


class Fingerprinter:
    """Fingerprints relations over one connection; ``None`` for a relation it cannot read.

    Column names and types come from one ``information_schema.columns`` query, cached until
    ``refresh()`` (call it after dbt wrote new relations). The connection opens on first use
    and ``close()`` closes it: the runner closes it before every dbt invocation, so it never
    holds a DuckDB file (or a PostgreSQL session) while dbt works.
    """

    def __init__(self, connect: Callable[[], Any], kind: str) -> None:
        self._connect = connect
        self._connection: Any = None
        self._broken: Exception | None = None
        self.kind = kind
        self._columns: dict[tuple[str, str, str], list[tuple[str, str]]] | None = None

    @property
    def connection(self) -> Any:
        if self._connection is None:
            if self._broken is not None:
                raise self._broken
            try:
                self._connection = self._connect()
            except Exception as exc:  # e.g. DuckDB: the file is open with another configuration
                self._broken = exc
                log.warning("Sutura: no content fingerprints: cannot open the warehouse: %s", exc)
                raise
        return self._connection

    def refresh(self) -> None:
        self._columns = None

    def _query(self, sql: str) -> list[tuple]:
        if self.kind == "duckdb":
            return self.connection.execute(sql).fetchall()
        with self.connection.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def _rollback(self) -> None:
        if self.kind != "duckdb" and self._connection is not None:
            try:
                self._connection.rollback()
            except Exception:
                pass

    def columns(self, relation: str) -> list[tuple[str, str]]:
        if self._columns is None:
            self._columns = {}
            rows = self._query(
                "select table_catalog, table_schema, table_name, column_name, data_type "
                "from information_schema.columns order by table_catalog, table_schema, table_name, ordinal_position"
            )
            for catalog, schema, table, column, kind in rows:
                self._columns.setdefault((catalog.lower(), schema.lower(), table.lower()), []).append((column, kind))
        parts = tuple(p.strip('"').lower() for p in relation.split('"."'))
        if len(parts) == 2:
            return next((v for k, v in self._columns.items() if k[1:] == parts), [])
        return self._columns.get(parts, []) if len(parts) == 3 else []

    def __call__(self, relation: str) -> tuple[str, int] | None:
        """``(fingerprint, row_count)`` of a quoted relation name such as ``"db"."main"."t"``."""
        if self.kind == "duckdb":
            sql = f"select count(*), coalesce(sum(hash(t)), 0)::varchar from {relation} t"
        else:
            sql = (
                "select count(*), coalesce(sum(('x' || left(md5(t::text), 15))::bit(60)::bigint::numeric), 0)::text "
                f"from {relation} t"
            )
        try:
            [(count, total)] = self._query(sql)
            schema = self.columns(relation)
        except Exception as exc:  # a relation that is missing or unreadable has no fingerprint
            log.debug("cannot fingerprint %s: %s", relation, exc)
            self._rollback()
            return None
        digest = hashlib.sha256(f"{schema}|{count}|{total}".encode()).hexdigest()[:32]
        return digest, int(count)

    def many(self, relations: Iterable[tuple[str, str]], batch: int = 200) -> dict[str, tuple[str, int]]:
        """Fingerprint ``(key, relation)`` pairs, ``batch`` relations per query (one round trip
        instead of one each); keys whose relation cannot be read are left out."""
        pairs = list(relations)
        out: dict[str, tuple[str, int]] = {}
        for i in range(0, len(pairs), batch):
            chunk = pairs[i : i + batch]
            parts = [
                f"select {j} as k, count(*) as n, " + (
                    "coalesce(sum(hash(t)), 0)::varchar as h" if self.kind == "duckdb"
                    else "coalesce(sum(('x' || left(md5(t::text), 15))::bit(60)::bigint::numeric), 0)::text as h"
                ) + f" from {relation} t"
                for j, (_, relation) in enumerate(chunk)
            ]
            try:
                rows = self._query("\nunion all\n".join(parts))
            except Exception:  # one unreadable relation: fall back to one query each
                self._rollback()
                for key, relation in chunk:
                    found = self(relation)
                    if found is not None:
                        out[key] = found
                continue
            for j, count, total in rows:
                key, relation = chunk[j]
                schema = self.columns(relation)
                out[key] = hashlib.sha256(f"{schema}|{count}|{total}".encode()).hexdigest()[:32], int(count)
        return out

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:
                pass


def open_fingerprinter(profile: dict[str, Any], project_dir: str) -> Fingerprinter | None:
    """A fingerprinter for the warehouse of a dbt target, or None when its adapter is not supported."""
    kind = str(profile.get("type", "")).lower()
    if kind == "duckdb":
        import os

        import duckdb

        path = str(profile.get("path") or ":memory:")
        if path == ":memory:" or path.startswith("md:"):
            return None
        if not os.path.isabs(path):
            path = os.path.join(project_dir, path) if not os.path.exists(path) else os.path.abspath(path)
        return Fingerprinter(lambda: duckdb.connect(path), "duckdb")
    if kind in ("postgres", "postgresql"):
        import psycopg

        params = dict(
            host=profile.get("host"),
            port=int(profile.get("port") or 5432),
            user=profile.get("user"),
            password=str(profile.get("password") or profile.get("pass") or ""),
            dbname=profile.get("dbname") or profile.get("database"),
            connect_timeout=10,
            autocommit=True,
        )
        return Fingerprinter(lambda: psycopg.connect(**params), "postgres")
    return None

