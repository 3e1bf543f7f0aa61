"""The ontology: the entities and names Sutura uses everywhere (code, tables, API, CLI, docs).

Entities are plain frozen dataclasses so they cross process boundaries as JSON
(``to_dict``) and compare by value. Identity rules live here too: a node id is
``dataset:<namespace>:<name>``, ``job:<namespace>:<name>`` or ``run:<runId>``
(the first two are Marquez's shape, so lineage answers look familiar).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sutura.errors import InvalidNodeId

__all__ = [
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
    "node_id",
    "parse_node_id",
    "version_id",
]


class RunState(str, enum.Enum):
    """OpenLineage run states, ranked so that a terminal state never regresses."""

    OTHER = "OTHER"
    START = "START"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAIL = "FAIL"
    ABORT = "ABORT"

    @property
    def rank(self) -> int:
        return _STATE_RANK[self]

    @property
    def terminal(self) -> bool:
        return self.rank == 3


_STATE_RANK = {
    RunState.OTHER: 0,
    RunState.START: 1,
    RunState.RUNNING: 2,
    RunState.COMPLETE: 3,
    RunState.FAIL: 3,
    RunState.ABORT: 3,
}


class FailureKind(str, enum.Enum):
    """What kind of failure a diagnosis found; it decides the remedy."""

    TRANSIENT = "transient"  # retry after a delay: timeouts, dropped connections, 429/503, deadlocks
    DETERMINISTIC = "deterministic"  # fail fast: syntax errors, missing columns, bad code
    UPSTREAM = "upstream"  # wait: an input's producer failed, or an input is quarantined/stale
    DATA = "data"  # quarantine/fail: the data itself violates expectations
    UNKNOWN = "unknown"


class Action(str, enum.Enum):
    """What a Decision tells a plugin to do."""

    RETRY = "retry"
    FAIL = "fail"
    WAIT = "wait"
    ESCALATE = "escalate"
    PUBLISH = "publish"
    QUARANTINE = "quarantine"
    RELEASE = "release"
    DISCARD = "discard"
    TRIGGER = "trigger"
    SKIP = "skip"


class VersionStatus(str, enum.Enum):
    """Write-audit-publish life cycle of a DatasetVersion.

    pending_audit -> published, or pending_audit -> quarantined -> released | discarded.
    A version written without an audit step is published directly.
    """

    PENDING_AUDIT = "pending_audit"
    PUBLISHED = "published"
    QUARANTINED = "quarantined"
    RELEASED = "released"
    DISCARDED = "discarded"
    FAILED_WRITE = "failed_write"  # written by a run that did not complete


class IncidentState(str, enum.Enum):
    OPEN = "open"
    MITIGATING = "mitigating"
    RESOLVED = "resolved"


def node_id(kind: str, namespace_or_id: str, name: str | None = None) -> str:
    """Build a node id: ``node_id("dataset", ns, name)`` or ``node_id("run", run_id)``."""
    if name is None:
        return f"{kind}:{namespace_or_id}"
    return f"{kind}:{namespace_or_id}:{name}"


def version_id(dataset: Dataset, fingerprint: str) -> str:
    """The node id of a DatasetVersion: ``version:<namespace>:<name>@<fingerprint>``."""
    return f"version:{dataset.namespace}:{dataset.name}@{fingerprint}"


_NODE_KINDS = ("dataset", "job", "run", "field", "version", "check", "incident", "decision")


def parse_node_id(value: str) -> tuple[str, str, str | None]:
    """Split a node id into (kind, namespace-or-id, name).

    Dataset namespaces contain colons (``postgres://host:5432``), so the name is what
    follows the *last* colon that is not part of the namespace's scheme or port: we
    split on the first colon for the kind and on the last colon for the name, which
    holds for every namespace in the OpenLineage naming spec because names never
    contain a colon while namespaces may. A ``field`` id is ``field:<ns>:<name>:<column>``.
    """
    kind, sep, rest = value.partition(":")
    if not sep or kind not in _NODE_KINDS or not rest:
        raise InvalidNodeId(
            f"invalid node id {value!r}: expected 'dataset:<namespace>:<name>', "
            "'job:<namespace>:<name>' or 'run:<runId>'"
        )
    if kind in ("run", "version", "check", "incident", "decision"):
        return kind, rest, None
    namespace, sep, name = rest.rpartition(":")
    if not sep or not namespace or not name:
        raise InvalidNodeId(f"invalid node id {value!r}: expected '{kind}:<namespace>:<name>'")
    return kind, namespace, name


class _Entity:
    """JSON round-trip shared by every entity."""

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))  # type: ignore[arg-type]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Dataset(_Entity):
    namespace: str
    name: str
    facets: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def id(self) -> str:
        return node_id("dataset", self.namespace, self.name)


@dataclass(frozen=True)
class Field(_Entity):
    dataset: Dataset
    name: str
    type: str | None = None
    description: str | None = None

    @property
    def id(self) -> str:
        return f"field:{self.dataset.namespace}:{self.dataset.name}:{self.name}"


@dataclass(frozen=True)
class Job(_Entity):
    namespace: str
    name: str
    type: str | None = None  # TASK, DAG, MODEL, TEST, ASSET, JOB, QUERY...
    integration: str | None = None  # AIRFLOW, DBT, DAGSTER, SPARK...
    facets: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def id(self) -> str:
        return node_id("job", self.namespace, self.name)


@dataclass(frozen=True)
class Run(_Entity):
    run_id: str
    job: Job
    state: RunState
    attempt: int | None = None
    parent_run_id: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    nominal_start: datetime | None = None
    error_message: str | None = None
    facets: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def id(self) -> str:
        return node_id("run", self.run_id)


@dataclass(frozen=True)
class DatasetVersion(_Entity):
    dataset: Dataset
    fingerprint: str  # identity: version facet, else schema hash + output statistics + producing run
    content_fingerprint: str  # what "the content changed" compares: ignores the producing run
    status: VersionStatus
    run_id: str | None = None
    created_at: datetime | None = None
    row_count: int | None = None
    schema_hash: str | None = None

    @property
    def id(self) -> str:
        return version_id(self.dataset, self.fingerprint)


@dataclass(frozen=True)
class CheckResult(_Entity):
    dataset: Dataset
    assertion: str
    success: bool
    field: str | None = None
    run_id: str | None = None
    source: str = "openlineage"  # openlineage, gx, dbt, dagster, sutura
    observed: Any = None
    message: str | None = None


@dataclass(frozen=True)
class ErrorInfo(_Entity):
    """An exception as plugins report it: enough to classify without the object itself."""

    type: str
    message: str = ""
    module: str | None = None
    stack_trace: str | None = None
    causes: tuple[ErrorInfo, ...] = ()  # __cause__/__context__ chain, outermost first

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        import traceback

        chain: list[ErrorInfo] = []
        seen = {id(exc)}
        cur = exc.__cause__ or exc.__context__
        while cur is not None and id(cur) not in seen and len(chain) < 8:
            seen.add(id(cur))
            chain.append(
                cls(type=type(cur).__name__, message=str(cur), module=type(cur).__module__)
            )
            cur = cur.__cause__ or cur.__context__
        return cls(
            type=type(exc).__name__,
            message=str(exc),
            module=type(exc).__module__,
            stack_trace="".join(traceback.format_exception(exc))[-8000:],
            causes=tuple(chain),
        )


@dataclass(frozen=True)
class Failure(_Entity):
    """What a plugin hands ``engine.on_failure`` when a task, asset or model raised."""

    job: Job
    error: ErrorInfo
    run_id: str | None = None
    attempt: int = 1
    max_attempts: int = 1
    inputs: tuple[Dataset, ...] = ()
    outputs: tuple[Dataset, ...] = ()


@dataclass(frozen=True)
class Diagnosis(_Entity):
    kind: FailureKind
    confidence: float
    evidence: tuple[str, ...] = ()
    signature: str | None = None  # stable hash of the normalised error, for history
    source: str | None = None  # the data source (namespace) the failure concerns, for breakers


@dataclass(frozen=True)
class Incident(_Entity):
    id: str
    state: IncidentState
    root_cause: str  # node id
    symptoms: tuple[str, ...] = ()  # node ids
    opened_at: datetime | None = None
    resolved_at: datetime | None = None
    summary: str = ""


@dataclass(frozen=True)
class Decision(_Entity):
    action: Action
    subject: str  # node id the decision is about
    reason: str
    evidence: tuple[str, ...] = ()
    policy: str = ""
    delay_seconds: float | None = None
    diagnosis: Diagnosis | None = None
    id: str | None = None
    outcome: str | None = None
    created_at: datetime | None = None
