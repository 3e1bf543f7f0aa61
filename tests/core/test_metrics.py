"""``GET /metrics``: Prometheus text whose figures match what really happened, with one or several workers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from sutura import Engine
from sutura.metrics import Metrics, field_label, render
from sutura.server import create_app
from tests.core.builders import dataset, run_event, run_lifecycle

WH = "postgres://warehouse:5432"
LINE = re.compile(r'^([a-z_]+)(\{(.*)\})? (\S+)$')


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus text -> {(name, labels): value}; fails on a malformed line."""
    out = {}
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            _, _, name, kind = line.split()
            types[name] = kind
            continue
        if line.startswith("#") or not line:
            continue
        m = LINE.match(line)
        assert m, f"malformed metrics line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    assert types["sutura_ingest_duration_seconds"] == "histogram" and types["sutura_events_ingested_total"] == "counter"
    return out


def value(figures: dict, name: str, **labels: str) -> float:
    return figures.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_what_happened(engine: Engine) -> None:
    with TestClient(create_app(engine)) as c:
        events = run_lifecycle(("etl", "load"), outputs=[dataset(WH, "wh.public.t", rows=1)])
        assert c.post("/api/v1/lineage/batch", json=events).status_code == 200
        assert c.post("/api/v1/lineage", json=events[0]).json() == {"accepted": 0, "duplicates": 1}
        bad = run_event("START", ("etl", "load"))
        bad["inputs"] = [{"namespace": "x"}]
        assert c.post("/api/v1/lineage", json=bad).status_code == 400  # inputs[0].name: required
        bad2 = run_event("START", ("etl", "load"))
        bad2["inputs"] = [{"name": "y", "namespace": "x"}, {"namespace": "x"}]
        assert c.post("/api/v1/lineage/batch", json=[bad2, run_event("START", ("etl", "other"))]).status_code == 400
        assert c.post("/api/v1/lineage", content=b"{oops", headers={"content-type": "application/json"}).status_code == 400
        # Three transient failures on one source open its circuit; a failing check quarantines.
        for attempt in (1, 2, 3):
            body = {"job": {"namespace": "etl", "name": "load"}, "attempt": attempt, "max_attempts": 5,
                    "error": {"type": "OperationalError", "module": "psycopg", "message": "connection to server at \"db1\" failed: timeout expired"},
                    "inputs": [{"namespace": WH, "name": "wh.public.src"}]}
            assert c.post("/api/v1/failures", json=body).status_code == 200
        q = c.post("/api/v1/checks", json={"dataset": {"namespace": WH, "name": "wh.public.t2"}, "fingerprint": "f",
                                            "results": [{"assertion": "not_null", "success": False}]}).json()
        assert q["action"] == "quarantine"
        r = c.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
        m = parse(r.text)

    assert value(m, "sutura_events_ingested_total") == 3  # 2 in the batch + the good one of the partial batch
    assert value(m, "sutura_events_duplicate_total") == 1
    assert value(m, "sutura_rejections_total", reason="invalid", field="inputs[].name") == 2
    assert value(m, "sutura_rejections_total", reason="invalid_json", field="$") == 1
    decisions = engine.decisions(limit=100)
    for action in {d.action.value for d in decisions}:
        assert value(m, "sutura_decisions_total", action=action) == sum(d.action.value == action for d in decisions)
    assert value(m, "sutura_decisions_total", action="release") == 0
    open_circuits = engine.read(lambda conn: conn.exec_driver_sql("SELECT count(*) FROM circuit WHERE state <> 'closed'").scalar())
    assert value(m, "sutura_circuits_open") == open_circuits >= 1
    assert value(m, "sutura_quarantines_open") == 1
    route = "/api/v1/lineage"
    assert value(m, "sutura_requests_total", method="POST", route=route, status="201") == 1
    assert value(m, "sutura_requests_total", method="POST", route=route, status="400") == 2
    # The histogram is cumulative and its count is the number of ingest requests.
    count = value(m, "sutura_ingest_duration_seconds_count", route=route)
    assert count == 3 == value(m, "sutura_ingest_duration_seconds_bucket", route=route, le="+Inf")
    buckets = [v for (n, labels), v in m.items() if n == "sutura_ingest_duration_seconds_bucket" and ("route", route) in labels]
    assert len(buckets) == 14 and buckets == sorted(buckets) and buckets[-1] == count


def test_metrics_need_the_read_scope(engine: Engine) -> None:
    settings = engine.settings.replace(**{"server.tokens": {"r": ["read"], "i": ["ingest"]}})
    with TestClient(create_app(engine, settings)) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer i"}).status_code == 403
        assert c.get("/metrics", headers={"Authorization": "Bearer r"}).status_code == 200
        m = parse(c.get("/metrics", headers={"Authorization": "Bearer r"}).text)
    assert value(m, "sutura_rejections_total", reason="unauthorized", field="") == 1
    assert value(m, "sutura_rejections_total", reason="forbidden", field="") == 1


def test_counts_from_several_processes_are_summed(tmp_path: Path) -> None:
    """Two Metrics in one directory stand for two workers: a scrape of either sums both."""
    a, b = Metrics(tmp_path), Metrics(tmp_path)
    a.inc("sutura_events_ingested_total", 5)
    b.inc("sutura_events_ingested_total", 7)
    b.observe("sutura_ingest_duration_seconds", 0.003, route="/api/v1/lineage")
    # Both write <pid>.json; in one process the second overwrites the first, so give b its own file.
    b_file = tmp_path / "other-worker.json"
    b.flush()
    (tmp_path / f"{os.getpid()}.json").rename(b_file)
    store = {"decisions": {}, "circuits_open": 0, "quarantines_open": 0}
    m = parse(render(a, store))
    assert value(m, "sutura_events_ingested_total") == 12
    assert value(m, "sutura_ingest_duration_seconds_bucket", route="/api/v1/lineage", le="0.0025") == 0
    assert value(m, "sutura_ingest_duration_seconds_bucket", route="/api/v1/lineage", le="0.005") == 1
    assert field_label("inputs[12].facets.schema.fields[3].name") == "inputs[].facets.schema.fields[].name"


@pytest.mark.xdist_group("serve")
def test_two_workers_answer_for_each_other(tmp_path: Path) -> None:
    """A real ``sutura serve --workers 2``: whichever worker is scraped reports every worker's counts."""
    metrics_dir = tmp_path / "metrics"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUTURA")}
    env.update(SUTURA_DB_URL=f"sqlite:///{tmp_path / 's.db'}", SUTURA__SERVER__METRICS_DIR=str(metrics_dir))
    proc = subprocess.Popen([str(Path(sys.executable).parent / "sutura"), "serve", "--port", str(port), "--workers", "2"],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url, proc)
        n = 40
        for i in range(n):  # a new connection per request, so the kernel spreads them over both workers
            assert httpx.post(f"{url}/api/v1/lineage", json=run_event("START", ("etl", f"j{i}")), timeout=30).status_code == 201
        deadline = time.monotonic() + 30
        while len(list(metrics_dir.glob("*.json"))) < 2 and time.monotonic() < deadline:
            httpx.post(f"{url}/api/v1/lineage", json=run_event("START", ("etl", "extra")), timeout=30)
            n += 1
        assert len(list(metrics_dir.glob("*.json"))) == 2, "both workers served requests"
        time.sleep(1.5)  # every worker flushes within half a second
        seen = set()
        for _ in range(6):
            m = parse(httpx.get(f"{url}/metrics", timeout=30).text)
            seen.add(value(m, "sutura_events_ingested_total"))
        assert seen == {n}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "sutura serve exited"
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("sutura serve did not start")
