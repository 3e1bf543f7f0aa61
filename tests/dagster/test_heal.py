"""Healing with real Dagster runs: the engine decides, Dagster's own retry machinery acts.

Every test materializes real assets in process on an ephemeral instance, against an
embedded engine in a temporary SQLite file (``SUTURA_DB_URL``), with a short backoff so
retries happen in milliseconds.
"""

from __future__ import annotations

import pytest

dagster = pytest.importorskip("dagster")

import pandas as pd  # noqa: E402
import sutura  # noqa: E402
from dagster import AssetKey, DagsterInstance, RetryPolicy, asset, job, materialize, op  # noqa: E402

from sutura_dagster import SuturaResource, heal, not_null, sutura_asset  # noqa: E402
from sutura_dagster.identity import _step_uuid  # noqa: E402


@pytest.fixture
def sutura_db(sutura_db, monkeypatch):
    """The shared store, with retry delays short enough for tests."""
    monkeypatch.setenv("SUTURA__RETRY__BASE_DELAY", "0.05")
    monkeypatch.setenv("SUTURA__RETRY__MAX_DELAY", "0.2")
    return sutura_db


def _steps(result, step_key: str) -> list[str]:
    kinds = ("STEP_START", "STEP_RESTARTED", "STEP_UP_FOR_RETRY", "STEP_FAILURE", "STEP_SUCCESS")
    return [e.event_type_value for e in result.all_events if e.step_key == step_key and e.event_type_value in kinds]


def _failure(result, step_key: str):
    for event in result.all_events:
        if event.step_key == step_key and event.event_type_value == "STEP_FAILURE":
            return event.event_specific_data
    raise AssertionError(f"{step_key} did not fail")


def test_timeout_once_heals_on_retry(engine):
    calls = []

    @sutura_asset(retry_policy=RetryPolicy(max_retries=2))
    def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise TimeoutError("read timed out after 30s")
        return 42

    result = materialize([flaky], instance=DagsterInstance.ephemeral())

    assert result.success and result.output_for_node("flaky") == 42
    assert len(calls) == 2
    assert _steps(result, "flaky") == ["STEP_START", "STEP_UP_FOR_RETRY", "STEP_RESTARTED", "STEP_SUCCESS"]
    first_attempt = _step_uuid(result.run_id, "flaky", 1)
    [decision] = engine.decisions(subject=f"run:{first_attempt}")
    assert decision.action is sutura.Action.RETRY
    assert "TimeoutError" in decision.reason and "retry 2/3" in decision.reason
    # the decision is about the job the OpenLineage sensor names for this step
    assert engine.show("job:dagster:__ephemeral_asset_job__.flaky")["id"] == "job:dagster:__ephemeral_asset_job__.flaky"


def test_deterministic_error_is_attempted_once(engine):
    calls = []

    @sutura_asset(retry_policy=RetryPolicy(max_retries=3))
    def ratio() -> float:
        calls.append(1)
        return 1 / 0

    result = materialize([ratio], instance=DagsterInstance.ephemeral(), raise_on_error=False)

    assert not result.success
    assert len(calls) == 1, "a deterministic error must not be retried despite RetryPolicy(max_retries=3)"
    assert _steps(result, "ratio") == ["STEP_START", "STEP_FAILURE"]
    [decision] = engine.decisions(subject=f"run:{_step_uuid(result.run_id, 'ratio', 1)}")
    assert decision.action is sutura.Action.FAIL
    failure = _failure(result, "ratio")
    assert decision.reason in failure.user_failure_data.description
    assert failure.user_failure_data.metadata["sutura/decision"].value == "fail"
    assert "ZeroDivisionError" in failure.error.to_string()


def test_engine_stops_retrying_when_attempts_are_spent(engine):
    calls = []

    @asset(retry_policy=RetryPolicy(max_retries=1))
    @heal
    def always_times_out(context) -> int:
        calls.append(context.retry_number)
        raise ConnectionResetError("connection reset by peer")

    result = materialize([always_times_out], instance=DagsterInstance.ephemeral(), raise_on_error=False)

    assert calls == [0, 1]
    actions = [d.action for d in reversed(engine.decisions(action=None)) if d.policy == "sutura.retry"]
    assert actions == [sutura.Action.RETRY, sutura.Action.FAIL]
    assert "no attempts left (2/2)" in _failure(result, "always_times_out").user_failure_data.description


def test_heal_under_op_in_a_job(engine):
    calls = []

    @op(retry_policy=RetryPolicy(max_retries=1))
    @heal
    def load():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("server closed the connection unexpectedly")
        return 1

    @job
    def nightly():
        load()

    result = nightly.execute_in_process(instance=DagsterInstance.ephemeral())

    assert result.success and len(calls) == 2
    [decision] = engine.decisions(subject=f"run:{_step_uuid(result.run_id, 'load', 1)}")
    assert decision.action is sutura.Action.RETRY


def test_wait_when_input_is_quarantined_then_give_up(engine):
    rows = {"df": pd.DataFrame({"id": [None]})}

    @sutura_asset(checks=[not_null("id")])
    def orders() -> pd.DataFrame:
        return rows["df"]

    @sutura_asset(deps=[orders], max_waits=1)
    def report() -> None:
        raise ValueError("orders has no usable rows")

    instance = DagsterInstance.ephemeral()
    assert not materialize([orders], instance=instance, raise_on_error=False).success  # quarantined
    result = materialize([orders, report], selection=["report"], instance=instance, raise_on_error=False)

    assert _steps(result, "report") == [
        "STEP_START", "STEP_UP_FOR_RETRY", "STEP_RESTARTED", "STEP_FAILURE",
    ]  # fmt: skip
    waits = engine.decisions(action="wait")
    assert len(waits) == 2 and all("upstream" in d.reason for d in waits)
    assert waits[0].delay_seconds == pytest.approx(0.3)  # base_delay * 6
    assert "gave up after 1 retries (max_waits=1)" in _failure(result, "report").user_failure_data.description


def test_resource_in_definitions_is_used_without_requiring_it(engine, tmp_path):
    other = f"sqlite:///{tmp_path / 'other.db'}"

    @sutura_asset
    def bad() -> None:
        raise KeyError("amount_usd")

    assert "sutura" not in bad.required_resource_keys  # adding Sutura changes no signature
    result = materialize(
        [bad], instance=DagsterInstance.ephemeral(), resources={"sutura": SuturaResource(db_url=other)},
        raise_on_error=False,
    )
    assert not result.success
    assert engine.decisions() == []  # not the SUTURA_DB_URL engine...
    with sutura.Engine(db_url=other) as configured:  # ...the resource's
        assert [d.action for d in configured.decisions()] == [sutura.Action.FAIL]


def test_heal_rejects_definitions_with_a_message_that_says_what_to_do():
    @asset
    def plain() -> int:
        return 1

    with pytest.raises(TypeError, match="goes under @asset/@op"):
        heal(plain)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": "localhost:5000"}, "http\\(s\\) base URL"),
        ({"db_url": "sqlite:///relative/sutura.db"}, "use an absolute one"),
        ({"db_url": "not a url"}, "must be a SQLAlchemy URL"),
        ({"url": "http://x", "db_url": "sqlite:////tmp/x.db"}, "not both"),
        ({"timeout": 0}, "positive number of seconds"),
    ],
)
def test_resource_validation_says_what_to_fix(fields, message):
    with pytest.raises(Exception, match=message):
        SuturaResource(**fields)


def test_asset_key_and_checks_are_declared_like_dagster_does():
    @sutura_asset(key_prefix=["raw"], checks=[not_null("id")], group_name="landing")
    def customers() -> pd.DataFrame:
        return pd.DataFrame({"id": [1]})

    assert customers.key == AssetKey(["raw", "customers"])
    specs = {s.name: s for s in customers.check_specs}
    assert set(specs) == {"not_null_id", "sutura_publish"}
    assert all(s.blocking for s in specs.values())
