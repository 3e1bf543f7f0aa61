"""What a running Dagster step is called in Sutura: its Job, its OpenLineage runId, its datasets.

Everything goes through :class:`SuturaDagsterTranslator`, the same one the OpenLineage
sensor uses, so a decision the healing decorator asks for lands on the very job and run
the sensor later reports, and a checked value's version is the one its COMPLETE event
names.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sutura import Dataset, Job

from sutura_dagster.translator import SuturaDagsterTranslator

__all__ = ["StepIdentity", "asset_dataset", "step_identity"]

try:  # the OpenLineage reader's runIds, so decisions attach to the runs it reports
    from sutura_dagster.openlineage import _step_uuid
except ImportError:  # pragma: no cover - kept in step with sutura_dagster.openlineage
    _NS = uuid.UUID("6f1d3c2a-5b8e-4c1f-9a0d-2e7b4c6d8f10")

    def _step_uuid(dagster_run_id: str, step_key: str, attempt: int) -> str:
        return str(uuid.uuid5(_NS, f"{dagster_run_id}/{step_key}/{attempt}"))


_DEFAULT_TRANSLATOR = SuturaDagsterTranslator()


class StepIdentity:
    """The Sutura names of one attempt of one step."""

    def __init__(self, context: Any, translator: SuturaDagsterTranslator | None = None) -> None:
        self.context = context
        self.translator = translator or _DEFAULT_TRANSLATOR
        step = context.get_step_execution_context()
        self.step_key: str = step.step.key
        self.dagster_run_id: str = context.run_id
        self.attempt: int = context.retry_number + 1
        self.run = context.run

    @property
    def job(self) -> Job:
        return Job(
            self.translator.get_job_namespace(self.run),
            self.translator.get_job_name(self.run, self.step_key),
            type="ASSET",
            integration="DAGSTER",
        )

    @property
    def run_id(self) -> str:
        """The OpenLineage runId of this attempt (what the OpenLineage sensor reports)."""
        return _step_uuid(self.dagster_run_id, self.step_key, self.attempt)

    def asset_keys(self) -> list[Any]:
        assets_def = _safe(lambda: self.context.assets_def)
        return sorted(assets_def.keys, key=lambda k: k.path) if assets_def is not None else []

    def outputs(self) -> tuple[Dataset, ...]:
        return tuple(self.dataset(k) for k in self.asset_keys())

    def inputs(self) -> tuple[Dataset, ...]:
        """The datasets of the upstream assets of every asset this step materializes."""
        assets_def = _safe(lambda: self.context.assets_def)
        if assets_def is None:
            return ()
        own = set(assets_def.keys)
        parents: dict[Any, None] = {}
        for deps in assets_def.asset_deps.values():
            for key in sorted(deps, key=lambda k: k.path):
                if key not in own:
                    parents[key] = None
        return tuple(self.dataset(k) for k in parents)

    def dataset(self, key: Any) -> Dataset:
        return asset_dataset(key, self.metadata(key), self.translator)

    def metadata(self, key: Any) -> Mapping[str, Any]:
        graph = _safe(lambda: self.context.job_def.asset_layer.asset_graph)
        node = _safe(lambda: graph.get(key)) if graph is not None else None
        return dict(node.metadata or {}) if node is not None else {}


def step_identity(context: Any, translator: SuturaDagsterTranslator | None = None) -> StepIdentity:
    return StepIdentity(context, translator)


def asset_dataset(
    key: Any, metadata: Mapping[str, Any] | None, translator: SuturaDagsterTranslator | None = None
) -> Dataset:
    """The Sutura dataset an asset key names (the translator's ``get_dataset``)."""
    namespace, name = (translator or _DEFAULT_TRANSLATOR).get_dataset(key, metadata or {})
    return Dataset(namespace, name)


def _safe(fn: Any) -> Any:
    try:
        return fn()
    except Exception:  # noqa: BLE001 - not every context is an asset context
        return None
