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
"""

from __future__ import annotations

import logging
import os
import threading
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
        self._engine: Any = None
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def _get_engine(self) -> Any:
        with self._lock:
            if self._engine is None:
                self._engine = _shared_engine(self.config.db_url)
            return self._engine

    def emit(self, event: Any) -> None:
        try:
            payload = event if isinstance(event, (dict, str)) else Serde.to_json(event)
            self._get_engine().ingest(payload)
        except Exception as exc:  # noqa: BLE001 - a transport never fails its producer
            if self.config.strict:
                raise
            kind = type(exc).__name__
            if kind not in self._warned:
                self._warned.add(kind)
                log.warning("Sutura could not store an OpenLineage event (%s: %s); continuing without it", kind, exc)

    def close(self, timeout: float = -1) -> bool:
        return True  # the engine is shared by every transport of this process


_ENGINES: dict[tuple[int, str | None], Any] = {}
_ENGINES_LOCK = threading.Lock()


def _shared_engine(db_url: str | None) -> Any:
    """One engine per store and process: producers that build a client per event (Airflow's
    OpenLineage provider forks per event) do not pay for opening the store each time."""
    from sutura.engine import Engine

    key = (os.getpid(), db_url)
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = Engine(db_url=db_url)
        return _ENGINES[key]
