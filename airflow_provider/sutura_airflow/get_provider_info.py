"""Provider metadata for Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

__all__ = ["get_provider_info"]


def _option(description: str, kind: str, default: str | None, example: str | None = None) -> dict[str, Any]:
    return {"description": description, "type": kind, "default": default, "example": example, "version_added": None}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "sutura",
        "name": "Sutura",
        "description": "Self-healing retries, write-audit-publish quarantines and change-driven runs, decided by the Sutura engine from OpenLineage.",
        "versions": ["0.1.0"],
        "integrations": [{"integration-name": "Sutura", "external-doc-url": "https://github.com/sutura-data/sutura", "tags": ["software"]}],
        "operators": [
            {"integration-name": "Sutura", "python-modules": ["sutura_airflow.operators", "sutura_airflow.guard", "sutura_airflow.short_circuit"]}
        ],
        "sensors": [{"integration-name": "Sutura", "python-modules": ["sutura_airflow.sensors"]}],
        "triggers": [{"integration-name": "Sutura", "python-modules": ["sutura_airflow.triggers"]}],
        "hooks": [{"integration-name": "Sutura", "python-modules": ["sutura_airflow.hooks"]}],
        "connection-types": [{"hook-class-name": "sutura_airflow.hooks.SuturaHook", "connection-type": "sutura"}],
        "plugins": [{"name": "sutura", "plugin-class": "sutura_airflow.plugin.SuturaPlugin"}],
        "config": {
            "sutura": {
                "description": "Where Airflow's tasks reach the Sutura engine, and whether every task gets its retry policy.\n",
                "options": {
                    "url": _option("Base URL of a remote `sutura serve`. Empty: an embedded engine at db_url.\n", "string", "", "http://sutura.internal:5000"),
                    "db_url": _option("SQLAlchemy URL of the embedded engine's store (when url is empty).\n", "string", "", "sqlite:////var/lib/sutura/sutura.db"),
                    "token": _option("Bearer token sent to a remote engine.\n", "string", "", None) | {"sensitive": True},
                    "timeout": _option("Seconds a task waits for the engine before falling back to native behaviour.\n", "float", "5.0", "2.0"),
                    "cluster_policy": _option("Give every task SuturaRetryPolicy (tasks that set their own retry_policy keep it).\n", "boolean", "False", "True"),
                },
            }
        },
    }
