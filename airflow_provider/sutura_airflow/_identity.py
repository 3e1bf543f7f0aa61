"""How Airflow objects map to Sutura's ontology: the same ids the OpenLineage provider emits.

A task is the Job ``<openlineage namespace>:<dag_id>.<task_id>``; one try of it is the Run
whose id the OpenLineage provider derives from (dag, task, try, logical date, map index), so
a decision, a check and the provider's events all land on the same node of the graph.
"""

from __future__ import annotations

import uuid
from typing import Any, Iterable

from sutura import Dataset, Job

__all__ = ["as_dataset", "as_datasets", "job_of", "namespace", "run_id_of", "run_id_for_try"]


def namespace() -> str:
    """The OpenLineage provider's job namespace (``[openlineage] namespace``, default ``default``)."""
    try:
        from airflow.providers.openlineage import conf

        return conf.namespace()
    except Exception:  # noqa: BLE001 - provider absent: the OpenLineage default
        return "default"


def job_of(dag_id: str, task_id: str) -> Job:
    return Job(namespace(), f"{dag_id}.{task_id}", type="TASK", integration="AIRFLOW")


def _logical_date(dag_run: Any) -> Any:
    return getattr(dag_run, "logical_date", None) or getattr(dag_run, "run_after", None)


def run_id_for_try(ti: Any, dag_run: Any, try_number: int) -> str:
    """The OpenLineage run id of try ``try_number`` of ``ti`` (the provider's own formula)."""
    date = _logical_date(dag_run)
    map_index = getattr(ti, "map_index", -1)
    if map_index is None:
        map_index = -1
    try:
        from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter

        return OpenLineageAdapter.build_task_instance_run_id(
            dag_id=ti.dag_id, task_id=ti.task_id, try_number=try_number, logical_date=date, map_index=map_index
        )
    except Exception:  # noqa: BLE001 - no provider: a stable id of our own
        key = f"{ti.dag_id}.{ti.task_id}.{getattr(ti, 'run_id', '')}.{try_number}.{map_index}"
        return str(uuid.uuid5(uuid.NAMESPACE_URL, key))


def run_id_of(context: Any) -> str | None:
    """The OpenLineage run id of the running try, from an Airflow task context."""
    if not context:
        return None
    ti = context.get("ti") or context.get("task_instance")
    if ti is None:
        return None
    return run_id_for_try(ti, context.get("dag_run"), int(getattr(ti, "try_number", 1) or 1))


def as_dataset(obj: Any) -> Dataset | None:
    """A Sutura Dataset from an inlet/outlet: sutura or OpenLineage Dataset, Airflow Asset, or node id."""
    if isinstance(obj, Dataset):
        return obj
    if isinstance(obj, str):
        if obj.startswith("dataset:"):
            ns, _, name = obj[len("dataset:") :].rpartition(":")
            return Dataset(ns, name) if ns and name else None
        return None
    ns, name = getattr(obj, "namespace", None), getattr(obj, "name", None)
    extra = getattr(obj, "extra", None)
    if isinstance(extra, dict) and isinstance(extra.get("sutura"), dict):
        ref = extra["sutura"]
        return Dataset(str(ref["namespace"]), str(ref["name"]))
    if isinstance(ns, str) and isinstance(name, str) and not hasattr(obj, "uri"):
        return Dataset(ns, name)  # an openlineage.client Dataset
    uri = getattr(obj, "uri", None)
    if isinstance(uri, str):
        try:
            from airflow.providers.openlineage.utils.utils import translate_airflow_asset

            converted = translate_airflow_asset(obj, None)
            if converted is not None:
                return Dataset(converted.namespace, converted.name)
        except Exception:  # noqa: BLE001 - fall through to the URI itself
            pass
        scheme, sep, rest = uri.partition("://")
        if sep:
            host, _, path = rest.partition("/")
            return Dataset(f"{scheme}://{host}", path or host)
        return Dataset("airflow", uri)
    return None


def as_datasets(objs: Iterable[Any] | None) -> tuple[Dataset, ...]:
    out = []
    for obj in objs or ():
        ds = as_dataset(obj)
        if ds is not None and ds not in out:
            out.append(ds)
    return tuple(out)


def dataset_asset(dataset: Dataset, *, name: str | None = None) -> Any:
    """An Airflow ``Asset`` for a Sutura Dataset (the Dataset rides in ``extra['sutura']``)."""
    from airflow.sdk import Asset

    return Asset(
        name=name or dataset.id,
        uri=f"sutura://{dataset.namespace.replace('://', '/')}/{dataset.name}",
        extra={"sutura": {"namespace": dataset.namespace, "name": dataset.name}},
    )
