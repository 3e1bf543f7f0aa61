"""Apply translated facts to the store: idempotent, order-independent, set-based.

Idempotent: an event is keyed by the hash of its canonical JSON; a copy already in
``raw_event`` (or earlier in the same batch) changes nothing.

Order-independent: every merged value carries an ordering key and the highest key
wins, so any permutation of the same events gives the same rows:

- run state: ``rank|eventTime|eventKey`` (rank: OTHER 0 < START 1 < RUNNING 2 <
  terminal 3), so a late START never regresses COMPLETE and OTHER never reopens a run;
- facets (run, job, dataset): per facet name, ``eventTime|rank|eventKey``: facets
  accumulate and the newest copy of each wins; run scalars (attempt, parent, error...)
  are derived from the merged facets;
- ``started_at`` is the earliest event of the run, ``ended_at`` the winning terminal one.

Because these merges commute, a batch is applied set-wise: each table is read once for
the whole batch, merged in memory, and written back with a few multi-row statements, so
the cost per event is mostly Python, not round trips.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.ontology import RunState, VersionStatus
from sutura.store import identity
from sutura.store import schema as t
from sutura.store.db import dumps, insert_new, loads
from sutura.translate import run_facts
from sutura.translate.model import DatasetFacts, Facts

__all__ = ["Fingerprinter", "Writer", "default_fingerprints", "next_seq"]

# (dataset facts, run id) -> (fingerprint, content fingerprint)
Fingerprinter = Callable[[DatasetFacts, "str | None"], "tuple[str, str]"]
_CHUNK = 500


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
    identity_fp = _sha(ds.schema_hash, ds.row_count, ds.bytes, run_id)
    content = (ds.facets.get("suturaContent") or {}).get("fingerprint")
    if content:
        return identity_fp, f"c:{content}"
    if ds.row_count is not None or ds.bytes is not None:
        return identity_fp, _sha("stats", ds.schema_hash, ds.row_count, ds.bytes)
    return identity_fp, identity_fp


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


@dataclass
class _Facets:
    """A row's facets being merged in memory."""

    facets: dict[str, Any]
    keys: dict[str, str]
    changed: bool = False  # an ordering key moved
    values_changed: bool = False  # a facet's value differs from what was stored

    @classmethod
    def load(cls, facets_json: str | None, keys_json: str | None) -> _Facets:
        return cls(loads(facets_json or "{}"), loads(keys_json or "{}"))

    def merge(self, incoming: dict[str, Any], key: str) -> set[str]:
        """Merge; return the names of the facets this event now provides."""
        won = set()
        for name, value in incoming.items():
            if self.keys.get(name, "") < key:
                if not self.values_changed and self.facets.get(name) != value:
                    self.values_changed = True
                self.facets[name] = value
                self.keys[name] = key
                self.changed = True
                won.add(name)
        return won


@dataclass
class _RunRow:
    run_id: str
    job_id: int
    state: str | None = None
    state_key: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    facets: _Facets = field(default_factory=lambda: _Facets({}, {}))
    new: bool = True
    dirty: bool = True


class Writer:
    """Applies a batch of events' facts inside the caller's transaction."""

    def __init__(self, fingerprint: Fingerprinter = default_fingerprints):
        self.fingerprint = fingerprint

    # -- identity, for the policies ---------------------------------------------------
    dataset_id = staticmethod(identity.dataset_id)
    job_id = staticmethod(identity.job_id)

    # -- entry point ----------------------------------------------------------------------
    def apply(self, conn: Connection, batch: Sequence[Facts], now: datetime) -> list[Facts]:
        """Apply the events not held yet; return those (the rest were duplicates)."""
        events = self._new_events(conn, batch, now)
        if not events:
            return events
        job_ids = self._jobs(conn, events, now)
        self._runs(conn, events, job_ids, now)
        ds_ids, schema_winners, new_schemas = self._datasets(conn, events, now)
        self._fields(conn, events, ds_ids, schema_winners, new_schemas)
        self._edges(conn, events, job_ids, ds_ids)
        versions = self._versions(conn, events, ds_ids)
        self._checks(conn, events, ds_ids, versions)
        return events

    def _new_events(self, conn: Connection, batch: Sequence[Facts], now: datetime) -> list[Facts]:
        unique: dict[str, Facts] = {}
        for f in batch:
            unique.setdefault(f.event.key, f)
        held: set[str] = set()
        keys = list(unique)
        for chunk in _chunks(keys):
            held |= {r[0] for r in conn.execute(_HELD_EVENTS, {"keys": list(chunk)})}
        events = [f for k, f in unique.items() if k not in held]
        if events:
            conn.execute(
                insert_new(conn, t.raw_event, "event_key"),
                [
                    {
                        "event_key": f.event.key,
                        "kind": f.event.kind,
                        "run_id": f.event.run_id,
                        "event_type": f.event.event_type.value if f.event.event_type else None,
                        "event_time": f.event.event_time,
                        "received_at": now,
                        "producer": f.event.producer,
                        "payload": f.event.canonical or dumps(f.event.raw),
                    }
                    for f in events
                ],
            )
        return events

    # -- jobs --------------------------------------------------------------------------
    def _resolve(self, conn: Connection, table: sa.Table, names: set[tuple[str, str]], now: datetime, primary: set[tuple[str, str]] | None = None) -> dict[tuple[str, str], Any]:
        """Rows by (namespace, name) for ``table`` (job or dataset), inserting the missing ones."""
        found: dict[tuple[str, str], Any] = {}
        by_name = _DATASETS_BY_NAME if table is t.dataset else _JOBS_BY_NAME

        def fetch(wanted: Iterable[tuple[str, str]]) -> None:
            for chunk in _chunks(sorted({n for _, n in wanted})):
                for r in conn.execute(by_name, {"names": list(chunk)}):
                    if (r.namespace, r.name) in names:
                        found[(r.namespace, r.name)] = r

        fetch(names)
        missing = sorted(names - set(found))
        if missing:
            rows = [
                {"namespace": ns, "name": nm, "facets": "{}", "facet_keys": "{}", "created_at": now, "updated_at": now}
                for ns, nm in missing
            ]
            if table is t.dataset:
                for row in rows:
                    row["is_primary"] = (row["namespace"], row["name"]) in (primary or set())
            conn.execute(insert_new(conn, table, "namespace", "name"), rows)
            fetch(missing)
        return found

    def _jobs(self, conn: Connection, events: list[Facts], now: datetime) -> dict[tuple[str, str], int]:
        names = {(f.job.namespace, f.job.name) for f in events if f.job}
        names |= {f.run.parent_job for f in events if f.run and f.run.parent_job}
        rows = self._resolve(conn, t.job, names, now)
        ids = {k: r.id for k, r in rows.items()}
        with_facets = [f for f in events if f.job and (f.job.facets or f.job.type or f.job.integration)]
        if not with_facets:
            return ids
        touched = sorted({ids[(f.job.namespace, f.job.name)] for f in with_facets})  # type: ignore[union-attr]
        state = {}
        for chunk in _chunks(touched):
            for r in conn.execute(_JOB_FACETS, {"ids": list(chunk)}):
                state[r.id] = [r.type, r.integration, _Facets.load(r.facets, r.facet_keys), False]
        for f in with_facets:
            jf = f.job
            assert jf is not None
            row = state[ids[(jf.namespace, jf.name)]]
            row[2].merge(jf.facets, f.facet_key)
            authoritative = "jobType" in jf.facets  # the facet beats inference from other facets
            for i, value in ((0, jf.type), (1, jf.integration)):
                if value and value != row[i] and (row[i] is None or authoritative):
                    row[i], row[3] = value, True
        updates = [
            {"b_id": job_id, "type": r[0], "integration": r[1], "facets": dumps(r[2].facets), "facet_keys": dumps(r[2].keys), "updated_at": now}
            for job_id, r in state.items()
            if r[2].changed or r[3]
        ]
        if updates:
            conn.execute(_UPDATE_JOB, updates)
        return ids

    # -- runs ----------------------------------------------------------------------------
    def _runs(self, conn: Connection, events: list[Facts], job_ids: dict[tuple[str, str], int], now: datetime) -> None:
        run_events = [f for f in events if f.run is not None and f.job is not None]
        wanted = {f.run.run_id for f in run_events} | {f.run.parent_run_id for f in run_events if f.run.parent_run_id}  # type: ignore[union-attr]
        rows: dict[str, _RunRow] = {}
        for chunk in _chunks(sorted(wanted)):
            for r in conn.execute(_RUNS, {"run_ids": list(chunk)}):
                rows[r.run_id] = _RunRow(
                    r.run_id, r.job_id, r.state, r.state_key, _aware(r.started_at), _aware(r.ended_at), _Facets.load(r.facets, r.facet_keys), new=False, dirty=False
                )
        for f in run_events:
            rf, ev, job = f.run, f.event, f.job
            assert rf is not None and job is not None and ev.event_type is not None
            row = rows.get(rf.run_id)
            if row is None:
                row = rows[rf.run_id] = _RunRow(rf.run_id, job_ids[(job.namespace, job.name)])
            if row.job_id != job_ids[(job.namespace, job.name)]:
                row.job_id, row.dirty = job_ids[(job.namespace, job.name)], True
            state_key = f"{ev.event_type.rank}|{ev.time_key}|{ev.key}"
            if state_key > row.state_key:
                row.state, row.state_key, row.dirty = ev.event_type.value, state_key, True
                row.ended_at = ev.event_time if ev.event_type.terminal else None
            if row.started_at is None or row.started_at > ev.event_time:
                row.started_at, row.dirty = ev.event_time, True  # a run starts no later than its first event
            row.facets.merge(rf.facets, f.facet_key)
            if rf.parent_run_id and rf.parent_job and rf.parent_run_id not in rows:
                rows[rf.parent_run_id] = _RunRow(rf.parent_run_id, job_ids[rf.parent_job])  # placeholder until its own events
        inserts, updates = [], []
        for row in rows.values():
            if not (row.dirty or row.facets.changed):
                continue
            merged = run_facts(row.run_id, row.state, row.facets.facets)  # scalars follow the merged facets
            values = {
                "job_id": row.job_id,
                "state": row.state,
                "state_key": row.state_key,
                "started_at": row.started_at,
                "ended_at": row.ended_at,
                "attempt": merged.attempt,
                "parent_run_id": merged.parent_run_id,
                "root_run_id": merged.root_run_id,
                "nominal_start": merged.nominal_start,
                "nominal_end": merged.nominal_end,
                "error_message": merged.error_message,
                "stack_trace": merged.stack_trace,
                "facets": dumps(row.facets.facets),
                "facet_keys": dumps(row.facets.keys),
                "updated_at": now,
            }
            if row.new:
                inserts.append({"run_id": row.run_id, **values})
            else:
                updates.append({"b_run_id": row.run_id, **values})
        if inserts:
            conn.execute(insert_new(conn, t.run, "run_id"), inserts)
        if updates:
            conn.execute(_UPDATE_RUN, updates)

    # -- datasets ---------------------------------------------------------------------------
    def _datasets(self, conn: Connection, events: list[Facts], now: datetime) -> tuple[dict[tuple[str, str], int], dict[int, DatasetFacts], set[int]]:
        """Canonical dataset ids by name, and what ``_dataset_facets`` says of schemas."""
        named = {(d.namespace, d.name) for f in events for d in f.all_datasets()}
        sources = {(e.namespace, e.name) for f in events for d in f.all_datasets() for e in d.column_lineage}
        rows = self._resolve(conn, t.dataset, named | sources, now, primary=named)
        not_primary = [r.id for k, r in rows.items() if k in named and not r.is_primary]
        if not_primary:
            conn.execute(_MARK_PRIMARY, {"ids": not_primary})
        ids = {k: (r.canonical_id or r.id) for k, r in rows.items()}
        for f in events:  # symlinks: rare, applied one dataset at a time
            for d in f.all_datasets():
                if d.aliases:
                    canonical = identity.merge_aliases(conn, ids[(d.namespace, d.name)], [(a[0], a[1]) for a in d.aliases], now)
                    ids[(d.namespace, d.name)] = canonical
                    for a in d.aliases:
                        ids[(a[0], a[1])] = canonical
        return (ids, *self._dataset_facets(conn, events, ids, now))

    def _dataset_facets(self, conn: Connection, events: list[Facts], ids: dict[tuple[str, str], int], now: datetime) -> tuple[dict[int, DatasetFacts], set[int]]:
        """Merge dataset facets; return the event facts whose schema won per dataset, and
        the datasets that received a schema other than the stored one.

        A stored schema facet's fields were written with it, so a schema equal to the
        stored one (most events repeat it) needs no field work.
        """
        touched = sorted({ids[(d.namespace, d.name)] for f in events for d in f.all_datasets() if d.facets})
        state: dict[int, _Facets] = {}
        stored_schema: dict[int, Any] = {}
        for chunk in _chunks(touched):
            for r in conn.execute(_DATASET_FACETS, {"ids": list(chunk)}):
                state[r.id] = _Facets.load(r.facets, r.facet_keys)
                stored_schema[r.id] = state[r.id].facets.get("schema")
        schema_winners: dict[int, DatasetFacts] = {}
        new_schemas: set[int] = set()
        for f in events:
            key = f.facet_key
            for d in f.all_datasets():
                if d.facets:
                    ds_id = ids[(d.namespace, d.name)]
                    if "schema" in state[ds_id].merge(d.facets, key):
                        schema_winners[ds_id] = d
                    schema = d.facets.get("schema")
                    if schema is not None and schema != stored_schema[ds_id]:
                        new_schemas.add(ds_id)
        rewrite = [{"b_id": i, "facets": dumps(s.facets), "facet_keys": dumps(s.keys), "updated_at": now} for i, s in state.items() if s.values_changed]
        if rewrite:
            conn.execute(_UPDATE_DATASET_FACETS, rewrite)
        rekey = [{"b_id": i, "facet_keys": dumps(s.keys), "updated_at": now} for i, s in state.items() if s.changed and not s.values_changed]
        if rekey:
            conn.execute(_UPDATE_DATASET_FACET_KEYS, rekey)
        return {i: d for i, d in schema_winners.items() if i in new_schemas}, new_schemas

    def _fields(self, conn: Connection, events: list[Facts], ids: dict[tuple[str, str], int], schema_winners: dict[int, DatasetFacts], new_schemas: set[int]) -> None:
        """Field names accumulate; types follow the newest schema facet; lineage links fields."""
        wanted: dict[tuple[int, str], tuple[str | None, str | None]] = {}
        for f in events:
            for d in f.all_datasets():
                ds_id = ids[(d.namespace, d.name)]
                if ds_id in new_schemas:
                    for fld in d.fields:
                        wanted.setdefault((ds_id, fld.name), (fld.type, fld.description))
                for e in d.column_lineage:
                    if e.field is not None:
                        wanted.setdefault((ds_id, e.field), (None, None))
                        wanted.setdefault((ids[(e.namespace, e.name)], e.source_field), (None, None))
        for ds_id, d in schema_winners.items():  # the newest schema decides types
            for fld in d.fields:
                wanted[(ds_id, fld.name)] = (fld.type, fld.description)
        if not wanted:
            return
        existing: dict[tuple[int, str], Any] = {}
        for chunk in _chunks(sorted({k[0] for k in wanted})):
            for r in conn.execute(_FIELDS_OF, {"ids": list(chunk)}):
                existing[(r.dataset_id, r.name)] = r
        new = [{"dataset_id": k[0], "name": k[1], "type": v[0], "description": v[1]} for k, v in wanted.items() if k not in existing]
        if new:
            conn.execute(insert_new(conn, t.field, "dataset_id", "name"), new)
        retyped = [
            {"b_id": existing[(ds_id, fld.name)].id, "type": fld.type, "description": fld.description or existing[(ds_id, fld.name)].description}
            for ds_id, d in schema_winners.items()
            for fld in d.fields
            if (ds_id, fld.name) in existing and fld.type and existing[(ds_id, fld.name)].type != fld.type
        ]
        if retyped:
            conn.execute(_RETYPE_FIELD, retyped)
        lineage = [(ids[(d.namespace, d.name)], e) for f in events for d in f.all_datasets() for e in d.column_lineage if e.field is not None]
        if not lineage:
            return
        field_ids = {k: r.id for k, r in existing.items()}
        if new:
            for chunk in _chunks(sorted({k[0] for k in wanted})):
                for r in conn.execute(_FIELDS_OF, {"ids": list(chunk)}):
                    field_ids[(r.dataset_id, r.name)] = r.id
        rows = {
            (field_ids[(ds_id, e.field)], field_ids[(ids[(e.namespace, e.name)], e.source_field)]): dumps(e.transformations)
            for ds_id, e in lineage
        }
        conn.execute(
            insert_new(conn, t.field_lineage, "field_id", "source_field_id"),
            [{"field_id": a, "source_field_id": b, "transformations": tr} for (a, b), tr in rows.items()],
        )

    def _edges(self, conn: Connection, events: list[Facts], job_ids: dict[tuple[str, str], int], ds_ids: dict[tuple[str, str], int]) -> None:
        job_io, run_io = set(), set()
        for f in events:
            if f.job is None:
                continue
            job_id = job_ids[(f.job.namespace, f.job.name)]
            for d in f.all_datasets():
                if d.role not in ("input", "output"):
                    continue
                direction = "in" if d.role == "input" else "out"
                job_io.add((job_id, ds_ids[(d.namespace, d.name)], direction))
                if f.run is not None:
                    run_io.add((f.run.run_id, ds_ids[(d.namespace, d.name)], direction))
        if job_io:
            conn.execute(insert_new(conn, t.job_io), [{"job_id": j, "dataset_id": d, "direction": x} for j, d, x in sorted(job_io)])
        if run_io:
            conn.execute(insert_new(conn, t.run_io), [{"run_id": r, "dataset_id": d, "direction": x} for r, d, x in sorted(run_io)])

    # -- versions and checks -----------------------------------------------------------------
    def _versions(self, conn: Connection, events: list[Facts], ids: dict[tuple[str, str], int]) -> dict[tuple[str, int], int]:
        """Create output versions of finished runs; return {(event key, dataset id): version id}."""
        outputs: list[tuple[Facts, DatasetFacts, int, VersionStatus]] = []
        inputs_with_version: list[tuple[Facts, DatasetFacts, int]] = []
        for f in events:
            ev_type = f.event.event_type
            for d in f.all_datasets():
                ds_id = ids[(d.namespace, d.name)]
                if d.role == "output" and ev_type in (RunState.COMPLETE, RunState.FAIL, RunState.ABORT):
                    status = VersionStatus.PUBLISHED if ev_type is RunState.COMPLETE else VersionStatus.FAILED_WRITE
                    outputs.append((f, d, ds_id, status))
                elif d.role == "event" and d.version is not None:
                    outputs.append((f, d, ds_id, VersionStatus.PUBLISHED))
                elif d.role == "input" and d.version is not None:
                    inputs_with_version.append((f, d, ds_id))
        result: dict[tuple[str, int], int] = {}
        if not outputs and not inputs_with_version:
            return result
        v = t.dataset_version
        run_ids = sorted({f.run.run_id for f, *_ in outputs if f.run})
        by_run: dict[tuple[int, str], Any] = {}
        for chunk in _chunks(run_ids):
            for r in conn.execute(_VERSIONS_OF_RUNS, {"run_ids": list(chunk)}):
                by_run[(r.dataset_id, r.run_id)] = r
        new_rows: dict[tuple[int, str], dict[str, Any]] = {}
        stat_updates, links = [], []
        for f, d, ds_id, status in outputs:
            run_id = f.run.run_id if f.run else None
            held = by_run.get((ds_id, run_id)) if run_id else None
            if held is not None:  # this run's version is known (e.g. audited through on_checks)
                stats = {"row_count": d.row_count, "bytes": d.bytes, "schema_hash": d.schema_hash, "schema": _schema(d)}
                if not (status is VersionStatus.FAILED_WRITE and held.status == VersionStatus.PUBLISHED.value) and any(x is not None for x in stats.values()):
                    stat_updates.append({"b_id": held.id, **stats})
                result[(f.event.key, ds_id)] = held.id
                links.append((run_id, ds_id, held.id))
                continue
            fingerprint, content = self.fingerprint(d, run_id)
            metrics = (d.facets.get("dataQualityMetrics") or {}).get("columnMetrics")
            new_rows.setdefault(
                (ds_id, fingerprint),
                {
                    "dataset_id": ds_id,
                    "fingerprint": fingerprint,
                    "content_fingerprint": content,
                    "run_id": run_id,
                    "status": status.value,
                    "created_at": f.event.event_time,
                    "status_at": f.event.event_time,
                    "row_count": d.row_count,
                    "bytes": d.bytes,
                    "schema_hash": d.schema_hash,
                    "schema": _schema(d),
                    "metrics": dumps(metrics) if metrics else None,
                    "_event": f.event.key,
                },
            )
        for row in stat_updates:  # keep what is known when an event carries less
            known = {k: val for k, val in row.items() if k != "b_id" and val is not None}
            conn.execute(v.update().where(v.c.id == row["b_id"]).values(**known))
        if new_rows:
            existing = set(self._version_ids(conn, new_rows))
            fresh = [r for k, r in sorted(new_rows.items(), key=lambda kv: (kv[1]["created_at"], kv[0])) if k not in existing]
            published = [r for r in fresh if r["status"] == VersionStatus.PUBLISHED.value]
            first = next_seq(conn, count=len(published)) - len(published) + 1 if published else 0
            for i, r in enumerate(published):
                r["seq"] = first + i
            if fresh:
                conn.execute(
                    insert_new(conn, v, "dataset_id", "fingerprint"),
                    [{k: val for k, val in r.items() if k != "_event"} | {"seq": r.get("seq")} for r in fresh],
                )
            found = self._version_ids(conn, new_rows)
            for f, d, ds_id, _status in outputs:
                run_id = f.run.run_id if f.run else None
                if (f.event.key, ds_id) in result:
                    continue
                fingerprint, _ = self.fingerprint(d, run_id)
                version_id = found.get((ds_id, fingerprint))
                if version_id is not None:
                    result[(f.event.key, ds_id)] = version_id
                    if run_id:
                        links.append((run_id, ds_id, version_id))
        for f, d, ds_id in inputs_with_version:
            version_id = conn.execute(sa.select(v.c.id).where(v.c.dataset_id == ds_id, v.c.fingerprint == f"v:{d.version}")).scalar()
            if version_id is not None and f.run:
                result[(f.event.key, ds_id)] = version_id
                conn.execute(
                    t.run_io.update().where(t.run_io.c.run_id == f.run.run_id, t.run_io.c.dataset_id == ds_id, t.run_io.c.direction == "in").values(version_id=version_id)
                )
        if links:
            conn.execute(_LINK_OUTPUT_VERSION, [{"b_run": r, "b_ds": d, "b_version": vid} for r, d, vid in sorted(set(links))])
        return result

    @staticmethod
    def _version_ids(conn: Connection, wanted: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
        """Ids of the versions held among (dataset id, fingerprint) pairs."""
        wanted = set(wanted)
        found: dict[tuple[int, str], int] = {}
        for chunk in _chunks(sorted({fp for _, fp in wanted})):
            for r in conn.execute(_VERSIONS_BY_FINGERPRINT, {"fingerprints": list(chunk)}):
                if (r.dataset_id, r.fingerprint) in wanted:
                    found[(r.dataset_id, r.fingerprint)] = r.id
        return found

    def _checks(self, conn: Connection, events: list[Facts], ids: dict[tuple[str, str], int], versions: dict[tuple[str, int], int]) -> None:
        rows = {}
        for f in events:
            run_id = f.run.run_id if f.run else None
            for d in f.all_datasets():
                if not d.checks:
                    continue
                ds_id = ids[(d.namespace, d.name)]
                version_id = versions.get((f.event.key, ds_id))
                if version_id is None:  # a check on an input asserts the version current when it ran
                    version_id = conn.execute(
                        sa.select(t.dataset_version.c.id)
                        .where(t.dataset_version.c.dataset_id == ds_id, t.dataset_version.c.created_at <= f.event.event_time)
                        .order_by(t.dataset_version.c.created_at.desc(), t.dataset_version.c.id.desc())
                        .limit(1)
                    ).scalar()
                for c in d.checks:
                    key = _sha(run_id or f.event.key, d.namespace, d.name, c.assertion, c.column, c.source)
                    rows[key] = {
                        "check_key": key,
                        "dataset_id": ds_id,
                        "field": c.column,
                        "assertion": c.assertion,
                        "success": c.success,
                        "run_id": run_id,
                        "version_id": version_id,
                        "source": c.source,
                        "observed": dumps(c.observed) if c.observed is not None else None,
                        "message": c.message,
                        "created_at": f.event.event_time,
                    }
        if rows:
            conn.execute(insert_new(conn, t.check_result, "check_key"), list(rows.values()))


# Statements built once: building a statement costs more than SQLite takes to run it.
def _in(name: str) -> Any:
    return sa.bindparam(name, expanding=True)


_HELD_EVENTS = sa.select(t.raw_event.c.event_key).where(t.raw_event.c.event_key.in_(_in("keys")))
_DATASETS_BY_NAME = sa.select(t.dataset.c.id, t.dataset.c.namespace, t.dataset.c.name, t.dataset.c.canonical_id, t.dataset.c.is_primary).where(
    t.dataset.c.name.in_(_in("names"))
)
_JOBS_BY_NAME = sa.select(t.job.c.id, t.job.c.namespace, t.job.c.name).where(t.job.c.name.in_(_in("names")))
_JOB_FACETS = (
    sa.select(t.job.c.id, t.job.c.type, t.job.c.integration, t.job.c.facets, t.job.c.facet_keys).where(t.job.c.id.in_(_in("ids"))).with_for_update()
)
_UPDATE_JOB = (
    t.job.update()
    .where(t.job.c.id == sa.bindparam("b_id"))
    .values(type=sa.bindparam("type"), integration=sa.bindparam("integration"), facets=sa.bindparam("facets"), facet_keys=sa.bindparam("facet_keys"), updated_at=sa.bindparam("updated_at"))
)
_RUNS = sa.select(t.run).where(t.run.c.run_id.in_(_in("run_ids"))).with_for_update()
_RUN_VALUES = ("job_id", "state", "state_key", "started_at", "ended_at", "attempt", "parent_run_id", "root_run_id", "nominal_start", "nominal_end", "error_message", "stack_trace", "facets", "facet_keys", "updated_at")
_UPDATE_RUN = t.run.update().where(t.run.c.run_id == sa.bindparam("b_run_id")).values(**{k: sa.bindparam(k) for k in _RUN_VALUES})
_MARK_PRIMARY = t.dataset.update().where(t.dataset.c.id.in_(_in("ids"))).values(is_primary=True)
_DATASET_FACETS = sa.select(t.dataset.c.id, t.dataset.c.facets, t.dataset.c.facet_keys).where(t.dataset.c.id.in_(_in("ids"))).with_for_update()
_FIELDS_OF = sa.select(t.field.c.id, t.field.c.dataset_id, t.field.c.name, t.field.c.type, t.field.c.description).where(t.field.c.dataset_id.in_(_in("ids")))
_RETYPE_FIELD = t.field.update().where(t.field.c.id == sa.bindparam("b_id")).values(type=sa.bindparam("type"), description=sa.bindparam("description"))
_VERSIONS_OF_RUNS = sa.select(t.dataset_version.c.id, t.dataset_version.c.dataset_id, t.dataset_version.c.run_id, t.dataset_version.c.status).where(
    t.dataset_version.c.run_id.in_(_in("run_ids"))
)
_LINK_OUTPUT_VERSION = (
    t.run_io.update()
    .where(t.run_io.c.run_id == sa.bindparam("b_run"), t.run_io.c.dataset_id == sa.bindparam("b_ds"), t.run_io.c.direction == "out")
    .values(version_id=sa.bindparam("b_version"))
)
_VERSIONS_BY_FINGERPRINT = sa.select(t.dataset_version.c.id, t.dataset_version.c.dataset_id, t.dataset_version.c.fingerprint).where(
    t.dataset_version.c.fingerprint.in_(sa.bindparam("fingerprints", expanding=True))
)
_UPDATE_DATASET_FACETS = (
    t.dataset.update()
    .where(t.dataset.c.id == sa.bindparam("b_id"))
    .values(facets=sa.bindparam("facets"), facet_keys=sa.bindparam("facet_keys"), updated_at=sa.bindparam("updated_at"))
)
_UPDATE_DATASET_FACET_KEYS = (
    t.dataset.update()
    .where(t.dataset.c.id == sa.bindparam("b_id"))
    .values(facet_keys=sa.bindparam("facet_keys"), updated_at=sa.bindparam("updated_at"))
)


def _schema(d: DatasetFacts) -> str | None:
    return dumps([[x.name, x.type] for x in d.fields]) if d.fields else None


_TAKE_SEQ = (
    t.sequence.update()
    .where(t.sequence.c.name == sa.bindparam("b_name"))
    .values(value=t.sequence.c.value + sa.bindparam("count"))
    .returning(t.sequence.c.value)
)


def next_seq(conn: Connection, name: str = "version", count: int = 1) -> int:
    """Take ``count`` values of a strictly increasing counter; return the last one.

    The row lock serialises publishers, so publication order equals commit order.
    """
    value = conn.execute(_TAKE_SEQ, {"b_name": name, "count": count}).scalar()
    if value is None:  # the counter's first use
        conn.execute(insert_new(conn, t.sequence, "name"), {"name": name, "value": 0})
        value = conn.execute(_TAKE_SEQ, {"b_name": name, "count": count}).scalar_one()
    return value
