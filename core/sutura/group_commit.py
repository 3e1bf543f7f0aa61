"""Group commit: concurrent ingest requests of one server worker share a transaction.

The OpenLineage HTTP transport sends one event per request. Written one transaction
each, a worker spends most of its time beginning and committing; queued behind one
writer, the requests that arrive while a transaction runs are written together in the
next one. A request is answered only after the transaction holding its events commits,
so an acknowledgement still means stored (docs/promises.md). The store work runs in a
thread, so the worker keeps reading requests meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

from sutura.api import IngestResult
from sutura.events import ParsedEvent

__all__ = ["GroupCommit"]


class GroupCommit:
    """One writer per event loop; ``apply`` awaits the transaction holding its events."""

    def __init__(self, engine: Any, *, max_events: int = 1000):
        self.engine = engine
        self.max_events = max_events
        self._waiting: list[tuple[Sequence[ParsedEvent], asyncio.Future[Any]]] = []
        self._writing = False

    async def apply(self, parsed: Sequence[ParsedEvent]) -> IngestResult:
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((parsed, future))
        if not self._writing:
            self._writing = True
            asyncio.ensure_future(self._drain())
        result = await future
        if isinstance(result, Exception):
            raise result
        return result

    def _next_group(self) -> list[tuple[Sequence[ParsedEvent], asyncio.Future[Any]]]:
        taken, size = 0, 0
        for parsed, _ in self._waiting:
            if taken and size + len(parsed) > self.max_events:
                break
            taken, size = taken + 1, size + len(parsed)
        group, self._waiting = self._waiting[:taken], self._waiting[taken:]
        return group

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                group = self._next_group()
                try:
                    results = await loop.run_in_executor(None, self.engine.apply_groups, [p for p, _ in group])
                except Exception as exc:  # noqa: BLE001 - the store failed: every waiter hears it
                    results = [exc] * len(group)
                for (_, future), result in zip(group, results):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._writing = False
