"""Sutura: one OpenLineage graph for Airflow, Dagster and dbt, and an engine that heals it.

    import sutura
    engine = sutura.connect()                 # SUTURA_URL -> remote, else embedded SQLite
    engine.ingest(event)
    decision = engine.on_failure(sutura.Failure(job=..., error=sutura.ErrorInfo.from_exception(exc)))

The contract every engine implements is ``sutura.EngineAPI``; plugins implement the
hooks in ``sutura.hookspecs``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sutura.api import Change, EngineAPI, Explanation, IngestResult, RunRequest, Staleness
    from sutura.client import RemoteEngine
    from sutura.config import Settings, resolve
    from sutura.engine import Engine, connect
    from sutura.errors import ConfigError, EngineUnavailable, InvalidEvent, InvalidNodeId, NotFound, PolicyError, StoreError, SuturaError
    from sutura.hookspecs import hookimpl
    from sutura.ontology import (
        Action,
        CheckResult,
        Dataset,
        DatasetVersion,
        Decision,
        Diagnosis,
        ErrorInfo,
        Failure,
        FailureKind,
        Field,
        Incident,
        IncidentState,
        Job,
        Run,
        RunState,
        VersionStatus,
    )

# Public name -> the module that defines it. Imported on first use (PEP 562), so that
# ``from sutura import Job`` in an orchestrator's plugin (loaded by every Airflow
# scheduler, DAG processor and task process) does not import the store and SQLAlchemy.
_WHERE = {
    **dict.fromkeys(("Change", "EngineAPI", "Explanation", "IngestResult", "RunRequest", "Staleness"), "sutura.api"),
    "RemoteEngine": "sutura.client",
    **dict.fromkeys(("Settings", "resolve"), "sutura.config"),
    **dict.fromkeys(("Engine", "connect"), "sutura.engine"),
    **dict.fromkeys(
        ("ConfigError", "EngineUnavailable", "InvalidEvent", "InvalidNodeId", "NotFound", "PolicyError", "StoreError", "SuturaError"), "sutura.errors"
    ),
    "hookimpl": "sutura.hookspecs",
    **dict.fromkeys(
        (
            "Action",
            "CheckResult",
            "Dataset",
            "DatasetVersion",
            "Decision",
            "Diagnosis",
            "ErrorInfo",
            "Failure",
            "FailureKind",
            "Field",
            "Incident",
            "IncidentState",
            "Job",
            "Run",
            "RunState",
            "VersionStatus",
        ),
        "sutura.ontology",
    ),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'sutura' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__version__ = "0.1.0"

__all__ = [
    "Action",
    "Change",
    "CheckResult",
    "ConfigError",
    "Dataset",
    "DatasetVersion",
    "Decision",
    "Diagnosis",
    "Engine",
    "EngineAPI",
    "EngineUnavailable",
    "ErrorInfo",
    "Explanation",
    "Failure",
    "FailureKind",
    "Field",
    "Incident",
    "IncidentState",
    "IngestResult",
    "InvalidEvent",
    "InvalidNodeId",
    "Job",
    "NotFound",
    "PolicyError",
    "RemoteEngine",
    "Run",
    "RunRequest",
    "RunState",
    "Settings",
    "Staleness",
    "StoreError",
    "SuturaError",
    "VersionStatus",
    "connect",
    "hookimpl",
    "resolve",
]
