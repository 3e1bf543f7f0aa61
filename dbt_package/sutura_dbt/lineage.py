"""OpenLineage events for one dbt invocation, built from its artifacts as ``dbt-ol`` builds them.

openlineage-dbt's ``DbtLocalArtifactProcessor`` reads ``manifest.json`` and
``run_results.json`` and produces the events ``dbt-ol`` would emit, so dataset names are
the same (DuckDB: ``duckdb://<profile path>`` / ``<db>.<schema>.<table>``). On top of it:

- job names do not depend on the command: a model is ``<db>.<schema>.<package>.<model>``
  whether it ran in ``dbt run`` or ``dbt build`` (dbt-ol appends ``.build.run`` under
  ``build``), so a model's retry history and change plan are one job's;
- seeds get events too (dbt-ol's artifact mode skips them) and are inputs of the models
  that ``ref`` them, so a changed seed plans its consumers;
- a failed node's FAIL event carries dbt's message as an ``errorMessage`` run facet;
- each materialized output carries ``suturaContent: {"fingerprint", "rowCount"}`` when the
  warehouse can be fingerprinted (see ``fingerprint.py``).
"""

from __future__ import annotations

import datetime
import enum
import logging
import os
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from sutura.ontology import Dataset, Job

from sutura_dbt.project import Project

__all__ = ["Lineage", "NodeLineage", "build_lineage"]

log = logging.getLogger("sutura_dbt")

_SUFFIXES = (".build.run", ".build.snapshot", ".build.test")
CONTENT_FACET = "suturaContent"
FACET_SCHEMA = "https://sutura.dev/spec/facets/SuturaContentDatasetFacet.json"


@dataclass
class NodeLineage:
    """What the events say about one executed node."""

    unique_id: str
    job: Job
    run_id: str
    inputs: tuple[Dataset, ...] = ()
    output: Dataset | None = None
    fingerprint: tuple[str, int] | None = None


@dataclass
class Lineage:
    events: list[dict[str, Any]]
    nodes: dict[str, NodeLineage] = field(default_factory=dict)
    namespace: str = ""  # the warehouse's dataset namespace
    job_namespace: str = "dbt"

    def dataset_of(self, node: dict[str, Any]) -> Dataset:
        """The Dataset of a manifest node (model, seed, snapshot or source)."""
        table = node.get("alias") or node.get("identifier") or node["name"]
        name = ".".join(p for p in (node.get("database"), node.get("schema"), table) if p)
        return Dataset(self.namespace, name)


def job_namespace() -> str:
    return os.environ.get("OPENLINEAGE_NAMESPACE", "dbt")


def build_lineage(
    project: Project,
    manifest: dict[str, Any],
    run_results: dict[str, Any],
    *,
    parent_run_id: str,
    parent_job: str,
    fingerprint: Callable[[str], tuple[str, int] | None] | None = None,
) -> Lineage:
    """Every node event of one invocation (no wrapping run events: the runner adds those)."""
    from openlineage.common.provider.dbt.facets import ParentRunMetadata
    from openlineage.common.provider.dbt.local import DbtLocalArtifactProcessor
    from openlineage.common.provider.dbt.processor import UnsupportedDbtCommand
    from openlineage.common.provider.dbt.utils import PRODUCER

    namespace = job_namespace()
    processor = DbtLocalArtifactProcessor(
        producer=PRODUCER,
        job_namespace=namespace,
        project_dir=str(project.dir),
        profile_name=project.profile_name,
        target=project.target,
        target_path=str(project.target_path),
        skip_errors=True,
        logger=log,
    )
    processor.dbt_run_metadata = ParentRunMetadata(
        run_id=parent_run_id,
        job_name=parent_job,
        job_namespace=namespace,
        root_parent_run_id=parent_run_id,
        root_parent_job_name=parent_job,
        root_parent_job_namespace=namespace,
    )
    if fingerprint is not None and hasattr(fingerprint, "refresh"):
        fingerprint.refresh()
    try:
        events = [to_plain(e) for e in processor.parse().events()]
    except UnsupportedDbtCommand:
        events = []
    lineage = Lineage(events=[], namespace=processor.dataset_namespace, job_namespace=namespace)
    nodes = manifest.get("nodes", {})
    results = {r["unique_id"]: r for r in run_results.get("results", [])}
    if fingerprint is not None and hasattr(fingerprint, "many"):
        wanted = [
            (uid, nodes[uid]["relation_name"])
            for uid, r in results.items()
            if r.get("status") == "success" and uid in nodes and nodes[uid].get("relation_name")
            and (uid.startswith("seed.") or nodes[uid].get("config", {}).get("materialized") in _MATERIALIZED)
        ]
        fingerprint = _Prefetched(fingerprint.many(wanted), dict((rel, uid) for uid, rel in wanted), fingerprint)
    by_job: dict[str, str] = {}
    for uid, node in nodes.items():
        if node.get("resource_type") in ("model", "snapshot", "seed"):
            by_job[_job_name(lineage, node)] = uid

    for event in events:
        name = event["job"]["name"]
        for suffix in _SUFFIXES:
            if name.endswith(suffix):
                name = name[: -len(suffix)] + (".test" if suffix == ".build.test" else "")
        event["job"]["name"] = name
        uid = by_job.get(name)
        if uid is not None:
            _enrich(lineage, event, nodes[uid], manifest, results.get(uid, {}), fingerprint)
        lineage.events.append(event)

    template = next((e for e in events if e["job"]["name"] in by_job), None)
    for uid, result in results.items():
        if uid.startswith("seed.") and result["status"] != "skipped":
            lineage.events += _seed_events(lineage, nodes[uid], result, template, processor, fingerprint)
    return lineage


def to_plain(obj: Any) -> Any:
    """An openlineage-python event as the dict ``Serde.to_dict`` gives (nulls dropped, enums as
    values), in one pass: Serde's ``attr.asdict`` plus a second walk cost 6 ms an event."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    fields = getattr(type(obj), "__attrs_attrs__", None)
    if fields is not None:
        out = {}
        for f in fields:
            value = to_plain(getattr(obj, f.name))
            if value is not None:
                out[f.name] = value
        return out
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {k: v for k, v in ((k, to_plain(v)) for k, v in obj.items()) if v is not None}
    if isinstance(obj, (list, tuple)):
        items = (to_plain(v) for v in obj if v is not None)
        return [v for v in items if v is not None and v != {}]
    if isinstance(obj, (datetime.date, uuid.UUID)):
        return obj.isoformat() if isinstance(obj, datetime.date) else str(obj)
    return obj


class _Prefetched:
    """A fingerprint function answering from fingerprints computed in bulk."""

    def __init__(self, found: dict[str, tuple[str, int]], uid_of: dict[str, str], fallback: Callable[[str], Any]) -> None:
        self.found, self.uid_of, self.fallback = found, uid_of, fallback

    def __call__(self, relation: str) -> tuple[str, int] | None:
        uid = self.uid_of.get(relation)
        if uid is not None:
            return self.found.get(uid)
        return self.fallback(relation)


def _job_name(lineage: Lineage, node: dict[str, Any]) -> str:
    kind, rest = node["unique_id"].split(".", 1)
    name = ".".join(p for p in (node.get("database"), node.get("schema"), rest) if p)
    return name


def _enrich(
    lineage: Lineage,
    event: dict[str, Any],
    node: dict[str, Any],
    manifest: dict[str, Any],
    result: dict[str, Any],
    fingerprint: Callable[[str], tuple[str, int] | None] | None,
) -> None:
    uid = node["unique_id"]
    seen = {(i["namespace"], i["name"]) for i in event.get("inputs", [])}
    for parent in manifest.get("parent_map", {}).get(uid, []):
        if parent.startswith("seed."):
            ds = lineage.dataset_of(manifest["nodes"][parent])
            if (ds.namespace, ds.name) not in seen:
                event.setdefault("inputs", []).append({"namespace": ds.namespace, "name": ds.name, "facets": {}})
    state = event["eventType"]
    info = lineage.nodes.get(uid)
    if info is None:
        job_type = "SNAPSHOT" if uid.startswith("snapshot.") else "MODEL"
        info = NodeLineage(
            unique_id=uid,
            job=Job(event["job"]["namespace"], event["job"]["name"], job_type, "DBT"),
            run_id=event["run"]["runId"],
            inputs=tuple(Dataset(i["namespace"], i["name"]) for i in event.get("inputs", [])),
            output=lineage.dataset_of(node),
        )
        lineage.nodes[uid] = info
    if state == "FAIL" and result.get("message"):
        event["run"].setdefault("facets", {})["errorMessage"] = {
            "_producer": event["producer"],
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json",
            "message": str(result["message"])[:4000],
            "programmingLanguage": "SQL",
        }
    if state == "COMPLETE" and fingerprint is not None and node.get("config", {}).get("materialized") in _MATERIALIZED:
        if info.fingerprint is None and node.get("relation_name"):
            info.fingerprint = fingerprint(node["relation_name"])
        if info.fingerprint is not None:
            for output in event.get("outputs", []):
                output.setdefault("facets", {})[CONTENT_FACET] = content_facet(info.fingerprint, event["producer"])


_MATERIALIZED = {"table", "incremental", "snapshot", "write_audit_publish"}


def content_facet(found: tuple[str, int], producer: str) -> dict[str, Any]:
    return {"_producer": producer, "_schemaURL": FACET_SCHEMA, "fingerprint": found[0], "rowCount": found[1]}


def _seed_events(
    lineage: Lineage,
    node: dict[str, Any],
    result: dict[str, Any],
    template: dict[str, Any] | None,
    processor: Any,
    fingerprint: Callable[[str], tuple[str, int] | None] | None,
) -> list[dict[str, Any]]:
    """START + COMPLETE/FAIL for a seed load, shaped like the model events dbt-ol emits."""
    from openlineage.client.uuid import generate_new_uuid
    from openlineage.common.provider.dbt.utils import PRODUCER

    run_id = str(generate_new_uuid())
    uid = node["unique_id"]
    ds = lineage.dataset_of(node)
    job = {
        "namespace": lineage.job_namespace,
        "name": _job_name(lineage, node),
        "facets": {
            "jobType": {
                "_producer": PRODUCER,
                "_schemaURL": "https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json",
                "jobType": "SEED",
                "integration": "DBT",
                "processingType": "BATCH",
            }
        },
    }
    run_facets = dict((template or {}).get("run", {}).get("facets", {}))
    run_facets.pop("errorMessage", None)
    run_facets.pop("externalQuery", None)
    timing = {t["name"]: t for t in result.get("timing", [])}
    started = (timing.get("execute") or timing.get("compile") or {}).get("started_at") or processor.run_metadata.get("generated_at")
    completed = (timing.get("execute") or {}).get("completed_at") or started
    output: dict[str, Any] = {
        "namespace": ds.namespace,
        "name": ds.name,
        "facets": {"dataSource": {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasourceDatasetFacet.json", "name": ds.namespace, "uri": ds.namespace}},
    }
    ok = result["status"] == "success"
    info = NodeLineage(uid, Job(job["namespace"], job["name"], "SEED", "DBT"), run_id, (), ds)
    lineage.nodes[uid] = info
    if ok and fingerprint is not None and node.get("relation_name"):
        info.fingerprint = fingerprint(node["relation_name"])
        if info.fingerprint is not None:
            output["facets"][CONTENT_FACET] = content_facet(info.fingerprint, PRODUCER)
    start = {
        "eventType": "START",
        "eventTime": started,
        "run": {"runId": run_id, "facets": run_facets},
        "job": job,
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
        "inputs": [],
        "outputs": [output],
    }
    end = dict(start, eventType="COMPLETE" if ok else "FAIL", eventTime=completed, outputs=[output] if ok else [])
    if not ok and result.get("message"):
        end["run"] = {
            "runId": run_id,
            "facets": dict(run_facets, errorMessage={
                "_producer": PRODUCER,
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json",
                "message": str(result["message"])[:4000],
                "programmingLanguage": "SQL",
            }),
        }
    return [start, end]
