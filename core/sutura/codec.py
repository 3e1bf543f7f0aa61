"""JSON <-> ontology objects, shared by the server and the remote client.

The wire format of a Decision is ``{"action", "delay_seconds", "reason", "diagnosis":
{"kind", "confidence", "evidence"}, "id", ...}``; a Failure is ``{"job": {"namespace",
"name"}, "run_id", "attempt", "max_attempts", "error": {"type", "module", "message",
"stack_trace"}, "inputs": [...]}``. Parsing names the field that is wrong.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sutura.api import Change, Explanation, RunRequest, Staleness
from sutura.errors import InvalidEvent
from sutura.ontology import (
    Action,
    CheckResult,
    Dataset,
    DatasetVersion,
    Decision,
    Diagnosis,
    ErrorInfo,
    Failure,
    FailureKind,
    Incident,
    IncidentState,
    Job,
    Run,
    RunState,
    VersionStatus,
)

__all__ = [
    "change_from_json",
    "checks_from_json",
    "decision_from_json",
    "decision_to_json",
    "explanation_from_json",
    "failure_from_json",
    "failure_to_json",
    "incident_from_json",
    "run_from_json",
    "run_request_from_json",
    "staleness_from_json",
    "version_from_json",
]


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidEvent(path, "must be an object")
    return value


def _str(obj: dict[str, Any], key: str, path: str, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise InvalidEvent(f"{path}{key}", "required")
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"{path}{key}", "must be a string")
    return value


def _int(obj: dict[str, Any], key: str, path: str, default: int) -> int:
    value = obj.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent(f"{path}{key}", "must be an integer")
    return value


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _dataset(value: Any, path: str) -> Dataset:
    d = _obj(value, path)
    return Dataset(_str(d, "namespace", f"{path}.") or "", _str(d, "name", f"{path}.") or "")


def failure_from_json(body: Any) -> Failure:
    b = _obj(body, "$")
    job = _obj(b.get("job"), "job") if b.get("job") is not None else _missing("job")
    err = _obj(b.get("error"), "error") if b.get("error") is not None else _missing("error")
    attempt = _int(b, "attempt", "", 1)
    max_attempts = _int(b, "max_attempts", "", attempt)
    if attempt < 1 or max_attempts < 1:
        raise InvalidEvent("attempt", "attempt and max_attempts must be >= 1")
    causes = tuple(
        ErrorInfo(type=_str(c, "type", f"error.causes[{i}].") or "", message=_str(c, "message", f"error.causes[{i}].", False) or "", module=_str(c, "module", f"error.causes[{i}].", False))
        for i, c in enumerate(_list(err.get("causes"), "error.causes"))
    )
    return Failure(
        job=Job(_str(job, "namespace", "job.") or "", _str(job, "name", "job.") or ""),
        error=ErrorInfo(
            type=_str(err, "type", "error.") or "",
            message=_str(err, "message", "error.", False) or "",
            module=_str(err, "module", "error.", False),
            stack_trace=_str(err, "stack_trace", "error.", False),
            causes=causes,
        ),
        run_id=_str(b, "run_id", "", False),
        attempt=attempt,
        max_attempts=max_attempts,
        inputs=tuple(_dataset(d, f"inputs[{i}]") for i, d in enumerate(_list(b.get("inputs"), "inputs"))),
        outputs=tuple(_dataset(d, f"outputs[{i}]") for i, d in enumerate(_list(b.get("outputs"), "outputs"))),
    )


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidEvent(path, "must be a list")
    return value


def _missing(name: str) -> Any:
    raise InvalidEvent(name, "required")


def failure_to_json(f: Failure) -> dict[str, Any]:
    return {
        "job": {"namespace": f.job.namespace, "name": f.job.name},
        "run_id": f.run_id,
        "attempt": f.attempt,
        "max_attempts": f.max_attempts,
        "error": {
            "type": f.error.type,
            "module": f.error.module,
            "message": f.error.message,
            "stack_trace": f.error.stack_trace,
            "causes": [{"type": c.type, "module": c.module, "message": c.message} for c in f.error.causes],
        },
        "inputs": [{"namespace": d.namespace, "name": d.name} for d in f.inputs],
        "outputs": [{"namespace": d.namespace, "name": d.name} for d in f.outputs],
    }


def checks_from_json(values: Any, dataset: Dataset) -> list[CheckResult]:
    out = []
    for i, c in enumerate(_list(values, "results")):
        path = f"results[{i}]."
        c = _obj(c, f"results[{i}]")
        if not isinstance(c.get("success"), bool):
            raise InvalidEvent(f"{path}success", "required, a boolean")
        out.append(
            CheckResult(
                dataset=dataset,
                assertion=_str(c, "assertion", path) or "",
                success=c["success"],
                field=_str(c, "field", path, False),
                run_id=_str(c, "run_id", path, False),
                source=_str(c, "source", path, False) or "sutura",
                observed=c.get("observed"),
                message=_str(c, "message", path, False),
            )
        )
    return out


def decision_to_json(d: Decision) -> dict[str, Any]:
    out = d.to_dict()
    if d.diagnosis is not None:
        out["diagnosis"] = {
            "kind": d.diagnosis.kind.value,
            "confidence": d.diagnosis.confidence,
            "evidence": list(d.diagnosis.evidence),
            "signature": d.diagnosis.signature,
            "source": d.diagnosis.source,
        }
    return out


def decision_from_json(d: dict[str, Any]) -> Decision:
    diag = d.get("diagnosis")
    return Decision(
        action=Action(d["action"]),
        subject=d["subject"],
        reason=d["reason"],
        evidence=tuple(d.get("evidence") or ()),
        policy=d.get("policy") or "",
        delay_seconds=d.get("delay_seconds"),
        diagnosis=Diagnosis(FailureKind(diag["kind"]), diag["confidence"], tuple(diag.get("evidence") or ()), diag.get("signature"), diag.get("source"))
        if diag
        else None,
        id=d.get("id"),
        outcome=d.get("outcome"),
        created_at=_dt(d.get("created_at")),
    )


def run_from_json(d: dict[str, Any]) -> Run:
    job = d["job"]
    return Run(
        run_id=d["runId"],
        job=Job(job["namespace"], job["name"], job.get("type"), job.get("integration")),
        state=RunState(d["state"]),
        attempt=d.get("attempt"),
        parent_run_id=d.get("parentRunId"),
        started_at=_dt(d.get("startedAt")),
        ended_at=_dt(d.get("endedAt")),
        nominal_start=_dt(d.get("nominalStartTime")),
        error_message=d.get("error"),
        facets=d.get("facets") or {},
    )


def version_from_json(d: dict[str, Any]) -> DatasetVersion:
    ds = d["dataset"]
    return DatasetVersion(
        dataset=Dataset(ds["namespace"], ds["name"]),
        fingerprint=d["fingerprint"],
        content_fingerprint=d["content_fingerprint"],
        status=VersionStatus(d["status"]),
        run_id=d.get("run_id"),
        created_at=_dt(d.get("created_at")),
        row_count=d.get("row_count"),
        schema_hash=d.get("schema_hash"),
    )


def change_from_json(d: dict[str, Any]) -> Change:
    ds = d["dataset"]
    return Change(
        dataset=Dataset(ds["namespace"], ds["name"]),
        version=d["version"],
        content_fingerprint=d["content_fingerprint"],
        previous=d.get("previous"),
        run_id=d.get("run_id"),
        published_at=_dt(d.get("published_at")),
        cursor=d["cursor"],
        kind=d.get("kind", "content"),
    )


def run_request_from_json(d: dict[str, Any]) -> RunRequest:
    return RunRequest(d["integration"], Job(d["job"]["namespace"], d["job"]["name"]), d["target"], tuple(d.get("reasons") or ()))


def staleness_from_json(d: dict[str, Any]) -> Staleness:
    ds = d["dataset"]
    return Staleness(
        dataset=Dataset(ds["namespace"], ds["name"]),
        version=version_from_json(d["version"]) if d.get("version") else None,
        published_at=_dt(d.get("published_at")),
        stale_seconds=d.get("stale_seconds"),
        quarantined=tuple(version_from_json(v) for v in d.get("quarantined") or ()),
    )


def explanation_from_json(d: dict[str, Any]) -> Explanation:
    return Explanation(node=d["node"], root_cause=d.get("root_cause"), chain=d.get("chain") or [], incident=d.get("incident"))


def incident_from_json(d: dict[str, Any]) -> Incident:
    return Incident(
        id=d["id"],
        state=IncidentState(d["state"]),
        root_cause=d["root_cause"],
        symptoms=tuple(d.get("symptoms") or ()),
        opened_at=_dt(d.get("opened_at")),
        resolved_at=_dt(d.get("resolved_at")),
        summary=d.get("summary", ""),
    )
