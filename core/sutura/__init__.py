"""Sutura: one OpenLineage graph for Airflow, Dagster and dbt, and an engine that heals it.

    import sutura
    engine = sutura.connect()                 # SUTURA_URL -> remote, else embedded SQLite
    engine.ingest(event)
    decision = engine.on_failure(sutura.Failure(job=..., error=sutura.ErrorInfo.from_exception(exc)))

The contract every engine implements is ``sutura.EngineAPI``; plugins implement the
hooks in ``sutura.hookspecs``.
"""

from sutura.api import Change, EngineAPI, Explanation, IngestResult, RunRequest, Staleness
from sutura.client import RemoteEngine
from sutura.config import Settings, resolve
from sutura.engine import Engine, connect
from sutura.errors import (
    ConfigError,
    EngineUnavailable,
    InvalidEvent,
    InvalidNodeId,
    NotFound,
    PolicyError,
    StoreError,
    SuturaError,
)
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
