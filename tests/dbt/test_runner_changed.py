"""sutura-dbt build --changed on a generated project of 30 models over 5 sources (real dbt, DuckDB).

Only a real content change runs anything, and then exactly the models downstream of the
changed source; a rewrite with identical content (new write time, other row order) runs
nothing, where ``source_status:fresher+`` would rebuild on the timestamp alone.
"""

from __future__ import annotations

import pytest

from tests.dbt.projects.generated import generate_project, load_source
from tests.dbt.projects.inprocess import hermetic, sutura_dbt

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("sutura_dbt_changed")]


def rows(index: int, version: int = 1) -> list[tuple[int, float]]:
    return [(k, float(k * version + index)) for k in range(25)]


def test_changed_builds_exactly_what_a_content_change_reaches(tmp_path, monkeypatch):
    import sutura

    project = generate_project(tmp_path, sources=5, models=30)
    for i in range(5):
        load_source(project, i, rows(i))
    hermetic(monkeypatch, tmp_path, project.env() | {"SUTURA_DB_URL": f"sqlite:///{tmp_path / 'sutura.db'}"})
    model = lambda name: f"model.generated.{name}"  # noqa: E731

    # No cursor yet: --changed builds everything once and starts the cursor there.
    first = sutura_dbt("build", project.path, changed=True)
    assert first.exit_code == 0, first.lines
    assert first.executed() == {model(m) for m in project.models}
    assert len(first.executed()) == 30

    # One source's content changes: exactly its downstream models run.
    load_source(project, 3, rows(3, version=2))
    second = sutura_dbt("build", project.path, changed=True)
    expected = {model(m) for m in project.downstream("src_3")}
    assert 1 < len(expected) < 30
    assert second.exit_code == 0, second.lines
    assert second.executed() == expected
    assert second.summary["selected"] == ["source:generated.raw.src_3+"]

    # Nothing changed since: nothing runs (dbt is not even invoked).
    third = sutura_dbt("build", project.path, changed=True)
    assert third.exit_code == 0
    assert third.executed() == set() and third.summary["attempts"] == []
    assert any("nothing to run" in line for line in third.lines)

    # The loader rewrites the same rows (new write time, other order): still nothing.
    load_source(project, 3, list(reversed(rows(3, version=2))))
    fourth = sutura_dbt("build", project.path, changed=True)
    assert fourth.exit_code == 0
    assert fourth.executed() == set()

    # A producer (here: a loader's OpenLineage run, as Airflow emits it) reports a new
    # version of another source: its downstream runs, and nothing else.
    engine = sutura.connect()
    dataset = f"warehouse.raw.src_1"
    namespace = f"duckdb://{project.warehouse}"
    load_source(project, 1, rows(1, version=3))
    for state in ("START", "COMPLETE"):
        engine.ingest(
            {
                "eventType": state,
                "eventTime": "2030-01-01T00:00:00+00:00",
                "run": {"runId": "0192d6f0-0000-7000-8000-000000000001"},
                "job": {"namespace": "airflow", "name": "load_raw.load_src_1"},
                "producer": "https://example.com/loader",
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
                "inputs": [],
                "outputs": [
                    {
                        "namespace": namespace,
                        "name": dataset,
                        "facets": {"suturaContent": {"_producer": "https://example.com/loader", "_schemaURL": "https://example.com/s.json", "fingerprint": "loader-v3"}},
                    }
                ],
            }
        )
    fifth = sutura_dbt("build", project.path, changed=True)
    assert fifth.exit_code == 0, fifth.lines
    assert fifth.executed() == {model(m) for m in project.downstream("src_1")}
    assert sutura_dbt("build", project.path, changed=True).executed() == set()
