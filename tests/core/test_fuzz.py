"""Hostile input against the real app: hypothesis-generated requests for every operation of its
own OpenAPI document, mutated OpenLineage events, deep nesting and huge bodies.

Invariants: never a 5xx; a refused event leaves no fragment in the store; memory per
request stays bounded by ``server.max_body_bytes`` however large the body sent.
(schemathesis is not installed; the operations are enumerated from ``app.openapi()`` here.)
"""

from __future__ import annotations

import copy
import json
import threading
import time
import tracemalloc
from typing import Any, Iterator
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sutura import Engine
from sutura.server import create_app
from sutura.store import schema as t
from tests.core.builders import dataset, run_event

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
WH = "postgres://warehouse:5432"

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30)
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4), max_leaves=25)
deep = st.integers(66, 30_000).flatmap(  # beyond the default server.max_depth of 64
    lambda n: st.sampled_from(["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n, '{"run":' * n + "null" + "}" * n])
)


def _valid_event() -> dict[str, Any]:
    return run_event(
        "COMPLETE", ("etl", "load"), inputs=[dataset(WH, "wh.public.src", fields=[("id", "int")])],
        outputs=[dataset(WH, "wh.public.out", rows=3, fields=[("id", "int")])], error=None, try_number=2,
        parent=("0b1f7c2e-9d55-4c4e-8e5e-6a4b0a9c1d11", "etl", "dag"),
    )


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, prefix + (i,))
    return out


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    """A valid event with one value replaced by arbitrary JSON, or one key removed."""
    event = _valid_event()
    path = draw(st.sampled_from(_paths(event)[1:]))
    parent = event
    for step in path[:-1]:
        parent = parent[step]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return event


def _counts(engine: Engine) -> dict[str, int]:
    def q(conn: Any) -> dict[str, int]:
        return {table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() for table in t.metadata.sorted_tables}

    return engine.read(q)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = Engine(db_url=f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'sutura.db'}")
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def client(store: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(store), raise_server_exceptions=False) as c:
        yield c


@FUZZ
@given(body=st.one_of(mutated_events(), json_values, st.lists(mutated_events(), min_size=1, max_size=3)))
def test_ingest_never_5xx_and_refusals_store_nothing(client: TestClient, store: Engine, body: Any) -> None:
    for path in ("/api/v1/lineage", "/api/v1/lineage/batch"):
        before = _counts(store)
        r = client.post(path, content=json.dumps(body).encode(), headers={"content-type": "application/json"})
        assert r.status_code < 500, (path, r.status_code, r.text[:500])
        if r.status_code >= 400:
            answer = r.json()
            assert "error" in answer
            if answer.get("accepted", 0) == 0:  # nothing accepted: not a single row anywhere
                assert _counts(store) == before, (path, answer)
            else:  # a batch with some valid events: exactly those were stored
                assert _counts(store)["raw_event"] == before["raw_event"] + answer["accepted"]
            if r.status_code == 400 and not isinstance(answer.get("rejected"), list):
                assert isinstance(answer.get("field"), str), answer  # the field is named


@FUZZ
@given(text=deep, noise=st.binary(max_size=200))
def test_deep_or_broken_json_is_a_4xx(client: TestClient, store: Engine, text: str, noise: bytes) -> None:
    before = _counts(store)
    for path in ("/api/v1/lineage", "/api/v1/lineage/batch", "/api/v1/failures", "/api/v1/checks", "/api/v1/plan"):
        r = client.post(path, content=text.encode(), headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500 and r.json()["field"] == "$", (path, r.status_code, r.text[:300])
        r = client.post(path, content=noise, headers={"content-type": "application/json"})
        assert r.status_code < 500, (path, noise, r.status_code, r.text[:300])
    assert _counts(store) == before


def _operations(app: Any) -> list[tuple[str, str, list[dict[str, Any]]]]:
    ops = []
    for path, item in app.openapi()["paths"].items():
        for method, op in item.items():
            ops.append((method.upper(), path, op.get("parameters", [])))
    return ops


param_values = st.one_of(st.text(max_size=40), st.integers(-(10**12), 10**12).map(str), st.sampled_from(
    ["dataset:x:y", "job:etl:load", "run:r", "version:a:b@c", "dataset:", "::", "upstream", "both", "-1", "1e9", "true"]))


@FUZZ
@given(data=st.data())
def test_every_openapi_operation_never_5xx(client: TestClient, data: st.DataObject) -> None:
    ops = _operations(client.app)
    assert len(ops) >= 18
    for method, path, params in ops:
        url = path
        query: dict[str, Any] = {}
        for p in params:
            if p["in"] == "path":
                url = url.replace("{" + p["name"] + "}", quote(data.draw(st.text(min_size=1, max_size=20)), safe=""))
            elif p["in"] == "query" and (p.get("required") or data.draw(st.booleans())):
                query[p["name"]] = data.draw(param_values)
        body = data.draw(json_values) if method == "POST" else None
        r = client.request(method, url, params=query, content=None if body is None else json.dumps(body), headers={"content-type": "application/json"})
        assert r.status_code < 500, (method, url, query, body, r.status_code, r.text[:500])


def test_huge_bodies_are_refused_with_bounded_memory(sqlite_engine: Engine) -> None:
    """A 64 MiB streamed body (no Content-Length) against a 1 MiB limit: 413, and the server never holds it."""
    import socket

    import uvicorn

    limit = 1024 * 1024
    app = create_app(sqlite_engine, sqlite_engine.settings.replace(**{"server.max_body_bytes": limit}))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    chunk = b'{"x": "' + b"y" * (64 * 1024 - 10) + b'",'

    def stream() -> Iterator[bytes]:
        yield b"["
        for _ in range(1024):  # 64 MiB
            yield chunk

    try:
        tracemalloc.start()
        try:
            r = httpx.post(f"{url}/api/v1/lineage/batch", content=stream(), headers={"content-type": "application/json"}, timeout=60)
            assert r.status_code == 413
        except httpx.TransportError:
            pass  # the server answered 413 and closed while the client was still sending: also a refusal
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 8 * limit, f"peak {peak / 2**20:.1f} MiB while refusing a 64 MiB body"
        declared = httpx.post(f"{url}/api/v1/lineage", content=b" " * (limit + 1), headers={"content-type": "application/json"}, timeout=60)
        assert declared.status_code == 413 and "byte limit" in declared.json()["error"]
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
    finally:
        server.should_exit = True
        thread.join(10)
    assert sqlite_engine.read(lambda conn: conn.execute(sa.select(sa.func.count()).select_from(t.raw_event)).scalar_one()) == 0
