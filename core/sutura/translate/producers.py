"""Producer adapters: the facets particular tools send that matter for healing.

Kept apart from the spec's facets so quirks of one producer never leak into the
general path. Airflow: ``airflow`` (task instance with ``try_number``), ``airflowDagRun``,
``airflowState``. dbt (dbt-ol): ``dbt_run``, ``dbt_node``, ``dbt_version``, ``test``.
Great Expectations: ``greatExpectations_assertions``. Dagster (Sutura's own emitter): ``dagster``.
"""

from __future__ import annotations

from typing import Any

from sutura.translate.model import CheckFact, DatasetFacts, JobFacts, RunFacts
from sutura.translate.registry import facet, objects, opt, req
from sutura.translate.run_facets import _check_int


@facet("airflow", "run")
def airflow(f: dict[str, Any], run: RunFacts, path: str) -> None:
    ti = opt(f, "taskInstance", dict, path) or {}
    if ti.get("try_number") is not None:
        run.attempt = _check_int(ti["try_number"], f"{path}.taskInstance.try_number")


@facet("airflowDagRun", "run")
def airflow_dag_run(f: dict[str, Any], run: RunFacts, path: str) -> None:
    opt(f, "dag", dict, path)
    opt(f, "dagRun", dict, path)


@facet("airflowState", "run")
def airflow_state(f: dict[str, Any], run: RunFacts, path: str) -> None:
    opt(f, "dagRunState", str, path)
    opt(f, "tasksState", dict, path)


@facet("dagster", "run")
def dagster(f: dict[str, Any], run: RunFacts, path: str) -> None:
    """Sutura's Dagster emitter: a step attempt's number (``context.retry_number + 1``)."""
    if f.get("attempt") is not None:
        run.attempt = _check_int(f["attempt"], f"{path}.attempt")


@facet("dbt_run", "run")
def dbt_run(f: dict[str, Any], run: RunFacts, path: str) -> None:
    opt(f, "invocation_id", str, path)


@facet("dbt_node", "run", "job")
def dbt_node(f: dict[str, Any], target: Any, path: str) -> None:
    opt(f, "unique_id", str, path)


@facet("test", "run")
def dbt_tests(f: dict[str, Any], run: RunFacts, path: str) -> None:
    """TestRunFacet: checked here, turned into CheckResults by ``translate`` (it needs the inputs)."""
    for here, item in objects(req(f, "tests", list, path), f"{path}.tests"):
        req(item, "name", str, here)
        req(item, "status", str, here)


@facet("greatExpectations_assertions", "dataset", "input", "output")
def great_expectations_assertions(f: dict[str, Any], ds: DatasetFacts, path: str) -> None:
    for here, item in objects(req(f, "assertions", list, path), f"{path}.assertions"):
        ds.checks.append(
            CheckFact(
                assertion=req(item, "assertion", str, here),
                success=req(item, "success", bool, here),
                column=opt(item, "column", str, here),
                source="gx",
            )
        )


def drop_dbt_skipped_tests(facts: Any) -> None:
    """dbt-ol reports tests dbt *skipped* (their model failed) as ``success: false`` with no
    ``actual``: they never ran, so they are no evidence about the data."""
    if "/integration/dbt" not in facts.event.producer:
        return
    for ds in facts.inputs:
        ds.checks = [c for c in ds.checks if c.success or not isinstance(c.observed, dict) or "actual" in c.observed]


def infer_integration(job: JobFacts, run: RunFacts | None, producer: str) -> None:
    """Fill a job's integration and type when the jobType facet is absent."""
    if job.integration and job.type:
        return
    run_facets = run.facets if run else {}
    p = producer.lower()
    if "airflow" in run_facets or "airflowDagRun" in run_facets or "airflow" in p:
        integration = "AIRFLOW"
        kind = "DAG" if "airflowDagRun" in run_facets and "airflow" not in run_facets else "TASK"
    elif "dbt_run" in run_facets or "dbt" in p:
        integration, kind = "DBT", "MODEL"
    elif "dagster" in p:
        integration, kind = "DAGSTER", "ASSET"
    elif "spark" in p or "spark_version" in run_facets:
        integration, kind = "SPARK", "JOB"
    else:
        integration, kind = None, None
    job.integration = job.integration or integration
    job.type = job.type or kind
