"""sutura-dbt build --changed on a generated project of 30 models over 5 sources (real dbt, DuckDB).

Only a real content change runs anything, and then exactly the models downstream of the
changed source; a rewrite with identical content (new write time, other row order) runs
nothing, where ``source_status:fresher+`` would rebuild on the timestamp alone. A
breaking schema change (a column retyped or dropped) holds its consumers: they are not
built, the output says why, and the hold lasts until the model is edited or accepted.
"""

from __future__ import annotations

import json

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


def table(project, relation: str) -> tuple[list[tuple], list[tuple]]:
    """A relation's rows and its column types, read as the warehouse holds them."""
    import duckdb

    with duckdb.connect(str(project.warehouse)) as con:  # as the loader connects: dbt in this process may hold the file
        rows = con.execute(f"select * from {relation} order by all").fetchall()
        types = con.execute(
            f"select column_name, data_type from information_schema.columns where table_schema || '.' || table_name = '{relation}' "
            "order by ordinal_position"
        ).fetchall()
    return rows, types


def held_lines(invocation) -> list[str]:
    return [line for line in invocation.lines if line.startswith("Sutura: HELD")]


def test_changed_holds_the_consumers_of_a_breaking_schema_change(tmp_path, monkeypatch):
    import sutura

    from tests.support._process import free_port

    project = generate_project(tmp_path, sources=5, models=30)
    for i in range(5):
        load_source(project, i, rows(i))
    hermetic(monkeypatch, tmp_path, project.env() | {"SUTURA_DB_URL": f"sqlite:///{tmp_path / 'sutura.db'}"})
    model = lambda name: f"model.generated.{name}"  # noqa: E731
    dataset = lambda i: f"dataset:duckdb://{project.warehouse}:warehouse.raw.src_{i}"  # noqa: E731
    assert sutura_dbt("build", project.path, changed=True).exit_code == 0

    # src_0's loader now writes `amount` as text (retyped: breaking) while src_1 gets new
    # rows (content only). Built, stg_0 would pass the text on and its consumers' sum() fail.
    only_via_stg_0 = project.downstream("src_0") - project.downstream("src_1") - {"stg_0"}
    both = project.downstream("src_0") & project.downstream("src_1")
    assert only_via_stg_0 and both  # m_6, m_14, m_15 read both chains
    before = {m: table(project, f"main.{m}") for m in {"stg_0"} | only_via_stg_0}
    load_source(project, 0, [(k, f"{k}.00") for k in range(25)], amount="varchar")
    load_source(project, 1, rows(1, version=2))
    second = sutura_dbt("build", project.path, changed=True)
    assert second.exit_code == 0, second.lines
    # stg_0 and what only it feeds are not built; src_1's consumers are, those that also
    # read the stg_0 chain included (they read its last good relation)
    assert second.executed() == {model(m) for m in project.downstream("src_1")}
    run_results = json.loads((project.path / "target" / "run_results.json").read_text())
    assert {r["unique_id"] for r in run_results["results"]} == {model(m) for m in project.downstream("src_1")}
    assert {m: table(project, f"main.{m}") for m in before} == before
    assert before["stg_0"][1][1] == ("amount", "DOUBLE")
    [line] = held_lines(second)
    reason = f"breaking schema change in {dataset(0)}"
    assert line.startswith(f"Sutura: HELD {model('stg_0')} and {len(only_via_stg_0)} downstream") and reason in line
    [held] = second.summary["held"]
    assert held["node"] == model("stg_0") and held["reason"] == reason
    assert held["not_built"] == sorted(model(m) for m in only_via_stg_0)
    assert second.summary["selected"] == ["source:generated.raw.src_0+", "source:generated.raw.src_1+"]
    # the reason is the engine's SKIP decision for stg_0's job
    skips = sutura.connect().decisions(action="skip")
    assert [d.reason for d in skips if d.subject.endswith(".generated.stg_0")] == [f"held: {reason}; fix the model or accept the new schema"]

    # Nothing new: nothing runs, and the hold is said again (not forgotten with the change).
    third = sutura_dbt("build", project.path, changed=True)
    assert third.exit_code == 0 and third.summary["attempts"] == []
    assert [h["node"] for h in third.summary["held"]] == [model("stg_0")] and len(held_lines(third)) == 1

    # src_4 drops `amount`: stg_4, the only model it reaches, is held; dbt is not invoked,
    # and the change is not planned again by the next build.
    assert project.downstream("src_4") == {"stg_4"}
    load_source(project, 4, [(k,) for k in range(25)], amount=None)
    fourth = sutura_dbt("build", project.path, changed=True)
    assert fourth.exit_code == 0 and fourth.summary["attempts"] == []
    assert any("everything the changes reach is held: nothing to run" in line for line in fourth.lines)
    assert {h["node"]: h["reason"] for h in fourth.summary["held"]} == {
        model("stg_0"): reason,
        model("stg_4"): f"breaking schema change in {dataset(4)}",
    }

    # src_2's `amount` becomes bigint: stg_2 is held, then accepted by building it explicitly.
    load_source(project, 2, [(k, k * 10) for k in range(25)], amount="bigint")
    fifth = sutura_dbt("build", project.path, changed=True)
    assert fifth.exit_code == 0 and fifth.executed() == set()
    assert model("stg_2") in {h["node"] for h in fifth.summary["held"]}
    accept = sutura_dbt("build", project.path, "--select", "stg_2+")
    assert accept.exit_code == 0 and accept.executed() == {model(m) for m in project.downstream("src_2")}
    sixth = sutura_dbt("build", project.path, changed=True)
    assert sixth.executed() == set() and not any(line.startswith("Sutura: changed") for line in sixth.lines)
    assert [h["node"] for h in sixth.summary["held"]] == [model("stg_0"), model("stg_4")]

    # The user fixes stg_0: the next --changed builds it and everything downstream of it.
    (project.path / "models" / "stg_0.sql").write_text(
        "select id, cast(amount as double) as amount, 'stg_0' as layer from {{ source('raw', 'src_0') }}\n"
    )
    fixed = sutura_dbt("build", project.path, changed=True)
    assert fixed.exit_code == 0, fixed.lines
    assert fixed.executed() == {model(m) for m in project.downstream("src_0")}
    assert any(line.startswith(f"Sutura: changed {model('stg_0')} (edited since held: {reason}") for line in fixed.lines)
    assert [h["node"] for h in fixed.summary["held"]] == [model("stg_4")]
    assert table(project, "main.stg_0")[0] == [(k, float(k), "stg_0") for k in range(25)]
    assert sutura_dbt("build", project.path, changed=True).executed() == set()

    # Sutura down: --changed is plain dbt (everything, held or not), with one warning.
    monkeypatch.setenv("SUTURA_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("SUTURA__TIMEOUT", "1")
    down = sutura_dbt("build", project.path, changed=True)
    assert sum("the Sutura engine is unavailable" in line for line in down.lines) == 1
    assert down.executed() == {model(m) for m in project.models} and len(down.summary["attempts"]) == 1
    assert down.summary["final"][model("stg_4")] == "error" and down.exit_code == 1  # dbt's own answer
    assert "held" not in down.summary and not held_lines(down)
