"""Shared Dagster fixtures: real assets materialized on a real instance, and a spec validator.

The instance is ``instance_for_test()``: a temporary DAGSTER_HOME with Dagster's default
SQLite storage, which shards step events per run (the case the OpenLineage cursor must
handle). Assets are materialized once per session; tests only read the event log.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from referencing import Registry, Resource

dagster = pytest.importorskip("dagster")

from dagster import (  # noqa: E402
    AssetCheckResult,
    AssetCheckSpec,
    Definitions,
    MaterializeResult,
    RetryPolicy,
    TableColumn,
    TableSchema,
    asset,
    asset_check,
    instance_for_test,
    materialize,
)

SPEC_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "spec"


# ---------------------------------------------------------------------- assets

_FLAKY_CALLS = {"n": 0}
_FLAKY_LOCK = threading.Lock()


@asset(
    key_prefix=["raw"],
    deps=["ext_customers"],
    metadata={"dagster/table_name": "raw.orders", "dagster/storage_kind": "duckdb"},
)
def orders(context) -> list[int]:
    """Three orders, with the row count and column schema Dagster's UI shows."""
    context.add_output_metadata(
        {
            "dagster/row_count": 3,
            "dagster/column_schema": TableSchema(
                columns=[
                    TableColumn("id", "BIGINT", description="order id"),
                    TableColumn("amount", "DOUBLE"),
                ]
            ),
        }
    )
    return [10, 20, 30]


@asset(retry_policy=RetryPolicy(max_retries=2))
def enriched(orders: list[int]) -> int:
    """Fails its first attempt with a dropped connection, then succeeds."""
    with _FLAKY_LOCK:
        _FLAKY_CALLS["n"] += 1
        first = _FLAKY_CALLS["n"] == 1
    if first:
        raise ConnectionError("server closed the connection unexpectedly")
    return sum(orders)


@asset_check(asset=orders, description="orders is never empty")
def orders_not_empty(orders: list[int]) -> AssetCheckResult:
    return AssetCheckResult(passed=len(orders) > 0, metadata={"rows": len(orders)})


@asset(check_specs=[AssetCheckSpec("total_below_limit", asset="summary")])
def summary(enriched: int) -> MaterializeResult:
    check = AssetCheckResult(
        check_name="total_below_limit", passed=enriched < 50, metadata={"total": enriched}
    )
    return MaterializeResult(metadata={"dagster/row_count": 1}, check_results=[check])


@asset(deps=[summary])
def broken() -> None:
    raise ValueError("column 'amount_usd' does not exist")


ALL_ASSETS = [orders, enriched, summary, broken]
DEFS = Definitions(assets=ALL_ASSETS, asset_checks=[orders_not_empty])


# ---------------------------------------------------------------------- runs


class Scenario:
    """A real instance after two runs: a healthy one (with a retry) and a failing one."""

    def __init__(self, instance, ok_run_id: str, failed_run_id: str) -> None:
        self.instance = instance
        self.ok_run_id = ok_run_id
        self.failed_run_id = failed_run_id
        self.repository_def = DEFS.get_repository_def()


@pytest.fixture(scope="session")
def scenario():
    with instance_for_test() as instance:
        ok = materialize(
            [orders, enriched, orders_not_empty, summary, broken],
            selection=["raw/orders", "enriched", "summary"],
            instance=instance,
        )
        failed = materialize(
            [orders, enriched, summary, broken],
            selection=["broken"],
            instance=instance,
            raise_on_error=False,
        )
        assert ok.success and not failed.success
        yield Scenario(instance, ok.run_id, failed.run_id)


@pytest.fixture(scope="session")
def lineage_defs() -> Definitions:
    return DEFS


@pytest.fixture(scope="session")
def orders_instance():
    """An instance of its own holding one healthy run of raw/orders: ``(instance, run id)``.

    Tests only read it (each sensor starts from an empty cursor), so they can share it.
    """
    with instance_for_test() as instance:
        result = materialize([orders], instance=instance)
        assert result.success
        yield instance, result.run_id


# ---------------------------------------------------------------------- spec validation


def _registry() -> Registry:
    resources = []
    for path in [SPEC_DIR / "OpenLineage.json", *sorted((SPEC_DIR / "facets").glob("*.json"))]:
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or str(uuid.UUID(value)) == value.lower()


@_FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


@_FORMATS.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(urlsplit(value).scheme)


class SpecValidator:
    """Validates a RunEvent against OpenLineage 2-0-2 and each facet against its own schema."""

    def __init__(self) -> None:
        self.registry = _registry()
        self.ids = {uri for uri in self.registry}

    def _validator(self, ref: str):
        return jsonschema.Draft202012Validator(
            {"$ref": ref}, registry=self.registry, format_checker=_FORMATS
        )

    def validate(self, event: dict[str, Any]) -> None:
        core = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
        assert event["schemaURL"] == f"{core}#/$defs/RunEvent"
        self._validator(event["schemaURL"]).validate(event)
        facets = [
            *event["run"].get("facets", {}).items(),
            *event["job"].get("facets", {}).items(),
        ]
        for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
            for group in ("facets", "inputFacets", "outputFacets"):
                facets.extend(dataset.get(group, {}).items())
        for name, value in facets:
            document = value["_schemaURL"].split("#")[0]
            assert document in self.ids, f"facet {name!r} has no local schema: {document}"
            self._validator(value["_schemaURL"]).validate(value)


@pytest.fixture(scope="session")
def spec() -> SpecValidator:
    return SpecValidator()


@pytest.fixture
def sutura_db(tmp_path, monkeypatch):
    """An empty embedded store that every Sutura part in the test finds through SUTURA_DB_URL."""
    from sutura_dagster.resource import reset_state

    url = f"sqlite:///{tmp_path / 'sutura.db'}"
    monkeypatch.setenv("SUTURA_DB_URL", url)
    for name in ("SUTURA_URL", "SUTURA_DISABLED", "SUTURA_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    reset_state()
    yield url
    reset_state()


@pytest.fixture
def engine(sutura_db):
    import sutura

    eng = sutura.Engine(db_url=sutura_db)
    yield eng
    eng.close()
