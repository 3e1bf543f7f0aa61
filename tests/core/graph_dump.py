"""A store's graph as plain data keyed by natural identities (ids and arrival times left out)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from sutura.store import schema as t


def dump(engine: Any) -> dict[str, Any]:
    with engine.db.connect() as c:
        ds = {r.id: (r.namespace, r.name) for r in c.execute(sa.select(t.dataset))}
        jobs = {r.id: (r.namespace, r.name) for r in c.execute(sa.select(t.job))}
        fields = {r.id: (ds[r.dataset_id], r.name) for r in c.execute(sa.select(t.field))}
        canon = lambda i: ds[i]  # noqa: E731
        return {
            "datasets": sorted(
                (r.namespace, r.name, ds.get(r.canonical_id), r.is_primary, json.loads(r.facets)) for r in c.execute(sa.select(t.dataset))
            ),
            "fields": sorted((ds[r.dataset_id], r.name, r.type) for r in c.execute(sa.select(t.field))),
            "jobs": sorted((r.namespace, r.name, r.type, r.integration, json.loads(r.facets)) for r in c.execute(sa.select(t.job))),
            "runs": sorted(
                (
                    r.run_id, jobs[r.job_id], r.state, r.attempt, r.parent_run_id, str(r.started_at), str(r.ended_at),
                    r.error_message, json.loads(r.facets),
                )
                for r in c.execute(sa.select(t.run))
            ),
            "job_io": sorted((jobs[r.job_id], canon(r.dataset_id), r.direction) for r in c.execute(sa.select(t.job_io))),
            "run_io": sorted((r.run_id, canon(r.dataset_id), r.direction, r.version_id is not None) for r in c.execute(sa.select(t.run_io))),
            "versions": sorted(
                (canon(r.dataset_id), r.fingerprint, r.content_fingerprint, r.run_id, r.status, r.row_count, r.schema_hash)
                for r in c.execute(sa.select(t.dataset_version))
            ),
            "field_lineage": sorted((fields[r.field_id], fields[r.source_field_id]) for r in c.execute(sa.select(t.field_lineage))),
            "checks": sorted((canon(r.dataset_id), r.assertion, r.field, r.success, r.run_id) for r in c.execute(sa.select(t.check_result))),
            "raw_events": c.execute(sa.select(sa.func.count()).select_from(t.raw_event)).scalar(),
        }
