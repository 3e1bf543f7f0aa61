"""The graph store's tables (SQLAlchemy Core) and its versioned migrations.

Table names are the ontology's, in snake case. Lineage lives in two adjacency
tables: ``job_io`` (Job READS/WRITES Dataset, for dataset- and job-level lineage)
and ``field_lineage`` (Field DERIVES_FROM Field); both are walked with recursive CTEs.

Migrations are a numbered list (``MIGRATIONS``); ``migrate()`` applies the ones a
store has not seen, each in its own transaction, and refuses a store written by a
newer Sutura (see docs/adr/0003-store-migrations.md).
"""

from __future__ import annotations

from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sutura.errors import StoreError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "metadata", "migrate"]

metadata = sa.MetaData()
_TS = sa.DateTime(timezone=True)

raw_event = sa.Table(
    "raw_event",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("event_key", sa.String(64), nullable=False, unique=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("run_id", sa.Text),
    sa.Column("event_type", sa.String(8)),
    sa.Column("event_time", _TS, nullable=False),
    sa.Column("received_at", _TS, nullable=False),
    sa.Column("producer", sa.Text),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Index("ix_raw_event_run", "run_id"),
    sa.Index("ix_raw_event_received", "received_at"),
)

dataset = sa.Table(
    "dataset",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("namespace", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("canonical_id", sa.Integer),  # set when this row is an alias of another dataset
    sa.Column("is_primary", sa.Boolean, nullable=False, default=False),  # named by an event, not only a symlink
    sa.Column("facets", sa.Text, nullable=False, default="{}"),
    sa.Column("facet_keys", sa.Text, nullable=False, default="{}"),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
    sa.UniqueConstraint("namespace", "name", name="uq_dataset_name"),
)

field = sa.Table(
    "field",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset_id", sa.Integer, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("type", sa.Text),
    sa.Column("description", sa.Text),
    sa.UniqueConstraint("dataset_id", "name", name="uq_field_name"),
)

job = sa.Table(
    "job",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("namespace", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("type", sa.String(32)),
    sa.Column("integration", sa.String(32)),
    sa.Column("facets", sa.Text, nullable=False, default="{}"),
    sa.Column("facet_keys", sa.Text, nullable=False, default="{}"),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
    sa.UniqueConstraint("namespace", "name", name="uq_job_name"),
)

run = sa.Table(
    "run",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Text, nullable=False, unique=True),
    sa.Column("job_id", sa.Integer, nullable=False),
    sa.Column("state", sa.String(8)),
    sa.Column("state_key", sa.Text, nullable=False, default=""),  # rank|time|event: highest wins
    sa.Column("attempt", sa.Integer),
    sa.Column("parent_run_id", sa.Text),
    sa.Column("root_run_id", sa.Text),
    sa.Column("nominal_start", _TS),
    sa.Column("nominal_end", _TS),
    sa.Column("started_at", _TS),
    sa.Column("ended_at", _TS),
    sa.Column("error_message", sa.Text),
    sa.Column("stack_trace", sa.Text),
    sa.Column("facets", sa.Text, nullable=False, default="{}"),
    sa.Column("facet_keys", sa.Text, nullable=False, default="{}"),
    sa.Column("updated_at", _TS, nullable=False),
    sa.Index("ix_run_job", "job_id", "started_at"),
    sa.Index("ix_run_parent", "parent_run_id"),
)

job_io = sa.Table(
    "job_io",
    metadata,
    sa.Column("job_id", sa.Integer, primary_key=True),
    sa.Column("dataset_id", sa.Integer, primary_key=True),
    sa.Column("direction", sa.String(3), primary_key=True),  # in | out
    sa.Index("ix_job_io_dataset", "dataset_id", "direction", "job_id"),
)

run_io = sa.Table(
    "run_io",
    metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("dataset_id", sa.Integer, primary_key=True),
    sa.Column("direction", sa.String(3), primary_key=True),
    sa.Column("version_id", sa.Integer),
    sa.Index("ix_run_io_dataset", "dataset_id", "direction"),
)

dataset_version = sa.Table(
    "dataset_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset_id", sa.Integer, nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("content_fingerprint", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("status_at", _TS, nullable=False),
    sa.Column("row_count", sa.BigInteger),
    sa.Column("bytes", sa.BigInteger),
    sa.Column("schema_hash", sa.String(32)),
    sa.Column("schema", sa.Text),  # JSON [[name, type], ...] when the producer sent a schema
    sa.Column("metrics", sa.Text),  # JSON columnMetrics (dataQualityMetrics) when sent
    sa.Column("seq", sa.BigInteger),  # publication order: the changes feed's cursor
    sa.UniqueConstraint("dataset_id", "fingerprint", name="uq_version_fingerprint"),
    sa.Index("ix_version_dataset", "dataset_id", "created_at"),
    sa.Index("ix_version_run", "run_id"),
    sa.Index("ix_version_seq", "seq"),
)

field_lineage = sa.Table(
    "field_lineage",
    metadata,
    sa.Column("field_id", sa.Integer, primary_key=True),
    sa.Column("source_field_id", sa.Integer, primary_key=True),
    sa.Column("transformations", sa.Text, nullable=False, default="[]"),
    sa.Index("ix_field_lineage_source", "source_field_id"),
)

check_result = sa.Table(
    "check_result",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("check_key", sa.String(64), nullable=False, unique=True),
    sa.Column("dataset_id", sa.Integer, nullable=False),
    sa.Column("field", sa.Text),
    sa.Column("assertion", sa.Text, nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("run_id", sa.Text),
    sa.Column("version_id", sa.Integer),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("observed", sa.Text),
    sa.Column("message", sa.Text),
    sa.Column("created_at", _TS, nullable=False),
    sa.Index("ix_check_dataset", "dataset_id", "created_at"),
)

decision = sa.Table(
    "decision",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False, default="[]"),
    sa.Column("policy", sa.String(64), nullable=False),
    sa.Column("delay_seconds", sa.Float),
    sa.Column("diagnosis", sa.Text),
    sa.Column("signature", sa.String(64)),
    sa.Column("source", sa.Text),
    sa.Column("job_id", sa.Integer),
    sa.Column("run_id", sa.Text),
    sa.Column("outcome", sa.String(32)),
    sa.Column("outcome_at", _TS),
    sa.Column("created_at", _TS, nullable=False),
    sa.Index("ix_decision_subject", "subject", "created_at"),
    sa.Index("ix_decision_created", "created_at"),
    sa.Index("ix_decision_signature", "signature"),
    sa.Index("ix_decision_job", "job_id", "created_at"),
)

incident = sa.Table(
    "incident",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("root_cause", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False, default=""),
    sa.Column("opened_at", _TS, nullable=False),
    sa.Column("resolved_at", _TS),
    sa.Index("ix_incident_root", "root_cause", "state"),
)

incident_symptom = sa.Table(
    "incident_symptom",
    metadata,
    sa.Column("incident_id", sa.String(36), primary_key=True),
    sa.Column("node", sa.Text, primary_key=True),
    sa.Column("added_at", _TS, nullable=False),
    sa.Index("ix_symptom_node", "node"),
)

circuit = sa.Table(
    "circuit",
    metadata,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("state", sa.String(10), nullable=False),  # closed | open | half_open
    sa.Column("failures", sa.Text, nullable=False, default="[]"),  # recent failure times (epoch s)
    sa.Column("opened_at", sa.Float),
    sa.Column("probe_at", sa.Float),
    sa.Column("updated_at", _TS, nullable=False),
)

sequence = sa.Table(
    "sequence",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn)


# Health checks look up a version's check results; stores made before v2 lack this index.
ix_check_version = sa.Index("ix_check_version", check_result.c.version_id)


def _v2(conn: Connection) -> None:
    ix_check_version.create(conn, checkfirst=True)


# The writer looks up many rows at once by one column: datasets and jobs by name (then
# checks the namespace), versions by fingerprint (then checks the dataset). The unique
# indexes lead with the other column, so without these each lookup scanned the table.
ix_dataset_name = sa.Index("ix_dataset_name", dataset.c.name)
ix_job_name = sa.Index("ix_job_name", job.c.name)
ix_version_fingerprint = sa.Index("ix_version_fingerprint", dataset_version.c.fingerprint)


def _v3(conn: Connection) -> None:
    for index in (ix_dataset_name, ix_job_name, ix_version_fingerprint):
        index.create(conn, checkfirst=True)


MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3]
SCHEMA_VERSION = len(MIGRATIONS)

_version_table = sa.Table("sutura_schema", sa.MetaData(), sa.Column("version", sa.Integer, nullable=False))


def migrate(engine: sa.Engine) -> int:
    """Bring the store up to ``SCHEMA_VERSION``; return the version found before."""
    with engine.begin() as conn:
        _version_table.create(conn, checkfirst=True)
        found = conn.execute(sa.select(_version_table.c.version)).scalar()
        if found is None:
            conn.execute(_version_table.insert().values(version=0))
            found = 0
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"the store at {engine.url.render_as_string(hide_password=True)} has schema version {found}, "
            f"newer than this Sutura's {SCHEMA_VERSION}: upgrade Sutura"
        )
    for number in range(found, SCHEMA_VERSION):
        with engine.begin() as conn:
            locked = conn.execute(sa.select(_version_table.c.version).with_for_update()).scalar()
            if locked is not None and locked > number:  # another process migrated meanwhile
                continue
            MIGRATIONS[number](conn)
            conn.execute(_version_table.update().values(version=number + 1))
    return found
