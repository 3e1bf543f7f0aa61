"""Translate a validated OpenLineage event into facts about the ontology.

``translate(parsed)`` walks the job, run and dataset facets and hands each to the
translator registered for its name (``sutura.translate.registry``). Facets without a
translator are carried through verbatim.
"""

from __future__ import annotations

from typing import Any

from sutura.events import ParsedEvent
from sutura.translate import dataset_facets, producers, run_facets  # noqa: F401  (registers translators)
from sutura.translate.model import CheckFact, ColumnEdge, DatasetFacts, Facts, FieldFact, JobFacts, RunFacts
from sutura.translate.registry import facet, translators

__all__ = [
    "CheckFact",
    "ColumnEdge",
    "DatasetFacts",
    "Facts",
    "FieldFact",
    "JobFacts",
    "RunFacts",
    "facet",
    "run_facts",
    "translate",
]


def _apply(scope: str, facets: dict[str, Any] | None, target: Any, path: str) -> None:
    if not facets:
        return
    registry = translators()
    for name, value in facets.items():
        fn = registry.get((scope, name))
        if fn is not None and value is not None:
            fn(value, target, f"{path}.{name}")


def _dataset(raw: dict[str, Any], role: str, path: str) -> DatasetFacts:
    ds = DatasetFacts(namespace=raw["namespace"], name=raw["name"], role=role)
    facets = dict(raw.get("facets") or {})
    _apply("dataset", raw.get("facets"), ds, f"{path}.facets")
    for key, scope in (("inputFacets", "input"), ("outputFacets", "output")):
        extra = raw.get(key)
        if extra:
            _apply(scope, extra, ds, f"{path}.{key}")
            facets.update(extra)
    ds.facets = facets
    return ds


def run_facts(run_id: str, state: Any, facets: dict[str, Any]) -> RunFacts:
    """RunFacts from a run's facets; the store re-derives them from merged facets."""
    run = RunFacts(run_id=run_id, state=state, facets=facets)
    _apply("run", facets, run, "run.facets")
    return run


def _inputs_from_column_lineage(facts: Facts) -> None:
    """A dataset that an output's columns derive from is an input of the job.

    Some producers (dbt-ol for models) name their inputs only in ``columnLineage``.
    """
    known = {(d.namespace, d.name) for d in facts.inputs}
    for out in facts.outputs:
        for edge in out.column_lineage:
            key = (edge.namespace, edge.name)
            if key not in known and key != (out.namespace, out.name):
                known.add(key)
                facts.inputs.append(DatasetFacts(namespace=edge.namespace, name=edge.name, role="input"))


def translate(event: ParsedEvent) -> Facts:
    raw = event.raw
    facts = Facts(event=event)
    if event.kind == "dataset":
        facts.datasets.append(_dataset(raw["dataset"], "event", "dataset"))
        return facts

    job_raw = raw["job"]
    job = JobFacts(namespace=job_raw["namespace"], name=job_raw["name"], facets=dict(job_raw.get("facets") or {}))
    _apply("job", job.facets, job, "job.facets")
    facts.job = job

    if event.kind == "run":
        run_raw = raw["run"]
        facts.run = run_facts(event.run_id or "", event.event_type, dict(run_raw.get("facets") or {}))  # type: ignore[arg-type]
    producers.infer_integration(job, facts.run, event.producer)

    facts.inputs = [_dataset(d, "input", f"inputs[{i}]") for i, d in enumerate(raw.get("inputs") or [])]
    facts.outputs = [_dataset(d, "output", f"outputs[{i}]") for i, d in enumerate(raw.get("outputs") or [])]

    _inputs_from_column_lineage(facts)
    producers.drop_dbt_skipped_tests(facts)
    tests = (facts.run.facets.get("test") or {}).get("tests") if facts.run else None
    if tests and facts.inputs:  # dbt-ol's TestRunFacet: the tests assert the run's inputs
        for t in tests:
            status = str(t.get("status", "")).lower()
            check = CheckFact(
                assertion=t["name"],
                success=status in ("pass", "passed", "success", "succeeded"),
                source="dbt",
                observed={k: t[k] for k in ("expected", "actual", "severity") if k in t} or None,
            )
            facts.inputs[0].checks.append(check)
    return facts
