"""OpenLineage events from Dagster's event log, and a sensor that sends them.

Dagster has no maintained OpenLineage integration, so Sutura reads what Dagster already
records (run and step life cycles, asset materializations, asset check evaluations) and
writes it as spec-valid OpenLineage 2-0-2 RunEvents (plain dicts):

- one run-level job per Dagster run (``jobType`` JOB): START, then COMPLETE, FAIL or ABORT;
- one step-level job per step (``jobType`` ASSET, or STEP for an op), child of the run
  (``parent`` facet). Each attempt of a step is its own OpenLineage run: Dagster records
  a retry as STEP_UP_FOR_RETRY (the attempt failed: FAIL) then STEP_RESTARTED (the next
  attempt starts: START); the attempt number is in the ``dagster`` run facet;
- one job per asset check (``jobType`` ASSET_CHECK), each evaluation a run (child of the
  step attempt that evaluated it) reading the checked dataset with a
  ``dataQualityAssertions`` input facet;
- outputs named from asset keys (see :class:`SuturaDagsterTranslator`) with ``schema``,
  ``outputStatistics`` and ``version`` facets from the materialization; inputs from the
  asset graph (the step's upstream assets).

RunIds are deterministic (UUIDv5 of Dagster run id, step key and attempt; the run-level
runId is the Dagster run id itself), so re-reading the log yields identical events and
re-sending them is harmless to an idempotent consumer such as Sutura.

The cursor: run status events (start, success, failure, cancel) are the only events with
a storage id that is global on every Dagster storage (the default SQLite storage shards
step events per run), so the cursor is that storage id plus, for each run still in
progress, the per-run storage id read so far. It is an opaque string; a bare integer
(a storage id) is accepted as a starting point.
"""

from __future__ import annotations

import copy
import functools
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sutura_dagster.translator import PRODUCER, SuturaDagsterTranslator, facet

if TYPE_CHECKING:
    from dagster import (
        AssetKey,
        DagsterInstance,
        DagsterRun,
        RepositoryDefinition,
        SensorDefinition,
    )
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport import Transport

__all__ = [
    "OpenLineageBatch",
    "openlineage_sensor",
    "read_openlineage_events",
    "to_openlineage_event",
]

SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_RUN_ID_NAMESPACE = uuid.UUID("6f1d3c2a-5b8e-4c1f-9a0d-2e7b4c6d8f10")


# ---------------------------------------------------------------------- cursor


@dataclass
class _Cursor:
    after: int = -1  # last run status storage id read
    open: dict[str, int] = field(default_factory=dict)  # run id -> last per-run storage id read

    @classmethod
    def parse(cls, value: str | None) -> _Cursor:
        if not value:
            return cls()
        value = value.strip()
        if value.lstrip("-").isdigit():
            return cls(after=int(value))
        try:
            raw = json.loads(value)
            return cls(after=int(raw["after"]), open={str(k): int(v) for k, v in raw["open"].items()})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"invalid OpenLineage sensor cursor {value!r}: expected a storage id or the "
                "JSON this sensor writes; reset the sensor's cursor to start over"
            ) from exc

    def dump(self) -> str:
        return json.dumps({"after": self.after, "open": self.open}, sort_keys=True)


@dataclass(frozen=True)
class OpenLineageBatch:
    """Events read by one call of :func:`read_openlineage_events`, and the cursor after them."""

    events: list[dict[str, Any]]
    cursor: str
    has_more: bool = False


# ---------------------------------------------------------------------- reader


def read_openlineage_events(
    instance: DagsterInstance,
    cursor: str | None = None,
    *,
    translator: SuturaDagsterTranslator | None = None,
    repository_def: RepositoryDefinition | None = None,
    limit: int = 100,
) -> OpenLineageBatch:
    """Read the Dagster event log after ``cursor`` and return its OpenLineage events.

    Call it with the ``cursor`` of the previous batch to get only what is new; keep the
    old cursor when the events could not be delivered. ``repository_def`` (a sensor's
    ``context.repository_def``) gives the asset graph: upstream assets outside the run
    and definition metadata such as ``dagster/table_name``. Without it, inputs are the
    upstream assets materialized in the same run only. ``limit`` bounds the run status
    events read per call (``has_more`` says there are more).
    """
    from dagster import DagsterEventType, RunStatusChangeRecordsFilter

    translator = translator or SuturaDagsterTranslator()
    state = _Cursor.parse(cursor)
    first_seen: dict[str, int] = {}
    upto: int | None = None
    has_more = False
    found: list[tuple[int, str, str]] = []
    for event_type in _RUN_STATUS_TYPES:
        result = instance.fetch_run_status_changes(
            RunStatusChangeRecordsFilter(event_type=getattr(DagsterEventType, event_type),
                                         after_storage_id=state.after),
            limit=limit,
            ascending=True,
        )
        found.extend((r.storage_id, r.event_log_entry.run_id, event_type) for r in result.records)
        if result.has_more and result.records:
            has_more = True
            last = result.records[-1].storage_id
            upto = last if upto is None else min(upto, last)
    ended: set[str] = set()  # runs whose terminal status event is within this batch
    for storage_id, run_id, event_type in sorted(found):
        if upto is not None and storage_id > upto:
            continue
        first_seen.setdefault(run_id, storage_id)
        state.after = max(state.after, storage_id)
        if event_type != "RUN_START":
            ended.add(run_id)

    context = _Context(instance, translator, repository_def)
    events: list[dict[str, Any]] = []
    runs = list(state.open) + sorted(set(first_seen) - set(state.open), key=first_seen.get)
    for run_id in runs:
        run = instance.get_run_by_id(run_id)
        if run is None:  # deleted meanwhile
            state.open.pop(run_id, None)
            continue
        done, finished = _RunTranslation(context, run).read(state.open.get(run_id, -1), events)
        # a run is closed only once the cursor is past its terminal status event; until
        # then it stays open (fully read), so finding that event later re-sends nothing
        if finished and run_id in ended:
            state.open.pop(run_id, None)
        else:
            state.open[run_id] = done
    return OpenLineageBatch(events=events, cursor=state.dump(), has_more=has_more)


_RUN_STATUS_TYPES = ("RUN_START", "RUN_SUCCESS", "RUN_FAILURE", "RUN_CANCELED")
_RUN_TERMINAL = {"PIPELINE_SUCCESS": "COMPLETE", "PIPELINE_FAILURE": "FAIL", "PIPELINE_CANCELED": "ABORT"}
_STEP_TERMINAL = {"STEP_SUCCESS": "COMPLETE", "STEP_FAILURE": "FAIL", "STEP_UP_FOR_RETRY": "FAIL"}
_READ_TYPES = (
    "RUN_START", "RUN_SUCCESS", "RUN_FAILURE", "RUN_CANCELED",
    "STEP_START", "STEP_RESTARTED", "STEP_SUCCESS", "STEP_FAILURE", "STEP_UP_FOR_RETRY",
    "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION",
)  # fmt: skip


class _Context:
    """What one read shares across runs: the translator, the asset graph, metadata lookups."""

    def __init__(self, instance, translator, repository_def) -> None:
        self.instance = instance
        self.translator = translator
        self.asset_graph = _asset_graph(repository_def)
        self._metadata: dict[AssetKey, dict[str, Any]] = {}
        self._plans: dict[str, dict[str, _StepPlan]] = {}  # runs of one job share a plan
        import dagster

        self.engine = facet("processing_engine", version=dagster.__version__, name="Dagster",
                            openlineageAdapterVersion=_sutura_version())

    def definition_metadata(self, key: AssetKey) -> dict[str, Any]:
        if self.asset_graph is None or not self.asset_graph.has(key):
            return {}
        return dict(self.asset_graph.get(key).metadata or {})

    def parents(self, key: AssetKey) -> set[AssetKey]:
        if self.asset_graph is None or not self.asset_graph.has(key):
            return set()
        return set(self.asset_graph.get(key).parent_keys)

    def known_metadata(self, key: AssetKey) -> dict[str, Any]:
        """Definition metadata overlaid with the latest materialization's (for naming inputs)."""
        if key not in self._metadata:
            metadata = self.definition_metadata(key)
            latest = self.instance.fetch_materializations(key, limit=1).records
            if latest and latest[0].asset_materialization is not None:
                metadata.update(latest[0].asset_materialization.metadata)
            self._metadata[key] = metadata
        return self._metadata[key]

    def step_plans(self, run: DagsterRun) -> dict[str, _StepPlan]:
        snapshot_id = run.execution_plan_snapshot_id
        if not snapshot_id:
            return {}
        if snapshot_id not in self._plans:
            snapshot = self.instance.get_execution_plan_snapshot(snapshot_id)
            self._plans[snapshot_id] = _step_plans(snapshot)
        return self._plans[snapshot_id]

    def dataset(self, key: AssetKey, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
        merged = self.known_metadata(key) if metadata is None else {
            **self.definition_metadata(key), **metadata}
        namespace, name = self.translator.get_dataset(key, merged)
        return {"namespace": namespace, "name": name, "facets": {}}


@dataclass
class _Attempt:
    step_key: str
    number: int
    run_id: str
    materializations: list[Any] = field(default_factory=list)


@dataclass
class _StepPlan:
    outputs: list[Any] = field(default_factory=list)  # asset keys materialized by the step
    checks: list[Any] = field(default_factory=list)  # asset check keys evaluated by the step
    upstream_steps: set[str] = field(default_factory=set)


class _RunTranslation:
    """The OpenLineage events of one Dagster run, replayed from its event records."""

    def __init__(self, context: _Context, run: DagsterRun) -> None:
        self.context = context
        self.translator = context.translator
        self.run = run
        self.namespace = self.translator.get_job_namespace(run)
        self.job_name = self.translator.get_job_name(run)
        self.ol_run_id = _run_uuid(run.run_id)
        self.plan = context.step_plans(run)
        self._done: dict[str, int] = {}  # step key -> number of its last finished attempt

    def read(self, done: int, out: list[dict[str, Any]]) -> tuple[int, bool]:
        """Append the events of records after ``done``; return (last storage id, run finished)."""
        from dagster import DagsterEventType

        types = {getattr(DagsterEventType, t) for t in _READ_TYPES}
        records = self.context.instance.get_records_for_run(self.run.run_id, of_type=types).records
        started = finished = False
        attempts: dict[str, _Attempt] = {}
        last = done
        for record in records:
            entry = record.event_log_entry
            event = entry.dagster_event
            if event is None:
                continue
            new = record.storage_id > done
            last = max(last, record.storage_id)
            kind, step_key = event.event_type_value, event.step_key
            if kind == "PIPELINE_START":
                started = True
                if new:
                    out.append(self._run_event("START", entry))
            elif kind in _RUN_TERMINAL:
                if new:
                    if not started:
                        out.append(self._run_event("START", entry))
                    for attempt in attempts.values():  # steps cut off by the run's end
                        out.append(self._step_event("ABORT", entry, attempt, None))
                    out.append(self._run_event(_RUN_TERMINAL[kind], entry, event))
                started = finished = True
                attempts.clear()
            elif kind in ("STEP_START", "STEP_RESTARTED") and step_key:
                attempt = self._begin(step_key, attempts, restart=kind == "STEP_RESTARTED")
                if new:
                    out.append(self._step_event("START", entry, attempt, None))
            elif kind == "ASSET_MATERIALIZATION" and step_key in attempts:
                attempts[step_key].materializations.append(event.event_specific_data.materialization)
            elif kind == "ASSET_CHECK_EVALUATION":
                if new:
                    out.extend(self._check_events(entry, event.event_specific_data,
                                                  attempts.get(step_key or "")))
            elif kind in _STEP_TERMINAL and step_key:
                attempt = attempts.pop(step_key, None)
                if attempt is None:  # no STEP_START seen: the attempt started and ended here
                    attempt = self._begin(step_key, {}, restart=False)
                    if new:
                        out.append(self._step_event("START", entry, attempt, None))
                if new:
                    out.append(self._step_event(_STEP_TERMINAL[kind], entry, attempt, event))
                self._done[step_key] = attempt.number
        return last, finished

    # -- attempts

    def _begin(self, step_key: str, attempts: dict[str, _Attempt], *, restart: bool) -> _Attempt:
        number = self._done.get(step_key, 0) + 1 if restart else 1
        attempt = _Attempt(step_key, number, _step_uuid(self.run.run_id, step_key, number))
        attempts[step_key] = attempt
        return attempt

    # -- events

    def _run_event(self, event_type: str, entry, event=None) -> dict[str, Any]:
        run_facets: dict[str, Any] = {
            "processing_engine": self.context.engine,
            "dagster": facet("dagster", **self._dagster_facet()),
        }
        nominal = self.run.tags.get(".dagster/scheduled_execution_time")
        if nominal:
            run_facets["nominalTime"] = facet("nominalTime", nominalStartTime=nominal)
        if event_type == "FAIL":
            data = event.event_specific_data if event is not None else None
            run_facets["errorMessage"] = _error_facet(getattr(data, "error", None), entry)
        job_facets = {"jobType": self._job_type(None, [])}
        return _event(event_type, entry.timestamp, self.ol_run_id, run_facets,
                      self.namespace, self.job_name, job_facets, [], [])

    def _step_event(self, event_type: str, entry, attempt: _Attempt, event) -> dict[str, Any]:
        plan = self.plan.get(attempt.step_key, _StepPlan())
        run_facets: dict[str, Any] = {
            "parent": self._parent(self.ol_run_id, self.job_name),
            "processing_engine": self.context.engine,
            "dagster": facet("dagster", **self._dagster_facet(attempt)),
        }
        if event_type == "FAIL":
            run_facets["errorMessage"] = _error_facet(
                getattr(event.event_specific_data, "error", None), entry)
        if event_type == "COMPLETE":
            outputs = [self._output(m) for m in attempt.materializations]
        else:
            materialized = {m.asset_key for m in attempt.materializations}
            outputs = [self._output(m) for m in attempt.materializations] + [
                self.context.dataset(k) for k in plan.outputs if k not in materialized]
        inputs = [self.context.dataset(k) for k in self._upstream(plan)]
        job_facets = {"jobType": self._job_type(attempt.step_key, plan.outputs)}
        return _event(event_type, entry.timestamp, attempt.run_id, run_facets, self.namespace,
                      self.translator.get_job_name(self.run, attempt.step_key), job_facets,
                      inputs, outputs)

    def _check_events(self, entry, evaluation, attempt: _Attempt | None) -> list[dict[str, Any]]:
        from dagster import AssetCheckKey

        check_key = AssetCheckKey(evaluation.asset_key, evaluation.check_name)
        step_key = attempt.step_key if attempt else entry.dagster_event.step_key
        run_id = str(uuid.uuid5(_RUN_ID_NAMESPACE,
                                f"{self.run.run_id}/{step_key}/{attempt.number if attempt else 1}"
                                f"/check/{check_key.to_user_string()}"))
        parent = (self._parent(attempt.run_id, self.translator.get_job_name(self.run, step_key))
                  if attempt else self._parent(self.ol_run_id, self.job_name))
        details = {"checkName": evaluation.check_name,
                   "assetKey": evaluation.asset_key.to_user_string()}
        run_facets = {
            "parent": parent,
            "processing_engine": self.context.engine,
            "dagster": facet("dagster", **self._dagster_facet(attempt), **details),
        }
        dataset = self.context.dataset(evaluation.asset_key)
        assertions = self.translator.get_assertions([evaluation])
        if assertions:
            dataset["inputFacets"] = {"dataQualityAssertions": assertions}
        job_name = self.translator.get_check_job_name(self.run, check_key)
        job_facets = {"jobType": facet("jobType", processingType="BATCH",
                                       integration="DAGSTER", jobType="ASSET_CHECK")}
        return [
            _event(state, entry.timestamp, run_id, run_facets, self.namespace, job_name,
                   job_facets, [dataset] if state == "COMPLETE" else [
                       {k: v for k, v in dataset.items() if k != "inputFacets"}], [])
            for state in ("START", "COMPLETE")
        ]

    def _output(self, materialization) -> dict[str, Any]:
        metadata = dict(materialization.metadata or {})
        dataset = self.context.dataset(materialization.asset_key, metadata)
        merged = {**self.context.definition_metadata(materialization.asset_key), **metadata}
        for name, value in (
            ("schema", self.translator.get_schema_facet(merged)),
            ("version", self.translator.get_dataset_version(materialization.tags or {})),
        ):
            if value:
                dataset["facets"][name] = value
        stats = self.translator.get_output_statistics(metadata)
        if stats:
            dataset["outputFacets"] = {"outputStatistics": stats}
        return dataset

    def _upstream(self, plan: _StepPlan) -> list[AssetKey]:
        keys: dict[AssetKey, None] = {}
        for step in sorted(plan.upstream_steps):
            for key in self.plan.get(step, _StepPlan()).outputs:
                keys[key] = None
        for key in plan.outputs:
            for parent in sorted(self.context.parents(key), key=lambda k: k.path):
                keys[parent] = None
        for check in plan.checks:
            keys[check.asset_key] = None
        own = set(plan.outputs)
        return [k for k in keys if k not in own]

    def _parent(self, run_id: str, job_name: str) -> dict[str, Any]:
        root = {"run": {"runId": self.ol_run_id},
                "job": {"namespace": self.namespace, "name": self.job_name}}
        return facet("parent", run={"runId": run_id},
                     job={"namespace": self.namespace, "name": job_name}, root=root)

    def _job_type(self, step_key: str | None, asset_keys: Sequence[AssetKey]) -> dict[str, Any]:
        job_type = self.translator.get_job_type(step_key=step_key, asset_keys=asset_keys)
        return facet("jobType", processingType="BATCH", integration="DAGSTER", jobType=job_type)

    def _dagster_facet(self, attempt: _Attempt | None = None) -> dict[str, Any]:
        run, tags = self.run, self.run.tags
        origin = run.remote_job_origin
        fields: dict[str, Any] = {"runId": run.run_id, "jobName": run.job_name}
        if origin is not None:
            fields["codeLocation"] = origin.location_name
        for name, tag in (("parentRunId", "dagster/parent_run_id"),
                          ("rootRunId", "dagster/root_run_id"),
                          ("retryNumber", "dagster/retry_number")):
            if tag in tags:
                fields[name] = int(tags[tag]) if name == "retryNumber" else tags[tag]
        if attempt is not None:
            fields.update(stepKey=attempt.step_key, attempt=attempt.number)
        return fields


# ---------------------------------------------------------------------- helpers


def _event(event_type, timestamp, run_id, run_facets, namespace, name, job_facets,
           inputs, outputs) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "eventTime": datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": run_id, "facets": run_facets},
        "job": {"namespace": namespace, "name": name, "facets": job_facets},
        "inputs": inputs,
        "outputs": outputs,
    }


def _run_uuid(dagster_run_id: str) -> str:
    """The Dagster run id when it is a UUID (it is unless a user made it up)."""
    try:
        return str(uuid.UUID(dagster_run_id))
    except ValueError:
        return str(uuid.uuid5(_RUN_ID_NAMESPACE, dagster_run_id))


def _step_uuid(dagster_run_id: str, step_key: str, attempt: int) -> str:
    return str(uuid.uuid5(_RUN_ID_NAMESPACE, f"{dagster_run_id}/{step_key}/{attempt}"))


def _error_facet(error, entry) -> dict[str, Any]:
    """``errorMessage`` from a Dagster SerializableErrorInfo.

    Dagster wraps the user's exception (``RetryRequestedFromPolicy``, step execution
    errors); the message leads with the innermost cause, the one that says what went wrong.
    """
    if error is None:
        message = (entry.dagster_event.message if entry.dagster_event else None) or entry.user_message
        return facet("errorMessage", message=message or "failed", programmingLanguage="python")
    chain = []
    cur = error
    while cur is not None and len(chain) < 8:
        chain.append(cur)
        cur = cur.cause
    message = chain[-1].message.strip() or (chain[-1].cls_name or "error")
    if len(chain) > 1:
        wrappers = ", ".join(e.cls_name or "?" for e in chain[:-1])
        message = f"{message}\n(raised as {wrappers})"
    return facet("errorMessage", message=message, programmingLanguage="python",
                 stackTrace=error.to_string()[-20000:])


def _step_plans(snapshot) -> dict[str, _StepPlan]:
    """Asset outputs, check outputs and upstream steps of every step, from a run's plan."""
    plans: dict[str, _StepPlan] = {}
    for step in snapshot.steps:
        plan = plans.setdefault(step.key, _StepPlan())
        for output in step.outputs:
            props = output.properties
            if props is None:
                continue
            if props.asset_key is not None and props.is_asset:
                plan.outputs.append(props.asset_key)
            if props.asset_check_key is not None:
                plan.checks.append(props.asset_check_key)
        for step_input in step.inputs:
            plan.upstream_steps.update(h.step_key for h in step_input.upstream_output_handles)
    return plans


def _asset_graph(repository_def):
    if repository_def is None:
        return None
    try:
        return repository_def.asset_graph
    except Exception:  # noqa: BLE001 - a repository without assets has no graph to offer
        return None


@functools.cache
def _sutura_version() -> str:
    """Read once per process: the installed metadata does not change under a running sensor."""
    try:
        from importlib.metadata import version

        return version("sutura")
    except Exception:  # noqa: BLE001 - running from a source tree
        return "0.0.0"


# ---------------------------------------------------------------------- emitting


def to_openlineage_event(event: Mapping[str, Any]):
    """An event dict as an ``openlineage.client`` RunEvent, for ``OpenLineageClient.emit``."""
    from openlineage.client import event_v2

    event = copy.deepcopy(dict(event))  # the client adds facets in place
    return event_v2.RunEvent(
        eventType=event_v2.RunState(event["eventType"]),
        eventTime=event["eventTime"],
        producer=event["producer"],
        run=event_v2.Run(runId=event["run"]["runId"], facets=event["run"].get("facets", {})),
        job=event_v2.Job(namespace=event["job"]["namespace"], name=event["job"]["name"],
                         facets=event["job"].get("facets", {})),
        inputs=[event_v2.InputDataset(namespace=d["namespace"], name=d["name"],
                                      facets=d.get("facets", {}),
                                      inputFacets=d.get("inputFacets", {}))
                for d in event.get("inputs", [])],
        outputs=[event_v2.OutputDataset(namespace=d["namespace"], name=d["name"],
                                        facets=d.get("facets", {}),
                                        outputFacets=d.get("outputFacets", {}))
                 for d in event.get("outputs", [])],
    )


def _make_client(client, transport) -> OpenLineageClient:
    from openlineage.client import OpenLineageClient

    if client is not None:
        return client() if callable(client) and not hasattr(client, "emit") else client
    if isinstance(transport, Mapping):
        return OpenLineageClient(config={"transport": dict(transport)})
    if transport is not None:
        return OpenLineageClient(transport=transport)
    return OpenLineageClient()  # OPENLINEAGE_URL / OPENLINEAGE__TRANSPORT__* / openlineage.yml


def openlineage_sensor(
    *,
    name: str = "sutura_openlineage",
    client: OpenLineageClient | Callable[[], OpenLineageClient] | None = None,
    transport: Transport | Mapping[str, Any] | None = None,
    translator: SuturaDagsterTranslator | None = None,
    minimum_interval_seconds: int = 30,
    batch_size: int = 100,
    default_status: Any = None,
) -> SensorDefinition:
    """A sensor that sends the OpenLineage events of every Dagster run to ``client``.

    On each tick it reads the event log after its cursor (:func:`read_openlineage_events`),
    emits the events, and moves the cursor only once all of them were emitted. When the
    transport is down it logs one warning, keeps the cursor (the same events are sent on a
    later tick: their runIds are deterministic, so a consumer that dedupes is unaffected)
    and skips; it never fails because of the transport. A transport can only be seen to
    be down if it raises: the ``http``, ``file`` and ``kafka`` transports do; transports
    that swallow their errors (``SuturaTransport``, async ones) make a lost event look sent.

    Args:
        client: an ``OpenLineageClient`` (or a function making one).
        transport: else a transport, or its config (``{"type": "http", "url": ...}``,
            ``{"type": "sutura.transport.SuturaTransport"}``, which stores a tick's events
            in one transaction); with neither, the client configures itself from the
            environment (``OPENLINEAGE_URL``…).
        translator: naming and facet decisions (:class:`SuturaDagsterTranslator`).
    """
    from dagster import DefaultSensorStatus, SkipReason, sensor

    made: list[OpenLineageClient] = []

    @sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status or DefaultSensorStatus.RUNNING,
        description="Sends OpenLineage events of Dagster runs, steps, assets and checks.",
    )
    def _openlineage(context):
        batch = read_openlineage_events(
            context.instance,
            context.cursor,
            translator=translator,
            repository_def=_repository_def(context),
            limit=batch_size,
        )
        if not batch.events:
            if batch.cursor != (context.cursor or _Cursor().dump()):
                context.update_cursor(batch.cursor)
            return SkipReason("no new Dagster events")
        try:
            if not made:
                made.append(_make_client(client, transport))
            with _batched(made[0]):
                for event in batch.events:
                    made[0].emit(to_openlineage_event(event))
        except Exception as exc:  # noqa: BLE001 - the transport being down never fails the sensor
            made.clear()
            context.log.warning(
                "Sutura: could not send %d OpenLineage events (%s: %s); keeping the cursor, "
                "they will be sent on a later tick", len(batch.events), type(exc).__name__, exc)
            return SkipReason(f"OpenLineage transport unavailable: {type(exc).__name__}: {exc}")
        context.update_cursor(batch.cursor)
        return SkipReason(f"sent {len(batch.events)} OpenLineage events")

    return _openlineage


def _batched(client):
    """The transport's ``batch()`` when it has one (``SuturaTransport``: a tick's events are
    stored in one transaction, not one each), else a no-op."""
    from contextlib import nullcontext

    batch = getattr(getattr(client, "transport", None), "batch", None)
    return batch() if callable(batch) else nullcontext()


def _repository_def(context):
    try:
        return context.repository_def
    except Exception:  # noqa: BLE001 - a context built without definitions
        return None

