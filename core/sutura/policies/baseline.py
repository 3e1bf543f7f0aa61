"""Learned baselines: what a dataset's versions usually look like, and what is anomalous.

Computed from the published history of a dataset (row counts, the gaps between
publications, per-column null rates and means from ``dataQualityMetrics``), a robust
z-score per metric, and nothing flagged before ``baseline.min_history`` versions.
Schema changes are classified as additive (new columns) or breaking (dropped or retyped
columns), which the change planner uses to hold the affected models. Plain Python
arithmetic: it runs inside every ``on_checks`` transaction, over a few numbers per version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from statistics import median, pstdev
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.ontology import VersionStatus
from sutura.store import schema as t

__all__ = ["anomalies", "classify_schema_change", "zscore"]

_LIVE = (VersionStatus.PUBLISHED.value, VersionStatus.RELEASED.value)
_V = t.dataset_version
_HISTORY = (
    sa.select(_V.c.row_count, _V.c.status_at, _V.c.schema, _V.c.metrics)
    .where(_V.c.dataset_id == sa.bindparam("dataset_id"), _V.c.status.in_(_LIVE), _V.c.id != sa.bindparam("version_id"))
    .order_by(_V.c.seq)
)  # built once: it runs for every audited version


def zscore(history: Iterable[float | None], value: float) -> float:
    """Robust z-score of ``value`` against ``history`` (median / 1.4826·MAD, std as fallback).

    Missing values (None, NaN) in ``history`` are ignored.

    >>> round(zscore([10, 11, 9, 10, 12], 30), 2)
    13.49
    """
    values = [float(x) for x in history if x is not None and x == x]
    if not values:
        return 0.0
    middle = median(values)
    mad = median(abs(x - middle) for x in values) * 1.4826
    spread = mad if mad > 0 else pstdev(values)
    if not spread:
        return 0.0 if value == middle else float("inf")
    return float((value - middle) / spread)


def classify_schema_change(old: list[list[Any]] | None, new: list[list[Any]] | None) -> tuple[str | None, list[str]]:
    """(None | "additive" | "breaking", details) comparing ``[[name, type], ...]`` lists.

    >>> classify_schema_change([["id", "int"]], [["id", "int"], ["email", "text"]])
    ('additive', ['added column email'])
    >>> classify_schema_change([["id", "int"], ["email", "text"]], [["id", "bigint"]])
    ('breaking', ['dropped column email', 'column id changed type int -> bigint'])
    """
    if not old or not new:
        return None, []
    before = {n: (ty or "").lower() for n, ty in old}
    after = {n: (ty or "").lower() for n, ty in new}
    dropped = [f"dropped column {n}" for n in before if n not in after]
    retyped = [f"column {n} changed type {before[n]} -> {after[n]}" for n in before if n in after and before[n] != after[n] and before[n] and after[n]]
    added = [f"added column {n}" for n in after if n not in before]
    if dropped or retyped:
        return "breaking", dropped + retyped + added
    if added:
        return "additive", added
    return None, []


def anomalies(conn: Connection, dataset_id: int, version: Any, settings: Any) -> list[str]:
    """Human-readable anomalies of ``version`` against the dataset's published history."""
    rows = conn.execute(_HISTORY, {"dataset_id": dataset_id, "version_id": version.id}).all()
    found: list[str] = []
    if rows:
        kind, details = classify_schema_change(
            json.loads(rows[-1].schema) if rows[-1].schema else None, json.loads(version.schema) if version.schema else None
        )
        if kind:
            found.append(f"{kind} schema change: {', '.join(details)}")
    if len(rows) < settings.get("baseline.min_history"):
        return found
    limit = settings.get("baseline.z_threshold")
    counts = [r.row_count for r in rows if r.row_count is not None]
    if version.row_count is not None and counts:
        z = zscore(counts, version.row_count)
        if abs(z) > limit:
            found.append(f"volume: {version.row_count} rows vs a usual {median(counts):.0f} (z={z:+.1f})")
    published = [_utc(r.status_at) for r in rows]
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(published, published[1:])]
    if len(gaps) >= 2:
        latest_gap = (_utc(version.created_at) - published[-1]).total_seconds()
        z = zscore(gaps, latest_gap)
        if z > limit:
            found.append(f"freshness: {latest_gap / 3600:.1f}h since the last version vs a usual {median(gaps) / 3600:.1f}h (z={z:+.1f})")
    found.extend(_column_anomalies(rows, version, limit))
    return found


def _column_anomalies(rows: list[Any], version: Any, limit: float) -> list[str]:
    if not version.metrics:
        return []
    current = json.loads(version.metrics)
    history: dict[str, list[tuple[float, float | None]]] = {}  # column -> (null rate, mean) per version
    for r in rows:
        if r.metrics and r.row_count:
            for column, m in json.loads(r.metrics).items():
                history.setdefault(column, []).append(((m.get("nullCount") or 0) / r.row_count, _mean(m)))
    found = []
    for column, m in current.items():
        past = history.get(column)
        if not past or not version.row_count:
            continue
        null_rates = [rate for rate, _ in past]
        null_rate = (m.get("nullCount") or 0) / version.row_count
        z = zscore(null_rates, null_rate)
        if abs(z) > limit:
            found.append(f"null rate of {column}: {null_rate:.1%} vs a usual {median(null_rates):.1%} (z={z:+.1f})")
        mean = _mean(m)
        means = [x for _, x in past if x is not None]
        if mean is not None and means:
            z = zscore(means, mean)
            if abs(z) > limit:
                found.append(f"distribution of {column}: mean {mean:.4g} vs a usual {median(means):.4g} (z={z:+.1f})")
    return found


def _mean(metrics: dict[str, Any]) -> float | None:
    total, count = metrics.get("sum"), metrics.get("count")
    if total is None or not count:
        return None
    return float(total) / float(count)


def _utc(value: datetime) -> datetime:
    """Stored times as aware UTC (SQLite returns them naive)."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
