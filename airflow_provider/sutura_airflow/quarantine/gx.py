"""Great Expectations 1.x suites and expectations as Sutura check results.

The audited rows are validated in an ephemeral GX context (pandas), so no GX project
is needed; each expectation result becomes one ``CheckResult`` with ``source="gx"``.
"""

from __future__ import annotations

from typing import Any, Sequence

from sutura import CheckResult, Dataset

__all__ = ["gx_check_results"]


def gx_check_results(frame: Any, dataset: Dataset, expectations: Any) -> list[CheckResult]:
    """Validate ``frame`` against an ``ExpectationSuite`` or a list of expectations."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("sutura_audit")
    asset = source.add_dataframe_asset("audit")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": frame})
    items: Sequence[Any] = expectations if isinstance(expectations, (list, tuple)) else [expectations]
    results: list[CheckResult] = []
    for item in items:
        validated = batch.validate(item)
        for r in getattr(validated, "results", None) or [validated]:
            config = r.expectation_config
            column = (config.kwargs or {}).get("column")
            observed = (r.result or {}).get("unexpected_count", (r.result or {}).get("observed_value"))
            results.append(
                CheckResult(
                    dataset,
                    config.type,
                    bool(r.success),
                    field=column,
                    source="gx",
                    observed=observed if isinstance(observed, (int, float, str, type(None))) else str(observed),
                    message=None if r.success else f"{config.type} failed" + (f" on {column}" if column else "") + (f": observed {observed}" if observed is not None else ""),
                )
            )
    return results
