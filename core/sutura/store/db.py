"""Opening a store: the SQLAlchemy engine, SQLite pragmas, dialect-specific upserts."""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from sutura.errors import StoreError
from sutura.events import canonical_json
from sutura.store.schema import migrate

__all__ = ["READ_ONLY", "dumps", "insert", "insert_new", "loads", "open_store"]

log = logging.getLogger("sutura")
READ_ONLY = "sutura_read_only"  # execution option of connections that only read


dumps = canonical_json  # facets and evidence are stored in the same form as events
loads = orjson.loads  # what dumps wrote; orjson for speed on the ingest path


def insert(conn: sa.Connection, table: sa.Table) -> Any:
    """An INSERT that supports ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


_INSERTS_NEW: dict[tuple[str, str, tuple[str, ...]], Any] = {}


def insert_new(conn: sa.Connection, table: sa.Table, *unique: str) -> Any:
    """INSERT ... ON CONFLICT (``unique``) DO NOTHING, built once per table and dialect:
    building a statement costs more than SQLite takes to run it."""
    key = (conn.dialect.name, table.name, unique)
    stmt = _INSERTS_NEW.get(key)
    if stmt is None:
        stmt = _INSERTS_NEW[key] = insert(conn, table).on_conflict_do_nothing(index_elements=list(unique) or None)
    return stmt


def open_store(url: str, *, pool_size: int = 5) -> sa.Engine:
    """Create the engine for ``url`` (SQLite file in WAL mode, or PostgreSQL) and migrate it."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"invalid store URL {url!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(parsed)
    elif parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = sa.create_engine(parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    else:
        raise StoreError(f"unsupported store {parsed.get_backend_name()!r}: use a sqlite:/// or postgresql:// URL")
    try:
        migrate(engine)
    except sa.exc.OperationalError as exc:
        raise StoreError(f"cannot open the store at {parsed.render_as_string(hide_password=True)}: {exc.orig}") from exc
    return engine


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    if url.database and url.database != ":memory:":
        folder = Path(url.database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store's folder {folder}: {exc.strerror or exc}") from exc
    engine = sa.create_engine(url, connect_args={"timeout": 60, "isolation_level": None, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=OFF")
        cur.execute(f"PRAGMA wal_autocheckpoint={_SAFETY_NET_PAGES}")
        cur.execute("PRAGMA journal_size_limit=16777216")  # a WAL reset after a checkpoint shrinks to 16 MiB
        cur.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # Take the write lock up front: two writers never deadlock upgrading a read lock.
        # A READ_ONLY connection takes none: in WAL mode it reads a snapshot, never waiting on a writer.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

    if url.database and url.database != ":memory:":
        checkpointer = _Checkpointer(engine)
        sa.event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())
    return engine


# Reads map the first 256 MiB of the database file instead of copying each page into a
# per-connection cache (2 MiB by default): a 9,700-node lineage answer on a 100k-dataset
# store (~250 MB) touched ~10,000 pages, one read() call each, about a fifth of its time.
# The mapped pages are the OS page cache's, shared by every connection and process, so
# this adds address space, not memory; past 256 MiB a file is read as before.
_MMAP_BYTES = 256 * 1024 * 1024

# SQLite's own checkpoint runs inside whichever commit crosses the threshold (1,000 WAL
# pages by default), adding ~10 ms to that commit: the tail of a decision's latency. A
# background thread checkpoints instead; the raised threshold only bounds the WAL of a
# process whose thread is not running (a forked task, say).
_SAFETY_NET_PAGES = 10_000
_CHECKPOINT_EVERY = 1.0  # seconds


_RUNNING: weakref.WeakSet[_Checkpointer] = weakref.WeakSet()


@atexit.register
def _stop_checkpointers() -> None:
    """Let every checkpoint thread end before the interpreter tears down its modules."""
    running = list(_RUNNING)
    for checkpointer in running:
        checkpointer.stop()
    for checkpointer in running:
        checkpointer._thread.join(timeout=5)


class _Checkpointer:
    """Copies the WAL into the database file every second, passively: it never blocks a
    writer, and a checkpoint that cannot finish now finishes on a later round."""

    def __init__(self, engine: sa.Engine):
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(weakref.ref(engine),), name="sutura-wal-checkpoint", daemon=True)
        self._thread.start()
        _RUNNING.add(self)

    def stop(self) -> None:
        self._stopped.set()
        _RUNNING.discard(self)

    def _run(self, ref: weakref.ref[sa.Engine]) -> None:
        while not self._stopped.wait(_CHECKPOINT_EVERY):
            engine = ref()
            if engine is None:  # the engine was dropped without dispose()
                return
            try:
                conn = engine.raw_connection()  # the driver's autocommit: no transaction, no lock held
                try:
                    conn.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                finally:
                    conn.close()
            except Exception:  # noqa: BLE001 - the safety net still bounds the WAL
                log.debug("WAL checkpoint failed", exc_info=True)
            del engine
