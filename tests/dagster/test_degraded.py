"""Sutura unreachable, hung or talking nonsense: assets behave as plain Dagster assets, with one warning."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

dagster = pytest.importorskip("dagster")

import pandas as pd  # noqa: E402
from dagster import (  # noqa: E402
    AssetSpec,
    DagsterInstance,
    Definitions,
    FilesystemIOManager,
    RetryPolicy,
    asset,
    build_sensor_context,
    materialize,
)

from sutura_dagster import SuturaIOManager, heal, not_null, sutura_asset, sutura_change_sensor  # noqa: E402
from sutura_dagster.resource import reset_state  # noqa: E402


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def remote(monkeypatch, tmp_path):
    """Point SUTURA_URL somewhere; returns a setter. No embedded store may be touched."""
    for name in ("SUTURA_DISABLED", "SUTURA_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUTURA_DB_URL", f"sqlite:///{tmp_path / 'never.db'}")
    monkeypatch.setenv("SUTURA__TIMEOUT", "0.5")
    reset_state()

    def point(url: str) -> None:
        monkeypatch.setenv("SUTURA_URL", url)

    yield point
    reset_state()
    assert not (tmp_path / "never.db").exists()


@pytest.fixture
def garbage_server():
    class Garbage(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = b"<html>definitely not JSON</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer  # noqa: N815

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def hanging_server():
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


def _sutura_warnings(instance, run_id: str) -> list[str]:
    return [
        e.user_message for e in instance.all_logs(run_id)
        if e.level >= 30 and "Sutura engine at" in (e.user_message or "")
    ]  # fmt: skip


def _attempts(result, step_key: str) -> int:
    return sum(1 for e in result.all_events if e.step_key == step_key and e.event_type_value in ("STEP_START", "STEP_RESTARTED"))


def _assets():
    calls = {"flaky": 0, "broken": 0}

    @sutura_asset(retry_policy=RetryPolicy(max_retries=1))
    def flaky() -> int:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise TimeoutError("read timed out")
        return 1

    @asset(retry_policy=RetryPolicy(max_retries=2))
    @heal
    def broken() -> int:
        calls["broken"] += 1
        return 1 // 0

    return calls, [flaky, broken]


@pytest.mark.parametrize("kind", ["closed_port", "garbage", "hanging"])
def test_unreachable_engine_means_plain_retry_policy_and_one_warning(kind, remote, request):
    url = {
        "closed_port": lambda: f"http://127.0.0.1:{_closed_port()}",
        "garbage": lambda: request.getfixturevalue("garbage_server"),
        "hanging": lambda: request.getfixturevalue("hanging_server"),
    }[kind]()
    remote(url)
    calls, assets = _assets()
    instance = DagsterInstance.ephemeral()

    started = time.monotonic()
    result = materialize(assets, instance=instance, raise_on_error=False)
    elapsed = time.monotonic() - started

    # plain Dagster: the transient error is retried by the RetryPolicy, the deterministic one too
    assert calls == {"flaky": 2, "broken": 3}
    assert _attempts(result, "flaky") == 2 and _attempts(result, "broken") == 3
    assert result.output_for_node("flaky") == 1
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "ZeroDivisionError" in failure.event_specific_data.error.to_string()
    assert "Sutura:" not in failure.event_specific_data.error.to_string()
    warnings = _sutura_warnings(instance, result.run_id)
    assert len(warnings) == 1, warnings
    assert "falling back to plain Dagster behaviour" in warnings[0]
    assert elapsed < 30, "a hung engine is waited on once (timeout), then skipped"


def test_quarantine_checks_still_block_and_io_manager_serves_latest(remote, tmp_path):
    remote(f"http://127.0.0.1:{_closed_port()}")
    frames = iter([pd.DataFrame({"id": [1]}), pd.DataFrame({"id": [None]})])

    @sutura_asset(checks=[not_null("id")])
    def orders() -> pd.DataFrame:
        return next(frames)

    @asset
    def count(orders: pd.DataFrame) -> int:
        return len(orders)

    io = SuturaIOManager(io_manager=FilesystemIOManager(base_dir=str(tmp_path / "store")))
    instance = DagsterInstance.ephemeral()
    assert materialize([orders, count], instance=instance, resources={"io_manager": io}).success
    bad = materialize([orders, count], instance=instance, resources={"io_manager": io}, raise_on_error=False)
    checks = {
        e.event_specific_data.check_name: e.event_specific_data
        for e in bad.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }  # fmt: skip
    assert not checks["not_null_id"].passed  # Dagster's blocking check still stops downstream
    assert checks["sutura_publish"].passed and "unavailable" in checks["sutura_publish"].description
    assert not any(e.step_key == "count" and e.event_type_value == "STEP_START" for e in bad.all_events)
    # with no engine to say what was published, the wrapped IO manager's latest value is read
    later = materialize([orders, count], selection=["count"], instance=instance, resources={"io_manager": io})
    assert later.output_for_node("count") == 1


def test_change_sensor_skips_and_keeps_its_cursor(remote):
    remote(f"http://127.0.0.1:{_closed_port()}")
    sensor = sutura_change_sensor()
    defs = Definitions(assets=[AssetSpec("orders")], sensors=[sensor])
    context = build_sensor_context(instance=DagsterInstance.ephemeral(), cursor="41", definitions=defs)
    result = sensor.evaluate_tick(context)
    assert result.run_requests == [] and result.cursor == "41"
    assert "unavailable" in result.skip_message


def test_disabled_means_no_engine_at_all(monkeypatch, tmp_path):
    db = tmp_path / "sutura.db"
    monkeypatch.setenv("SUTURA_DB_URL", f"sqlite:///{db}")
    monkeypatch.delenv("SUTURA_URL", raising=False)
    monkeypatch.setenv("SUTURA_DISABLED", "true")
    reset_state()
    calls, assets = _assets()
    try:
        result = materialize(assets, instance=DagsterInstance.ephemeral(), raise_on_error=False)
    finally:
        reset_state()
    assert calls == {"flaky": 2, "broken": 3}
    assert result.output_for_node("flaky") == 1
    assert not db.exists()
