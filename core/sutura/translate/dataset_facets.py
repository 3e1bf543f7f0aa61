"""Translators of the spec's dataset facets (including input- and output-only facets)."""

from __future__ import annotations

import hashlib
from typing import Any

from sutura.events import canonical_json
from sutura.translate.model import CheckFact, ColumnEdge, DatasetFacts, FieldFact
from sutura.errors import InvalidEvent
from sutura.translate.registry import facet, objects, opt, req


def _flatten_fields(fields: list[Any], path: str, prefix: str = "", out: list[FieldFact] | None = None) -> list[FieldFact]:
    """Nested fields flattened to dotted names. Schemas arrive on most events, so the
    well-formed case builds no path strings; a bad field is re-read to name it."""
    out = [] if out is None else out
    for i, item in enumerate(fields):
        if not isinstance(item, dict):
            raise InvalidEvent(f"{path}[{i}]", f"must be an object, got {type(item).__name__}")
        name, kind, description = item.get("name"), item.get("type"), item.get("description")
        if type(name) is not str or not (kind is None or type(kind) is str) or not (description is None or type(description) is str):
            here = f"{path}[{i}]"
            name, kind, description = req(item, "name", str, here), opt(item, "type", str, here), opt(item, "description", str, here)
        out.append(FieldFact(prefix + name, kind, description))
        nested = item.get("fields")
        if nested:
            nested = opt(item, "fields", list, f"{path}[{i}]")
            _flatten_fields(nested, f"{path}[{i}].fields", f"{prefix}{name}.", out)
    return out


@facet("schema", "dataset")
def schema(f: dict[str, Any], ds: DatasetFacts, path: str) -> None:
    fields = opt(f, "fields", list, path) or []
    ds.fields = _flatten_fields(fields, f"{path}.fields")
    shape = [(x.name, (x.type or "").lower()) for x in ds.fields]
    ds.schema_hash = hashlib.sha256(canonical_json(shape).encode()).hexdigest()[:16]


@facet("dataSource", "dataset")
def data_source(f: dict[str, Any], ds: DatasetFacts, path: str) -> None:
    ds.data_source = opt(f, "uri", str, path) or opt(f, "name", str, path)


@facet("columnLineage", "dataset")
def column_lineage(f: dict[str, Any], ds: DatasetFacts, path: str) -> None:
    fields = req(f, "fields", dict, path)
    for out_field, spec in fields.items():
        here = f"{path}.fields.{out_field}"
        if not isinstance(spec, dict):
            raise InvalidEvent(here, "must be an object")
        for src_path, src in objects(req(spec, "inputFields", list, here), f"{here}.inputFields"):
            _edge(ds, out_field, src, src_path, spec)
    for src_path, src in objects(opt(f, "dataset", list, path), f"{path}.dataset"):
        _edge(ds, None, src, src_path, {})


def _edge(ds: DatasetFacts, out_field: str | None, src: dict[str, Any], path: str, spec: dict[str, Any]) -> None:
    transformations = opt(src, "transformations", list, path) or []
    if not transformations and spec.get("transformationType"):  # 1-0-x form
        transformations = [{"type": spec.get("transformationType"), "description": spec.get("transformationDescription")}]
    ds.column_lineage.append(
        ColumnEdge(
            field=out_field,
            namespace=req(src, "namespace", str, path),
            name=req(src, "name", str, path),
            source_field=req(src, "field", str, path),
            transformations=transformations,
        )
    )


@facet("dataQualityAssertions", "dataset", "input", "output")
def data_quality_assertions(f: dict[str, Any], ds: DatasetFacts, path: str) -> None:
    for here, item in objects(req(f, "assertions", list, path), f"{path}.assertions"):
        kind = req(item, "assertion", str, here)
        ds.checks.append(
            CheckFact(
                # dbt-ol adds the test's unique `name` (not_null_orders_id): more telling than the type
                assertion=opt(item, "name", str, here) or kind,
                success=req(item, "success", bool, here),
                column=opt(item, "column", str, here),
                observed={k: v for k, v in item.items() if k not in ("name", "success", "column")} or None,
            )
        )


@facet("dataQualityMetrics", "dataset", "input", "output")
def data_quality_metrics(f: dict[str, Any], ds: DatasetFacts, path: str) -> None:
    req(f, "columnMetrics", dict, path)
    _statistics(f, ds, path, size_key="bytes")


@facet("inputStatistics", "input", "dataset")
def input_statistics(f: dict[str, Any], ds: DatasetFacts, path: str) -> None:
    _statistics(f, ds, path)


@facet("outputStatistics", "output", "dataset")
def output_statistics(f: dict[str, Any], ds: DatasetFacts, path: str) -> None:
    _statistics(f, ds, path)


def _statistics(f: dict[str, Any], ds: DatasetFacts, path: str, size_key: str = "size") -> None:
    rows = opt(f, "rowCount", int, path)
    size = opt(f, size_key, int, path)
    if rows is not None:
        ds.row_count = rows
    if size is not None:
        ds.bytes = size


@facet("version", "dataset")
def version(f: dict[str, Any], ds: DatasetFacts, path: str) -> None:
    value = req(f, "datasetVersion", (str, int), path)
    ds.version = str(value)


@facet("lifecycleStateChange", "dataset")
def lifecycle_state_change(f: dict[str, Any], ds: DatasetFacts, path: str) -> None:
    ds.lifecycle = req(f, "lifecycleStateChange", str, path)
    prev = opt(f, "previousIdentifier", dict, path)
    if prev:  # a RENAME: the old identifier is an alias of this dataset
        ns = req(prev, "namespace", str, f"{path}.previousIdentifier")
        name = req(prev, "name", str, f"{path}.previousIdentifier")
        ds.aliases.append((ns, name, "PREVIOUS"))


@facet("symlinks", "dataset")
def symlinks(f: dict[str, Any], ds: DatasetFacts, path: str) -> None:
    for here, ident in objects(opt(f, "identifiers", list, path), f"{path}.identifiers"):
        ds.aliases.append((req(ident, "namespace", str, here), req(ident, "name", str, here), opt(ident, "type", str, here)))


@facet("ownership", "dataset", "job")
def ownership(f: dict[str, Any], target: Any, path: str) -> None:
    for here, owner in objects(opt(f, "owners", list, path), f"{path}.owners"):
        req(owner, "name", str, here)


@facet("storage", "dataset")
def storage(f: dict[str, Any], ds: DatasetFacts, path: str) -> None:
    req(f, "storageLayer", str, path)


@facet("tags", "dataset", "job", "run")
def tags(f: dict[str, Any], target: Any, path: str) -> None:
    for here, tag in objects(opt(f, "tags", list, path), f"{path}.tags"):
        req(tag, "key", str, here)
        if tag.get("value") is None:
            raise InvalidEvent(f"{here}.value", "required")
