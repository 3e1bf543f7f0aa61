"""dbt test results as Sutura CheckResults, one ``engine.on_checks`` per tested dataset.

A data test is attached to the model (or seed, snapshot, source) it tests; its result is a
``CheckResult(source="dbt", assertion=<test name>, field=<column_name>)``. A test that
errored (its SQL failed) is no data check: it goes to healing instead. ``warn`` counts as
passing (dbt does not block on it either), with the warning in the message.

A ``write_audit_publish`` model that quarantined its own new data fails its node with a
message naming the failed audit checks (the package's contract, see the package README):
those become failing CheckResults of the model's dataset, fingerprinted on the quarantine
relation that holds the new data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from sutura.ontology import CheckResult, Dataset

__all__ = ["Audit", "collect_audits", "is_quarantine_message"]

_QUARANTINE = re.compile(r"Sutura quarantined (?P<uid>\S+?): (?P<failed>\d+) of (?P<total>\d+) audit checks failed")
_FAILED_CHECK = re.compile(r"^\s+- (?P<name>\S+) \((?P<failures>[^)]*) failing\)", re.M)
_HELD_IN = re.compile(r"The new data is held in (?P<relation>\S+?)(?: \(|;)")


@dataclass
class Audit:
    """The check results of one dataset in one invocation."""

    unique_id: str
    dataset: Dataset
    results: list[CheckResult]
    quarantine_relation: str | None = None  # a write_audit_publish model's held data


def is_quarantine_message(message: str | None) -> bool:
    return bool(message and _QUARANTINE.search(message))


def collect_audits(manifest: dict[str, Any], results: Iterable[dict[str, Any]], dataset_of: Any) -> list[Audit]:
    """Group the invocation's test results (and audit quarantines) by the dataset they test."""
    nodes = manifest.get("nodes", {})
    sources = manifest.get("sources", {})
    audits: dict[str, Audit] = {}

    def audit_for(uid: str) -> Audit | None:
        node = nodes.get(uid) or sources.get(uid)
        if node is None:
            return None
        if uid not in audits:
            audits[uid] = Audit(uid, dataset_of(node), [])
        return audits[uid]

    for result in results:
        uid = result["unique_id"]
        status = str(result.get("status"))
        message = result.get("message")
        if uid.startswith("test.") and status in ("pass", "fail", "warn"):
            test = nodes.get(uid, {})
            tested = test.get("attached_node") or _tested_parent(manifest, uid)
            audit = audit_for(tested) if tested else None
            if audit is None:
                continue
            failures = result.get("failures")
            text = f"dbt test {status}" + (f": {failures} failing rows" if failures else "")
            audit.results.append(
                CheckResult(
                    dataset=audit.dataset,
                    assertion=test.get("name", uid),
                    success=status in ("pass", "warn"),
                    field=_column(test),
                    source="dbt",
                    observed=failures,
                    message=text if not message or status == "pass" else f"{text}; {message}",
                )
            )
        elif status == "error" and is_quarantine_message(message):
            audit = audit_for(uid)
            if audit is None:
                continue
            held = _HELD_IN.search(message or "")
            audit.quarantine_relation = held.group("relation") if held else None
            tests = {n.get("name"): n for n in nodes.values() if n.get("attached_node") == uid}
            for match in _FAILED_CHECK.finditer(message or ""):
                name = match.group("name")
                audit.results.append(
                    CheckResult(
                        dataset=audit.dataset,
                        assertion=name,
                        success=False,
                        field=_column(tests.get(name, {})),
                        source="dbt",
                        observed=match.group("failures"),
                        message=f"write_audit_publish audit failed: {match.group('failures')} failing rows",
                    )
                )
    return [a for a in audits.values() if a.results]


def _tested_parent(manifest: dict[str, Any], test_uid: str) -> str | None:
    for parent in manifest.get("parent_map", {}).get(test_uid, []):
        if parent.split(".", 1)[0] in ("model", "seed", "snapshot", "source"):
            return parent
    return None


def _column(test: dict[str, Any]) -> str | None:
    kwargs = (test.get("test_metadata") or {}).get("kwargs") or {}
    return kwargs.get("column_name") or test.get("column_name")
