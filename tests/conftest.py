"""Shared fixtures: stores on SQLite and PostgreSQL, engines, the real-producer harness.

PostgreSQL tests use ``SUTURA_TEST_PG_URL`` (default 127.0.0.1:5432, database ``test``)
and skip when it is unreachable, unless ``SUTURA_REQUIRE_PG=1`` (CI), which turns the
skip into a failure. Each test gets its own schema, so parallel workers never collide.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import pytest
import sqlalchemy as sa

pytest_plugins = ["tests.support.fixtures"]

FIXTURES = Path(__file__).parent / "fixtures"
PG_URL = os.environ.get("SUTURA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("SUTURA_REQUIRE_PG") == "1"


def _pg_reachable() -> str | None:
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


@pytest.fixture(scope="session")
def pg_available() -> str:
    problem = _pg_reachable()
    if problem:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required (SUTURA_REQUIRE_PG=1) but {PG_URL} is unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {problem}")
    return PG_URL


@pytest.fixture
def pg_url(pg_available: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped after the test."""
    schema = f"sutura_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_available, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in pg_available else "?"
    yield f"{pg_available}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sutura.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sutura.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator["object"]:
    from sutura import Engine

    monkeypatch.delenv("SUTURA_URL", raising=False)
    eng = Engine(db_url=store_url)
    yield eng
    eng.close()


@pytest.fixture
def sqlite_engine(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator["object"]:
    from sutura import Engine

    monkeypatch.delenv("SUTURA_URL", raising=False)
    eng = Engine(db_url=sqlite_url)
    yield eng
    eng.close()


def corpus_files() -> list[Path]:
    return sorted((FIXTURES / "corpus").rglob("*.json"))
