"""The ``sutura`` command, run as a user runs it (a subprocess), and the config resolver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sutura import ConfigError, config
from tests.conftest import FIXTURES

APPLES = FIXTURES / "corpus/marquez/literal/api/src/test/resources/apples"
INVALID = FIXTURES / "corpus/OpenLineage/literal/proxy/fluentd/events/event_no_run_id.json"


def sutura(*args: str, db: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "SUTURA_DB_URL": db}
    env.pop("SUTURA_URL", None)
    result = subprocess.run([sys.executable, "-m", "sutura.cli", *args], capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.mark.xdist_group("cli")
def test_cli_ingest_lineage_runs_show(sqlite_url: str) -> None:
    out = sutura("ingest", str(APPLES), db=sqlite_url).stdout
    assert "total: 8 accepted, 0 already held, 0 file(s) rejected" in out
    again = json.loads(sutura("ingest", str(APPLES), "--json", db=sqlite_url).stdout)
    assert again == {"accepted": 0, "duplicates": 8, "rejected_files": 0}

    human = sutura("lineage", "dataset:grandmas.kitchen:apple.pie", "--direction", "upstream", "--depth", "2", db=sqlite_url).stdout
    assert "job     job:grandmas.kitchen:prepare_apple_pie  [COMPLETE]" in human
    graph = json.loads(sutura("lineage", "dataset:grandmas.kitchen:apple.pie", "--json", db=sqlite_url).stdout)
    assert "job:grandmas.kitchen:prepare_apple_pie" in {n["id"] for n in graph["graph"]}

    runs = json.loads(sutura("runs", "job:grandmas.kitchen:prepare_apple_pie", "--json", db=sqlite_url).stdout)
    assert len(runs) == 2 and {r["state"] for r in runs} == {"COMPLETE"}
    shown = json.loads(sutura("show", "dataset:grandmas.kitchen:apple.pie", "--json", db=sqlite_url).stdout)
    assert shown["producers"] == ["job:grandmas.kitchen:prepare_apple_pie"]
    assert "producers:" in sutura("show", "dataset:grandmas.kitchen:apple.pie", db=sqlite_url).stdout


@pytest.mark.xdist_group("cli")
def test_cli_rejects_bad_input_with_the_field_and_non_zero_exit(sqlite_url: str) -> None:
    bad = sutura("ingest", str(INVALID), db=sqlite_url, check=False)
    assert bad.returncode == 1 and "run.runId: required" in bad.stderr
    missing = sutura("lineage", "dataset:nope:nothing", db=sqlite_url, check=False)
    assert missing.returncode == 2 and "no dataset" in missing.stderr
    assert sutura("decisions", db=sqlite_url).stdout.strip() == "no decisions"


@pytest.mark.xdist_group("cli")
def test_cli_quarantine_release_explain_decisions(sqlite_url: str) -> None:
    from sutura import CheckResult, Dataset, Engine

    eng = Engine(db_url=sqlite_url)
    ds = Dataset("duckdb:///wh.duckdb", "wh.main.orders")
    q = eng.on_checks(ds, [CheckResult(ds, "not_null_id", False)], fingerprint="abc")
    eng.close()
    incidents = json.loads(sutura("incidents", "--json", db=sqlite_url).stdout)
    assert incidents[0]["state"] == "open"
    released = json.loads(sutura("release", q.subject, "--reason", "checked by hand", "--json", db=sqlite_url).stdout)
    assert released["action"] == "release"
    listed = json.loads(sutura("decisions", "--json", db=sqlite_url).stdout)
    assert [d["action"] for d in listed] == ["release", "quarantine"]
    assert "QUARANTINE" in sutura("decisions", db=sqlite_url).stdout
    changes = json.loads(sutura("changes", "--json", db=sqlite_url).stdout)
    assert changes["cursor"] == "1" and len(changes["changes"]) == 1
    explained = json.loads(sutura("explain", "dataset:duckdb:///wh.duckdb:wh.main.orders", "--json", db=sqlite_url).stdout)
    assert explained["chain"] == [] and explained["root_cause"] is None


def test_serve_refuses_public_bind_without_tokens(sqlite_url: str) -> None:
    result = sutura("serve", "--host", "0.0.0.0", db=sqlite_url, check=False)
    assert result.returncode == 2 and "refusing to bind 0.0.0.0 without auth tokens" in result.stderr


def test_config_precedence_arguments_file_env(tmp_path: Path) -> None:
    cfg = tmp_path / "sutura.yml"
    cfg.write_text("db_url: sqlite:///from-file.db\nretry:\n  max_delay: 42\n")
    env = {"SUTURA_CONFIG": str(cfg), "SUTURA__RETRY__MAX_DELAY": "7", "SUTURA__RETRY__BASE_DELAY": "2", "SUTURA_DB_URL": "sqlite:///env.db"}
    s = config.resolve(environ=env)
    assert s.db_url == "sqlite:///from-file.db"  # the file beats the environment
    assert s.get("retry.max_delay") == 42.0 and s.get("retry.base_delay") == 2.0
    assert config.resolve(environ=env, db_url="sqlite:///arg.db").db_url == "sqlite:///arg.db"
    assert config.resolve(environ={}).db_url == config.DEFAULT_DB_URL


@pytest.mark.parametrize(
    "env,message",
    [
        ({"SUTURA__RETRY__MAX_DELAYY": "1"}, "unknown setting 'retry.max_delayy'"),
        ({"SUTURA__RETRY__BUDGET": "many"}, "setting 'retry.budget' in environment variable SUTURA__RETRY__BUDGET must be int"),
        ({"SUTURA_CONFIG": "/nonexistent/sutura.yml"}, "does not exist"),
    ],
)
def test_config_errors_name_the_setting(env: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        config.resolve(environ=env)


def test_in_process_transport_feeds_the_engine(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport import get_default_factory

    import sutura.transport  # noqa: F401  (registers `type: sutura`)
    from sutura import Engine
    from tests.core.builders import run_lifecycle

    for kind in ("sutura", "sutura.transport.SuturaTransport"):
        transport = get_default_factory().create({"type": kind, "db_url": sqlite_url})
        client = OpenLineageClient(transport=transport)
        for ev in run_lifecycle(("etl", f"job_{len(kind)}")):
            client.transport.emit(ev)
    eng = Engine(db_url=sqlite_url)
    assert {r.state.value for r in eng.runs("job:etl:job_6")} == {"COMPLETE"}
    assert len(eng.runs(f"job:etl:job_{len('sutura.transport.SuturaTransport')}")) == 1
    # a broken store never raises into the producer
    broken = get_default_factory().create({"type": "sutura", "db_url": "sqlite:////nonexistent/dir/x.db"})
    broken.emit(run_lifecycle(("etl", "lost"))[0])


def test_transport_batch_stores_a_block_in_one_transaction(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from openlineage.client.transport import get_default_factory

    import sutura.transport  # noqa: F401
    from sutura import Engine, InvalidEvent
    from tests.core.builders import run_lifecycle

    transport = get_default_factory().create({"type": "sutura", "db_url": sqlite_url})
    engine = transport._get_engine()
    calls: list[int] = []
    ingest = engine.ingest
    monkeypatch.setattr(engine, "ingest", lambda events: calls.append(len(events)) or ingest(events))
    with transport.batch():
        for ev in run_lifecycle(("etl", "batched")):
            transport.emit(ev)
        assert calls == []  # nothing stored before the block ends
    assert calls == [2]  # both events, one call (one transaction)
    eng = Engine(db_url=sqlite_url)
    assert {r.state.value for r in eng.runs("job:etl:batched")} == {"COMPLETE"}

    good, bad = run_lifecycle(("etl", "one_bad"))[0], {"eventType": "START"}
    with transport.batch():  # lenient: the bad event is dropped, the good one kept
        transport.emit(bad)
        transport.emit(good)
    assert len(eng.runs("job:etl:one_bad")) == 1
    strict = get_default_factory().create({"type": "sutura", "db_url": sqlite_url, "strict": True})
    with pytest.raises(InvalidEvent), strict.batch():
        strict.emit(run_lifecycle(("etl", "all_or_nothing"))[0])
        strict.emit(bad)
    with pytest.raises(Exception, match="no job"):
        eng.runs("job:etl:all_or_nothing")


def test_strict_transport_raises_so_callers_can_resend(tmp_path: Path) -> None:
    from openlineage.client.transport import get_default_factory

    import sutura.transport  # noqa: F401
    from tests.core.builders import run_event

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    strict = get_default_factory().create({"type": "sutura", "db_url": f"sqlite:///{blocker}/x.db", "strict": True})
    from sutura import StoreError

    with pytest.raises(StoreError, match="cannot create the store's folder"):
        strict.emit(run_event("START", ("etl", "j")))
    lenient = get_default_factory().create({"type": "sutura", "db_url": f"sqlite:///{blocker}/x.db"})
    lenient.emit(run_event("START", ("etl", "j")))  # dropped with one warning, never raised
