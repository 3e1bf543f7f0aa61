"""Write-audit-publish operators: new data is checked before production sees it.

``SuturaWriteAuditPublishOperator`` lands a SELECT's result in ``<table>__sutura_audit``,
runs the checks, asks the engine, then publishes in one transaction or keeps the audit
table as a quarantine (production keeps its last good data; nothing is deleted).
``SuturaFileWriteAuditPublishOperator`` does the same for a Parquet/CSV file written by a
callable, publishing by atomic rename. Both report to the engine with ``on_checks`` and
attach to their OpenLineage output a ``suturaContent`` facet (the audited content's hash)
and a ``schema`` facet (columns and types read back after the write), with the task's
inputs: its ``inlets``, and for SQL the tables the SELECT reads.

``on_quarantine``: ``fail`` (default; no retry: a retry reads the same data), ``skip``,
or ``succeed`` (log a warning and let downstream read the last good data).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from sutura_airflow._compat import BaseOperator
from sutura_airflow.quarantine.run import ON_QUARANTINE, run_file_wap, run_sql_wap
from sutura_airflow.quarantine.wap import WapResult

__all__ = ["SuturaFileWriteAuditPublishOperator", "SuturaWriteAuditPublishOperator"]


def _check_on_quarantine(value: str) -> str:
    if value not in ON_QUARANTINE:
        raise ValueError(f"on_quarantine must be one of {', '.join(ON_QUARANTINE)}, got {value!r}")
    return value


class _LineageMixin:
    """OpenLineage facts of the write, for the provider's default extractor: the output with
    its ``suturaContent`` and ``schema`` facets, and the inputs (declared ``inlets``, plus
    whatever ``_sutura_inputs`` finds)."""

    _sutura_result: WapResult | None = None

    def _sutura_output(self) -> Any:
        raise NotImplementedError

    def _sutura_inputs(self) -> list[Any]:
        from sutura_airflow._identity import as_datasets

        return list(as_datasets(getattr(self, "inlets", None)))

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from airflow.providers.openlineage.extractors import OperatorLineage
        from openlineage.client.event_v2 import Dataset as OLDataset

        from sutura_airflow.lineage import SuturaContentDatasetFacet, schema_facet

        ds = self._sutura_output()
        facets: dict[str, Any] = {}
        if self._sutura_result is not None:
            r = self._sutura_result
            facets["suturaContent"] = SuturaContentDatasetFacet(fingerprint=r.fingerprint, rowCount=r.row_count, status=r.action)
            if r.columns:
                facets["schema"] = schema_facet(r.columns)
        inputs = [OLDataset(namespace=d.namespace, name=d.name) for d in self._sutura_inputs() if d != ds]
        return OperatorLineage(inputs=inputs, outputs=[OLDataset(namespace=ds.namespace, name=ds.name, facets=facets)])

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return self.get_openlineage_facets_on_complete(task_instance)


class SuturaWriteAuditPublishOperator(_LineageMixin, BaseOperator):
    """Audit ``sql``'s rows before they replace ``table``'s.

    :param table: production table (``schema`` separately; ignored on SQLite).
    :param sql: a SELECT producing the new rows (templated).
    :param url: SQLAlchemy URL (``duckdb:////abs/wh.duckdb``, ``postgresql+psycopg://...``,
        ``sqlite:////abs/db.sqlite``) — or ``conn_id``, an Airflow connection.
    :param checks: declarative checks (see ``sutura_airflow.quarantine.checks``).
    :param gx_expectations: a Great Expectations 1.x ``ExpectationSuite`` or expectations.
    """

    template_fields: Sequence[str] = ("sql", "table", "schema", "url", "checks")
    template_ext: Sequence[str] = (".sql",)
    ui_color = "#d9f2e6"

    def __init__(
        self,
        *,
        table: str,
        sql: str,
        url: str | None = None,
        conn_id: str | None = None,
        schema: str | None = None,
        checks: Sequence[Any] = (),
        gx_expectations: Any = None,
        on_quarantine: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not (url or conn_id):
            raise ValueError(f"{kwargs.get('task_id')}: give url= (SQLAlchemy URL) or conn_id= (Airflow connection)")
        self.table = table
        self.sql = sql
        self.url = url
        self.conn_id = conn_id
        self.schema = schema
        self.checks = list(checks)
        self.gx_expectations = gx_expectations
        self.on_quarantine = _check_on_quarantine(on_quarantine)

    def _resolved_url(self) -> str:
        from sutura_airflow.hooks import sql_url

        return sql_url(url=self.url, conn_id=self.conn_id)

    def _sutura_output(self) -> Any:
        from sutura.naming import dataset_for_url

        return dataset_for_url(self._resolved_url(), self.table, self.schema)

    def _sutura_inputs(self) -> list[Any]:
        """Declared ``inlets``, then the tables ``sql`` reads (parsed; not Sutura's own tables)."""
        from sutura_airflow.lineage import sql_inputs

        declared = super()._sutura_inputs()
        parsed = sql_inputs(self.sql, self._resolved_url(), exclude=declared, own_prefix=f"{self.table}__sutura_")
        return declared + parsed

    def execute(self, context: Any) -> dict[str, Any]:
        self._sutura_result = None
        try:
            result, out = run_sql_wap(
                url=self._resolved_url(),
                table=self.table,
                schema=self.schema,
                data=self.sql,
                checks=self.checks,
                gx_expectations=self.gx_expectations,
                on_quarantine=self.on_quarantine,
                context=context,
            )
            self._sutura_result = result
        except Exception as exc:
            self._sutura_result = getattr(exc, "__sutura_wap__", None)
            raise
        return out


class SuturaFileWriteAuditPublishOperator(_LineageMixin, BaseOperator):
    """Audit the DataFrame ``python_callable`` returns before it replaces the file at ``path``."""

    template_fields: Sequence[str] = ("path", "checks", "op_kwargs")
    ui_color = "#d9f2e6"

    def __init__(
        self,
        *,
        path: str,
        python_callable: Callable[..., Any],
        op_kwargs: dict[str, Any] | None = None,
        checks: Sequence[Any] = (),
        gx_expectations: Any = None,
        on_quarantine: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise TypeError("python_callable must be callable")
        self.path = path
        self.python_callable = python_callable
        self.op_kwargs = op_kwargs or {}
        self.checks = list(checks)
        self.gx_expectations = gx_expectations
        self.on_quarantine = _check_on_quarantine(on_quarantine)

    def _sutura_output(self) -> Any:
        from sutura.naming import file_dataset

        return file_dataset(self.path)

    def execute(self, context: Any) -> dict[str, Any]:
        self._sutura_result = None
        data = self.python_callable(**self.op_kwargs)
        try:
            result, out = run_file_wap(
                path=self.path,
                data=data,
                checks=self.checks,
                gx_expectations=self.gx_expectations,
                on_quarantine=self.on_quarantine,
                context=context,
            )
        except Exception as exc:
            self._sutura_result = getattr(exc, "__sutura_wap__", None)
            raise
        self._sutura_result = result
        return out
