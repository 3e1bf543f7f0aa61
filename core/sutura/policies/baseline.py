"""Learned baselines: what a dataset's versions usually look like, and what is anomalous.

Computed with pandas from the published history of a dataset (row counts, the gaps
between publications, per-column null rates and means from ``dataQualityMetrics``), a
robust z-score per metric, and nothing flagged before ``baseline.min_history`` versions.
Schema changes are classified as additive (new columns) or breaking (dropped or retyped
columns), which the change planner uses to hold the affected models.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.ontology import VersionStatus
from sutura.store import schema as t

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["anomalies", "classify_schema_change", "zscore"]

_LIVE = (VersionStatus.PUBLISHED.value, VersionStatus.RELEASED.value)


def zscore(history: pd.Series, value: float) -> float:
    """Robust z-score of ``value`` against ``history`` (median / 1.4826·MAD, std as fallback)."""
    import pandas as pd
    history = history.dropna().astype(float)
    if history.empty:
        return 0.0
    median = history.median()
    mad = (history - median).abs().median() * 1.4826
    spread = mad if mad > 0 else history.std(ddof=0)
    if not spread or pd.isna(spread):
        return 0.0 if value == median else float("inf")
    return float((value - median) / spread)


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
    v = t.dataset_version
    rows = conn.execute(
        sa.select(v.c.row_count, v.c.status_at, v.c.schema, v.c.metrics)
        .where(v.c.dataset_id == dataset_id, v.c.status.in_(_LIVE), v.c.id != version.id)
        .order_by(v.c.seq)
    ).all()
    found: list[str] = []
    if rows:
        kind, details = classify_schema_change(
            json.loads(rows[-1].schema) if rows[-1].schema else None, json.loads(version.schema) if version.schema else None
        )
        if kind:
            found.append(f"{kind} schema change: {', '.join(details)}")
    if len(rows) < settings.get("baseline.min_history"):
        return found
    import pandas as pd  # only once there is enough history to learn from

    limit = settings.get("baseline.z_threshold")
    history = pd.DataFrame([{"rows": r.row_count, "at": pd.Timestamp(r.status_at)} for r in rows])
    if version.row_count is not None and history["rows"].notna().any():
        z = zscore(history["rows"], version.row_count)
        if abs(z) > limit:
            found.append(f"volume: {version.row_count} rows vs a usual {history['rows'].median():.0f} (z={z:+.1f})")
    gaps = history["at"].diff().dt.total_seconds().dropna()
    if len(gaps) >= 2:
        latest_gap = (pd.Timestamp(version.created_at) - history["at"].iloc[-1]).total_seconds()
        z = zscore(gaps, latest_gap)
        if z > limit:
            found.append(f"freshness: {latest_gap / 3600:.1f}h since the last version vs a usual {gaps.median() / 3600:.1f}h (z={z:+.1f})")
    found.extend(_column_anomalies(rows, version, limit))
    return found


def _column_anomalies(rows: list[Any], version: Any, limit: float) -> list[str]:
    if not version.metrics:
        return []
    current = json.loads(version.metrics)
    frames = []
    for r in rows:
        if r.metrics and r.row_count:
            for column, m in json.loads(r.metrics).items():
                frames.append({"column": column, "null_rate": (m.get("nullCount") or 0) / r.row_count, "mean": _mean(m)})
    if not frames:
        return []
    import pandas as pd

    history = pd.DataFrame(frames)
    found = []
    for column, m in current.items():
        past = history[history["column"] == column]
        if past.empty or not version.row_count:
            continue
        null_rate = (m.get("nullCount") or 0) / version.row_count
        z = zscore(past["null_rate"], null_rate)
        if abs(z) > limit:
            found.append(f"null rate of {column}: {null_rate:.1%} vs a usual {past['null_rate'].median():.1%} (z={z:+.1f})")
        mean = _mean(m)
        if mean is not None and past["mean"].notna().any():
            z = zscore(past["mean"], mean)
            if abs(z) > limit:
                found.append(f"distribution of {column}: mean {mean:.4g} vs a usual {past['mean'].median():.4g} (z={z:+.1f})")
    return found


def _mean(metrics: dict[str, Any]) -> float | None:
    total, count = metrics.get("sum"), metrics.get("count")
    if total is None or not count:
        return None
    return float(total) / float(count)
