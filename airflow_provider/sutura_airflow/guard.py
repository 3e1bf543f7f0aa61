"""Downstream of a quarantine: stop (or wait) with a message naming it and how to release it.

Call ``ensure_published`` at the top of a task that reads datasets a write-audit-publish
step may hold back, or use ``SuturaQuarantineGuardOperator`` in front of such tasks::

    ensure_published(duckdb_dataset("/data/wh.duckdb", "orders"), on_quarantine="fail")
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from sutura import NotFound

from sutura_airflow._compat import AirflowFailException, AirflowRescheduleException, BaseOperator
from sutura_airflow._engine import call_engine
from sutura_airflow._identity import as_datasets

__all__ = ["SuturaQuarantineGuardOperator", "ensure_published", "quarantines"]


def quarantines(datasets: Sequence[Any]) -> list[str]:
    """One line per held version of ``datasets`` (empty when none, or Sutura is unreachable)."""
    lines = []
    for ds in as_datasets(datasets):

        def ask(engine: Any, ds: Any = ds) -> Any:
            try:
                return engine.last_published(ds)
            except NotFound:  # never seen by the engine: nothing held
                return None

        staleness = call_engine("reading quarantines", ask)
        if staleness is None or not staleness.quarantined:
            continue
        stale = f", {staleness.stale_seconds:.0f}s stale" if staleness.stale_seconds is not None else ""
        good = staleness.version.fingerprint if staleness.version else "none"
        for v in staleness.quarantined:
            lines.append(
                f"{ds.id} has quarantined version {v.id} ({v.row_count if v.row_count is not None else '?'} rows); "
                f"production serves version {good}{stale}. Release it with: sutura release {v.id}"
            )
    return lines


def ensure_published(*datasets: Any, on_quarantine: str = "fail", wait_seconds: float = 300.0) -> None:
    """Raise if any dataset has a quarantined version: ``fail`` at once, or ``wait`` (reschedule)."""
    held = quarantines(datasets)
    if not held:
        return
    message = "input held in quarantine: " + " | ".join(held)
    if on_quarantine == "wait":
        raise AirflowRescheduleException(datetime.now(timezone.utc) + timedelta(seconds=wait_seconds))
    raise AirflowFailException(message)


class SuturaQuarantineGuardOperator(BaseOperator):
    """Fails (or waits, rescheduling) while any of ``datasets`` holds a quarantined version."""

    template_fields: Sequence[str] = ()

    def __init__(self, *, datasets: Sequence[Any], on_quarantine: str = "fail", wait_seconds: float = 300.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if on_quarantine not in ("fail", "wait"):
            raise ValueError("on_quarantine must be 'fail' or 'wait'")
        self.datasets = list(datasets)
        self.on_quarantine = on_quarantine
        self.wait_seconds = wait_seconds

    def execute(self, context: Any) -> None:
        if self.on_quarantine == "wait":
            held = quarantines(self.datasets)
            if held:
                self.log.warning("waiting: %s", " | ".join(held))
        ensure_published(*self.datasets, on_quarantine=self.on_quarantine, wait_seconds=self.wait_seconds)
