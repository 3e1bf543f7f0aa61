"""Apply translated facts to the store: idempotent and order-independent.

Idempotent: an event is keyed by the hash of its canonical JSON; a second copy finds
its key in ``raw_event`` and changes nothing.

Order-independent: every merged value carries an ordering key and the highest key
wins, so any permutation of the same events gives the same rows:

- run state: ``rank|eventTime|eventKey`` (rank: OTHER 0 < START 1 < RUNNING 2 <
  terminal 3), so a late START never regresses COMPLETE and OTHER never reopens a run;
- facets (run, job, dataset): per facet name, ``eventTime|rank|eventKey``: facets
  accumulate and the newest copy of each wins;
- ``started_at`` is the earliest START (else earliest event), ``ended_at`` the time of
  the winning terminal event.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.ontology import RunState, VersionStatus
from sutura.store import schema as t
from sutura.store.db import dumps, insert
from sutura.translate import run_facts
from sutura.translate.model import DatasetFacts, Facts, FieldFact

__all__ = ["Fingerprinter", "Writer", "default_fingerprints"]

# (dataset facts, run id) -> (fingerprint, content fingerprint)
Fingerprinter = Callable[[DatasetFacts, "str | None"], "tuple[str, str]"]


def _sha(*parts: Any) -> str:
    return hashlib.sha256("|".join("" if p is None else str(p) for p in parts).encode()).hexdigest()[:20]


def default_fingerprints(ds: DatasetFacts, run_id: str | None) -> tuple[str, str]:
    """Identity and content fingerprints of an output, per DESIGN.md.

    Identity: the version facet, else schema hash + output statistics + producing run.
    Content: the version facet, else a ``suturaContent`` facet's fingerprint (Sutura's
    plugins hash what they wrote), else schema + statistics when the producer sent any;
    with nothing to compare, every write counts as a change.
    """
    if ds.version is not None:
        return f"v:{ds.version}", f"v:{ds.version}"
    identity = _sha(ds.schema_hash, ds.row_count, ds.bytes, run_id)
    content = (ds.facets.get("suturaContent") or {}).get("fingerprint")
    if content:
        return identity, f"c:{content}"
    if ds.row_count is not None or ds.bytes is not None:
        return identity, _sha("stats", ds.schema_hash, ds.row_count, ds.bytes)
    return identity, identity


def _time_key(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")


class Writer:
    """Applies one event's facts inside the caller's transaction."""

    def __init__(self, fingerprint: Fingerprinter = default_fingerprints):
        self.fingerprint = fingerprint

    # -- entry point ---------------------------------------------------------
    def apply(self, conn: Connection, facts: Facts, now: datetime) -> bool:
        """Return False (and change nothing) when the event is already held."""
        ev = facts.event
        inserted = conn.execute(
            insert(conn, t.raw_event)
            .values(
                event_key=ev.key,
                kind=ev.kind,
                run_id=ev.run_id,
                event_type=ev.event_type.value if ev.event_type else None,
                event_time=ev.event_time,
                received_at=now,
                producer=ev.producer,
                payload=dumps(ev.raw),
            )
            .on_conflict_do_nothing(index_elements=["event_key"])
            .returning(t.raw_event.c.id)
        ).first()
        if inserted is None:  # already held (rowcount is unreliable here on psycopg)
            return False

        rank = ev.event_type.rank if ev.event_type else 0
        facet_key = f"{_time_key(ev.event_time)}|{rank}|{ev.key}"
        job_id = None
        if facts.job is not None:
            job_id = self._job(conn, facts, facet_key, now)
        if facts.run is not None and job_id is not None:
            self._run(conn, facts, job_id, facet_key, now)

        # Sorted, so concurrent writers lock dataset rows in one order (no deadlocks).
        for ds in sorted(facts.all_datasets(), key=lambda d: (d.namespace, d.name)):
            ds_id, schema_won = self._dataset(conn, ds, facet_key, now)
            if ds.fields:
                self._fields(conn, ds_id, ds.fields, update_types=schema_won)
            if ds.column_lineage:
                self._column_lineage(conn, ds_id, ds, now)
            if job_id is not None and ds.role in ("input", "output"):
                direction = "in" if ds.role == "input" else "out"
                self._edge(conn, t.job_io, job_id=job_id, dataset_id=ds_id, direction=direction)
                if facts.run is not None:
                    self._edge(conn, t.run_io, run_id=facts.run.run_id, dataset_id=ds_id, direction=direction)
            version_id = self._version(conn, facts, ds, ds_id, now)
            if ds.checks:
                self._checks(conn, facts, ds, ds_id, version_id, now)
        return True

    # -- jobs and runs -------------------------------------------------------
    def _job(self, conn: Connection, facts: Facts, facet_key: str, now: datetime) -> int:
        jf = facts.job
        assert jf is not None
        job_id = self._job_id(conn, jf.namespace, jf.name, now)
        row = conn.execute(
            sa.select(t.job.c.type, t.job.c.integration, t.job.c.facets, t.job.c.facet_keys)
            .where(t.job.c.id == job_id)
            .with_for_update()
        ).one()
        facets, keys, changed = _merge_facets(row.facets, row.facet_keys, jf.facets, facet_key)
        values: dict[str, Any] = {"facets": facets, "facet_keys": keys} if changed else {}
        authoritative = "jobType" in jf.facets  # the facet beats inference from other facets
        for column, value in (("type", jf.type), ("integration", jf.integration)):
            if value and value != getattr(row, column) and (getattr(row, column) is None or authoritative):
                values[column] = value
        if values:
            conn.execute(t.job.update().where(t.job.c.id == job_id).values(updated_at=now, **values))
        return job_id

    def _job_id(self, conn: Connection, namespace: str, name: str, now: datetime) -> int:
        found = conn.execute(
            sa.select(t.job.c.id).where(t.job.c.namespace == namespace, t.job.c.name == name)
        ).scalar()
        if found is not None:
            return found
        conn.execute(
            insert(conn, t.job)
            .values(namespace=namespace, name=name, facets="{}", facet_keys="{}", created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["namespace", "name"])
        )
        return conn.execute(
            sa.select(t.job.c.id).where(t.job.c.namespace == namespace, t.job.c.name == name)
        ).scalar_one()

    def _run(self, conn: Connection, facts: Facts, job_id: int, facet_key: str, now: datetime) -> None:
        rf = facts.run
        ev = facts.event
        assert rf is not None and ev.event_type is not None
        state_key = f"{ev.event_type.rank}|{_time_key(ev.event_time)}|{ev.key}"
        row = conn.execute(sa.select(t.run).where(t.run.c.run_id == rf.run_id).with_for_update()).first()
        if row is None:
            conn.execute(
                insert(conn, t.run)
                .values(run_id=rf.run_id, job_id=job_id, state_key="", facets="{}", facet_keys="{}", updated_at=now)
                .on_conflict_do_nothing(index_elements=["run_id"])
            )
            row = conn.execute(sa.select(t.run).where(t.run.c.run_id == rf.run_id).with_for_update()).one()

        values: dict[str, Any] = {"job_id": job_id}
        if state_key > row.state_key:
            values.update(state=ev.event_type.value, state_key=state_key)
            values["ended_at"] = ev.event_time if ev.event_type.terminal else None
        if row.started_at is None or _aware(row.started_at) > ev.event_time:
            values["started_at"] = ev.event_time  # a run starts no later than its first event
        facets, keys, changed = _merge_facets(row.facets, row.facet_keys, rf.facets, facet_key)
        if changed:
            values.update(facets=facets, facet_keys=keys)
            # Scalars follow the merged facets, so they are order-independent too.
            merged = run_facts(rf.run_id, ev.event_type, json.loads(facets))
            values.update(
                attempt=merged.attempt,
                parent_run_id=merged.parent_run_id,
                root_run_id=merged.root_run_id,
                nominal_start=merged.nominal_start,
                nominal_end=merged.nominal_end,
                error_message=merged.error_message,
                stack_trace=merged.stack_trace,
            )
        conn.execute(t.run.update().where(t.run.c.id == row.id).values(updated_at=now, **values))

        if rf.parent_run_id and rf.parent_job:
            parent_job = self._job_id(conn, rf.parent_job[0], rf.parent_job[1], now)
            conn.execute(
                insert(conn, t.run)
                .values(run_id=rf.parent_run_id, job_id=parent_job, state_key="", facets="{}", facet_keys="{}", updated_at=now)
                .on_conflict_do_nothing(index_elements=["run_id"])
            )

    # -- datasets --------------------------------------------------------------
    def dataset_id(self, conn: Connection, namespace: str, name: str, now: datetime, *, primary: bool = False) -> int:
        """The canonical id of (namespace, name), creating the dataset if needed."""
        row = conn.execute(
            sa.select(t.dataset.c.id, t.dataset.c.canonical_id, t.dataset.c.is_primary).where(
                t.dataset.c.namespace == namespace, t.dataset.c.name == name
            )
        ).first()
        if row is None:
            conn.execute(
                insert(conn, t.dataset)
                .values(
                    namespace=namespace, name=name, is_primary=primary, facets="{}", facet_keys="{}", created_at=now, updated_at=now
                )
                .on_conflict_do_nothing(index_elements=["namespace", "name"])
            )
            row = conn.execute(
                sa.select(t.dataset.c.id, t.dataset.c.canonical_id, t.dataset.c.is_primary).where(
                    t.dataset.c.namespace == namespace, t.dataset.c.name == name
                )
            ).one()
        if primary and not row.is_primary:
            conn.execute(t.dataset.update().where(t.dataset.c.id == row.id).values(is_primary=True))
        return row.canonical_id or row.id

    def _dataset(self, conn: Connection, ds: DatasetFacts, facet_key: str, now: datetime) -> tuple[int, bool]:
        """The dataset's id, and whether this event's ``schema`` facet is now the newest."""
        ds_id = self.dataset_id(conn, ds.namespace, ds.name, now, primary=True)
        if ds.aliases:
            ds_id = self._merge_aliases(conn, ds, ds_id, now)
        schema_won = False
        if ds.facets:
            row = conn.execute(
                sa.select(t.dataset.c.facets, t.dataset.c.facet_keys).where(t.dataset.c.id == ds_id).with_for_update()
            ).one()
            facets, keys, changed = _merge_facets(row.facets, row.facet_keys, ds.facets, facet_key)
            if changed:
                conn.execute(
                    t.dataset.update().where(t.dataset.c.id == ds_id).values(facets=facets, facet_keys=keys, updated_at=now)
                )
                schema_won = json.loads(keys).get("schema") == facet_key
        return ds_id, schema_won

    def _merge_aliases(self, conn: Connection, ds: DatasetFacts, ds_id: int, now: datetime) -> int:
        """Fold symlinked identifiers into one canonical dataset (see docs/adr/0004-dataset-identity.md).

        The canonical member of a group is the one named directly by an event
        (``is_primary``); among several, the smallest (namespace, name). The choice depends
        only on the set of names seen, never on arrival order.
        """
        group = {ds_id}
        for ns, name, _kind in ds.aliases:
            group.add(self.dataset_id(conn, ns, name, now))
        # Include every row already pointing at a member.
        members = conn.execute(
            sa.select(t.dataset.c.id, t.dataset.c.namespace, t.dataset.c.name, t.dataset.c.is_primary).where(
                sa.or_(t.dataset.c.id.in_(group), t.dataset.c.canonical_id.in_(group))
            )
        ).all()
        canonical = min(members, key=lambda r: (not r.is_primary, r.namespace, r.name)).id
        others = [r.id for r in members if r.id != canonical]
        if not others:
            return canonical
        conn.execute(t.dataset.update().where(t.dataset.c.id.in_(others)).values(canonical_id=canonical))
        conn.execute(t.dataset.update().where(t.dataset.c.id == canonical).values(canonical_id=None))
        for table in (t.job_io, t.run_io):
            _repoint(conn, table, others, canonical)
        for table in (t.dataset_version, t.check_result, t.field):
            for old in others:
                _move_rows(conn, table, old, canonical)
        return canonical

    def _fields(self, conn: Connection, ds_id: int, fields: list[FieldFact], *, update_types: bool) -> None:
        """Field names accumulate; types and descriptions follow the newest schema facet."""
        existing = {
            r.name: (r.type, r.description)
            for r in conn.execute(
                sa.select(t.field.c.name, t.field.c.type, t.field.c.description).where(t.field.c.dataset_id == ds_id)
            )
        }
        new = [f for f in fields if f.name not in existing]
        if new:
            conn.execute(
                insert(conn, t.field).on_conflict_do_nothing(index_elements=["dataset_id", "name"]),
                [{"dataset_id": ds_id, "name": f.name, "type": f.type, "description": f.description} for f in new],
            )
        for f in fields if update_types else ():
            old = existing.get(f.name)
            if old and f.type and old != (f.type, f.description or old[1]):
                conn.execute(
                    t.field.update()
                    .where(t.field.c.dataset_id == ds_id, t.field.c.name == f.name)
                    .values(type=f.type, description=f.description or old[1])
                )

    def field_id(self, conn: Connection, ds_id: int, name: str) -> int:
        conn.execute(
            insert(conn, t.field).values(dataset_id=ds_id, name=name).on_conflict_do_nothing(index_elements=["dataset_id", "name"])
        )
        return conn.execute(
            sa.select(t.field.c.id).where(t.field.c.dataset_id == ds_id, t.field.c.name == name)
        ).scalar_one()

    def _column_lineage(self, conn: Connection, ds_id: int, ds: DatasetFacts, now: datetime) -> None:
        rows = []
        for edge in ds.column_lineage:
            if edge.field is None:
                continue
            src_ds = self.dataset_id(conn, edge.namespace, edge.name, now)
            rows.append(
                {
                    "field_id": self.field_id(conn, ds_id, edge.field),
                    "source_field_id": self.field_id(conn, src_ds, edge.source_field),
                    "transformations": dumps(edge.transformations),
                }
            )
        if rows:
            conn.execute(
                insert(conn, t.field_lineage).on_conflict_do_nothing(index_elements=["field_id", "source_field_id"]), rows
            )

    def _edge(self, conn: Connection, table: sa.Table, **values: Any) -> None:
        conn.execute(insert(conn, table).values(**values).on_conflict_do_nothing())

    # -- versions and checks -------------------------------------------------
    def _version(self, conn: Connection, facts: Facts, ds: DatasetFacts, ds_id: int, now: datetime) -> int | None:
        ev = facts.event
        run_id = facts.run.run_id if facts.run else None
        if ds.role == "output" and ev.event_type in (RunState.COMPLETE, RunState.FAIL, RunState.ABORT):
            status = VersionStatus.PUBLISHED if ev.event_type is RunState.COMPLETE else VersionStatus.FAILED_WRITE
        elif ds.role == "event" and ds.version is not None:
            status = VersionStatus.PUBLISHED
        elif ds.role == "input" and ds.version is not None:
            found = conn.execute(
                sa.select(t.dataset_version.c.id).where(
                    t.dataset_version.c.dataset_id == ds_id, t.dataset_version.c.fingerprint == f"v:{ds.version}"
                )
            ).scalar()
            if found is not None and run_id:
                conn.execute(
                    t.run_io.update()
                    .where(t.run_io.c.run_id == run_id, t.run_io.c.dataset_id == ds_id, t.run_io.c.direction == "in")
                    .values(version_id=found)
                )
            return found
        else:
            return None

        # A version this run already registered (e.g. audited through on_checks) is the same version.
        if run_id is not None:
            existing = conn.execute(
                sa.select(t.dataset_version.c.id, t.dataset_version.c.status).where(
                    t.dataset_version.c.dataset_id == ds_id, t.dataset_version.c.run_id == run_id
                )
            ).first()
            if existing is not None:
                stats = {
                    k: v
                    for k, v in (
                        ("row_count", ds.row_count),
                        ("bytes", ds.bytes),
                        ("schema_hash", ds.schema_hash),
                        ("schema", dumps([[f.name, f.type] for f in ds.fields]) if ds.fields else None),
                    )
                    if v is not None
                }
                if status is VersionStatus.FAILED_WRITE and existing.status == VersionStatus.PUBLISHED.value:
                    stats = {}
                if stats:
                    conn.execute(t.dataset_version.update().where(t.dataset_version.c.id == existing.id).values(**stats))
                self._link_output(conn, run_id, ds_id, existing.id)
                return existing.id

        fingerprint, content = self.fingerprint(ds, run_id)
        values = dict(
            dataset_id=ds_id,
            fingerprint=fingerprint,
            content_fingerprint=content,
            run_id=run_id,
            status=status.value,
            created_at=ev.event_time,
            status_at=ev.event_time,
            row_count=ds.row_count,
            bytes=ds.bytes,
            schema_hash=ds.schema_hash,
            schema=dumps([[f.name, f.type] for f in ds.fields]) if ds.fields else None,
            metrics=dumps(metrics) if (metrics := (ds.facets.get("dataQualityMetrics") or {}).get("columnMetrics")) else None,
            seq=next_seq(conn) if status is VersionStatus.PUBLISHED else None,
        )
        conn.execute(
            insert(conn, t.dataset_version).values(**values).on_conflict_do_nothing(index_elements=["dataset_id", "fingerprint"])
        )
        version_id = conn.execute(
            sa.select(t.dataset_version.c.id).where(
                t.dataset_version.c.dataset_id == ds_id, t.dataset_version.c.fingerprint == fingerprint
            )
        ).scalar_one()
        if run_id is not None:
            self._link_output(conn, run_id, ds_id, version_id)
        return version_id

    def _link_output(self, conn: Connection, run_id: str, ds_id: int, version_id: int) -> None:
        conn.execute(
            t.run_io.update()
            .where(t.run_io.c.run_id == run_id, t.run_io.c.dataset_id == ds_id, t.run_io.c.direction == "out")
            .values(version_id=version_id)
        )

    def _checks(self, conn: Connection, facts: Facts, ds: DatasetFacts, ds_id: int, version_id: int | None, now: datetime) -> None:
        run_id = facts.run.run_id if facts.run else None
        if version_id is None:  # a check on an input asserts the version current when it ran
            version_id = conn.execute(
                sa.select(t.dataset_version.c.id)
                .where(t.dataset_version.c.dataset_id == ds_id, t.dataset_version.c.created_at <= facts.event.event_time)
                .order_by(t.dataset_version.c.created_at.desc(), t.dataset_version.c.id.desc())
                .limit(1)
            ).scalar()
        rows = []
        for c in ds.checks:
            rows.append(
                {
                    "check_key": _sha(run_id or facts.event.key, ds.namespace, ds.name, c.assertion, c.column, c.source),
                    "dataset_id": ds_id,
                    "field": c.column,
                    "assertion": c.assertion,
                    "success": c.success,
                    "run_id": run_id,
                    "version_id": version_id,
                    "source": c.source,
                    "observed": dumps(c.observed) if c.observed is not None else None,
                    "message": c.message,
                    "created_at": facts.event.event_time,
                }
            )
        conn.execute(insert(conn, t.check_result).on_conflict_do_nothing(index_elements=["check_key"]), rows)


def next_seq(conn: Connection, name: str = "version") -> int:
    """A gap-tolerant, strictly increasing counter shared by every writer (row-locked)."""
    row = conn.execute(sa.select(t.sequence.c.value).where(t.sequence.c.name == name).with_for_update()).first()
    if row is None:
        conn.execute(insert(conn, t.sequence).values(name=name, value=0).on_conflict_do_nothing(index_elements=["name"]))
        row = conn.execute(sa.select(t.sequence.c.value).where(t.sequence.c.name == name).with_for_update()).one()
    value = row.value + 1
    conn.execute(t.sequence.update().where(t.sequence.c.name == name).values(value=value))
    return value


def _merge_facets(current_json: str, keys_json: str, incoming: dict[str, Any], key: str) -> tuple[str, str, bool]:
    if not incoming:
        return current_json, keys_json, False
    current = json.loads(current_json or "{}")
    keys = json.loads(keys_json or "{}")
    changed = False
    for name, value in incoming.items():
        if keys.get(name, "") < key:
            if current.get(name) != value or keys.get(name) != key:
                current[name] = value
                keys[name] = key
                changed = True
    return dumps(current), dumps(keys), changed


def _repoint(conn: Connection, table: sa.Table, old_ids: list[int], new_id: int) -> None:
    """Move edges from aliases to the canonical dataset, dropping the ones that would collide."""
    pk = [c for c in table.primary_key.columns if c.name != "dataset_id"]
    rows = conn.execute(sa.select(table).where(table.c.dataset_id.in_(old_ids))).mappings().all()
    if not rows:
        return
    conn.execute(table.delete().where(table.c.dataset_id.in_(old_ids)))
    moved = [{**dict(r), "dataset_id": new_id} for r in rows]
    conn.execute(insert(conn, table).on_conflict_do_nothing(index_elements=[c.name for c in pk] + ["dataset_id"]), moved)


def _move_rows(conn: Connection, table: sa.Table, old_id: int, new_id: int) -> None:
    unique = {
        "dataset_version": "fingerprint",
        "field": "name",
        "check_result": None,
    }[table.name]
    if unique is None:
        conn.execute(table.update().where(table.c.dataset_id == old_id).values(dataset_id=new_id))
        return
    taken = sa.select(table.c[unique]).where(table.c.dataset_id == new_id).scalar_subquery()
    conn.execute(
        table.update().where(table.c.dataset_id == old_id, table.c[unique].not_in(taken)).values(dataset_id=new_id)
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
