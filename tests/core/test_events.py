"""Validation and normalisation of OpenLineage events, over the real corpus."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from sutura.errors import InvalidEvent
from sutura.events import load_events, parse_event, parse_time
from sutura.translate import translate
from tests.conftest import FIXTURES, corpus_files

FLUENTD = FIXTURES / "corpus/OpenLineage/literal/proxy/fluentd/events"

# The deliberately invalid events of the corpus, and the field each must be rejected for.
INVALID = {
    "event_invalid_dataset_facet.json": "outputs[0].facets.ownership.owners[0].name",
    "event_invalid_input_dataset_facet.json": "inputs[0].inputFacets.dataQualityMetrics.columnMetrics",
    "event_invalid_job_facet.json": "job.facets.ownership.owners[0].name",
    "event_invalid_output_dataset_facet.json": "outputs[0].outputFacets.outputStatistics.rowCount",
    "event_invalid_run_facet.json": "run.facets.parent.run.runId",
    "event_no_run_id.json": "run.runId",
}
# Spec-invalid events from real fixtures (dataQualityMetrics without its required columnMetrics).
SPEC_INVALID = {"event_full.json"}


def _check(raw):
    return translate(parse_event(raw))


@pytest.mark.parametrize("name,field", sorted(INVALID.items()))
def test_invalid_corpus_events_are_rejected_naming_the_field(name: str, field: str) -> None:
    raw = json.loads((FLUENTD / name).read_text())
    with pytest.raises(InvalidEvent) as info:
        _check(raw)
    assert info.value.field == field


@pytest.mark.parametrize("path", [p for p in corpus_files() if p.name not in INVALID and p.name not in SPEC_INVALID], ids=lambda p: p.name)
def test_every_valid_corpus_event_translates(path) -> None:
    for raw in load_events(path.read_text()):
        facts = _check(raw)
        assert facts.event.key and facts.event.event_time.tzinfo is not None


def test_spec_deviations_are_normalised() -> None:
    assert parse_time("2020-12-28T19:51:01.641499123Z", "t") == datetime(2020, 12, 28, 19, 51, 1, 641499, tzinfo=timezone.utc)
    assert parse_time("2020-12-28T19:51:01.641499", "t") == datetime(2020, 12, 28, 19, 51, 1, 641499, tzinfo=timezone.utc)
    assert parse_time("2020-12-28T19:52:00.001+10:00", "t") == datetime(2020, 12, 28, 9, 52, 0, 1000, tzinfo=timezone.utc)
    assert parse_time("2020-01-01", "t") == datetime(2020, 1, 1, tzinfo=timezone.utc)
    event = {"eventTime": "2020-12-28T19:51:01Z", "run": {"runId": "not-a-uuid"}, "job": {"namespace": "n", "name": "j"}}
    parsed = parse_event(event)
    assert parsed.run_id == "not-a-uuid" and parsed.event_type.value == "OTHER"


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda e: e.pop("eventTime"), "eventTime"),
        (lambda e: e.update(eventTime="yesterday"), "eventTime"),
        (lambda e: e["run"].pop("runId"), "run.runId"),
        (lambda e: e["run"].update(runId=42), "run.runId"),
        (lambda e: e.pop("job"), "job"),
        (lambda e: e["job"].update(name=""), "job.name"),
        (lambda e: e.update(eventType="FINISHED"), "eventType"),
        (lambda e: e.update(inputs={"a": 1}), "inputs"),
        (lambda e: e.update(outputs=[{"namespace": "n"}]), "outputs[0].name"),
        (lambda e: e["run"].update(facets=[]), "run.facets"),
        (lambda e: e["run"].update(facets={"nominalTime": {"nominalStartTime": 5}}), "run.facets.nominalTime.nominalStartTime"),
        (lambda e: e["job"].update(facets={"jobType": {"processingType": "BATCH"}}), "job.facets.jobType.integration"),
    ],
)
def test_bad_input_names_the_field(mutate, field: str) -> None:
    event = {
        "eventType": "START",
        "eventTime": "2026-01-01T00:00:00Z",
        "producer": "p",
        "schemaURL": "s",
        "run": {"runId": "0191f1b2-0000-7000-8000-000000000001"},
        "job": {"namespace": "n", "name": "j"},
    }
    mutate(event)
    with pytest.raises(InvalidEvent) as info:
        _check(event)
    assert info.value.field == field


def test_load_events_reads_json_array_and_jsonl() -> None:
    one = {"eventTime": "2026-01-01T00:00:00Z", "run": {"runId": "r"}, "job": {"namespace": "n", "name": "j"}}
    assert len(load_events(json.dumps([one, one]))) == 2
    assert len(load_events(json.dumps(one) + "\n\n" + json.dumps(one) + "\n")) == 2
    with pytest.raises(InvalidEvent) as info:
        load_events("{not json")
    assert info.value.field == "$"
    with pytest.raises(InvalidEvent) as info:
        load_events(json.dumps(one) + "\n{broken")
    assert info.value.field == "line 2"


def test_dataset_and_job_events_are_accepted() -> None:
    ds = {"eventTime": "2026-01-01T00:00:00Z", "dataset": {"namespace": "n", "name": "d", "facets": {}}}
    job = {"eventTime": "2026-01-01T00:00:00Z", "job": {"namespace": "n", "name": "j"}, "inputs": [], "outputs": []}
    assert parse_event(ds).kind == "dataset"
    assert parse_event(job).kind == "job"
