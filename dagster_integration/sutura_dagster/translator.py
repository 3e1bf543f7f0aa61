"""How Dagster things are named and described in OpenLineage: one overridable method per concern.

Every naming or facet decision the OpenLineage reader makes goes through
:class:`SuturaDagsterTranslator`, so a deployment changes one decision by overriding
one method and passing its translator to :func:`openlineage_sensor` (or to
:func:`read_openlineage_events`). The defaults follow the OpenLineage naming spec:

========================  =====================================================================
OpenLineage               default
========================  =====================================================================
job namespace             ``namespace=`` argument, else ``$OPENLINEAGE_NAMESPACE``, else ``dagster``
run-level job name        ``<code location>.<dagster job>`` (just ``<dagster job>`` when the run
                          did not come from a code location, e.g. ``materialize()`` in tests)
step-level job name       ``<run-level job name>.<step key>``
asset-check job name      ``<run-level job name>.<asset key, "/"-joined>.<check name>``
dataset (namespace,name)  1. the ``datasets=`` mapping, by asset key;
                          2. ``dagster/uri`` metadata, split per the naming spec
                             (``s3://bucket/key`` → ``("s3://bucket", "key")``,
                             ``file:///p`` → ``("file", "/p")``);
                          3. ``dagster/table_name`` metadata in ``table_namespace=``
                             (one namespace, or one per ``dagster/storage_kind``);
                          4. ``("dagster://<deployment>", "<asset key, "/"-joined>")``.
========================  =====================================================================

Names never contain a colon: Sutura node ids (``job:<namespace>:<name>``) split on the last one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from dagster import AssetCheckEvaluation, AssetCheckKey, AssetKey, DagsterRun

__all__ = ["PRODUCER", "SuturaDagsterTranslator", "facet"]

PRODUCER = "https://github.com/sutura/sutura/tree/main/dagster_integration"
"""The ``producer`` / ``_producer`` URI of every event and facet the Dagster integration writes."""

_SPEC = "https://openlineage.io/spec"
_FACET_SCHEMAS = {
    "parent": f"{_SPEC}/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet",
    "jobType": f"{_SPEC}/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    "processing_engine": (
        f"{_SPEC}/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet"
    ),
    "errorMessage": f"{_SPEC}/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
    "nominalTime": f"{_SPEC}/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet",
    "schema": f"{_SPEC}/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
    "outputStatistics": (
        f"{_SPEC}/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json"
        "#/$defs/OutputStatisticsOutputDatasetFacet"
    ),
    "dataQualityAssertions": (
        f"{_SPEC}/facets/1-1-0/DataQualityAssertionsDatasetFacet.json"
        "#/$defs/DataQualityAssertionsDatasetFacet"
    ),
    "version": (
        f"{_SPEC}/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
    ),
    # Sutura's own run facet (like Airflow's ``airflow`` facet): where the run sits in Dagster.
    "dagster": f"{PRODUCER}/spec/DagsterRunFacet.json#/$defs/DagsterRunFacet",
}


def facet(facet_name: str, /, **fields: Any) -> dict[str, Any]:
    """A facet dict with ``_producer`` and the ``_schemaURL`` of the facet called ``facet_name``."""
    return {"_producer": PRODUCER, "_schemaURL": _FACET_SCHEMAS[facet_name], **fields}


class SuturaDagsterTranslator:
    """Names and facets for OpenLineage events read from Dagster's event log.

    Override one ``get_*`` method to change one decision; the rest stay as they are.
    A complete subclass that maps every asset under the ``warehouse`` prefix to its
    PostgreSQL table::

        from sutura_dagster import SuturaDagsterTranslator, openlineage_sensor

        class WarehouseTranslator(SuturaDagsterTranslator):
            def get_dataset(self, asset_key, metadata):
                if asset_key.path[0] == "warehouse":
                    return "postgres://db.internal:5432", "analytics.public." + asset_key.path[-1]
                return super().get_dataset(asset_key, metadata)

        lineage = openlineage_sensor(translator=WarehouseTranslator())

    Args:
        namespace: the job namespace (default ``$OPENLINEAGE_NAMESPACE`` or ``dagster``).
        deployment: names the default dataset namespace ``dagster://<deployment>``
            (default ``$DAGSTER_CLOUD_DEPLOYMENT_NAME`` or ``local``). Asset keys are
            unique within a Dagster deployment, so that is the namespace they live in.
        datasets: explicit ``{asset key: (namespace, name)}``; keys may be ``AssetKey``
            or the user string ``"raw/orders"``.
        table_namespace: the dataset namespace of assets that carry ``dagster/table_name``
            metadata, e.g. ``"postgres://db:5432"``; or a mapping from
            ``dagster/storage_kind`` (``"duckdb"``, ``"postgres"``…) to a namespace.
    """

    def __init__(
        self,
        *,
        namespace: str | None = None,
        deployment: str | None = None,
        datasets: Mapping[Any, tuple[str, str]] | None = None,
        table_namespace: str | Mapping[str, str] | None = None,
    ) -> None:
        self.namespace = namespace or os.environ.get("OPENLINEAGE_NAMESPACE") or "dagster"
        self.deployment = (
            deployment or os.environ.get("DAGSTER_CLOUD_DEPLOYMENT_NAME") or "local"
        )
        self.datasets = {_key_string(k): tuple(v) for k, v in (datasets or {}).items()}
        self.table_namespace = table_namespace

    # ------------------------------------------------------------------ jobs

    def get_job_namespace(self, run: DagsterRun) -> str:
        """The namespace of every job of ``run`` (run level, steps and checks)."""
        return self.namespace

    def get_job_name(self, run: DagsterRun, step_key: str | None = None) -> str:
        """The run-level job name, or with ``step_key`` the name of that step's job."""
        origin = run.remote_job_origin
        location = origin.location_name if origin is not None else None
        name = f"{location}.{run.job_name}" if location else run.job_name
        return f"{name}.{step_key}" if step_key else name

    def get_check_job_name(self, run: DagsterRun, check_key: AssetCheckKey) -> str:
        """The job of one asset check (its evaluations are runs of it)."""
        return f"{self.get_job_name(run)}.{check_key.asset_key.to_user_string()}.{check_key.name}"

    def get_job_type(self, *, step_key: str | None, asset_keys: Sequence[AssetKey]) -> str:
        """``jobType`` of the ``jobType`` facet: JOB for a run, ASSET or STEP for a step."""
        if step_key is None:
            return "JOB"
        return "ASSET" if asset_keys else "STEP"

    # ------------------------------------------------------------------ datasets

    def get_dataset(self, asset_key: AssetKey, metadata: Mapping[str, Any]) -> tuple[str, str]:
        """``(namespace, name)`` of the dataset an asset is; ``metadata`` is the asset's
        definition metadata overlaid with its materialization metadata."""
        mapped = self.datasets.get(asset_key.to_user_string())
        if mapped is not None:
            return mapped  # type: ignore[return-value]
        uri = _plain(metadata.get("dagster/uri"))
        if isinstance(uri, str) and "://" in uri:
            return _split_uri(uri)
        table = _plain(metadata.get("dagster/table_name"))
        namespace = self._table_namespace(_plain(metadata.get("dagster/storage_kind")))
        if isinstance(table, str) and table and namespace:
            return namespace, table
        return f"dagster://{self.deployment}", asset_key.to_user_string()

    def _table_namespace(self, storage_kind: Any) -> str | None:
        if isinstance(self.table_namespace, str):
            return self.table_namespace
        if isinstance(self.table_namespace, Mapping) and isinstance(storage_kind, str):
            return self.table_namespace.get(storage_kind)
        return None

    def get_schema_facet(self, metadata: Mapping[str, Any]) -> dict[str, Any] | None:
        """The ``schema`` dataset facet from ``dagster/column_schema`` (a TableSchema)."""
        schema = _table_schema(metadata.get("dagster/column_schema"))
        if schema is None:
            return None
        fields = []
        for position, column in enumerate(schema.columns, start=1):
            field: dict[str, Any] = {"name": column.name, "type": column.type}
            if column.description:
                field["description"] = column.description
            field["ordinal_position"] = position
            fields.append(field)
        return facet("schema", fields=fields)

    def get_output_statistics(self, metadata: Mapping[str, Any]) -> dict[str, Any] | None:
        """The ``outputStatistics`` facet from ``dagster/row_count`` (or the partition's)."""
        stats: dict[str, Any] = {}
        rows = _plain(metadata.get("dagster/row_count"))
        if rows is None:
            rows = _plain(metadata.get("dagster/partition_row_count"))
        if isinstance(rows, (int, float)) and not isinstance(rows, bool):
            stats["rowCount"] = int(rows)
        size = _plain(metadata.get("dagster/size_bytes"))
        if isinstance(size, (int, float)) and not isinstance(size, bool):
            stats["size"] = int(size)
        return facet("outputStatistics", **stats) if stats else None

    def get_dataset_version(self, tags: Mapping[str, str]) -> dict[str, Any] | None:
        """The ``version`` facet, only from a data version the asset's code provided.

        Dagster's default data version changes with every run, so it says nothing about
        content; a user-provided ``DataVersion`` does.
        """
        if tags.get("dagster/data_version_is_user_provided") != "true":
            return None
        version = tags.get("dagster/data_version")
        return facet("version", datasetVersion=version) if version else None

    # ------------------------------------------------------------------ checks

    def get_assertions(
        self, evaluations: Sequence[AssetCheckEvaluation]
    ) -> dict[str, Any] | None:
        """The ``dataQualityAssertions`` facet of asset check evaluations on one dataset."""
        assertions = []
        for evaluation in evaluations:
            assertion: dict[str, Any] = {
                "assertion": evaluation.check_name,
                "success": bool(evaluation.passed),
                "name": evaluation.check_name,
                "severity": evaluation.severity.value.lower(),
            }
            if evaluation.description:
                assertion["description"] = evaluation.description
            params = {k: _jsonable(_plain(v)) for k, v in (evaluation.metadata or {}).items()}
            if params:
                assertion["params"] = params
            column = params.get("dagster/column")
            if isinstance(column, str):
                assertion["column"] = column
            assertions.append(assertion)
        return facet("dataQualityAssertions", assertions=assertions) if assertions else None


def _key_string(key: Any) -> str:
    return key if isinstance(key, str) else key.to_user_string()


def _split_uri(uri: str) -> tuple[str, str]:
    """Namespace and name of a URI per the OpenLineage naming spec."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return "file", parts.path
    name = parts.path.lstrip("/")
    if parts.query:
        name = f"{name}?{parts.query}"
    return f"{parts.scheme}://{parts.netloc}", name


def _plain(value: Any) -> Any:
    """A metadata entry as a plain Python value (MetadataValue objects unwrapped)."""
    from dagster import MetadataValue

    if isinstance(value, MetadataValue):
        return value.value
    return value


def _table_schema(value: Any) -> Any:
    from dagster import TableSchema

    if isinstance(value, TableSchema):
        return value
    schema = getattr(value, "schema", None)
    return schema if isinstance(schema, TableSchema) else None


def _jsonable(value: Any) -> Any:
    """Metadata values as JSON: scalars kept, everything else by its JSON or string form."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return str(value)
