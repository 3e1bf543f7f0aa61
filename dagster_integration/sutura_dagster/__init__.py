"""Sutura for Dagster: assets that heal, quarantine bad data, and run when their inputs change.

    from dagster import Definitions, FilesystemIOManager, RetryPolicy
    from sutura_dagster import (
        SuturaIOManager, SuturaResource, not_null, openlineage_sensor, sutura_asset, sutura_change_sensor,
    )

    @sutura_asset(retry_policy=RetryPolicy(max_retries=3), checks=[not_null("id")])
    def orders(): ...

    defs = Definitions(
        assets=[orders],
        resources={
            "sutura": SuturaResource(),   # SUTURA_URL, else SUTURA_DB_URL
            "io_manager": SuturaIOManager(io_manager=FilesystemIOManager(base_dir="data")),
        },
        sensors=[openlineage_sensor(transport={"type": "sutura.transport.SuturaTransport"}),
                 sutura_change_sensor()],
    )

- healing: :func:`sutura_asset` (a drop-in for ``@asset``) and :func:`heal` (under an
  existing ``@asset``/``@op``): the engine's RETRY / FAIL / WAIT carried out with
  ``RetryRequested`` and ``Failure(allow_retries=False)``;
- quarantine: the checks in ``checks=[...]`` become blocking asset checks; a failing
  version is quarantined and :class:`SuturaIOManager` serves the last published one;
- change-driven runs: :func:`sutura_change_sensor` and the :func:`sutura_changed`
  automation condition;
- lineage: :func:`openlineage_sensor` sends Dagster's runs, steps, materializations and
  checks as OpenLineage events, named by :class:`SuturaDagsterTranslator`.

Sutura never fails a run because it is down: everything then behaves as plain Dagster.
"""

from sutura_dagster.automation import SuturaChangedCondition, sutura_changed
from sutura_dagster.checks import (
    Check,
    CheckOutcome,
    accepted_values,
    custom_check,
    gx_suite,
    not_null,
    row_count_between,
    unique,
)
from sutura_dagster.content import content_fingerprint
from sutura_dagster.decorators import sutura_asset
from sutura_dagster.heal import heal
from sutura_dagster.io_manager import SuturaIOManager
from sutura_dagster.openlineage import (
    OpenLineageBatch,
    openlineage_sensor,
    read_openlineage_events,
    to_openlineage_event,
)
from sutura_dagster.release import release
from sutura_dagster.resource import SuturaResource
from sutura_dagster.sensors import sutura_change_sensor
from sutura_dagster.translator import PRODUCER, SuturaDagsterTranslator

__all__ = [
    "PRODUCER",
    "Check",
    "CheckOutcome",
    "OpenLineageBatch",
    "SuturaChangedCondition",
    "SuturaDagsterTranslator",
    "SuturaIOManager",
    "SuturaResource",
    "accepted_values",
    "content_fingerprint",
    "custom_check",
    "gx_suite",
    "heal",
    "not_null",
    "openlineage_sensor",
    "read_openlineage_events",
    "release",
    "row_count_between",
    "sutura_asset",
    "sutura_change_sensor",
    "sutura_changed",
    "to_openlineage_event",
    "unique",
]
