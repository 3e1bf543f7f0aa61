"""Reliability of ``sutura serve``: crash safety under load, auth on every route, no token in logs,
and the refusal to bind beyond loopback without tokens.

The crash test runs a real ``sutura serve`` subprocess, SIGKILLs its process group while
producers are sending, checks the store as the crash left it, restarts the server and
lets the producers retry (everything not acknowledged, and some acknowledged events).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from sutura import Engine
from sutura.events import parse_event
from sutura.server import create_app
from tests.core.builders import dataset, run_event
from tests.core.test_cli import sutura as sutura_cli

WH = "postgres://warehouse:5432"
RANK = {"START": 1, "RUNNING": 2, "COMPLETE": 3, "FAIL": 3}


# -- crash safety -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``sutura serve`` in its own process group, so SIGKILL reaches every worker."""

    def __init__(self, db_url: str, workers: int, log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUTURA")}
        env["SUTURA_DB_URL"] = db_url
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "sutura"), "serve", "--port", str(self.port), "--workers", str(workers)],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"sutura serve exited: {log.read_text()[-2000:]}"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        raise AssertionError("sutura serve did not start")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        self.proc.wait(30)


def _streams(producers: int, runs_each: int, seed: int) -> list[list[dict[str, Any]]]:
    """Per producer: task runs (new runId per attempt), shuffled in windows, a few sent twice."""
    rng = random.Random(seed)
    out = []
    for p in range(producers):
        events: list[dict[str, Any]] = []
        for r in range(runs_each):
            job = ("crash", f"dag{p}.task{r % 4}")
            run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            parent = (str(uuid.UUID(int=rng.getrandbits(128), version=4)), "crash", f"dag{p}")
            ok = rng.random() < 0.8
            window = [
                run_event("START", job, run_id, at=r, inputs=[dataset(WH, f"wh.public.src{r % 3}")], parent=parent, try_number=1),
                run_event("RUNNING", job, run_id, at=r + 0.1),
                run_event("COMPLETE" if ok else "FAIL", job, run_id, at=r + 0.5, outputs=[dataset(WH, f"wh.public.out{p}", rows=r)] if ok else None,
                          error=None if ok else "connection reset by peer"),
            ]
            rng.shuffle(window)  # out of order
            events += window
        events += [e for e in events if rng.random() < 0.05]  # duplicates
        out.append(events)
    return out


class Producer(threading.Thread):
    """Sends its events one per request (every fifth request a batch of three); remembers what was acknowledged."""

    def __init__(self, events: list[dict[str, Any]], url: str):
        super().__init__(daemon=True)
        self.events, self.url = events, url
        self.acked: set[str] = set()
        self.unacked: list[dict[str, Any]] = []
        self.server_errors: list[str] = []

    def run(self) -> None:
        i = 0
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while i < len(self.events):
                group = self.events[i:i + 3] if i % 5 == 4 else self.events[i:i + 1]
                i += len(group)
                try:
                    r = client.post("/api/v1/lineage/batch", json=group) if len(group) > 1 else client.post("/api/v1/lineage", json=group[0])
                except httpx.HTTPError:
                    self.unacked += group
                    continue
                if 200 <= r.status_code < 300:
                    self.acked |= {parse_event(e).key for e in group}
                else:
                    self.unacked += group
                    self.server_errors.append(f"{r.status_code} {r.text[:200]}")


def _store_facts(db_url: str) -> dict[str, Any]:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            q = lambda sql: conn.execute(sa.text(sql)).all()  # noqa: E731
            return {
                "keys": [r[0] for r in q("SELECT event_key FROM raw_event")],
                "runs": dict(q("SELECT run_id, state FROM run")),
                # half-applied events: a raw event without its run, run_io without its run, a run without its job
                "orphan_events": q("SELECT e.run_id FROM raw_event e WHERE e.run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM run r WHERE r.run_id = e.run_id)"),
                "dangling_io": q("SELECT i.run_id FROM run_io i WHERE NOT EXISTS (SELECT 1 FROM run r WHERE r.run_id = i.run_id)"),
                "runs_without_job": q("SELECT r.run_id FROM run r WHERE NOT EXISTS (SELECT 1 FROM job j WHERE j.id = r.job_id)"),
                "run_events_unapplied": q("SELECT e.run_id FROM raw_event e JOIN run r ON r.run_id = e.run_id WHERE r.state IS NULL AND e.event_type IS NOT NULL"),
            }
    finally:
        engine.dispose()


def _assert_whole(facts: dict[str, Any]) -> None:
    assert facts["orphan_events"] == [] and facts["dangling_io"] == [] and facts["runs_without_job"] == []
    assert facts["run_events_unapplied"] == []
    assert len(facts["keys"]) == len(set(facts["keys"]))


def crash_and_retry(db_url: str, tmp_path: Path, *, workers: int) -> None:
    log = tmp_path / "serve.log"
    Engine(db_url=db_url).close()  # create the store before the first start (as `sutura serve` does)
    streams = _streams(producers=4, runs_each=12, seed=11)
    all_events = [e for s in streams for e in s]
    server = Server(db_url, workers, log)
    producers = [Producer(s, server.url) for s in streams]
    for p in producers:
        p.start()
    deadline = time.monotonic() + 120
    while sum(len(p.acked) for p in producers) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill(signal.SIGKILL)  # in the middle of the load
    for p in producers:
        p.join(60)
    acked = set().union(*(p.acked for p in producers))
    unacked = [e for p in producers for e in p.unacked]
    assert acked and unacked, "the kill must land while producers were still sending"
    assert not [err for p in producers for err in p.server_errors if not err.startswith("5")], "no 4xx for valid events"

    after_crash = _store_facts(db_url)  # the store exactly as the crash left it
    _assert_whole(after_crash)
    assert acked <= set(after_crash["keys"]), "an event acknowledged with 2xx was lost"

    server = Server(db_url, workers, log)
    try:
        rng = random.Random(5)
        resend = unacked + [e for e in all_events if parse_event(e).key in acked and rng.random() < 0.3]
        rng.shuffle(resend)
        retry = Producer(resend, server.url)
        retry.run()
        assert not retry.unacked and not retry.server_errors
    finally:
        server.kill(signal.SIGTERM)

    final = _store_facts(db_url)
    _assert_whole(final)
    assert sorted(final["keys"]) == sorted({parse_event(e).key for e in all_events})  # every event once, none twice
    expected: dict[str, str] = {}
    parents = set()
    for e in all_events:
        rid = e["run"]["runId"]
        if rank := RANK[e["eventType"]]:
            if rid not in expected or rank > RANK[expected[rid]]:
                expected[rid] = e["eventType"]
        if "parent" in e["run"]["facets"]:
            parents.add(e["run"]["facets"]["parent"]["run"]["runId"])
    assert set(final["runs"]) == set(expected) | parents  # runs = distinct runIds (+ their parents)
    assert {rid: final["runs"][rid] for rid in expected} == expected  # final states as sent


@pytest.mark.xdist_group("serve")
def test_crash_mid_load_loses_nothing_acknowledged_sqlite(tmp_path: Path) -> None:
    crash_and_retry(f"sqlite:///{tmp_path / 'sutura.db'}", tmp_path, workers=1)


@pytest.mark.postgres
@pytest.mark.xdist_group("serve")
def test_crash_mid_load_loses_nothing_acknowledged_postgres(pg_url: str, tmp_path: Path) -> None:
    crash_and_retry(pg_url, tmp_path, workers=2)


# -- auth on every route ------------------------------------------------------------------------

PUBLIC = {"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}  # no store data behind them
SCOPES = ("ingest", "decide", "read", "admin")
EXPECTED_SCOPE = {
    ("POST", "/api/v1/lineage"): "ingest",
    ("POST", "/api/v1/lineage/batch"): "ingest",
    ("POST", "/api/v1/failures"): "decide",
    ("POST", "/api/v1/checks"): "decide",
    ("POST", "/api/v1/decisions/{decision_id}/outcome"): "decide",
    ("POST", "/api/v1/releases"): "admin",
}  # every other route: read


@pytest.fixture
def authed(sqlite_engine: Engine) -> Iterator[TestClient]:
    tokens = {f"tok-{s}-{uuid.uuid4().hex}": [s] for s in SCOPES}
    app = create_app(sqlite_engine, sqlite_engine.settings.replace(**{"server.tokens": tokens}))
    with TestClient(app) as c:
        c.tokens = {s: t for t, (s,) in tokens.items()}  # type: ignore[attr-defined]
        yield c


def _routes(app: Any) -> list[tuple[str, str]]:
    out = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                out.append((method, route.path))
    return out


def test_every_route_needs_a_token_with_its_scope(authed: TestClient) -> None:
    routes = _routes(authed.app)
    assert len([r for r in routes if r[1] not in PUBLIC]) >= 18  # the enumeration really found the API
    for method, path in routes:
        if path in PUBLIC:
            continue
        url = path.replace("{run_id}", "r1").replace("{decision_id}", "d1")
        call = lambda headers=None: authed.request(method, url, json={}, headers=headers or {})  # noqa: E731
        assert call().status_code == 401, (method, path)
        assert call({"Authorization": "Bearer not-a-token"}).status_code == 401, (method, path)
        assert call({"Authorization": f"Basic {authed.tokens['admin']}"}).status_code == 401, (method, path)
        needed = EXPECTED_SCOPE.get((method, path), "read")
        for scope in SCOPES:
            status = call({"Authorization": f"Bearer {authed.tokens[scope]}"}).status_code
            if scope in (needed, "admin"):
                assert status not in (401, 403), (method, path, scope, status)
            else:
                assert status == 403, (method, path, scope, status)
    # Every route of the app is a FastAPI route whose auth this test exercised.
    assert all(isinstance(r, APIRoute) or r.path in PUBLIC for r in authed.app.routes)


def test_tokens_never_reach_the_logs(sqlite_engine: Engine, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture) -> None:
    import uvicorn

    secret, stranger = f"s3cret-{uuid.uuid4().hex}", f"guess-{uuid.uuid4().hex}"
    app = create_app(sqlite_engine, sqlite_engine.settings.replace(**{"server.tokens": {secret: ["admin"]}}))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="debug", access_log=True))
    thread = threading.Thread(target=server.run, daemon=True)
    caplog.set_level(logging.DEBUG)
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):  # they do not propagate to the root logger
        logging.getLogger(name).addHandler(caplog.handler)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{server.config.port}"
        for token in (secret, stranger):
            h = {"Authorization": f"Bearer {token}"}
            httpx.post(f"{url}/api/v1/lineage", json=run_event("START", ("etl", "j")), headers=h)
            httpx.post(f"{url}/api/v1/lineage", content=b"{bad", headers=h)
            httpx.post(f"{url}/api/v1/failures", json={"job": {"namespace": "a", "name": "b"}, "error": {"type": "TimeoutError"}}, headers=h)
            httpx.get(f"{url}/api/v1/nodes", params={"nodeId": "dataset:x:y"}, headers=h)
            httpx.get(f"{url}/metrics", headers=h)
    finally:
        server.should_exit = True
        thread.join(10)
        for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
            logging.getLogger(name).removeHandler(caplog.handler)
    assert any(r.name == "uvicorn.access" and "/api/v1/lineage" in r.getMessage() for r in caplog.records), "the access log was captured"
    out, err = capfd.readouterr()
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records) + out + err
    assert secret not in text and stranger not in text


@pytest.mark.xdist_group("cli")
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "127.example.com", "localhost.example.com"])
def test_serve_refuses_to_bind_beyond_loopback_without_tokens(sqlite_url: str, host: str) -> None:
    refused = sutura_cli("serve", "--host", host, db=sqlite_url, check=False)
    assert refused.returncode == 2 and f"refusing to bind {host} without auth tokens" in refused.stderr


@pytest.mark.xdist_group("cli")
def test_serve_binds_beyond_loopback_only_when_forced_or_with_tokens(tmp_path: Path) -> None:
    # An unusable store makes `serve` stop right after the bind check, so nothing is ever exposed.
    bad_store = "mysql://nowhere/db"
    forced = sutura_cli("serve", "--host", "0.0.0.0", "--insecure", db=bad_store, check=False)
    assert forced.returncode == 2 and "unsupported store" in forced.stderr
    env = {**os.environ, "SUTURA_DB_URL": bad_store, "SUTURA__SERVER__TOKENS": "{t: [admin]}"}
    env.pop("SUTURA_URL", None)
    with_tokens = subprocess.run([sys.executable, "-m", "sutura.cli", "serve", "--host", "0.0.0.0"], capture_output=True, text=True, env=env, timeout=120)
    assert with_tokens.returncode == 2 and "unsupported store" in with_tokens.stderr


# -- decisions and the changes feed stay consistent across processes -----------------------------


def _engines(url: str, n: int, **overrides: Any) -> list[Engine]:
    """Separate engines (own connection pools), as separate server workers have."""
    return [Engine(db_url=url, **overrides) for _ in range(n)]


def _run_threads(fns: list[Any]) -> None:
    errors: list[BaseException] = []

    def wrap(fn: Any) -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(fn,)) for fn in fns]
    for th in threads:
        th.start()
    for th in threads:
        th.join(300)
    assert not errors, errors


def test_concurrent_failures_on_one_source_lose_no_update(store_url: str) -> None:
    """The circuit row is read FOR UPDATE: every failure from every worker is counted once."""
    from sutura import Dataset, ErrorInfo, Failure, Job

    workers, each = 4, 6
    engines = _engines(store_url, workers, retry={"breaker_threshold": 1000, "budget": 1000})
    src = Dataset("postgres://shared-db:5432", "db.public.src")

    def worker(i: int) -> Any:
        def go() -> None:
            for k in range(each):
                engines[i].on_failure(Failure(job=Job("etl", f"job{i}"), error=ErrorInfo("TimeoutError", "timed out"),
                                              run_id=f"r{i}-{k}", attempt=1, max_attempts=3, inputs=(src,)))
        return go

    try:
        _run_threads([worker(i) for i in range(workers)])
        import json

        row = engines[0].read(lambda conn: conn.execute(sa.text("SELECT failures FROM circuit WHERE source = :s"), {"s": src.namespace}).one())
        assert len(json.loads(row.failures)) == workers * each
        assert len(engines[0].decisions(limit=1000)) == workers * each
    finally:
        for e in engines:
            e.close()


def test_changes_feed_is_exactly_once_per_cursor_under_concurrent_publication(store_url: str) -> None:
    """Writers publish from several engines while a consumer follows its cursor: each version once, none missed."""
    writers, each = 3, 15
    engines = _engines(store_url, writers + 1)
    seen: list[str] = []
    done = threading.Event()

    def writer(i: int) -> Any:
        def go() -> None:
            for k in range(each):
                engines[i].ingest(run_event("COMPLETE", ("etl", f"w{i}"), outputs=[dataset(WH, f"wh.public.w{i}_{k}", rows=k)], at=k))
        return go

    def consumer() -> None:
        cursor = None
        while True:
            finished = done.is_set()
            changes, cursor = engines[-1].changes(since=cursor, limit=7)
            seen.extend(c.dataset.name for c in changes)
            if finished and not changes:
                return

    follow = threading.Thread(target=consumer)
    follow.start()
    try:
        _run_threads([writer(i) for i in range(writers)])
        done.set()
        follow.join(120)
        assert sorted(seen) == sorted(f"wh.public.w{i}_{k}" for i in range(writers) for k in range(each))
        seqs = engines[0].read(lambda conn: [r[0] for r in conn.execute(sa.text("SELECT seq FROM dataset_version ORDER BY seq"))])
        assert seqs == list(range(1, writers * each + 1))  # one gap-free sequence shared by every writer
    finally:
        done.set()
        for e in engines:
            e.close()
