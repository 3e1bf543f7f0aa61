"""The graph store on SQLite and PostgreSQL: identity, idempotency, ordering, lineage queries."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sutura import Engine
from sutura.errors import InvalidEvent, NotFound
from sutura.events import load_events
from tests.conftest import corpus_files
from tests.core.builders import dataset, run_event, run_lifecycle
from tests.core.graph_dump import dump
from tests.core.test_events import INVALID, SPEC_INVALID

WH = "duckdb:///data/wh.duckdb"


def _valid_corpus() -> list[dict]:
    events = []
    for p in corpus_files():
        if p.name not in INVALID and p.name not in SPEC_INVALID:
            events.extend(load_events(p.read_text()))
    return events


def test_corpus_ingests_and_is_idempotent(engine: Engine) -> None:
    events = _valid_corpus()
    first = engine.ingest(events)
    assert first.accepted == len({json.dumps(e, sort_keys=True) for e in events})
    before = dump(engine)
    again = engine.ingest(events)
    assert again.accepted == 0 and again.duplicates == len(events)
    assert dump(engine) == before


def test_marquez_apples_chain_is_linked(engine: Engine) -> None:
    for p in sorted(corpus_files()):
        if "apples" in str(p):
            engine.ingest(p.read_text())
    graph = engine.lineage("dataset:grandmas.kitchen:apple.pie", "upstream", 3)
    ids = {n["id"] for n in graph["graph"]}
    assert {
        "job:grandmas.kitchen:prepare_apple_pie",
        "dataset:grandmas.kitchen:apple.filling",
        "job:grandmas.kitchen:prepare_apple_filling",
        "dataset:grandmas.kitchen:apples",
        "dataset:grandmas.kitchen:cinnamon",
        "job:grandmas.kitchen:gather_apples",
    } <= ids
    pie_job = next(n for n in graph["graph"] if n["id"] == "job:grandmas.kitchen:prepare_apple_pie")
    assert pie_job["inEdges"] == [{"origin": "dataset:grandmas.kitchen:apple.filling", "destination": pie_job["id"]}]
    assert pie_job["outEdges"] == [{"origin": pie_job["id"], "destination": "dataset:grandmas.kitchen:apple.pie"}]
    assert pie_job["data"]["latestRunState"] == "COMPLETE"


def _chain(engine: Engine) -> None:
    a, b, c = dataset(WH, "wh.main.a"), dataset(WH, "wh.main.b"), dataset(WH, "wh.main.c")
    engine.ingest(run_lifecycle(("etl", "load_b"), inputs=[a], outputs=[b]))
    engine.ingest(run_lifecycle(("etl", "load_c"), inputs=[b], outputs=[c], at=5))


def test_lineage_depth_and_direction(engine: Engine) -> None:
    _chain(engine)
    ids = lambda g: {n["id"] for n in g["graph"]}  # noqa: E731
    c = f"dataset:{WH}:wh.main.c"
    assert ids(engine.lineage(c, "upstream", 1)) == {c, "job:etl:load_c", f"dataset:{WH}:wh.main.b"}
    assert f"dataset:{WH}:wh.main.a" in ids(engine.lineage(c, "upstream", 2))
    assert ids(engine.lineage(c, "downstream", 5)) == {c}
    down = ids(engine.lineage(f"dataset:{WH}:wh.main.a", "downstream", 5))
    assert {"job:etl:load_b", "job:etl:load_c", c} <= down
    job = ids(engine.lineage("job:etl:load_c", "both", 1))
    assert job == {"job:etl:load_c", f"dataset:{WH}:wh.main.b", c}
    with pytest.raises(NotFound):
        engine.lineage("dataset:nope:nothing")


def test_column_lineage(engine: Engine) -> None:
    src = dataset(WH, "wh.main.raw", fields=[("id", "int"), ("email", "text")])
    out = dataset(WH, "wh.main.clean", fields=[("id", "int"), ("email_domain", "text")])
    out["facets"]["columnLineage"] = {
        "_producer": "p",
        "_schemaURL": "s",
        "fields": {
            "email_domain": {"inputFields": [{"namespace": WH, "name": "wh.main.raw", "field": "email", "transformations": [{"type": "DIRECT", "subtype": "TRANSFORMATION"}]}]},
            "id": {"inputFields": [{"namespace": WH, "name": "wh.main.raw", "field": "id"}]},
        },
    }
    engine.ingest(run_lifecycle(("etl", "clean"), inputs=[src], outputs=[out]))
    g = engine.lineage(f"field:{WH}:wh.main.clean:email_domain", "upstream", 3)
    nodes = {n["id"]: n for n in g["graph"]}
    assert set(nodes) == {f"field:{WH}:wh.main.clean:email_domain", f"field:{WH}:wh.main.raw:email"}
    edge = nodes[f"field:{WH}:wh.main.clean:email_domain"]["inEdges"][0]
    assert edge["origin"] == f"field:{WH}:wh.main.raw:email" and edge["transformations"][0]["type"] == "DIRECT"
    whole = engine.lineage(f"dataset:{WH}:wh.main.raw", "downstream", 2, columns=True)
    assert len(whole["graph"]) == 4


def test_airflow_task_runs_link_to_dag_run_with_attempts(engine: Engine) -> None:
    dag_run = str(uuid.uuid4())
    try1, try2 = str(uuid.uuid4()), str(uuid.uuid4())
    parent = (dag_run, "airflow", "daily_etl")
    engine.ingest(run_event("START", ("airflow", "daily_etl"), dag_run, at=0, job_type=("AIRFLOW", "DAG")))
    engine.ingest(run_event("START", ("airflow", "daily_etl.load"), try1, at=1, parent=parent, try_number=1))
    engine.ingest(run_event("FAIL", ("airflow", "daily_etl.load"), try1, at=2, parent=parent, try_number=1, error="ConnectionResetError: reset"))
    engine.ingest(run_event("START", ("airflow", "daily_etl.load"), try2, at=3, parent=parent, try_number=2))
    engine.ingest(run_event("COMPLETE", ("airflow", "daily_etl.load"), try2, at=4, parent=parent, try_number=2))
    runs = engine.runs("job:airflow:daily_etl.load")
    assert [(r.attempt, r.state.value) for r in runs] == [(2, "COMPLETE"), (1, "FAIL")]
    assert {r.parent_run_id for r in runs} == {dag_run}
    assert runs[1].error_message == "ConnectionResetError: reset"
    assert engine.run(dag_run).job.name == "daily_etl"
    assert engine.show(f"run:{dag_run}")["children"] == [try1, try2]
    assert engine.show("job:airflow:daily_etl.load")["integration"] == "AIRFLOW"


def test_terminal_state_never_regresses_and_other_never_reopens(engine: Engine) -> None:
    run_id = str(uuid.uuid4())
    job = ("etl", "j")
    engine.ingest(run_event("COMPLETE", job, run_id, at=2))
    engine.ingest(run_event("START", job, run_id, at=1))
    engine.ingest(run_event("OTHER", job, run_id, at=3))
    engine.ingest(run_event("RUNNING", job, run_id, at=1.5))
    run = engine.run(run_id)
    assert run.state.value == "COMPLETE"
    assert run.started_at.minute == 41 and run.ended_at.minute == 42


def test_symlinks_merge_aliases_in_either_order(store_url: str, tmp_path: Path) -> None:
    table = {"namespace": "hive://metastore:9083", "name": "sales.orders", "type": "TABLE"}
    path_ds = dataset("hdfs://nn:8020", "/warehouse/sales/orders", symlinks={"_producer": "p", "_schemaURL": "s", "identifiers": [table]})
    by_table = dataset("hive://metastore:9083", "sales.orders")
    for order in (0, 1):
        url = store_url if order == 0 else f"sqlite:///{tmp_path / 'other.db'}"
        eng = Engine(db_url=url)
        a = run_lifecycle(("spark", "write_orders"), outputs=[path_ds])
        b = run_lifecycle(("spark", "read_orders"), inputs=[by_table], at=5)
        eng.ingest(a + b if order == 0 else b + a)
        shown = eng.show("dataset:hive://metastore:9083:sales.orders")
        alias = eng.show("dataset:hdfs://nn:8020:/warehouse/sales/orders")
        assert shown["id"] == alias["id"]
        assert shown["producers"] == ["job:spark:write_orders"] and shown["consumers"] == ["job:spark:read_orders"]
        eng.close()


def test_unknown_facets_are_kept_verbatim(engine: Engine) -> None:
    custom = {"_producer": "https://example.com/x", "_schemaURL": "https://example.com/s", "nested": {"deep": [1, {"x": None}]}}
    ev = run_event("COMPLETE", ("etl", "custom"), outputs=[dataset(WH, "wh.main.x", myCompany_quality=custom)], spark_version={"spark-version": "3.5"})
    engine.ingest(ev)
    assert engine.show(f"dataset:{WH}:wh.main.x")["facets"]["myCompany_quality"] == custom
    assert engine.run(ev["run"]["runId"]).facets["spark_version"] == {"spark-version": "3.5"}


def test_invalid_event_in_a_batch_stores_nothing(engine: Engine) -> None:
    good = run_lifecycle(("etl", "ok"))
    bad = run_event("COMPLETE", ("etl", "bad"))
    del bad["run"]["runId"]
    with pytest.raises(InvalidEvent) as info:
        engine.ingest([*good, bad])
    assert info.value.index == 2 and info.value.field == "run.runId"
    assert dump(engine)["raw_events"] == 0


def test_versions_and_checks(engine: Engine) -> None:
    out = dataset(WH, "wh.main.orders", fields=[("id", "int")], rows=10)
    out["facets"]["dataQualityAssertions"] = {"_producer": "p", "_schemaURL": "s", "assertions": [{"assertion": "not_null", "success": False, "column": "id"}]}
    engine.ingest(run_lifecycle(("etl", "orders"), outputs=[out]))
    versions = engine.versions(f"dataset:{WH}:wh.main.orders")
    assert len(versions) == 1 and versions[0].row_count == 10 and versions[0].status.value == "published"
    checks = engine.show(f"dataset:{WH}:wh.main.orders")["checks"]
    assert checks[0]["assertion"] == "not_null" and checks[0]["success"] is False and checks[0]["field"] == "id"


# -- property tests: any permutation and duplication gives the same graph ----------------


def _scenario(seed: int) -> list[dict]:
    rnd = random.Random(seed)
    dag_run = str(uuid.UUID(int=rnd.getrandbits(128)))
    task_run = str(uuid.UUID(int=rnd.getrandbits(128)))
    parent = (dag_run, "airflow", "dag")
    src = dataset("postgres://crm:5432", "crm.public.customers", fields=[("id", "int4")])
    out_v1 = dataset(WH, "wh.main.customers", fields=[("id", "int"), ("email", "text")])
    out_v2 = dataset(WH, "wh.main.customers", fields=[("id", "bigint"), ("email", "text")], rows=rnd.randint(1, 100))
    return [
        run_event("START", ("airflow", "dag"), dag_run, at=0),
        run_event("START", ("airflow", "dag.load"), task_run, at=1, parent=parent, try_number=1, inputs=[src], outputs=[out_v1]),
        run_event("RUNNING", ("airflow", "dag.load"), task_run, at=2, parent=parent, try_number=1, processing_engine={"_producer": "p", "_schemaURL": "s", "version": "3.3.2", "name": "Airflow"}),
        run_event("OTHER", ("airflow", "dag.load"), task_run, at=2.5, parent=parent),
        run_event("COMPLETE", ("airflow", "dag.load"), task_run, at=3, parent=parent, try_number=1, inputs=[src], outputs=[out_v2]),
        run_event("COMPLETE", ("airflow", "dag"), dag_run, at=4),
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), order=st.randoms(use_true_random=False), dupes=st.lists(st.integers(0, 5), max_size=6))
def test_any_permutation_and_duplication_gives_the_same_graph(tmp_path_factory, seed, order, dupes) -> None:
    events = _scenario(seed)
    base = tmp_path_factory.mktemp("prop")
    reference = Engine(db_url=f"sqlite:///{base / 'ref.db'}")
    reference.ingest(events)
    shuffled = events + [events[i] for i in dupes]
    order.shuffle(shuffled)
    other = Engine(db_url=f"sqlite:///{base / 'perm.db'}")
    for e in shuffled:  # one at a time: each event its own transaction
        other.ingest(e)
    assert dump(other) == dump(reference)
    reference.close()
    other.close()


def test_a_store_from_an_older_version_is_migrated(tmp_path) -> None:
    import sqlalchemy as sa

    from sutura.store import schema

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.create_engine(url)
    later = {"check_result": "ix_check_version", "dataset": "ix_dataset_name", "job": "ix_job_name", "dataset_version": "ix_version_fingerprint"}
    with old.begin() as conn:  # what version 1 left behind: its tables, without the later indexes
        schema.metadata.create_all(conn)
        for index in later.values():
            conn.exec_driver_sql(f"DROP INDEX {index}")
        conn.exec_driver_sql("CREATE TABLE sutura_schema (version INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO sutura_schema VALUES (1)")
    Engine(db_url=url).close()
    with old.connect() as conn:
        assert conn.exec_driver_sql("SELECT version FROM sutura_schema").scalar() == schema.SCHEMA_VERSION == 3
        for table, index in later.items():
            assert index in {i["name"] for i in sa.inspect(conn).get_indexes(table)}
    with old.begin() as conn:
        conn.exec_driver_sql("UPDATE sutura_schema SET version = 99")
    from sutura import StoreError

    with pytest.raises(StoreError, match="newer than this Sutura"):
        Engine(db_url=url)
