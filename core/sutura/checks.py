"""Check results from the tools that produce them, as CheckResults the engine decides on.

OpenLineage ``dataQualityAssertions`` arrive through ingest (``sutura.translate``);
these functions map what plugins hold in hand: a Great Expectations validation result
and dbt's ``run_results.json``. They read plain JSON shapes, so the core imports neither
tool. Dagster asset check evaluations are mapped in ``sutura_dagster``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from sutura.ontology import CheckResult, Dataset

__all__ = ["from_dbt_run_results", "from_gx"]


def from_gx(validation: Any, dataset: Dataset) -> list[CheckResult]:
    """Map a GX 1.x ``ExpectationSuiteValidationResult`` (or its ``to_json_dict()``)."""
    data = validation.to_json_dict() if hasattr(validation, "to_json_dict") else validation
    out = []
    for item in data.get("results") or []:
        config = item.get("expectation_config") or {}
        kwargs = config.get("kwargs") or {}
        result = item.get("result") or {}
        exception = (item.get("exception_info") or {}).get("exception_message")
        unexpected = result.get("unexpected_count")
        message = exception or (f"{unexpected} unexpected of {result.get('element_count')}" if unexpected else None)
        observed = {k: result[k] for k in ("observed_value", "unexpected_count", "unexpected_percent", "element_count") if k in result}
        out.append(
            CheckResult(
                dataset=dataset,
                assertion=config.get("type") or config.get("expectation_type") or "expectation",
                success=bool(item.get("success")),
                field=kwargs.get("column"),
                source="gx",
                observed=observed or None,
                message=message,
            )
        )
    return out


def from_dbt_run_results(
    run_results: Mapping[str, Any], manifest: Mapping[str, Any], dataset_of: Callable[[Mapping[str, Any]], Dataset]
) -> dict[str, list[CheckResult]]:
    """Test results of a dbt invocation, grouped by the unique id of the model they test.

    ``dataset_of(node)`` names a manifest model node as a Dataset (``sutura.naming``).
    Tests that errored count as failed; skipped tests are left out.
    """
    nodes = manifest.get("nodes") or {}
    grouped: dict[str, list[CheckResult]] = {}
    for result in run_results.get("results") or []:
        test = nodes.get(result.get("unique_id", ""))
        if not test or test.get("resource_type") != "test" or result.get("status") == "skipped":
            continue
        attached = test.get("attached_node") or next(
            (d for d in (test.get("depends_on") or {}).get("nodes", []) if d.startswith(("model.", "seed.", "snapshot."))), None
        )
        model = nodes.get(attached or "")
        if model is None:
            continue
        status = result.get("status")
        grouped.setdefault(attached, []).append(
            CheckResult(
                dataset=dataset_of(model),
                assertion=test.get("name") or result["unique_id"],
                success=status == "pass",
                field=test.get("column_name") or (test.get("test_metadata") or {}).get("kwargs", {}).get("column_name"),
                source="dbt",
                observed={"failures": result.get("failures"), "status": status},
                message=result.get("message"),
            )
        )
    return grouped
