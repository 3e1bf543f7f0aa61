"""OpenLineage facts the provider's operators add: the ``suturaContent`` dataset facet (the
hash of the content a task wrote), the written table's schema, and the tables a SELECT reads.

The engine fingerprints a version by ``suturaContent`` (ahead of schema + statistics), so a
rewrite of identical rows is not a change and downstream does not run for nothing. The
schema and the inputs link the written table to its columns and to what it was built from.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

import attr
from openlineage.client.facet_v2 import DatasetFacet

from sutura import Dataset

__all__ = ["SuturaContentDatasetFacet", "schema_facet", "sql_inputs"]

log = logging.getLogger("sutura.airflow")
_DIALECTS = {"duckdb": "duckdb", "postgresql": "postgres", "sqlite": "sqlite", "mysql": "mysql", "snowflake": "snowflake", "bigquery": "bigquery"}


@attr.define
class SuturaContentDatasetFacet(DatasetFacet):
    fingerprint: str
    rowCount: int | None = attr.field(default=None)  # noqa: N815 - OpenLineage spells facets in camelCase
    status: str | None = attr.field(default=None)  # publish | quarantine


def schema_facet(columns: Iterable[tuple[str, str]]) -> Any:
    """The OpenLineage ``schema`` facet of (column, type) pairs."""
    from openlineage.client.facet_v2 import schema_dataset

    return schema_dataset.SchemaDatasetFacet(fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t or None) for n, t in columns])


def sql_inputs(sql: str, url: str, *, exclude: Iterable[Dataset] = (), own_prefix: str | None = None) -> list[Dataset]:
    """The tables ``sql`` reads, as Datasets of the database at ``url``, sorted by name (empty if
    it cannot be parsed).

    Tables named with another database than ``url``'s are left out (their location is
    unknown here); so are ``exclude`` and tables whose name starts with ``own_prefix``.
    """
    import sqlalchemy as sa

    from sutura.naming import dataset_for_url

    try:
        import openlineage_sql

        backend = sa.make_url(url).get_backend_name()
        meta = openlineage_sql.parse([sql], dialect=_DIALECTS.get(backend, "generic"))
    except Exception as exc:  # noqa: BLE001 - lineage degrades, never fails the task
        log.debug("could not parse the inputs of %r: %s", sql[:200], exc)
        return []
    database = dataset_for_url(url, "t").name.split(".")[0] if backend in ("duckdb", "postgresql") else None
    skip = set(exclude)
    out: list[Dataset] = []
    tables = sorted(meta.in_tables if meta is not None else (), key=lambda x: (x.schema or "", x.name))
    for table in tables:
        if table.database and database and table.database != database:
            continue
        if own_prefix and table.name.startswith(own_prefix):
            continue
        ds = dataset_for_url(url, table.name, table.schema)
        if ds not in skip and ds not in out:
            out.append(ds)
    return out
