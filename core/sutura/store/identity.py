"""Identity in the store: find or create a Dataset or Job, and fold dataset aliases.

Used by the batch writer and by the policies (which may meet a dataset before any
event names it). See docs/adr/0004-dataset-identity.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.store import schema as t
from sutura.store.db import insert

__all__ = ["dataset_id", "job_id", "merge_aliases"]


def dataset_id(conn: Connection, namespace: str, name: str, now: datetime, *, primary: bool = False) -> int:
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


def job_id(conn: Connection, namespace: str, name: str, now: datetime) -> int:
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


def merge_aliases(conn: Connection, ds_id: int, aliases: Iterable[tuple[str, str]], now: datetime) -> int:
    """Fold symlinked identifiers into one canonical dataset (see docs/adr/0004-dataset-identity.md).

    The canonical member of a group is the one named directly by an event
    (``is_primary``); among several, the smallest (namespace, name). The choice depends
    only on the set of names seen, never on arrival order.
    """
    group = {ds_id}
    for ns, name in aliases:
        group.add(dataset_id(conn, ns, name, now))
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
