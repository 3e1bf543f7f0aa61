"""The embedded engine: the ``EngineAPI`` facade over a store in this process.

Every door in (HTTP server, in-process transport, ``sutura ingest``) ends in
``Engine.ingest``: parse -> validate -> translate -> one transaction. The judgement
methods (``on_failure``, ``on_checks``, ``changes``...) delegate to the policies in
``sutura.policies`` through the plugin manager, so a third-party plugin can change any
decision without touching this file.
"""

from __future__ import annotations

import gc
import logging
import time
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura import config
from sutura.api import Change, Direction, EngineAPI, Explanation, IngestResult, NodeRef, RunRequest, Staleness
from sutura.errors import InvalidEvent, NotFound, StoreError
from sutura.events import ParsedEvent, load_events, parse_event
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
from sutura.plugins import plugin_manager
from sutura.store import reader
from sutura.store.db import READ_ONLY, open_store
from sutura.store.writer import Writer
from sutura.translate import Facts, translate

__all__ = ["Engine", "connect"]

log = logging.getLogger("sutura")
T = TypeVar("T")
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock: the transaction is replayed


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def node_ref(node: NodeRef) -> str:
    """A node id from a node id string or an ontology object."""
    if isinstance(node, str):
        return node
    if isinstance(node, (Dataset, Job, Run, DatasetVersion)):
        return node.id
    raise TypeError(f"expected a node id or a Dataset/Job/Run/DatasetVersion, got {type(node).__name__}")


class paused_gc:
    """Pause the cyclic garbage collector while a batch is written or a lineage answer built.

    Both allocate many acyclic objects (decoded JSON, facts, rows; answer nodes); with
    the collector on, those allocations trigger full collections that rescan the whole
    heap: about a third of ingest time, and 40-70 ms inside a large lineage answer.
    Reference counting still frees them; the collector resumes afterwards
    (see docs/adr/0007-ingest-speed.md). A class, not a generator: resuming allocates
    nothing, so the collection the pause postponed runs at the caller's next allocation,
    not on the way out while a just-built answer is alive (scanning a 5,000-node answer
    takes milliseconds, and promotes it towards the rarely collected oldest generation).
    """

    __slots__ = ("_resume",)

    def __enter__(self) -> None:
        self._resume = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._resume:
            gc.enable()


def _each(items: list[Any], fn: Any) -> list[Any]:
    """``fn`` over a list; an InvalidEvent names which item (when there are several)."""
    out = []
    for i, item in enumerate(items):
        try:
            out.append(fn(item))
        except InvalidEvent as exc:
            raise InvalidEvent(exc.field, exc.problem, index=i if len(items) > 1 else None) from None
    return out


class Engine:
    """The engine over a local store (SQLite file by default, or PostgreSQL)."""

    def __init__(self, db_url: str | None = None, *, settings: config.Settings | None = None, **overrides: Any):
        self.settings = settings or config.resolve(db_url=db_url, **overrides)
        self.db = open_store(self.settings.db_url)
        self.hooks = plugin_manager()
        self.writer = Writer(fingerprint=self._fingerprint)

    @classmethod
    def from_config(cls, **overrides: Any) -> EngineAPI:
        """Arguments -> sutura.yml -> SUTURA__* env; a remote client when ``url`` is set."""
        return connect(**overrides)

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ----------------------------------------------------------------
    def transaction(self, fn: Any, *, attempts: int = 8) -> Any:
        """Run ``fn(conn)`` in one transaction, replaying it on deadlock/serialization failure."""
        for attempt in range(1, attempts + 1):
            try:
                with self.db.begin() as conn:
                    return fn(conn)
            except sa.exc.DBAPIError as exc:
                code = getattr(exc.orig, "sqlstate", None)
                if code in _RETRYABLE_SQLSTATES and attempt < attempts:
                    time.sleep(min(0.005 * 2**attempt, 0.5))
                    continue
                raise StoreError(f"store write failed: {exc.orig}") from exc
        raise AssertionError("unreachable")

    def read(self, fn: Any) -> Any:
        """Run ``fn(conn)`` on a snapshot of the store; it waits for no writer (on SQLite either)."""
        with self.db.connect().execution_options(**{READ_ONLY: True}) as conn:
            return fn(conn)

    # -- observe --------------------------------------------------------------------
    def ingest(self, events: Mapping[str, Any] | str | bytes | Iterable[Mapping[str, Any]]) -> IngestResult:
        """Apply one event or many in one transaction; an invalid event rejects the whole call."""
        with paused_gc():
            parsed = self.validate(events)
            return self.apply(parsed)

    def validate(self, events: Any) -> list[ParsedEvent]:
        """Parse and validate without storing; raises InvalidEvent (with ``index`` for lists)."""
        raw = load_events(events) if isinstance(events, (str, bytes, bytearray)) else events
        if isinstance(raw, Mapping) or not isinstance(raw, Iterable):
            return [parse_event(raw)]  # a non-object is rejected there, naming "$"
        return _each(list(raw), parse_event)

    def apply(self, parsed: Sequence[ParsedEvent]) -> IngestResult:
        """Translate and store validated events; all or nothing."""
        result = self.apply_groups([parsed])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def apply_groups(self, groups: Sequence[Sequence[ParsedEvent]]) -> list[IngestResult | InvalidEvent]:
        """Store several callers' events in one transaction (the server's group commit).

        Each group is translated on its own: an untranslatable event rejects its group
        (its slot holds the InvalidEvent), never the others. The transaction is all or
        nothing for every group; a store failure raises for all of them.
        """
        with paused_gc():
            translated: list[list[Facts] | InvalidEvent] = []
            for group in groups:
                try:
                    translated.append(_each(list(group), translate))
                except InvalidEvent as exc:
                    translated.append(exc)
            facts = [f for g in translated if not isinstance(g, InvalidEvent) for f in g]
            applied = self.transaction(lambda conn: self.writer.apply(conn, facts, now_utc())) if facts else []
        if applied:
            from sutura.plugins import notify

            notify(self.hooks, "sutura_events_applied", engine=self, events=[f.event.raw for f in applied])
        new = {f.event.key for f in applied}
        results: list[IngestResult | InvalidEvent] = []
        for g in translated:
            if isinstance(g, InvalidEvent):
                results.append(g)
                continue
            accepted = 0
            for f in g:  # the first copy of an event is the new one; later copies are duplicates
                if f.event.key in new:
                    new.discard(f.event.key)
                    accepted += 1
            results.append(IngestResult(accepted, len(g) - accepted))
        return results

    # -- read the graph ------------------------------------------------------------
    def lineage(self, node: NodeRef, direction: Direction = "both", depth: int = 5, *, columns: bool = False) -> dict[str, Any]:
        depth = max(0, min(int(depth), 100))

        def q(conn: Connection) -> dict[str, Any]:
            found = reader.resolve(conn, node_ref(node))
            if columns or found.kind == "field":
                return reader.column_lineage(conn, found, direction, depth)
            return reader.lineage(conn, found, direction, depth)

        with paused_gc():  # an answer can hold thousands of nodes: no collection midway
            return self.read(q)

    def runs(self, job: NodeRef, limit: int = 50) -> list[Run]:
        def q(conn: Connection) -> list[Run]:
            found = reader.resolve(conn, node_ref(job))
            if found.kind != "job":
                raise NotFound(f"{found.node_id} is not a job")
            return reader.runs_of(conn, found.id, limit)

        return self.read(q)

    def run(self, run_id: str) -> Run:
        return self.read(lambda conn: reader.run_of(conn, run_id))

    def versions(self, dataset: NodeRef, limit: int = 50) -> list[DatasetVersion]:
        return self.read(lambda conn: reader.versions_of(conn, self._dataset_id(conn, dataset), limit))

    def show(self, node: NodeRef) -> dict[str, Any]:
        from sutura.show import show

        return self.read(lambda conn: show(conn, reader.resolve(conn, node_ref(node))))

    def _dataset_id(self, conn: Connection, dataset: NodeRef) -> int:
        if isinstance(dataset, DatasetVersion):
            dataset = dataset.dataset
        if isinstance(dataset, Dataset):  # its exact name: one lookup, no node id splits to try
            found_id = reader.dataset_by_name(conn, dataset.namespace, dataset.name)
            if found_id is not None:
                return found_id
        found = reader.resolve(conn, node_ref(dataset))
        if found.kind != "dataset":
            raise NotFound(f"{found.node_id} is not a dataset")
        return found.id

    # -- decide (see sutura.policies) ------------------------------------------------
    def _fingerprint(self, ds: Any, run_id: str | None) -> tuple[str, str]:
        return self.hooks.hook.sutura_fingerprint(dataset=ds, run_id=run_id)

    def on_failure(self, failure: Failure) -> Decision:
        from sutura.policies.retry import decide_failure

        return decide_failure(self, failure)

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
        from sutura.policies.quarantine import decide_checks

        return decide_checks(
            self, dataset, results, run_id=run_id, fingerprint=fingerprint, row_count=row_count, defer_publish=defer_publish
        )

    def release(self, version: NodeRef, reason: str, *, by: str | None = None) -> Decision:
        from sutura.policies.quarantine import settle

        return settle(self, version, reason, by=by, release=True)

    def discard(self, version: NodeRef, reason: str, *, by: str | None = None) -> Decision:
        from sutura.policies.quarantine import settle

        return settle(self, version, reason, by=by, release=False)

    def last_published(self, dataset: NodeRef) -> Staleness:
        from sutura.policies.quarantine import last_published

        return self.read(lambda conn: last_published(conn, self._dataset_id(conn, dataset)))

    def changes(self, since: str | None = None, *, datasets: Sequence[NodeRef] | None = None, limit: int = 1000) -> tuple[list[Change], str]:
        from sutura.policies.change import changes

        def q(conn: Connection) -> tuple[list[Change], str]:
            ids = None
            if datasets:  # a dataset the store has not seen yet simply has no changes
                ids = []
                for d in datasets:
                    try:
                        ids.append(self._dataset_id(conn, d))
                    except NotFound:
                        continue
            return changes(conn, since, ids, limit)

        return self.read(q)

    def plan_runs(self, changes: Sequence[Change], *, integration: str | None = None) -> list[RunRequest]:
        from sutura.policies.change import hold

        return self.transaction(lambda conn: hold(conn, self, changes, integration))

    def explain(self, node: NodeRef) -> Explanation:
        from sutura.diagnose.rootcause import explain

        return explain(self, node_ref(node))

    def incidents(self, state: str | None = None, limit: int = 100) -> list[Incident]:
        from sutura.diagnose.rootcause import list_incidents

        return self.read(lambda conn: list_incidents(conn, state, limit))

    def decisions(self, subject: NodeRef | None = None, *, action: str | None = None, limit: int = 100) -> list[Decision]:
        from sutura.decisions import list_decisions

        return self.read(lambda conn: list_decisions(conn, node_ref(subject) if subject else None, action, limit))

    def record_outcome(self, decision_id: str, outcome: str) -> None:
        from sutura.decisions import record_outcome
        from sutura.policies.quarantine import PUBLISH_OUTCOMES, settle_publish

        if outcome in PUBLISH_OUTCOMES:  # settles a deferred publish (see on_checks)
            settle_publish(self, decision_id, outcome)
            return
        self.transaction(lambda conn: record_outcome(conn, decision_id, outcome, now_utc()))


def connect(**overrides: Any) -> EngineAPI:
    """The engine the configuration names: remote when ``url``/``SUTURA_URL`` is set, else embedded."""
    settings = config.resolve(**overrides)
    if settings.url:
        from sutura.client import RemoteEngine

        return RemoteEngine(settings.url, token=settings.token, timeout=settings.timeout)
    return Engine(settings=settings)
