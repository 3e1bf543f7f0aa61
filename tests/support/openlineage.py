"""OpenLineage plumbing for producer tests: transport configs and reading captured events.

Captured events are JSON Lines (one event per line), optionally gzipped (``.jsonl.gz``),
exactly as openlineage-python's ``file`` transport writes them with ``append: true``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Iterable

import yaml

__all__ = [
    "FIXTURES",
    "composite_transport",
    "file_transport",
    "http_transport",
    "job_names",
    "read_events",
    "runs_of",
    "sutura_transport",
    "write_openlineage_yml",
]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "producers"


def composite_transport(*transports: dict[str, Any]) -> dict[str, Any]:
    """Send every event to each transport in turn (e.g. Sutura plus a file copy of what was sent)."""
    return {"type": "composite", "transports": list(transports), "continue_on_failure": True, "continue_on_success": True}


def file_transport(path: Path) -> dict[str, Any]:
    """Append every event as one JSON line to ``path``."""
    return {"type": "file", "log_file_path": str(path), "append": True}


def http_transport(url: str) -> dict[str, Any]:
    """POST every event to ``<url>/api/v1/lineage`` (the OpenLineage HTTP transport default)."""
    return {"type": "http", "url": url, "endpoint": "api/v1/lineage", "timeout": 10}


def sutura_transport(db_url: str) -> dict[str, Any]:
    """Write every event straight into an embedded Sutura store (no server)."""
    return {"type": "sutura.transport.SuturaTransport", "db_url": db_url}


def write_openlineage_yml(path: Path, transport: dict[str, Any]) -> Path:
    """An ``openlineage.yml`` (what ``OPENLINEAGE_CONFIG`` points at) holding one transport."""
    path.write_text(yaml.safe_dump({"transport": transport}, sort_keys=False))
    return path


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every event in a ``.jsonl``/``.jsonl.gz`` file, or in every such file of a directory."""
    path = Path(path)
    if path.is_dir():
        return [e for p in sorted(path.glob("*.jsonl*")) for e in read_events(p)]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def job_names(events: Iterable[dict[str, Any]]) -> set[str]:
    return {e["job"]["name"] for e in events}


def runs_of(events: Iterable[dict[str, Any]], job_name: str) -> dict[str, list[dict[str, Any]]]:
    """Events of one job grouped by runId, in emission order."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if event["job"]["name"] == job_name:
            runs.setdefault(event["run"]["runId"], []).append(event)
    return runs
