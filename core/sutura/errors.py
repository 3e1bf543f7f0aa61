"""Sutura's exceptions. Catch ``SuturaError`` to catch them all.

    SuturaError
    ├── ConfigError              a setting is missing, unknown or has the wrong type
    ├── InvalidEvent             an OpenLineage event that cannot be accepted (names the field)
    ├── InvalidNodeId            a node id that does not parse
    ├── NotFound                 a node, run or version the store does not hold
    ├── StoreError               the graph store failed or its schema is from the future
    ├── EngineUnavailable        a remote engine did not answer (plugins fall back on this)
    └── PolicyError              a plugin hook raised or returned something unusable
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EngineUnavailable",
    "InvalidEvent",
    "InvalidNodeId",
    "NotFound",
    "PolicyError",
    "StoreError",
    "SuturaError",
]


class SuturaError(Exception):
    """Root of every error Sutura raises on purpose."""


class ConfigError(SuturaError):
    pass


class InvalidEvent(SuturaError):
    """An event was rejected; ``field`` is the JSON path of the offending value."""

    def __init__(self, field: str, problem: str, *, index: int | None = None):
        self.field = field
        self.problem = problem
        self.index = index
        where = f"event[{index}]." if index is not None else ""
        super().__init__(f"{where}{field}: {problem}")

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"field": self.field, "problem": self.problem}
        if self.index is not None:
            out["index"] = self.index
        return out


class InvalidNodeId(SuturaError, ValueError):
    pass


class NotFound(SuturaError, LookupError):
    pass


class StoreError(SuturaError):
    pass


class EngineUnavailable(SuturaError):
    """The engine could not be reached or answered garbage; plugins fall back to native behaviour."""


class PolicyError(SuturaError):
    pass
