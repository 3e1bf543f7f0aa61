"""Parse, validate and normalise OpenLineage events: the first step of every door in.

Accepted: RunEvent, DatasetEvent and JobEvent of every published spec version
(1-0-0 … 2-0-2), whatever their ``schemaURL`` says (``#/definitions/`` or ``#/$defs/``).
Validation checks the core envelope here; each facet translator checks the fields it
reads (``sutura.translate``), so a malformed facet is reported with its full path.

Real-world deviations, decided once (docs/adr/0002-spec-deviations.md):

- ``eventTime`` without a timezone is taken as UTC; fractional seconds beyond
  microseconds (nanoseconds) are truncated. An unparseable time is rejected.
- ``runId`` that is not a UUID is accepted as an opaque string (some producers send
  their own ids); an empty or non-string ``runId`` is rejected.
- a missing ``eventType`` is allowed by the spec and read as ``OTHER``; an eventType
  outside START/RUNNING/COMPLETE/ABORT/FAIL/OTHER is rejected.
- a date without a time (``2020-01-01``) is midnight UTC.
- a missing ``producer`` or ``schemaURL`` is accepted (recorded as empty).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime, timezone
from typing import Any, Mapping

import orjson

from sutura.errors import InvalidEvent
from sutura.ontology import RunState

__all__ = ["ParsedEvent", "canonical_json", "load_events", "parse_event", "parse_time"]

_EVENT_TYPES = {s.value for s in RunState}
_TIME_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)


@dataclass(frozen=True)
class ParsedEvent:
    """A validated event with its envelope normalised; ``raw`` is kept verbatim."""

    kind: str  # run | dataset | job
    raw: dict[str, Any]
    key: str  # sha256 of the canonical JSON: the idempotency key
    event_time: datetime
    event_type: RunState | None  # None for DatasetEvent / JobEvent
    run_id: str | None
    producer: str
    schema_url: str
    canonical: str = ""  # the canonical JSON the key hashes: stored as the raw payload

    @cached_property
    def time_key(self) -> str:
        """Fixed-width UTC time, so ordering keys compare as strings."""
        return self.event_time.strftime("%Y-%m-%dT%H:%M:%S.%f")


_ORJSON_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: the form event keys hash and the store keeps.

    orjson for speed; the standard library for what orjson refuses (integers beyond
    64 bits), so both give the same text for anything an event can hold.
    """
    try:
        return orjson.dumps(value, default=str, option=_ORJSON_OPTS).decode()
    except TypeError:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def parse_time(value: Any, field: str) -> datetime:
    """ISO-8601 to an aware UTC datetime (naive = UTC, nanoseconds truncated)."""
    if not isinstance(value, str):
        raise InvalidEvent(field, f"must be an ISO-8601 string, got {type(value).__name__}")
    match = _TIME_RE.match(value.strip())
    if not match:
        raise InvalidEvent(field, f"not an ISO-8601 timestamp: {value!r}")
    date, clock, frac, tz = match.groups()
    clock = clock or "00:00:00"
    if clock.count(":") == 1:
        clock += ":00"
    text = f"{date}T{clock}"
    if frac:
        text += "." + frac[:6].ljust(6, "0")
    if tz and tz not in ("Z", "z"):
        tz = tz if ":" in tz or len(tz) == 3 else f"{tz[:3]}:{tz[3:]}"
        text += tz if len(tz) > 3 else tz + ":00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidEvent(field, f"not a valid timestamp: {value!r} ({exc})") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _require_str(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if value is None:
        raise InvalidEvent(f"{path}{key}", "required")
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent(f"{path}{key}", f"must be a non-empty string, got {value!r}"[:200])
    return value


def _require_obj(obj: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        raise InvalidEvent(f"{path}{key}", "required")
    if not isinstance(value, dict):
        raise InvalidEvent(f"{path}{key}", f"must be an object, got {type(value).__name__}")
    return value


def _check_facets(container: Mapping[str, Any], path: str) -> None:
    facets = container.get("facets")
    if facets is not None and not isinstance(facets, dict):
        raise InvalidEvent(f"{path}facets", f"must be an object, got {type(facets).__name__}")
    if facets:
        for name, facet in facets.items():
            if facet is not None and not isinstance(facet, dict):
                raise InvalidEvent(f"{path}facets.{name}", f"must be an object, got {type(facet).__name__}")


def _check_datasets(event: Mapping[str, Any], key: str) -> None:
    datasets = event.get(key)
    if datasets is None:
        return
    if not isinstance(datasets, list):
        raise InvalidEvent(key, f"must be a list, got {type(datasets).__name__}")
    for i, ds in enumerate(datasets):
        path = f"{key}[{i}]."
        if not isinstance(ds, dict):
            raise InvalidEvent(f"{key}[{i}]", "must be an object")
        _require_str(ds, "namespace", path)
        _require_str(ds, "name", path)
        _check_facets(ds, path)
        for extra in ("inputFacets", "outputFacets"):
            if ds.get(extra) is not None:
                _check_facets({"facets": ds[extra]}, f"{path}{extra[:-6]}")


def _check_job(event: Mapping[str, Any]) -> None:
    job = _require_obj(event, "job", "")
    _require_str(job, "namespace", "job.")
    _require_str(job, "name", "job.")
    _check_facets(job, "job.")


def parse_event(raw: Any) -> ParsedEvent:
    """Validate one decoded event; raise InvalidEvent naming the first bad field."""
    if not isinstance(raw, dict):
        raise InvalidEvent("$", f"an event must be a JSON object, got {type(raw).__name__}")
    event_time = parse_time(raw.get("eventTime") if "eventTime" in raw else _missing("eventTime"), "eventTime")
    producer = raw.get("producer") or ""
    schema_url = raw.get("schemaURL") or ""
    if not isinstance(producer, str):
        raise InvalidEvent("producer", "must be a string (a URI)")
    if not isinstance(schema_url, str):
        raise InvalidEvent("schemaURL", "must be a string (a URI)")

    if "run" in raw or ("eventType" in raw and "job" not in raw and "dataset" not in raw):
        kind = "run"
        run = _require_obj(raw, "run", "")
        run_id = _require_str(run, "runId", "run.")
        _check_facets(run, "run.")
        _check_job(raw)
        event_type_raw = raw.get("eventType")
        if event_type_raw is None:
            event_type = RunState.OTHER
        elif not isinstance(event_type_raw, str) or event_type_raw.upper() not in _EVENT_TYPES:
            raise InvalidEvent("eventType", f"must be one of {sorted(_EVENT_TYPES)}, got {event_type_raw!r}")
        else:
            event_type = RunState(event_type_raw.upper())
        _check_datasets(raw, "inputs")
        _check_datasets(raw, "outputs")
    elif "dataset" in raw:
        kind, run_id, event_type = "dataset", None, None
        ds = _require_obj(raw, "dataset", "")
        _require_str(ds, "namespace", "dataset.")
        _require_str(ds, "name", "dataset.")
        _check_facets(ds, "dataset.")
    elif "job" in raw:
        kind, run_id, event_type = "job", None, None
        _check_job(raw)
        _check_datasets(raw, "inputs")
        _check_datasets(raw, "outputs")
    else:
        raise InvalidEvent("run", "required: an event needs run+job (RunEvent), dataset (DatasetEvent) or job (JobEvent)")

    canonical = canonical_json(raw)
    key = hashlib.sha256(canonical.encode()).hexdigest()
    return ParsedEvent(kind, raw, key, event_time, event_type, run_id, producer, schema_url, canonical)


def _missing(name: str) -> Any:
    raise InvalidEvent(name, "required")


def load_events(payload: str | bytes | Any) -> list[Any]:
    """Decode JSON, a JSON array or JSON Lines into a list of (unvalidated) events."""
    if not isinstance(payload, (str, bytes, bytearray)):
        if isinstance(payload, list):
            return payload
        return [payload]
    text = payload.decode("utf-8") if isinstance(payload, (bytes, bytearray)) else payload
    stripped = text.strip()
    if not stripped:
        raise InvalidEvent("$", "empty document")
    try:
        value = orjson.loads(stripped)
    except orjson.JSONDecodeError:  # JSON Lines, NaN, or invalid: the standard library says where
        value = _load_lines(stripped)
    if isinstance(value, list):
        return value
    return [value]


def _load_lines(text: str) -> Any:
    """One JSON document, else JSON Lines (a list of events); InvalidEvent names the line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as first:
        events = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as exc:
                where = "$" if lineno == 1 and "\n" not in text else f"line {lineno}"
                err = first if where == "$" else exc
                raise InvalidEvent(where, f"invalid JSON: {err.msg} at column {err.colno}") from None
        return events
