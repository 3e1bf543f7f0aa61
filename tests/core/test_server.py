"""``sutura serve``'s HTTP API (the real FastAPI app over a real store) and the remote client."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Iterator

import pytest
from fastapi.testclient import TestClient

from sutura import (
    CheckResult,
    Dataset,
    Engine,
    EngineUnavailable,
    ErrorInfo,
    Failure,
    InvalidEvent,
    Job,
    RemoteEngine,
    SuturaError,
    config,
)
from sutura.server import create_app
from tests.core.builders import dataset, run_event, run_lifecycle

WH = "duckdb:///data/wh.duckdb"


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine)) as c:
        yield c


def test_ingest_single_and_duplicate(client: TestClient) -> None:
    ev = run_event("START", ("etl", "job"))
    assert client.post("/api/v1/lineage", json=ev).status_code == 201
    again = client.post("/api/v1/lineage", json=ev)
    assert again.status_code == 201 and again.json() == {"accepted": 0, "duplicates": 1}
    run = client.get(f"/api/v1/runs/{ev['run']['runId']}").json()
    assert run["state"] == "START" and run["job"] == {"namespace": "etl", "name": "job", "type": "TASK", "integration": "AIRFLOW"}


def test_batch_stores_valid_events_and_names_rejected_ones(client: TestClient) -> None:
    good = run_lifecycle(("etl", "a"))
    bad = run_event("COMPLETE", ("etl", "b"))
    bad["eventTime"] = "not a time"
    r = client.post("/api/v1/lineage/batch", json=[good[0], bad, good[1]])
    assert r.status_code == 400
    body = r.json()
    assert body["accepted"] == 2 and body["rejected"] == [{"index": 1, "field": "eventTime", "problem": "not an ISO-8601 timestamp: 'not a time'"}]
    assert client.post("/api/v1/lineage/batch", json=good).json() == {"accepted": 0, "duplicates": 2}


@pytest.mark.parametrize(
    "body,status,field",
    [
        (b"{nope", 400, "$"),
        (b"[1,2]", 400, "$"),
        (b"42", 400, "$"),
        (json.dumps({"eventTime": "2026-01-01T00:00:00Z", "run": {}, "job": {"namespace": "n", "name": "j"}}).encode(), 400, "run.runId"),
        (b"[" * 5000 + b"]" * 5000, 400, "$"),
        ("\udcff".encode("utf-8", "surrogatepass"), 400, "$"),
    ],
)
def test_malformed_input_is_a_4xx_naming_the_field(client: TestClient, body: bytes, status: int, field: str) -> None:
    r = client.post("/api/v1/lineage", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status and r.json()["field"] == field


def test_deep_nesting_and_size_limits(engine: Engine) -> None:
    settings = engine.settings.replace(**{"server.max_body_bytes": 2000, "server.max_depth": 10})
    with TestClient(create_app(engine, settings)) as c:
        deep = run_event("START", ("etl", "j"), custom=json.loads("[" * 20 + "]" * 20))
        assert c.post("/api/v1/lineage", json=deep).status_code == 400
        big = run_event("START", ("etl", "j"), custom={"x": "y" * 5000})
        assert c.post("/api/v1/lineage", json=big).status_code == 413


def test_lineage_answers_in_marquez_shape(client: TestClient) -> None:
    client.post("/api/v1/lineage/batch", json=run_lifecycle(("etl", "load"), inputs=[dataset(WH, "wh.main.a")], outputs=[dataset(WH, "wh.main.b")]))
    graph = client.get("/api/v1/lineage", params={"nodeId": f"dataset:{WH}:wh.main.b", "depth": 2}).json()["graph"]
    job = next(n for n in graph if n["type"] == "JOB")
    assert set(job) == {"id", "type", "data", "inEdges", "outEdges"}
    assert job["inEdges"] == [{"origin": f"dataset:{WH}:wh.main.a", "destination": "job:etl:load"}]
    assert client.get("/api/v1/lineage", params={"nodeId": "dataset:x:missing"}).status_code == 404
    assert client.get("/api/v1/lineage", params={"nodeId": "garbage"}).status_code == 400
    assert client.get("/healthz").json() == {"status": "ok"}


def test_failure_endpoint_answers_a_decision(client: TestClient) -> None:
    body = {
        "job": {"namespace": "airflow", "name": "etl.load"},
        "run_id": "r1",
        "attempt": 1,
        "max_attempts": 3,
        "error": {"type": "KeyError", "module": "builtins", "message": "'id'", "stack_trace": "Traceback..."},
        "inputs": [],
    }
    d = client.post("/api/v1/failures", json=body).json()
    assert d["action"] == "fail" and d["diagnosis"]["kind"] == "deterministic"
    assert {"action", "delay_seconds", "reason", "diagnosis", "id"} <= set(d)
    assert set(d["diagnosis"]) >= {"kind", "confidence", "evidence"}
    r = client.post("/api/v1/failures", json={"job": {"namespace": "a"}, "error": {"type": "X"}})
    assert r.status_code == 400 and r.json()["field"] == "job.name"
    assert client.get("/api/v1/decisions").json()["decisions"][0]["id"] == d["id"]


def test_checks_release_changes_explain_incidents(client: TestClient) -> None:
    ds = {"namespace": WH, "name": "wh.main.orders"}
    q = client.post("/api/v1/checks", json={"dataset": ds, "fingerprint": "f1", "results": [{"assertion": "not_null_id", "success": False}]}).json()
    assert q["action"] == "quarantine"
    assert client.get("/api/v1/incidents", params={"state": "open"}).json()["incidents"]
    assert client.get("/api/v1/changes").json() == {"changes": [], "cursor": "0"}
    r = client.post("/api/v1/releases", json={"version": q["subject"], "reason": "ok"}).json()
    assert r["action"] == "release"
    changes = client.get("/api/v1/changes").json()
    assert [c["content_fingerprint"] for c in changes["changes"]] == ["c:f1"] and changes["cursor"] == "1"
    assert client.post("/api/v1/plan", json={"changes": changes["changes"]}).json() == {"requests": []}
    assert client.get("/api/v1/explain", params={"nodeId": f"dataset:{WH}:wh.main.orders"}).json()["chain"] == []
    assert client.post("/api/v1/checks", json={"dataset": ds, "results": [{"assertion": "x"}]}).json()["field"] == "results[0].success"


def test_auth_scopes(engine: Engine) -> None:
    tokens = {"ingest-tok": ["ingest"], "read-tok": ["read"], "decide-tok": ["decide"], "admin-tok": ["admin"]}
    with TestClient(create_app(engine, engine.settings.replace(**{"server.tokens": tokens}))) as c:
        ev = run_event("START", ("etl", "j"))
        h = lambda t: {"Authorization": f"Bearer {t}"}  # noqa: E731
        assert c.get("/healthz").status_code == 200
        assert c.post("/api/v1/lineage", json=ev).status_code == 401
        assert c.post("/api/v1/lineage", json=ev, headers=h("wrong")).status_code == 401
        assert c.post("/api/v1/lineage", json=ev, headers=h("read-tok")).status_code == 403
        assert c.post("/api/v1/lineage", json=ev, headers=h("ingest-tok")).status_code == 201
        assert c.get("/api/v1/decisions", headers=h("ingest-tok")).status_code == 403
        assert c.get("/api/v1/decisions", headers=h("read-tok")).status_code == 200
        body = {"job": {"namespace": "a", "name": "b"}, "error": {"type": "KeyError"}}
        assert c.post("/api/v1/failures", json=body, headers=h("read-tok")).status_code == 403
        assert c.post("/api/v1/failures", json=body, headers=h("decide-tok")).status_code == 200
        assert c.post("/api/v1/releases", json={"version": "dataset:a:b"}, headers=h("decide-tok")).status_code == 403
        assert c.post("/api/v1/releases", json={"version": "dataset:a:b"}, headers=h("admin-tok")).status_code == 404
        assert c.get("/api/v1/changes", headers=h("admin-tok")).status_code == 200


@pytest.fixture
def live_url(engine: Engine) -> Iterator[str]:
    """The app served by a real uvicorn on a free loopback port, in a thread."""
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1", port=_free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(10)


def test_remote_engine_matches_the_embedded_one(live_url: str, engine: Engine) -> None:
    remote = RemoteEngine(live_url, timeout=30)
    events = run_lifecycle(("etl", "load"), outputs=[dataset(WH, "wh.main.b", rows=3)])
    assert remote.ingest(events).accepted == 2
    assert remote.ingest(events[0]).duplicates == 1
    job_runs = remote.runs("job:etl:load")
    assert job_runs == engine.runs("job:etl:load")
    assert remote.versions(f"dataset:{WH}:wh.main.b") == engine.versions(f"dataset:{WH}:wh.main.b")
    assert remote.lineage("job:etl:load") == engine.lineage("job:etl:load")
    d = remote.on_failure(Failure(job=Job("etl", "load"), error=ErrorInfo("TimeoutError", "timed out"), attempt=1, max_attempts=3))
    assert d.action.value == "retry" and d.diagnosis.kind.value == "transient"
    ds = Dataset(WH, "wh.main.c")
    q = remote.on_checks(ds, [CheckResult(ds, "unique_id", False)], fingerprint="x")
    assert q.action.value == "quarantine"
    assert remote.last_published(ds).quarantined[0].content_fingerprint == "c:x"
    assert remote.release(q.subject, "fine").action.value == "release"
    changes, cursor = remote.changes()
    assert changes == engine.changes()[0] and cursor == engine.changes()[1]
    assert remote.plan_runs(changes) == engine.plan_runs(changes)
    assert remote.decisions() == engine.decisions()
    assert remote.incidents() == engine.incidents()
    assert remote.explain("job:etl:load").to_dict() == engine.explain("job:etl:load").to_dict()
    with pytest.raises(InvalidEvent):
        remote.ingest({"eventTime": "x", "run": {"runId": "r"}, "job": {"namespace": "n", "name": "j"}})
    assert "token" not in repr(RemoteEngine("http://x", token="secret"))


def test_remote_engine_defers_a_publish_until_the_write_is_reported(live_url: str, engine: Engine) -> None:
    remote = RemoteEngine(live_url, timeout=30)
    ds = Dataset(WH, "wh.main.d")
    ok = [CheckResult(ds, "unique_id", True)]
    remote.on_checks(ds, ok, fingerprint="v1")
    _, cursor = remote.changes()
    pending = remote.on_checks(ds, ok, fingerprint="v2", defer_publish=True)
    assert pending.action.value == "publish" and pending.outcome == "pending_publish"
    assert remote.last_published(ds).version.content_fingerprint == "c:v1" and remote.changes(since=cursor) == ([], cursor)
    remote.record_outcome(pending.id, "published")
    remote.record_outcome(pending.id, "published")  # twice: harmless
    assert remote.last_published(ds).version.content_fingerprint == "c:v2"
    assert [c.content_fingerprint for c in remote.changes(since=cursor)[0]] == ["c:v2"]
    failed = remote.on_checks(ds, ok, fingerprint="v3", defer_publish=True)
    remote.record_outcome(failed.id, "failed_write")
    assert remote.last_published(ds).version.content_fingerprint == "c:v2"
    assert [v.status.value for v in remote.versions(ds) if v.content_fingerprint == "c:v3"] == ["failed_write"]
    held = remote.on_checks(ds, [CheckResult(ds, "unique_id", False)], fingerprint="v4", defer_publish=True)
    with pytest.raises(SuturaError, match="409.*not a deferred publish"):
        remote.record_outcome(held.id, "published")
    assert remote.decisions() == engine.decisions()


def test_checks_defer_publish_is_a_boolean_and_needs_the_decide_scope(engine: Engine) -> None:
    tokens = {"read-tok": ["read"], "decide-tok": ["decide"]}
    with TestClient(create_app(engine, engine.settings.replace(**{"server.tokens": tokens}))) as c:
        h = lambda t: {"Authorization": f"Bearer {t}"}  # noqa: E731
        body = {"dataset": {"namespace": WH, "name": "wh.main.e"}, "fingerprint": "f", "results": [], "defer_publish": "yes"}
        r = c.post("/api/v1/checks", json=body, headers=h("decide-tok"))
        assert r.status_code == 400 and r.json()["field"] == "defer_publish"
        d = c.post("/api/v1/checks", json={**body, "defer_publish": True}, headers=h("decide-tok")).json()
        assert d["outcome"] == "pending_publish"
        outcome = f"/api/v1/decisions/{d['id']}/outcome"
        assert c.post(outcome, json={"outcome": "published"}, headers=h("read-tok")).status_code == 403
        assert c.post(outcome, json={"outcome": "published"}, headers=h("decide-tok")).status_code == 200
        assert c.get("/api/v1/changes", headers=h("read-tok")).json()["changes"][0]["content_fingerprint"] == "c:f"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_remote_engine_down_or_garbage_is_engine_unavailable() -> None:
    closed = RemoteEngine(f"http://127.0.0.1:{_free_port()}", timeout=0.5)
    with pytest.raises(EngineUnavailable):
        closed.decisions()

    class Garbage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>not json</html>")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(EngineUnavailable):
            RemoteEngine(f"http://127.0.0.1:{server.server_port}", timeout=2).decisions()
    finally:
        server.shutdown()


def test_connect_picks_remote_when_url_is_set(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> None:
    import sutura

    monkeypatch.setenv("SUTURA_URL", "http://127.0.0.1:1")
    assert isinstance(sutura.connect(), RemoteEngine)
    monkeypatch.delenv("SUTURA_URL")
    monkeypatch.setenv("SUTURA_DB_URL", sqlite_url)
    assert isinstance(sutura.connect(), Engine)
    assert config.resolve().db_url == sqlite_url
