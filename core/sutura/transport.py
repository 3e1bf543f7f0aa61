"""An openlineage-python transport that writes straight into an embedded engine.

Use it where a producer runs on the same machine as the store, with no server::

    transport:
      type: sutura                        # once ``sutura.transport`` is imported
      # or: type: sutura.transport.SuturaTransport  (works everywhere, by dotted path)
      db_url: sqlite:////var/lib/sutura/sutura.db   # optional: else SUTURA_DB_URL / sutura.yml
      strict: false    # true: raise instead of dropping (for callers that retry, like a sensor's cursor)

Contract (openlineage-python): ``kind`` names the type, ``config_class`` parses the
block, ``emit`` receives events. By default emitting never raises into the producer: an
invalid event or an unreachable store is logged once per kind of problem and dropped.
With ``strict: true`` it raises, for callers that keep their place and resend.

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
        self._warned: set[str] = set()
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
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning("Sutura could not store an OpenLineage event (%s: %s); continuing without it", kind, exc)

    def close(self, timeout: float = -1) -> bool:
        return True  # the engine is shared by every transport of this process


def _decoded(payloads: list[Any]) -> list[Any]:
    """Emitted payloads (event dicts, JSON texts) as one list of event dicts."""
    from sutura.events import load_events

    return [event for p in payloads for event in (load_events(p) if isinstance(p, str) else [p])]


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
    """Open the engine for ``db_url`` in this process before it forks emitters."""
    _shared_engine(db_url)
