"""``--changed``: select exactly the nodes downstream of datasets whose content changed.

The engine's change feed (``engine.changes(since=cursor)``) lists published versions whose
content fingerprint differs from the previous one, whoever wrote them (an Airflow load, a
Dagster asset, another dbt project, or this project's seeds). A change maps to this
project through the same dataset names dbt-ol uses: a source by
``database.schema.identifier``, a seed or model by ``database.schema.alias``, in the
warehouse's namespace; consumers the engine knows from lineage but the manifest does not
declare (``engine.plan_runs``) are added by model name. Changes to this project's own
models are skipped: the build that wrote them already ran their downstream.

Sources nobody reports are observed: before deciding, the runner fingerprints each source
relation and publishes a ``DatasetEvent`` with that fingerprint as the dataset ``version``
(only for sources whose latest version in the engine was not written by a producer's run,
so two fingerprint algorithms never disagree about the same table). A rewrite with
identical content therefore changes nothing, unlike ``source_status:fresher+``.

Sources are observed with their columns, so a dropped or retyped column is a breaking
schema change for the engine, which holds the consumers (``held.py``).

The cursor lives in ``<target-path>/sutura_state.json``, keyed by engine, profile and
target, with the models still held; it advances only when a build succeeds (see ``advance``).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from sutura.api import Change
from sutura.ontology import Dataset

__all__ = ["ChangeSet", "CursorStore", "closure", "observe_sources", "select_changed"]

log = logging.getLogger("sutura_dbt")


class CursorStore:
    """The change-feed cursor of one (engine, profile, target), in a JSON file."""

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key

    def _all(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def get(self) -> str | None:
        return (self._all().get(self.key) or {}).get("cursor")

    def held(self) -> dict[str, Any]:
        """The models held by a breaking schema change and not built since (see ``held.py``)."""
        return (self._all().get(self.key) or {}).get("held") or {}

    def set(self, cursor: str | None, held: dict[str, Any] | None = None) -> None:
        """Store the cursor (None: keep it) and, unless None, the held models."""
        data = self._all()
        entry = data.get(self.key) or {}
        if cursor is not None:
            entry |= {"cursor": cursor, "updated_at": datetime.now(timezone.utc).isoformat()}
        if held is not None:
            entry["held"] = held
            if not held:
                del entry["held"]
        data[self.key] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(self.path)


class ChangeSet:
    """The changes since the cursor, mapped onto one project's manifest."""

    def __init__(self, changes: list[Change], cursor: str, manifest: dict[str, Any], dataset_of: Callable[[dict], Dataset]):
        self.cursor = cursor
        self.by_dataset: dict[tuple[str, str], str] = {}
        self.own: set[tuple[str, str]] = set()
        for uid, node in list(manifest.get("nodes", {}).items()) + list(manifest.get("sources", {}).items()):
            kind = node.get("resource_type")
            if kind not in ("model", "seed", "snapshot", "source"):
                continue
            ds = dataset_of(node)
            self.by_dataset[(ds.namespace, ds.name)] = uid
            if kind in ("model", "snapshot"):
                self.own.add((ds.namespace, ds.name))
        self.changes = [c for c in changes if (c.dataset.namespace, c.dataset.name) not in self.own]
        self.roots: dict[str, list[str]] = {}  # unique id -> changed dataset ids
        self.unmapped: list[Change] = []
        for change in self.changes:
            uid = self.by_dataset.get((change.dataset.namespace, change.dataset.name))
            if uid is None:
                self.unmapped.append(change)
            else:
                self.roots.setdefault(uid, []).append(change.dataset.id)

    def add_planned(self, manifest: dict[str, Any], planned: Sequence[tuple[str, str]]) -> None:
        """Consumers the engine planned, as (unique id, reason), not already downstream of a root."""
        covered = closure(manifest, self.roots)
        for uid, reason in planned:
            if uid not in covered:
                self.roots.setdefault(uid, []).append(reason)


def closure(manifest: dict[str, Any], roots: Any, blocked: set[str] | frozenset[str] = frozenset()) -> set[str]:
    """The roots and every node downstream of them, not walking into ``blocked`` nodes."""
    children = manifest.get("child_map", {})
    seen = set(roots)
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in seen and child not in blocked:
                seen.add(child)
                stack.append(child)
    return seen


def select_changed(manifest: dict[str, Any], roots: dict[str, list[str]]) -> list[str]:
    """``--select`` words: each changed source/seed/model and everything downstream of it."""
    words = []
    for uid in sorted(roots):
        node = manifest.get("sources", {}).get(uid) or manifest["nodes"][uid]
        if node["resource_type"] == "source":
            words.append(f"source:{node['package_name']}.{node['source_name']}.{node['name']}+")
        elif node["resource_type"] == "seed":
            words.append(f"fqn:{'.'.join(node['fqn'])}+")
        else:
            # a model the engine planned (it reads a changed dataset the manifest does not declare)
            words.append(f"fqn:{'.'.join(node['fqn'])}+")
    return words


def observe_sources(
    engine: Any,
    manifest: dict[str, Any],
    dataset_of: Callable[[dict], Dataset],
    fingerprint: Callable[[str], tuple[str, int] | None],
    producer: str,
    columns: Callable[[str], list[tuple[str, str]]] | None = None,
) -> dict[str, tuple[str, int]]:
    """Fingerprint every source and publish the ones no producer reports, with their
    ``columns`` (name, type) as the schema; returns what was seen."""
    from sutura.errors import NotFound

    seen: dict[str, tuple[str, int]] = {}
    events = []
    now = datetime.now(timezone.utc).isoformat()
    for uid, node in sorted(manifest.get("sources", {}).items()):
        if not node.get("relation_name"):
            continue
        ds = dataset_of(node)
        try:
            latest = engine.versions(ds.id, limit=1)
        except NotFound:
            latest = []
        if latest and latest[0].run_id is not None:
            continue  # a producer (Airflow, Dagster, dbt) reports this dataset with its own fingerprints
        found = fingerprint(node["relation_name"])
        if found is None:
            continue
        seen[uid] = found
        if latest and latest[0].content_fingerprint == f"v:{found[0]}":
            continue  # the same content as last observed: nothing to tell
        facets: dict[str, Any] = {
            "version": {
                "_producer": producer,
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json",
                "datasetVersion": found[0],
            },
            "suturaContent": {
                "_producer": producer,
                "_schemaURL": "https://sutura.dev/spec/facets/SuturaContentDatasetFacet.json",
                "fingerprint": found[0],
                "rowCount": found[1],
            },
        }
        fields = columns(node["relation_name"]) if columns is not None else []
        if fields:  # the engine compares it with the previous version's: a dropped or retyped column is a breaking change
            facets["schema"] = {
                "_producer": producer,
                "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
                "fields": [{"name": name, "type": kind} for name, kind in fields],
            }
        events.append(
            {
                "eventTime": now,
                "producer": producer,
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/DatasetEvent",
                "dataset": {"namespace": ds.namespace, "name": ds.name, "facets": facets},
            }
        )
    if events:
        engine.ingest(events)
    return seen

