"""Sutura for Apache Airflow: self-healing retries, quarantines and change-driven runs.

    from sutura_airflow import SuturaRetryPolicy, SuturaWriteAuditPublishOperator, DatasetChangedTrigger

    @task(retries=3, retry_policy=SuturaRetryPolicy())
    def extract(): ...

Supported: Airflow 3.3+ (``retry_policy``); Airflow 2.x/3.0-3.2 through ``heal``. Names
are imported lazily so loading the plugin or the policy stays cheap for every task.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DatasetChangedSensor",
    "DatasetChangedTrigger",
    "SuturaChangedShortCircuitOperator",
    "SuturaContentDatasetFacet",
    "SuturaFileWriteAuditPublishOperator",
    "SuturaHook",
    "SuturaListener",
    "SuturaPlugin",
    "SuturaQuarantineGuardOperator",
    "SuturaRetryPolicy",
    "SuturaWriteAuditPublishOperator",
    "dataset_asset",
    "ensure_published",
    "file_write_audit_publish",
    "get_provider_info",
    "heal",
    "inputs_changed_since",
    "release_quarantine",
    "release_quarantined_file",
    "write_audit_publish",
]

_WHERE = {
    "DatasetChangedSensor": "sutura_airflow.sensors",
    "DatasetChangedTrigger": "sutura_airflow.triggers",
    "SuturaChangedShortCircuitOperator": "sutura_airflow.short_circuit",
    "SuturaContentDatasetFacet": "sutura_airflow.lineage",
    "SuturaFileWriteAuditPublishOperator": "sutura_airflow.operators",
    "SuturaHook": "sutura_airflow.hooks",
    "SuturaListener": "sutura_airflow.listener",
    "SuturaPlugin": "sutura_airflow.plugin",
    "SuturaQuarantineGuardOperator": "sutura_airflow.guard",
    "SuturaRetryPolicy": "sutura_airflow.retry",
    "SuturaWriteAuditPublishOperator": "sutura_airflow.operators",
    "dataset_asset": "sutura_airflow._identity",
    "ensure_published": "sutura_airflow.guard",
    "file_write_audit_publish": "sutura_airflow.decorators",
    "heal": "sutura_airflow.decorators",
    "inputs_changed_since": "sutura_airflow.short_circuit",
    "release_quarantine": "sutura_airflow.quarantine.wap",
    "release_quarantined_file": "sutura_airflow.quarantine.run",
    "write_audit_publish": "sutura_airflow.decorators",
}


# Bound eagerly: the submodule of the same name would otherwise shadow the function as soon
# as anything imports ``sutura_airflow.get_provider_info`` (Airflow's provider manager does).
from sutura_airflow.get_provider_info import get_provider_info  # noqa: E402


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'sutura_airflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
