"""An openlineage-python transport that writes straight into an embedded engine.

Use it where a producer runs on the same machine as the store, with no server::

    transport:
      type: sutura                        # once ``sutura.transport`` is imported
      # or: type: sutura.transport.SuturaTransport  (works everywhere, by dotted path)
      db_url: sqlite:////var/lib/sutura/sutura.db   # optional: else SUTURA_DB_URL / sutura.yml
      strict: false    # true: raise instead of dropping (for callers that retry, like a sensor's cursor)

Contract (openlineage-python): ``kind`` names the type, ``config_class`` parses the
block, ``emit`` receives events. By default emitting never raises into the producer: an
invalid event or an unreachable store is logged once per process and kind of problem,
and dropped. With ``strict: true`` it raises, for callers that keep their place and resend.

A producer that forks a child per event (Airflow's OpenLineage provider, by default)
calls ``warm`` before forking, so each child inherits an open, rehearsed engine.

A producer that emits many events at once (a sensor's tick) wraps them in
``with transport.batch():``: they are stored in one transaction when the block ends,
instead of one transaction per event.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attr
from openlineage.client.serde import Serde
from openlineage.client.transport import Config, Transport, register_transport

__all__ = ["SuturaConfig", "SuturaTransport"]

log = logging.getLogger("sutura.transport")


@attr.define
class SuturaConfig(Config):
    db_url: str | None = None
    strict: bool = False

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> SuturaConfig:
        strict = params.get("strict", False)
        return cls(db_url=params.get("db_url"), strict=strict if isinstance(strict, bool) else str(strict).lower() == "true")


@register_transport
class SuturaTransport(Transport):
    kind = "sutura"
    config_class = SuturaConfig

    def __init__(self, config: SuturaConfig) -> None:
        self.config = config
        self._local = threading.local()  # .pending: events of this thread's open batch

    def _get_engine(self) -> Any:
        return _shared_engine(self.config.db_url)

    def emit(self, event: Any) -> None:
        try:
            payload = event if isinstance(event, (dict, str)) else Serde.to_json(event)
        except Exception as exc:  # noqa: BLE001 - a transport never fails its producer
            self._failed(exc)
            return
        pending = getattr(self._local, "pending", None)
        if pending is not None:
            pending.append(payload)
            return
        self._store(payload)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Store the events emitted in the block (by this thread) in one transaction at its end.

        If that transaction fails, a strict transport raises (nothing of the batch is
        stored); otherwise each event is stored on its own, so one bad event costs only
        itself. A block that raises stores nothing: its caller resends.
        """
        if getattr(self._local, "pending", None) is not None:
            yield  # already inside a batch: it stores these too
            return
        self._local.pending = pending = []
        try:
            yield
        finally:
            self._local.pending = None
        if not pending:
            return
        try:
            self._get_engine().ingest(_decoded(pending))
        except Exception:  # noqa: BLE001 - retried event by event below
            if self.config.strict:
                raise
            for payload in pending:
                self._store(payload)

    def _store(self, payload: Any) -> None:
        try:
            self._get_engine().ingest(payload)
        except Exception as exc:  # noqa: BLE001 - a transport never fails its producer
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        if self.config.strict:
            raise exc
        kind = type(exc).__name__
        if kind not in _WARNED:
            _WARNED.add(kind)
            log.warning("Sutura could not store an OpenLineage event (%s: %s); continuing without it", kind, exc)

    def close(self, timeout: float = -1) -> bool:
        return True  # the engine is shared by every transport of this process


def _decoded(payloads: list[Any]) -> list[Any]:
    """Emitted payloads (event dicts, JSON texts) as one list of event dicts."""
    from sutura.events import load_events

    return [event for p in payloads for event in (load_events(p) if isinstance(p, str) else [p])]


# Kinds of problem already logged in this process (or, for a forked child, by its parent):
# an emitter forked per event would otherwise log the same warning for every event.
_WARNED: set[str] = set()
_ENGINES: dict[str | None, tuple[int, Any]] = {}  # store URL -> (pid, engine)
_ENGINES_LOCK = threading.Lock()


def _new_lock_in_child() -> None:
    global _ENGINES_LOCK
    _ENGINES_LOCK = threading.Lock()  # a thread of the parent may have held it at the fork


os.register_at_fork(after_in_child=_new_lock_in_child)


def _shared_engine(db_url: str | None) -> Any:
    """One engine per store and process.

    Producers that emit from a forked child (Airflow's OpenLineage provider forks per
    event) inherit the parent's engine, with a fresh connection pool: opening the store
    and loading the plugins happened once, in the parent (see ``warm``).
    """
    from sutura.engine import Engine

    with _ENGINES_LOCK:
        held = _ENGINES.get(db_url)
        if held is not None and held[0] != os.getpid():
            held[1].db.dispose(close=False)  # the parent's connections stay the parent's
            held = _ENGINES[db_url] = (os.getpid(), held[1])
        if held is None:
            held = _ENGINES[db_url] = (os.getpid(), Engine(db_url=db_url))
        return held[1]


def warm(db_url: str | None = None) -> None:
    """Open the engine for ``db_url`` in this process before it forks emitters, and rehearse.

    A forked child inherits what the parent has done: the open engine, the modules of the
    ingest path, the statements SQLAlchemy compiled. Without the rehearsal each child
    compiles every statement it runs, for each event: most of a child's time
    (docs/adr/0008-forked-emitters.md). Calling it again is free.

    If the store cannot be opened it raises, for the caller to report: the emitters it
    forks then stay quiet about that same problem instead of logging it for every event.
    """
    try:
        engine = _shared_engine(db_url)
    except Exception as exc:
        _WARNED.add(type(exc).__name__)
        raise
    with _ENGINES_LOCK:
        if db_url in _REHEARSED:
            return
        _REHEARSED.add(db_url)
    try:
        _rehearse(engine)
    except Exception:  # noqa: BLE001 - only a missed speed-up: children compile for themselves
        log.debug("Sutura could not rehearse the ingest path", exc_info=True)


_REHEARSED: set[str | None] = set()  # store URLs whose engine warm() rehearsed


def _rehearse(engine: Any) -> None:
    """Run the ingest path once on sample events, in a transaction that is rolled back.

    The samples take the paths a task's events take (a new job and run with a parent,
    then its COMPLETE updating them, datasets read and written), so their statements are
    compiled and cached on the engine. Nothing is stored. Only the built-in plugins'
    ``sutura_events_applied`` hooks hear the samples, on the same rolled-back connection:
    a third-party notifier must never hear of them.
    """
    from sutura.engine import now_utc
    from sutura.plugins import BUILTIN_PLUGINS
    from sutura.store.writer import Writer
    from sutura.translate import translate

    writer = Writer()  # default fingerprints: no plugin fingerprints a sample dataset
    hooks = [h for h in engine.hooks.hook.sutura_events_applied.get_hookimpls() if getattr(h.plugin, "__name__", None) in BUILTIN_PLUGINS]
    with engine.db.connect() as conn:
        rolled_back = conn.begin()
        try:
            stand_in = _OnConnection(engine, conn)
            for event in _samples():  # one at a time: each later one takes the update paths
                applied = writer.apply(conn, [translate(p) for p in engine.validate(event)], now_utc())
                kwargs = {"engine": stand_in, "events": [f.event.raw for f in applied]}
                for hook in hooks:
                    hook.function(**{k: v for k, v in kwargs.items() if k in hook.argnames})
        finally:
            rolled_back.rollback()


class _OnConnection:
    """The engine, with its transactions and reads run on one open connection."""

    def __init__(self, engine: Any, conn: Any) -> None:
        self._engine, self._conn = engine, conn

    def transaction(self, fn: Any, **_: Any) -> Any:
        return fn(self._conn)

    def read(self, fn: Any) -> Any:
        return fn(self._conn)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


def _samples() -> list[dict[str, Any]]:
    """Two tasks of one parent run, each START then COMPLETE, each reading and writing datasets.

    A single-row and a multi-row statement are two statements to SQLAlchemy, so the
    samples make both: the first task creates two jobs, two runs (its own and the
    parent's) and three datasets, and its COMPLETE moves the three datasets' facets; the
    second creates one of each, and its START moves one dataset's facets (its input, the
    first task's output), its COMPLETE two.
    """
    import uuid
    from datetime import datetime, timedelta, timezone

    ns, now = "sutura-rehearsal", datetime.now(timezone.utc)
    parent = {"run": {"runId": str(uuid.uuid4())}, "job": {"namespace": ns, "name": "dag"}}

    def facet(**fields: Any) -> dict[str, Any]:
        return {"_producer": _PRODUCER, "_schemaURL": _SCHEMA, **fields}

    def dataset(name: str) -> dict[str, Any]:
        return {"namespace": ns, "name": name, "facets": {"schema": facet(fields=[{"name": "id", "type": "INTEGER"}])}}

    events = []
    for task, reads, writes in (("dag.first", ["a", "b"], ["c"]), ("dag.second", ["c"], ["d"])):
        run_id = str(uuid.uuid4())
        for event_type in ("START", "COMPLETE"):
            at = (now + timedelta(seconds=len(events))).isoformat()  # each later than the one before
            events.append(
                {
                    "eventType": event_type,
                    "eventTime": at,
                    "producer": _PRODUCER,
                    "schemaURL": _SCHEMA,
                    "job": {"namespace": ns, "name": task, "facets": {"jobType": facet(jobType="TASK", integration="SUTURA", processingType="BATCH")}},
                    "run": {"runId": run_id, "facets": {"parent": facet(**parent, root=parent), "nominalTime": facet(nominalStartTime=at)}},
                    "inputs": [dataset(name) for name in reads],
                    "outputs": [dataset(name) for name in writes],
                }
            )
    return events


_PRODUCER = "https://github.com/sutura-data/sutura/core"
_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
