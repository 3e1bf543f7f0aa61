"""``DatasetChangedTrigger``: fires when the engine publishes a content-changed version.

Usable both to schedule a DAG on a dataset that changes anywhere (Airflow, dbt, Dagster)::

    orders = Asset("sutura-orders", watchers=[AssetWatcher(
        name="orders_changed", trigger=DatasetChangedTrigger(datasets=["dataset:duckdb:///data/wh.duckdb:wh.main.orders"]))])
    with DAG("report", schedule=[orders]): ...

and behind ``DatasetChangedSensor`` (deferrable). It polls ``engine.changes(since=cursor,
datasets=[...])`` every ``poll_interval`` seconds; an unreachable engine is retried at the
next poll (one warning), never an error. Without a ``cursor`` it starts from the latest
change, so only changes published after the trigger started fire it; a rewrite of
identical content is not a change and does not fire.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Sequence

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from sutura import NotFound

from sutura_airflow._engine import call_engine
from sutura_airflow._identity import as_datasets

__all__ = ["DatasetChangedTrigger", "latest_cursor", "poll_changes"]


def _refs(datasets: Sequence[Any]) -> list[str]:
    return [d.id for d in as_datasets(datasets)]


def _changes(engine: Any, since: str | None, refs: list[str]) -> tuple[list[Any], str | None]:
    """Changes of the datasets the engine knows (an unknown dataset has none yet)."""
    known = []
    for ref in refs:
        try:
            engine.show(ref)
            known.append(ref)
        except NotFound:
            continue
    if not known:
        return [], since
    return engine.changes(since=since, datasets=known)


def latest_cursor(datasets: Sequence[Any]) -> str | None:
    """The cursor after the last change of ``datasets`` (``"0"``: none yet; None: Sutura unreachable)."""

    def ask(engine: Any) -> str:
        cursor: str | None = None
        while True:
            batch, nxt = _changes(engine, cursor, _refs(datasets))
            if not batch or nxt == cursor:
                return nxt or cursor or "0"
            cursor = nxt

    return call_engine("reading the change feed", ask)


def poll_changes(datasets: Sequence[Any], since: str | None) -> tuple[list[dict[str, Any]], str | None] | None:
    """New changes after ``since`` as dicts, and the next cursor; None if Sutura is unreachable."""

    def ask(engine: Any) -> tuple[list[dict[str, Any]], str | None]:
        batch, cursor = _changes(engine, since, _refs(datasets))
        return [c.to_dict() for c in batch], cursor

    return call_engine("reading the change feed", ask)


class DatasetChangedTrigger(BaseEventTrigger):
    """Yields one ``TriggerEvent`` per poll that found changes of ``datasets``.

    :param datasets: dataset node ids (``dataset:<ns>:<name>``), Sutura/OpenLineage Datasets or Assets.
    :param cursor: resume after this change-feed cursor (default: the latest at start).
    :param poll_interval: seconds between polls.
    :param once: stop after the first event (what a deferred sensor wants).
    """

    def __init__(self, *, datasets: Sequence[Any], cursor: str | None = None, poll_interval: float = 30.0, once: bool = False) -> None:
        super().__init__()
        self.datasets = _refs(datasets)
        if not self.datasets:
            raise ValueError("DatasetChangedTrigger needs at least one dataset")
        self.cursor = cursor
        self.poll_interval = float(poll_interval)
        self.once = once

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"datasets": list(self.datasets), "cursor": self.cursor, "poll_interval": self.poll_interval, "once": self.once},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        cursor = self.cursor
        while cursor is None:
            cursor = await asyncio.to_thread(latest_cursor, self.datasets)
            if cursor is None:
                await asyncio.sleep(self.poll_interval)
        while True:
            found = await asyncio.to_thread(poll_changes, self.datasets, cursor)
            if found is not None:
                changes, nxt = found
                if changes:
                    cursor = nxt or cursor
                    yield TriggerEvent({"status": "changed", "cursor": cursor, "changes": changes})
                    if self.once:
                        return
                elif nxt:
                    cursor = nxt
            await asyncio.sleep(self.poll_interval)
