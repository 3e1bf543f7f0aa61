"""What translation produces: plain facts about one event, ready for the store to apply."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime
from typing import Any

from sutura.events import ParsedEvent
from sutura.ontology import RunState

__all__ = ["CheckFact", "ColumnEdge", "DatasetFacts", "Facts", "FieldFact", "JobFacts", "RunFacts"]


@dataclass
class FieldFact:
    name: str
    type: str | None = None
    description: str | None = None


@dataclass
class ColumnEdge:
    """Field ``field`` of this dataset derives from ``source_field`` of dataset (namespace, name)."""

    field: str | None  # None: a dataset-level dependency (columnLineage ``dataset`` list)
    namespace: str
    name: str
    source_field: str
    transformations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CheckFact:
    assertion: str
    success: bool
    column: str | None = None
    source: str = "openlineage"
    observed: Any = None
    message: str | None = None


@dataclass
class DatasetFacts:
    namespace: str
    name: str
    role: str  # input | output | event
    facets: dict[str, Any] = field(default_factory=dict)
    fields: list[FieldFact] = field(default_factory=list)
    aliases: list[tuple[str, str, str | None]] = field(default_factory=list)  # (namespace, name, type)
    version: str | None = None  # the `version` facet's datasetVersion
    row_count: int | None = None
    bytes: int | None = None
    schema_hash: str | None = None
    column_lineage: list[ColumnEdge] = field(default_factory=list)
    checks: list[CheckFact] = field(default_factory=list)
    lifecycle: str | None = None
    data_source: str | None = None


@dataclass
class JobFacts:
    namespace: str
    name: str
    facets: dict[str, Any] = field(default_factory=dict)
    type: str | None = None
    integration: str | None = None
    processing_type: str | None = None


@dataclass
class RunFacts:
    run_id: str
    state: RunState
    facets: dict[str, Any] = field(default_factory=dict)
    attempt: int | None = None
    parent_run_id: str | None = None
    parent_job: tuple[str, str] | None = None
    root_run_id: str | None = None
    nominal_start: datetime | None = None
    nominal_end: datetime | None = None
    error_message: str | None = None
    stack_trace: str | None = None


@dataclass
class Facts:
    event: ParsedEvent
    job: JobFacts | None = None
    run: RunFacts | None = None
    inputs: list[DatasetFacts] = field(default_factory=list)
    outputs: list[DatasetFacts] = field(default_factory=list)
    datasets: list[DatasetFacts] = field(default_factory=list)  # DatasetEvent

    def all_datasets(self) -> list[DatasetFacts]:
        """Inputs, outputs and a DatasetEvent's dataset; the store reads, never edits, them."""
        return [*self.inputs, *self.outputs, *self.datasets]

    @cached_property
    def facet_key(self) -> str:
        """The ordering key of this event's facets: newest eventTime wins, then rank, then key."""
        rank = self.event.event_type.rank if self.event.event_type else 0
        return f"{self.event.time_key}|{rank}|{self.event.key}"
