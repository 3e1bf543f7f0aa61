"""The engine's surface: one contract, two implementations.

``sutura.Engine`` (embedded, talks to the store directly) and ``sutura.RemoteEngine``
(an HTTP client of ``sutura serve``) both satisfy ``EngineAPI``; plugins only ever
type against this protocol, so the same plugin code runs embedded or remote.
``sutura.connect()`` picks one: ``SUTURA_URL`` set -> remote, else embedded at
``SUTURA_DB_URL`` (default: a SQLite file ``.sutura/sutura.db``).

Node arguments accept a node id string (``dataset:<ns>:<name>``, ``job:<ns>:<name>``,
``run:<runId>``) or the matching ontology object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Literal, Mapping, Protocol, Sequence, runtime_checkable

from sutura.ontology import (
    CheckResult,
    Dataset,
    DatasetVersion,
    Decision,
    Failure,
    Incident,
    Job,
    Run,
)

__all__ = [
    "Change",
    "EngineAPI",
    "Explanation",
    "IngestResult",
    "NodeRef",
    "RunRequest",
    "Staleness",
]

NodeRef = str | Dataset | Job | Run | DatasetVersion
Direction = Literal["upstream", "downstream", "both"]


@dataclass(frozen=True)
class IngestResult:
    accepted: int  # events newly applied to the graph
    duplicates: int = 0  # events already held (same content): changed nothing

    def to_dict(self) -> dict[str, int]:
        return {"accepted": self.accepted, "duplicates": self.duplicates}


@dataclass(frozen=True)
class Change:
    """A published DatasetVersion whose content differs from the previous published one."""

    dataset: Dataset
    version: str  # fingerprint of the new version
    content_fingerprint: str
    previous: str | None  # content fingerprint it replaced (None: first version)
    run_id: str | None
    published_at: datetime | None
    cursor: str  # resume after this change
    kind: str = "content"  # content | schema_additive | schema_breaking

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": {"namespace": self.dataset.namespace, "name": self.dataset.name},
            "version": self.version,
            "content_fingerprint": self.content_fingerprint,
            "previous": self.previous,
            "run_id": self.run_id,
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "cursor": self.cursor,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class RunRequest:
    """One downstream job to run because its inputs changed.

    ``integration`` is AIRFLOW (target: a DAG id), DAGSTER (target: an asset key,
    ``/``-joined) or DBT (target: a node's unique id / model name usable in ``--select``).
    """

    integration: str
    job: Job
    target: str
    reasons: tuple[str, ...] = ()  # dataset node ids whose change caused it

    def to_dict(self) -> dict[str, Any]:
        return {
            "integration": self.integration,
            "job": {"namespace": self.job.namespace, "name": self.job.name},
            "target": self.target,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class Staleness:
    """The last published version of a dataset and how far behind it is."""

    dataset: Dataset
    version: DatasetVersion | None
    published_at: datetime | None
    stale_seconds: float | None
    quarantined: tuple[DatasetVersion, ...] = ()  # newer versions held back

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": {"namespace": self.dataset.namespace, "name": self.dataset.name},
            "version": self.version.to_dict() if self.version else None,
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "stale_seconds": self.stale_seconds,
            "quarantined": [v.to_dict() for v in self.quarantined],
        }


@dataclass(frozen=True)
class Explanation:
    """A causal chain from a symptom back to its root cause."""

    node: str
    root_cause: dict[str, Any] | None
    chain: list[dict[str, Any]] = field(default_factory=list)  # symptom first, root cause last
    incident: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "root_cause": self.root_cause,
            "chain": self.chain,
            "incident": self.incident,
        }

    def text(self) -> str:
        if not self.chain:
            return f"{self.node}: healthy, nothing to explain"
        lines = []
        for i, link in enumerate(self.chain):
            prefix = "" if i == 0 else "  ← "
            at = f" {link['at']}" if link.get("at") else ""
            ev = f" {link['evidence']}" if link.get("evidence") else ""
            lines.append(f"{prefix}{link['type']} {link['id']} {link.get('state', '')}{at}{ev}".rstrip())
        return "\n".join(lines)


@runtime_checkable
class EngineAPI(Protocol):
    """What every plugin may call. Embedded and remote engines behave identically."""

    # -- observe ------------------------------------------------------------
    def ingest(self, events: Mapping[str, Any] | str | bytes | Iterable[Mapping[str, Any]]) -> IngestResult:
        """Apply one OpenLineage event (dict or JSON) or many; raises InvalidEvent naming the field."""

    # -- read the graph -----------------------------------------------------
    def lineage(self, node: NodeRef, direction: Direction = "both", depth: int = 5, *, columns: bool = False) -> dict[str, Any]:
        """Marquez-shaped ``{"graph": [{"id", "type", "data", "inEdges", "outEdges"}]}``."""

    def runs(self, job: NodeRef, limit: int = 50) -> list[Run]:
        """Runs of a job, newest first."""

    def run(self, run_id: str) -> Run:
        """One run by its runId; raises NotFound."""

    def show(self, node: NodeRef) -> dict[str, Any]:
        """Current state of any node as JSON (facets, latest run/version, status)."""

    def versions(self, dataset: NodeRef, limit: int = 50) -> list[DatasetVersion]:
        """Versions of a dataset, newest first, with their write-audit-publish status."""

    # -- decide -------------------------------------------------------------
    def on_failure(self, failure: Failure) -> Decision:
        """retry (delay_seconds) | fail | wait | escalate, with the diagnosis as evidence."""

    def on_checks(
        self,
        dataset: NodeRef,
        results: Sequence[CheckResult],
        *,
        run_id: str | None = None,
        fingerprint: str | None = None,
        row_count: int | None = None,
        defer_publish: bool = False,
    ) -> Decision:
        """publish | quarantine a new version of ``dataset`` given its check results.

        ``fingerprint`` identifies the audited content (a plugin hashes what it wrote);
        without it the version written by ``run_id`` (or the latest pending one) is used.

        ``defer_publish=True`` is for a plugin that writes production after asking (swap,
        rename, store): a PUBLISH is recorded with outcome ``pending_publish`` and the
        version is not published yet (``last_published`` and ``changes`` do not show it)
        until ``record_outcome(decision.id, "published")`` after the write, or
        ``record_outcome(decision.id, "failed_write")`` when it failed. A QUARANTINE is
        the same either way.
        """

    def release(self, version: NodeRef, reason: str, *, by: str | None = None) -> Decision:
        """Publish a quarantined version (a fix, or an accepted baseline)."""

    def discard(self, version: NodeRef, reason: str, *, by: str | None = None) -> Decision:
        """Mark a quarantined version as never to be published."""

    def last_published(self, dataset: NodeRef) -> Staleness:
        """The version downstream should read, and how stale it is."""

    def changes(self, since: str | None = None, *, datasets: Sequence[NodeRef] | None = None, limit: int = 1000) -> tuple[list[Change], str]:
        """Published content changes after cursor ``since``; returns (changes, new cursor)."""

    def plan_runs(self, changes: Sequence[Change], *, integration: str | None = None) -> list[RunRequest]:
        """Exactly the downstream jobs that read a changed dataset (none reading a quarantine)."""

    def explain(self, node: NodeRef) -> Explanation:
        """The causal chain from a symptom to its root cause."""

    def incidents(self, state: str | None = None, limit: int = 100) -> list[Incident]:
        ...

    def decisions(self, subject: NodeRef | None = None, *, action: str | None = None, limit: int = 100) -> list[Decision]:
        """The audit trail, newest first."""

    def record_outcome(self, decision_id: str, outcome: str) -> None:
        """Tell the engine how a decision turned out (``succeeded``, ``failed``...): it learns from it.

        For a PUBLISH decided with ``on_checks(..., defer_publish=True)``: ``published``
        (production holds the version: it is published, a change appears) or
        ``failed_write`` (the write failed: the version is marked failed_write, nothing is
        announced). Saying it twice is harmless; ``published`` about any other decision,
        or contradicting an outcome already settled, raises SuturaError.
        """
