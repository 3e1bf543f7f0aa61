"""Translators of the spec's run and job facets."""

from __future__ import annotations

from typing import Any

from sutura.errors import InvalidEvent
from sutura.events import parse_time
from sutura.translate.model import JobFacts, RunFacts
from sutura.translate.registry import facet, opt, req


@facet("parent", "run")
def parent(f: dict[str, Any], run: RunFacts, path: str) -> None:
    prun = opt(f, "run", dict, path)  # required by the spec; some producers send only the job
    pjob = req(f, "job", dict, path)
    if prun is not None:
        run.parent_run_id = req(prun, "runId", str, f"{path}.run")
    run.parent_job = (req(pjob, "namespace", str, f"{path}.job"), req(pjob, "name", str, f"{path}.job"))
    root = opt(f, "root", dict, path)
    if root:
        root_run = req(root, "run", dict, f"{path}.root")
        run.root_run_id = req(root_run, "runId", str, f"{path}.root.run")


@facet("errorMessage", "run")
def error_message(f: dict[str, Any], run: RunFacts, path: str) -> None:
    run.error_message = req(f, "message", str, path)
    run.stack_trace = opt(f, "stackTrace", str, path)


@facet("nominalTime", "run")
def nominal_time(f: dict[str, Any], run: RunFacts, path: str) -> None:
    run.nominal_start = parse_time(req(f, "nominalStartTime", str, path), f"{path}.nominalStartTime")
    end = opt(f, "nominalEndTime", str, path)
    run.nominal_end = parse_time(end, f"{path}.nominalEndTime") if end else None


@facet("processing_engine", "run")
def processing_engine(f: dict[str, Any], run: RunFacts, path: str) -> None:
    req(f, "version", str, path)
    opt(f, "name", str, path)


@facet("jobType", "job")
def job_type(f: dict[str, Any], job: JobFacts, path: str) -> None:
    job.processing_type = req(f, "processingType", str, path)
    job.integration = req(f, "integration", str, path).upper()
    kind = opt(f, "jobType", str, path)
    if kind:
        job.type = kind.upper()


@facet("sql", "job")
def sql(f: dict[str, Any], job: JobFacts, path: str) -> None:
    req(f, "query", str, path)


@facet("sourceCode", "job")
def source_code(f: dict[str, Any], job: JobFacts, path: str) -> None:
    req(f, "language", str, path)
    req(f, "sourceCode", str, path)


@facet("documentation", "job", "dataset")
def documentation(f: dict[str, Any], target: Any, path: str) -> None:
    req(f, "description", str, path)


def _check_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidEvent(path, f"must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise InvalidEvent(path, f"must be an integer, got {value!r}") from None
