"""Prometheus metrics of ``sutura serve``: request counters and latency from the server,
gauges from the store.

Two sources, so the figures stay right with several uvicorn workers:

- **from the store** (the same answer whichever worker is scraped): decisions by action
  (``sutura_decisions_total``; decisions are never deleted, so it only grows), open
  circuits (``sutura_circuits_open``) and held quarantines (``sutura_quarantines_open``);
- **from the server processes**: events accepted and duplicated, rejections by reason
  and field, requests by route and status, ingest latency (a histogram). Each process
  keeps its own counts and, when ``server.metrics_dir`` is set, writes them to
  ``<dir>/<pid>.json`` (at most every half second, and on every scrape); a scrape sums
  every file there, so any worker answers for all of them. ``sutura serve`` sets the
  directory to a fresh temporary one when none is configured, so counters start at zero
  with each server start, as Prometheus expects of a restarted target. Without a
  directory the counts are this process's only.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["LATENCY_BUCKETS", "Metrics", "field_label", "render"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_FLUSH_EVERY = 0.5  # seconds

_HELP = {
    "sutura_events_ingested_total": ("counter", "OpenLineage events stored (new, not duplicates)"),
    "sutura_events_duplicate_total": ("counter", "OpenLineage events received again and ignored (idempotent ingest)"),
    "sutura_rejections_total": ("counter", "requests or events refused, by reason and by the JSON field named"),
    "sutura_requests_total": ("counter", "HTTP requests answered, by route template, method and status"),
    "sutura_ingest_duration_seconds": ("histogram", "time to answer POST /api/v1/lineage and /batch"),
    "sutura_decisions_total": ("counter", "decisions recorded in the store, by action"),
    "sutura_circuits_open": ("gauge", "data sources whose circuit breaker is open or half open, from the store"),
    "sutura_quarantines_open": ("gauge", "dataset versions held in quarantine, from the store"),
}


def field_label(field: str | None) -> str:
    """A bounded label for a JSON path: list indexes folded (``inputs[3].name`` -> ``inputs[].name``)."""
    if not field:
        return ""
    return re.sub(r"\[\d+\]", "[]", str(field))[:80]


class Metrics:
    """This process's counters and histograms, optionally shared through ``directory``."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory else None
        self._lock = threading.Lock()
        self._counters: dict[str, dict[str, float]] = {}  # name -> labels json -> value
        self._hist: dict[str, dict[str, list[float]]] = {}  # name -> labels json -> bucket counts + [sum, count]
        self._dirty = False
        self._flushed_at = 0.0
        self._flusher: threading.Thread | None = None
        if self.directory:
            self.directory.mkdir(parents=True, exist_ok=True)

    # -- recording ---------------------------------------------------------------------
    def inc(self, name: str, value: float = 1, **labels: str) -> None:
        if not value:
            return
        key = json.dumps(labels, sort_keys=True)
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0) + value
            self._dirty = True
        self._maybe_flush()

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        key = json.dumps(labels, sort_keys=True)
        with self._lock:
            cells = self._hist.setdefault(name, {}).setdefault(key, [0.0] * (len(LATENCY_BUCKETS) + 2))
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    cells[i] += 1
            cells[-2] += seconds
            cells[-1] += 1
            self._dirty = True
        self._maybe_flush()

    # -- sharing between workers -----------------------------------------------------------
    def _snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "counters": {n: dict(s) for n, s in self._counters.items()},
                "histograms": {n: {k: list(v) for k, v in s.items()} for n, s in self._hist.items()},
            }

    def flush(self) -> None:
        """Write this process's counts to ``<dir>/<pid>.json`` (atomically, by rename)."""
        if not self.directory:
            return
        with self._lock:
            self._dirty = False
            self._flushed_at = time.monotonic()
        path = self.directory / f"{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._snapshot()))
        os.replace(tmp, path)

    def _maybe_flush(self) -> None:
        if not self.directory:
            return
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_loop, name="sutura-metrics", daemon=True)
            self._flusher.start()
        if time.monotonic() - self._flushed_at >= _FLUSH_EVERY:
            self.flush()

    def _flush_loop(self) -> None:
        while True:  # a daemon thread: ends with the process
            time.sleep(_FLUSH_EVERY)
            if self._dirty:
                try:
                    self.flush()
                except OSError:
                    pass

    def merged(self) -> dict[str, Any]:
        """Every worker's counts summed (this process's when there is no directory)."""
        if not self.directory:
            return self._snapshot()
        self.flush()
        total: dict[str, Any] = {"counters": {}, "histograms": {}}
        for path in sorted(self.directory.glob("*.json")):
            try:
                part = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # a file being replaced; its next version is counted next scrape
            for name, series in part.get("counters", {}).items():
                out = total["counters"].setdefault(name, {})
                for key, value in series.items():
                    out[key] = out.get(key, 0) + value
            for name, series in part.get("histograms", {}).items():
                out = total["histograms"].setdefault(name, {})
                for key, cells in series.items():
                    have = out.setdefault(key, [0.0] * len(cells))
                    out[key] = [a + b for a, b in zip(have, cells)]
        return total


# -- the text format ----------------------------------------------------------------------------


def _labels(labels: dict[str, Any]) -> str:
    if not labels:
        return ""
    esc = lambda v: str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')  # noqa: E731
    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items())) + "}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def store_figures(conn: Connection) -> dict[str, Any]:
    """The gauges read from the store: the same answer from every worker."""
    from sutura.store import schema as t

    decisions = {r.action: r.n for r in conn.execute(sa.select(t.decision.c.action, sa.func.count().label("n")).group_by(t.decision.c.action))}
    circuits = conn.execute(sa.select(sa.func.count()).where(t.circuit.c.state.in_(("open", "half_open")))).scalar_one()
    quarantines = conn.execute(sa.select(sa.func.count()).where(t.dataset_version.c.status == "quarantined")).scalar_one()
    return {"decisions": decisions, "circuits_open": circuits, "quarantines_open": quarantines}


def render(metrics: Metrics, store: dict[str, Any]) -> str:
    """Prometheus text exposition format 0.0.4."""
    merged = metrics.merged()
    lines: list[str] = []

    def head(name: str) -> None:
        kind, text = _HELP[name]
        lines.append(f"# HELP {name} {text}")
        lines.append(f"# TYPE {name} {kind}")

    def series(name: str, items: Iterable[tuple[dict[str, Any], float]]) -> None:
        head(name)
        for labels, value in sorted(items, key=lambda x: sorted(x[0].items())):
            lines.append(f"{name}{_labels(labels)} {_num(value)}")

    for name in ("sutura_events_ingested_total", "sutura_events_duplicate_total", "sutura_rejections_total", "sutura_requests_total"):
        found = merged["counters"].get(name, {})
        if not found and name.startswith("sutura_events"):
            found = {"{}": 0}
        series(name, [(json.loads(k), v) for k, v in found.items()])

    name = "sutura_ingest_duration_seconds"
    head(name)
    for key, cells in sorted(merged["histograms"].get(name, {}).items()):
        labels = json.loads(key)
        for bound, count in zip(LATENCY_BUCKETS, cells):
            lines.append(f"{name}_bucket{_labels({**labels, 'le': repr(bound)})} {_num(count)}")
        lines.append(f"{name}_bucket{_labels({**labels, 'le': '+Inf'})} {_num(cells[-1])}")
        lines.append(f"{name}_sum{_labels(labels)} {_num(cells[-2])}")
        lines.append(f"{name}_count{_labels(labels)} {_num(cells[-1])}")

    from sutura.ontology import Action

    decisions = store["decisions"]
    series("sutura_decisions_total", [({"action": a.value}, decisions.get(a.value, 0)) for a in Action]
           + [({"action": a}, n) for a, n in decisions.items() if a not in {x.value for x in Action}])
    series("sutura_circuits_open", [({}, store["circuits_open"])])
    series("sutura_quarantines_open", [({}, store["quarantines_open"])])
    return "\n".join(lines) + "\n"
