"""Write-audit-publish with real Dagster runs: blocking checks quarantine, the IO manager serves the last good version."""

from __future__ import annotations

import pytest

dagster = pytest.importorskip("dagster")

import pandas as pd  # noqa: E402
import sutura  # noqa: E402
from dagster import AssetKey, DagsterInstance, FilesystemIOManager, asset, materialize  # noqa: E402

from sutura_dagster import (  # noqa: E402
    SuturaIOManager,
    accepted_values,
    content_fingerprint,
    custom_check,
    gx_suite,
    not_null,
    release,
    row_count_between,
    sutura_asset,
    unique,
)
from sutura_dagster.io_manager import VERSIONS_PREFIX  # noqa: E402

GOOD = pd.DataFrame({"id": [1, 2, 3], "status": ["paid", "paid", "refunded"], "amount": [1.0, 2.0, 3.0]})
BAD = pd.DataFrame({"id": [1, 1, None], "status": ["paid", "lost", "paid"], "amount": [10.0, 20.0, 30.0]})




@pytest.fixture
def warehouse(tmp_path):
    """Two assets: ``orders`` (checked) and ``total`` downstream of it, and a SuturaIOManager."""
    data = {"df": GOOD}

    @sutura_asset(checks=[not_null("id"), unique("id"), accepted_values("status", ["paid", "refunded"])])
    def orders() -> pd.DataFrame:
        return data["df"]

    @sutura_asset
    def total(orders: pd.DataFrame) -> float:
        return float(orders["amount"].sum())

    io = SuturaIOManager(io_manager=FilesystemIOManager(base_dir=str(tmp_path / "store")))
    return data, orders, total, {"io_manager": io}, tmp_path / "store"


def _events(result, kind: str, step_key: str | None = None):
    return [e for e in result.all_events if e.event_type_value == kind and (step_key is None or e.step_key == step_key)]


def test_failed_check_quarantines_and_downstream_reads_last_good(engine, warehouse):
    data, orders, total, resources, store = warehouse
    instance = DagsterInstance.ephemeral()

    first = materialize([orders, total], instance=instance, resources=resources)
    assert first.success and first.output_for_node("total") == 6.0
    [published] = engine.decisions(action="publish", subject=None)[-1:]
    assert published.subject.startswith("version:dagster://local:orders@")
    assert published.outcome == "published"  # deferred, then reported once the IO manager stored it

    data["df"] = BAD
    second = materialize([orders, total], instance=instance, resources=resources, raise_on_error=False)
    assert not second.success
    checks = {e.event_specific_data.check_name: e.event_specific_data for e in _events(second, "ASSET_CHECK_EVALUATION")}
    assert {n: c.passed for n, c in checks.items()} == {
        "not_null_id": False, "unique_id": False, "accepted_values_status": False, "sutura_publish": False,
    }  # fmt: skip
    assert not _events(second, "STEP_START", "total"), "downstream must not run on a failed blocking check"
    assert not _events(second, "ASSET_MATERIALIZATION", "total")
    [quarantine] = engine.decisions(action="quarantine")
    assert "3 of 3 checks failed" in quarantine.reason
    assert checks["sutura_publish"].description == quarantine.reason
    # the bad version is kept (never deleted) under its fingerprint
    bad_fp = content_fingerprint(BAD)
    assert (store / VERSIONS_PREFIX / "orders" / bad_fp).exists()

    later = materialize([orders, total], selection=["total"], instance=instance, resources=resources)
    assert later.success and later.output_for_node("total") == 6.0, "must read the last published orders"
    [loaded] = [e for e in _events(later, "LOADED_INPUT", "total")]
    metadata = loaded.event_specific_data.metadata
    assert metadata["sutura/version"].value == content_fingerprint(GOOD)
    assert metadata["sutura/quarantined"].value == [quarantine.subject]
    assert metadata["sutura/stale_seconds"].value >= 0
    staleness = engine.last_published("dataset:dagster://local:orders")
    assert staleness.version.content_fingerprint == f"c:{content_fingerprint(GOOD)}"

    decision = release("orders", "duplicates confirmed by the vendor", by="tests")
    assert decision.action is sutura.Action.RELEASE
    released = materialize([orders, total], selection=["total"], instance=instance, resources=resources)
    assert released.output_for_node("total") == 60.0
    changes, _ = engine.changes(datasets=["dataset:dagster://local:orders"])
    assert [c.content_fingerprint for c in changes] == [f"c:{content_fingerprint(GOOD)}", f"c:{bad_fp}"]


def test_same_content_again_is_not_a_change(engine, warehouse):
    _, orders, total, resources, _ = warehouse
    instance = DagsterInstance.ephemeral()
    for _ in range(2):
        assert materialize([orders], instance=instance, resources=resources).success
    changes, _ = engine.changes()
    assert len(changes) == 1
    assert [d.action for d in engine.decisions(action="publish")] == [sutura.Action.PUBLISH] * 2


def test_a_value_the_io_manager_cannot_store_is_never_announced(engine, warehouse):
    """The engine decided PUBLISH, then storing the value fails (a directory is in the way of
    the IO manager's file): the version is failed_write, the last published stays, no change."""
    data, orders, total, resources, store = warehouse
    instance = DagsterInstance.ephemeral()
    assert materialize([orders], instance=instance, resources=resources).success
    _, cursor = engine.changes()
    data["df"] = GOOD.assign(amount=[4.0, 5.0, 6.0])
    (store / "orders").unlink()
    (store / "orders" / "in_the_way").mkdir(parents=True)
    assert not materialize([orders, total], instance=instance, resources=resources, raise_on_error=False).success
    failed, published = engine.decisions(action="publish")
    assert (failed.outcome, published.outcome) == ("failed_write", "published")
    dataset = "dataset:dagster://local:orders"
    assert engine.last_published(dataset).version.content_fingerprint == f"c:{content_fingerprint(GOOD)}"
    assert [v.status.value for v in engine.versions(dataset)] == ["failed_write", "published"]
    assert engine.changes(since=cursor) == ([], cursor)


def test_plain_asset_output_is_versioned_and_published(engine, tmp_path):
    @asset
    def numbers() -> list[int]:
        return [1, 2, 3]

    io = SuturaIOManager(io_manager=FilesystemIOManager(base_dir=str(tmp_path / "store")))
    result = materialize([numbers], instance=DagsterInstance.ephemeral(), resources={"io_manager": io})
    [materialization] = _events(result, "ASSET_MATERIALIZATION")
    fingerprint = materialization.event_specific_data.materialization.metadata["sutura/fingerprint"].value
    assert fingerprint == content_fingerprint([1, 2, 3])
    assert (tmp_path / "store" / VERSIONS_PREFIX / "numbers" / fingerprint).exists()
    [change], _ = engine.changes()
    assert change.dataset.id == "dataset:dagster://local:numbers" and change.content_fingerprint == f"c:{fingerprint}"


def test_custom_and_row_count_checks_block_too(engine, tmp_path):
    @sutura_asset(
        key_prefix=["raw"],
        checks=[
            row_count_between(min=5),
            custom_check(lambda df: ((df["amount"] >= 0).all(), "negative amounts"), name="amounts_not_negative"),
        ],
    )
    def payments() -> pd.DataFrame:
        return pd.DataFrame({"amount": [1.0, -2.0]})

    result = materialize([payments], instance=DagsterInstance.ephemeral(), raise_on_error=False)
    evaluations = {e.event_specific_data.check_name: e.event_specific_data for e in _events(result, "ASSET_CHECK_EVALUATION")}
    assert not evaluations["row_count_between"].passed
    assert "2 rows, expected [5, inf]" in evaluations["row_count_between"].description
    assert evaluations["amounts_not_negative"].description == "negative amounts"
    [decision] = engine.decisions(action="quarantine")
    assert decision.subject.startswith("version:dagster://local:raw/payments@")


def test_check_definitions_explain_mistakes():
    with pytest.raises(ValueError, match="needs name="):
        custom_check(lambda df: True)
    with pytest.raises(ValueError, match="min \\(5\\) is greater than max \\(1\\)"):
        row_count_between(min=5, max=1)
    outcome = not_null("missing").evaluate(GOOD)
    assert not outcome[0].success and "column 'missing' not found" in outcome[0].message


def test_great_expectations_suite_quarantines(engine):
    gx = pytest.importorskip("great_expectations")
    import great_expectations.expectations as gxe

    gx.get_context(mode="ephemeral")  # GX 1.x builds suites inside a context
    suite = gx.ExpectationSuite(name="orders_suite")
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="id"))
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=15))

    frames = iter([GOOD, BAD])

    @sutura_asset(checks=[gx_suite(suite)])
    def gx_orders() -> pd.DataFrame:
        return next(frames)

    instance = DagsterInstance.ephemeral()
    assert materialize([gx_orders], instance=instance).success
    failed = materialize([gx_orders], instance=instance, raise_on_error=False)
    assert not failed.success
    [evaluation] = [
        e.event_specific_data for e in _events(failed, "ASSET_CHECK_EVALUATION")
        if e.event_specific_data.check_name == "gx_orders_suite"
    ]
    assert not evaluation.passed
    [decision] = engine.decisions(action="quarantine")
    assert any("expect_column_values_to_not_be_null on id failed" in e for e in decision.evidence)
    assert any("expect_column_values_to_be_between on amount failed" in e for e in decision.evidence)
    assert engine.last_published("dataset:dagster://local:gx_orders").version.content_fingerprint == (
        f"c:{content_fingerprint(GOOD)}"
    )
    assert AssetKey("gx_orders") in {s.asset_key for s in gx_orders.check_specs}


def test_openlineage_events_of_the_same_runs_keep_the_decisions(engine, warehouse):
    """The OpenLineage sensor later reports these runs; their events land on the audited versions."""
    from dagster import Definitions, instance_for_test

    from sutura_dagster import read_openlineage_events

    data, orders, total, resources, _ = warehouse
    with instance_for_test() as instance:
        assert materialize([orders, total], instance=instance, resources=resources).success
        data["df"] = BAD
        assert not materialize([orders, total], instance=instance, resources=resources, raise_on_error=False).success
        repository = Definitions(assets=[orders, total]).get_repository_def()
        batch = read_openlineage_events(instance, None, repository_def=repository)
    assert batch.events
    engine.ingest(batch.events)

    versions = engine.versions("dataset:dagster://local:orders")
    assert sorted(v.status.value for v in versions) == ["published", "quarantined"]
    staleness = engine.last_published("dataset:dagster://local:orders")
    assert staleness.version.content_fingerprint == f"c:{content_fingerprint(GOOD)}"
    assert [v.content_fingerprint for v in staleness.quarantined] == [f"c:{content_fingerprint(BAD)}"]
