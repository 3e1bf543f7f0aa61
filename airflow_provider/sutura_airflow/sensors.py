"""``DatasetChangedSensor``: wait (deferred, no worker slot held) until a dataset's content changes.

The sensor returns the changes (list of dicts) it saw; downstream reads them from XCom.
``cursor="latest"`` (default) waits for a change after the sensor started; pass a cursor
from an earlier run (e.g. templated from XCom) to resume exactly after it.
"""

from __future__ import annotations

from typing import Any, Sequence

from sutura_airflow._compat import BaseOperator
from sutura_airflow.triggers import DatasetChangedTrigger, latest_cursor, poll_changes

__all__ = ["DatasetChangedSensor"]


class DatasetChangedSensor(BaseOperator):
    """Checks once, then defers to ``DatasetChangedTrigger`` until a change is published."""

    template_fields: Sequence[str] = ("datasets", "cursor")
    ui_color = "#e6f0ff"

    def __init__(self, *, datasets: Sequence[Any], cursor: str | None = "latest", poll_interval: float = 30.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.datasets = list(datasets)
        self.cursor = cursor
        self.poll_interval = poll_interval

    def execute(self, context: Any) -> Any:
        cursor = None if self.cursor in (None, "latest") else self.cursor
        if cursor is None:
            cursor = latest_cursor(self.datasets)
        else:
            found = poll_changes(self.datasets, cursor)
            if found and found[0]:
                return {"cursor": found[1], "changes": found[0]}
        self.defer(
            trigger=DatasetChangedTrigger(datasets=self.datasets, cursor=cursor, poll_interval=self.poll_interval, once=True),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        event = event or {}
        self.log.info("Sutura: %d change(s) of %s", len(event.get("changes", [])), ", ".join(map(str, self.datasets)))
        return {"cursor": event.get("cursor"), "changes": event.get("changes", [])}
