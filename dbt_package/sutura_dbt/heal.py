"""Which failed dbt nodes to run again, decided by the engine one node at a time.

Every node that errored (not a test that merely found failing rows, and not a
write-audit-publish quarantine) becomes a ``Failure`` of its OpenLineage job, with dbt's
message as the error. ``engine.on_failure`` answers RETRY (after ``delay_seconds``), WAIT
(an upstream is not ready: wait, try again without spending an attempt), FAIL or
ESCALATE. Only RETRY and WAIT nodes run again, together with the nodes dbt skipped
because of them (``dbt retry`` semantics restricted to the transient failures).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from sutura.ontology import Action, Decision, ErrorInfo, Failure, Job

from sutura_dbt.checks import is_quarantine_message

__all__ = ["HealPlan", "error_info", "plan_healing"]

_KINDS = {
    "runtime error": "DbtRuntimeError",
    "database error": "DbtDatabaseError",
    "compilation error": "CompilationError",
    "parsing error": "ParsingError",
    "dependency error": "DependencyError",
}


@dataclass
class HealPlan:
    retry: list[str] = field(default_factory=list)  # unique ids to run again
    wait: list[str] = field(default_factory=list)  # run again without spending an attempt
    delay: float = 0.0
    decisions: list[dict[str, Any]] = field(default_factory=list)


def error_info(message: str | None) -> ErrorInfo:
    """dbt reports errors as text; its first line names the kind ("Runtime Error in model x")."""
    text = (message or "").strip()
    first = text.splitlines()[0].lower() if text else ""
    kind = next((name for prefix, name in _KINDS.items() if first.startswith(prefix)), "DbtError")
    return ErrorInfo(type=kind, message=text[:8000], module="dbt")


def failed_nodes(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Results that are errors of execution (not failing tests, not audit quarantines)."""
    return [r for r in results if str(r.get("status")) in ("error", "runtime error") and not is_quarantine_message(r.get("message"))]


def plan_healing(
    failures: list[dict[str, Any]],
    *,
    job_of: Callable[[str], tuple[Job, str | None, tuple, tuple]],
    decide: Callable[[Failure], Decision | None],
    attempt: int,
    max_attempts: int,
) -> HealPlan:
    """Ask for a decision per failed node; ``decide`` returns None when the engine is unreachable."""
    plan = HealPlan()
    for result in failures:
        uid = result["unique_id"]
        job, run_id, inputs, outputs = job_of(uid)
        failure = Failure(
            job=job,
            error=error_info(result.get("message")),
            run_id=run_id,
            attempt=attempt,
            max_attempts=max_attempts,
            inputs=inputs,
            outputs=outputs,
        )
        decision = decide(failure)
        if decision is None:
            action, reason, delay, decision_id = Action.FAIL, "Sutura unavailable: dbt's own behaviour (no retry)", 0.0, None
        else:
            action, reason, delay, decision_id = decision.action, decision.reason, decision.delay_seconds or 0.0, decision.id
        if action is Action.RETRY and attempt < max_attempts:
            plan.retry.append(uid)
            plan.delay = max(plan.delay, delay)
        elif action is Action.WAIT:
            plan.wait.append(uid)
            plan.delay = max(plan.delay, delay)
        elif action is Action.RETRY:
            reason = f"{reason} (but attempt {attempt} of {max_attempts} was the last)"
        plan.decisions.append(
            {
                "node": uid,
                "job": job.id,
                "attempt": attempt,
                "action": action.value,
                "delay_seconds": delay,
                "reason": reason,
                "decision_id": decision_id,
                "error": _first_line(result.get("message")),
            }
        )
    return plan


def rerun_selection(manifest: dict[str, Any], results: list[dict[str, Any]], nodes: list[str]) -> list[str]:
    """The nodes to run again: ``nodes`` plus the nodes this invocation skipped downstream of them."""
    skipped = {r["unique_id"] for r in results if str(r.get("status")) == "skipped"}
    children = manifest.get("child_map", {})
    out = list(dict.fromkeys(nodes))
    stack = list(nodes)
    while stack:
        for child in children.get(stack.pop(), []):
            if child in skipped and child not in out:
                out.append(child)
                stack.append(child)
    return out


def selector(manifest: dict[str, Any], unique_ids: list[str]) -> list[str]:
    """``--select`` words naming exactly these nodes (tests and models by their fully qualified name)."""
    words = []
    for uid in unique_ids:
        node = manifest.get("nodes", {}).get(uid) or manifest.get("sources", {}).get(uid)
        if node is None:
            continue
        words.append("fqn:" + ".".join(node["fqn"]) if node.get("resource_type") != "test" else node["name"])
    return words


def _first_line(message: str | None) -> str:
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    return re.sub(r"\s+", " ", " ".join(lines[:2]))[:300]
