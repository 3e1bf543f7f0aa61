"""The four situations (and the unchanged pass), played for real on one ``Estate``.

Each function takes the estate through one situation, in the order of the demo, and
returns a JSON-able record of what Sutura saw and did; the e2e tests assert on the same
records and on the estate itself. Batches are days: ``day(n)`` is the n-th batch date.
"""

from __future__ import annotations

from typing import Any

from sutura_estate.estate import Estate, now

__all__ = ["DAYS", "batch", "transient_failure", "unchanged_pass", "outage", "bad_batch", "schema_change", "play"]

DAYS = ["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21"]
_CUSTOMERS = ["ann", "bob", "cid", "dee"]
_STATUS = ["paid", "shipped", "new", "paid"]


def batch(day: str, *, n: int = 8, extra: dict[str, Any] | None = None, drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """A day's orders as the source API serves them."""
    base = DAYS.index(day) * 100
    rows = []
    for i in range(n):
        amount = round(10 + 3.5 * i + DAYS.index(day), 2)
        row: dict[str, Any] = {
            "id": base + i + 1,
            "customer": _CUSTOMERS[i % 4],
            "status": _STATUS[i % 4],
            "amount": amount,
            "batch_date": day,
        }
        for k, v in (extra or {}).items():
            row[k] = v(i) if callable(v) else v
        for k in drop:
            row.pop(k, None)
        rows.append(row)
    return rows


def _say(estate: Estate, text: str) -> None:
    estate.echo(f"  {text}")


def _decisions(estate: Estate, since: Any) -> list[dict[str, Any]]:
    assert estate.engine is not None
    out = []
    for d in reversed(estate.engine.decisions(limit=200)):
        if d.created_at is not None and d.created_at >= since:
            out.append({"action": d.action.value, "subject": d.subject, "reason": d.reason, "delay_seconds": d.delay_seconds})
    return out


def transient_failure(estate: Estate) -> dict[str, Any]:
    """1. The load times out once, is retried after the engine's delay and heals; downstream never notices."""
    day = DAYS[0]
    estate.echo(f"\n[1] transient source failure — batch {day}: the source API answers too slowly once")
    since = now()
    estate.source.publish(batch(day))
    estate.source.slow(1)
    load = estate.load()
    _say(estate, f"Airflow estate_load: {'succeeded' if load.succeeded else 'FAILED'} in {load.seconds:.0f}s, {estate.source.requests} requests to the source")
    dbt = estate.dbt_build(day, changed=True)
    _say(estate, f"dbt (sutura-dbt build --changed): exit {dbt.exit_code}, ran {[e.rsplit('.', 1)[-1] for e in dbt.executions]}")
    dag = estate.features_tick()
    _say(estate, f"Dagster sutura_changes: {'materialized customer_features' if dag.requested else 'nothing requested'} (success={dag.success})")
    decisions = _decisions(estate, since)
    for d in decisions:
        _say(estate, f"decision {d['action'].upper()}: {d['reason'][:140]}")
    jobs = estate.jobs()
    return {
        "situation": "transient_failure",
        "load_succeeded": load.succeeded,
        "load_tries": estate.run_states(jobs["load"], since),
        "source_requests": estate.source.requests,
        "decisions": decisions,
        "dbt": {"exit_code": dbt.exit_code, "executions": dbt.executions, "decisions": dbt.decisions},
        "dagster": {"requested": dag.requested, "success": dag.success, "attempts": dag.attempts},
        "raw_orders_rows": estate.query("SELECT count(*) FROM raw_orders")[0][0],
    }


def unchanged_pass(estate: Estate) -> dict[str, Any]:
    """The load runs again on an unchanged source: the same content is no change, nothing downstream runs."""
    day = DAYS[0]
    estate.echo(f"\n[0] change-driven — batch {day} again: the source has not changed")
    since = now()
    load = estate.load()
    _say(estate, f"Airflow estate_load: {'succeeded' if load.succeeded else 'FAILED'} in {load.seconds:.0f}s (rewrote raw_orders with identical rows)")
    assert estate.engine is not None
    dbt = estate.dbt_build(day, changed=True)
    _say(estate, f"dbt --changed: ran {sorted(set(dbt.executions)) or 'nothing'}")
    dag = estate.features_tick()
    _say(estate, f"Dagster sutura_changes: {'requested a run' if dag.requested else 'nothing requested'}")
    return {
        "situation": "unchanged_pass",
        "load_succeeded": load.succeeded,
        "dbt": {"exit_code": dbt.exit_code, "executions": dbt.executions},
        "dagster": {"requested": dag.requested},
        "decisions": _decisions(estate, since),
    }


def outage(estate: Estate) -> dict[str, Any]:
    """2. The source is down: the load's circuit opens, dbt and Dagster wait, one incident; then the backfill."""
    day = DAYS[1]
    estate.echo(f"\n[2] the causal chain — batch {day}: the source API is down")
    since = now()
    estate.source.publish(batch(day))
    estate.source.stop()
    load = estate.load()
    jobs = estate.jobs()
    _say(estate, f"Airflow estate_load: {'succeeded' if load.succeeded else 'failed'} after {len(estate.run_states(jobs['load'], since))} tries ({load.seconds:.0f}s)")
    dbt = estate.dbt_build(day, changed=False)  # the daily schedule fires regardless
    _say(estate, f"dbt daily build: exit {dbt.exit_code}, executions {[e.rsplit('.', 1)[-1] for e in dbt.executions]}")
    dag = estate.features_scheduled(day)
    _say(estate, f"Dagster daily customer_features: success={dag.success}, {dag.attempts} step attempts")
    decisions = _decisions(estate, since)
    for d in decisions:
        _say(estate, f"decision {d['action'].upper()} {d['subject'].split(':')[-1][:40]}: {d['reason'][:150]}")
    assert estate.engine is not None
    explanation = estate.engine.explain(estate.features.id)
    estate.echo("  sutura explain " + estate.features.id + ":")
    for line in explanation.text().splitlines():
        estate.echo("    " + line[:200])
    if explanation.incident:
        _say(estate, f"incident {explanation.incident['id'][:8]} ({explanation.incident['state']}): {len(explanation.incident['symptoms'])} symptoms")
    failed_state = {
        "raw_orders_batches": [r[0] for r in estate.query("SELECT DISTINCT batch_date FROM raw_orders ORDER BY 1")],
        "circuits": _circuits(estate),
    }
    estate.echo(f"  … the source is back: backfill batch {day}")
    recovered_at = now()
    estate.source.start()
    backfill = estate.load()
    _say(estate, f"Airflow estate_load (backfill): {'succeeded' if backfill.succeeded else 'FAILED'} in {backfill.seconds:.0f}s")
    dbt2 = estate.dbt_build(day, changed=True)
    _say(estate, f"dbt --changed: ran {[e.rsplit('.', 1)[-1] for e in dbt2.executions]}")
    dag2 = estate.features_tick()
    _say(estate, f"Dagster sutura_changes: {'materialized customer_features' if dag2.requested else 'nothing'} (success={dag2.success})")
    incident = estate.engine.incidents()
    return {
        "situation": "outage",
        "load_succeeded": load.succeeded,
        "load_tries": estate.run_states(jobs["load"], since)[: len(estate.run_states(jobs["load"], since)) - (1 if backfill.succeeded else 0)],
        "decisions": decisions,
        "dbt": {"exit_code": dbt.exit_code, "executions": dbt.executions, "decisions": dbt.decisions},
        "dagster": {"success": dag.success, "attempts": dag.attempts, "log": dag.log},
        "explain": explanation.to_dict(),
        "during": failed_state,
        "recovery": {
            "load_succeeded": backfill.succeeded,
            "dbt_exit_code": dbt2.exit_code,
            "dbt_executions": dbt2.executions,
            "dagster_requested": dag2.requested,
            "dagster_success": dag2.success,
            "dagster_attempts": dag2.attempts,
            "raw_orders_batches": [r[0] for r in estate.query("SELECT DISTINCT batch_date FROM raw_orders ORDER BY 1")],
            "mart_batches": [str(r[0]) for r in estate.query("SELECT DISTINCT batch_date FROM customer_revenue ORDER BY 1")],
            "circuits": _circuits(estate),
            "incidents": [{"root_cause": i.root_cause, "state": i.state.value} for i in incident],
            "since": recovered_at.isoformat(),
        },
    }


def bad_batch(estate: Estate) -> dict[str, Any]:
    """3. A batch with broken rows is quarantined at the load; production keeps the last good data; release wakes downstream."""
    day = DAYS[2]
    estate.echo(f"\n[3] bad data — batch {day}: two rows without a customer, one unknown status")
    since = now()
    rows = batch(day)
    rows[1]["customer"] = None
    rows[4]["customer"] = None
    rows[6]["status"] = "lost"
    estate.source.publish(rows)
    before = estate.query("SELECT * FROM raw_orders ORDER BY id")
    load = estate.load()
    assert estate.engine is not None
    held = estate.engine.last_published(estate.raw_orders)
    quarantine_tables = [t for t in estate.tables() if t.startswith("raw_orders__sutura_q")]
    _say(estate, f"Airflow estate_load: {'succeeded' if load.succeeded else 'failed (the quarantine fails the task, no retry)'}; held in {quarantine_tables}")
    dbt = estate.dbt_build(day, changed=True)
    _say(estate, f"dbt --changed: ran {sorted(set(dbt.executions)) or 'nothing'} (no published change)")
    dag = estate.features_tick()
    _say(estate, f"Dagster sutura_changes: {'requested a run' if dag.requested else 'nothing requested'}")
    stale = estate.engine.last_published(estate.features)
    served = sorted({str(b) for b in estate.features_value()["batch_date"]})
    age = (now() - stale.published_at).total_seconds() if stale.published_at else None
    held = estate.engine.last_published(estate.raw_orders)
    _say(estate, f"raw_orders keeps batch {[r[0] for r in estate.query('SELECT DISTINCT batch_date FROM raw_orders')]}, "
                 f"{held.stale_seconds or 0:.0f}s stale ({len(held.quarantined)} version held); customer_features keeps serving "
                 f"batch {served}, published {age or 0:.0f}s ago")
    during = {
        "raw_orders_unchanged": estate.query("SELECT * FROM raw_orders ORDER BY id") == before,
        "raw_orders_batches": [r[0] for r in estate.query("SELECT DISTINCT batch_date FROM raw_orders")],
        "quarantine_tables": quarantine_tables,
        "quarantine_rows": estate.query(f"SELECT count(*) FROM {quarantine_tables[0]}")[0][0] if quarantine_tables else 0,
        "quarantined_versions": [v.id for v in held.quarantined],
        "mart_batches": [str(r[0]) for r in estate.query("SELECT DISTINCT batch_date FROM customer_revenue")],
        "raw_orders_stale_seconds": held.stale_seconds,
        "features_published_at": stale.published_at.isoformat() if stale.published_at else None,
        "features_age_seconds": age,
        "features_batches": served,
    }
    decisions = _decisions(estate, since)
    for d in decisions:
        _say(estate, f"decision {d['action'].upper()}: {d['reason'][:160]}")
    # the fix: the two rows without a customer are dropped and the status corrected, in the held table
    estate.echo("  … a person fixes the held rows and releases them")
    import duckdb

    con = duckdb.connect(str(estate.warehouse))
    try:
        con.execute(f"DELETE FROM {quarantine_tables[0]} WHERE customer IS NULL")
        con.execute(f"UPDATE {quarantine_tables[0]} SET status = 'shipped' WHERE status = 'lost'")
    finally:
        con.close()
    from sutura_airflow import release_quarantine
    from sutura_airflow._engine import reset_engine

    reset_engine()
    release = release_quarantine(url=f"duckdb:///{estate.warehouse}", table="raw_orders", reason="fixed: rows without a customer dropped, status corrected", by="demo")
    _say(estate, f"decision {release.action.value.upper()}: {release.reason}")
    dbt2 = estate.dbt_build(day, changed=True)
    _say(estate, f"dbt --changed: ran {[e.rsplit('.', 1)[-1] for e in dbt2.executions]}")
    dag2 = estate.features_tick()
    _say(estate, f"Dagster sutura_changes: {'materialized customer_features' if dag2.requested else 'nothing'} (success={dag2.success})")
    return {
        "situation": "bad_batch",
        "load_succeeded": load.succeeded,
        "decisions": decisions,
        "during": during,
        "dbt_during": {"executions": dbt.executions},
        "dagster_during": {"requested": dag.requested},
        "release": {"action": release.action.value, "subject": release.subject},
        "after": {
            "raw_orders_rows": estate.query("SELECT count(*) FROM raw_orders")[0][0],
            "raw_orders_batches": [r[0] for r in estate.query("SELECT DISTINCT batch_date FROM raw_orders")],
            "dbt_executions": dbt2.executions,
            "dagster_requested": dag2.requested,
            "dagster_success": dag2.success,
            "mart_batches": [str(r[0]) for r in estate.query("SELECT DISTINCT batch_date FROM customer_revenue")],
            "features_batches": sorted({str(b) for b in estate.features_value()["batch_date"]}),
        },
    }


def schema_change(estate: Estate) -> dict[str, Any]:
    """4. An added column flows through; a dropped column used downstream holds the models reading it."""
    assert estate.engine is not None
    day = DAYS[3]
    estate.echo(f"\n[4] schema change — batch {day}: the source adds a column 'channel'")
    since = now()
    estate.source.publish(batch(day, extra={"channel": lambda i: "web" if i % 2 else "store"}))
    load = estate.load()
    changes, _ = estate.engine.changes(datasets=[estate.raw_orders.id])
    additive_kind = changes[-1].kind if changes else None
    _say(estate, f"Airflow estate_load: {'succeeded' if load.succeeded else 'FAILED'}; engine: raw_orders change is {additive_kind}")
    dbt = estate.dbt_build(day, changed=True)
    _say(estate, f"dbt --changed: ran {[e.rsplit('.', 1)[-1] for e in dbt.executions]}; stg_orders columns {list(estate.columns('stg_orders'))}")
    dag = estate.features_tick()
    _say(estate, f"Dagster sutura_changes: {'materialized customer_features' if dag.requested else 'nothing'} (success={dag.success})")
    additive = {
        "load_succeeded": load.succeeded,
        "kind": additive_kind,
        "dbt_exit_code": dbt.exit_code,
        "dbt_executions": dbt.executions,
        "stg_columns": list(estate.columns("stg_orders")),
        "dagster_requested": dag.requested,
        "dagster_success": dag.success,
    }
    day = DAYS[4]
    estate.echo(f"\n[4] schema change — batch {day}: the source stops sending 'amount' (customer_revenue sums it)")
    mart_before = estate.query("SELECT * FROM customer_revenue ORDER BY customer")
    estate.source.publish(batch(day, drop=("amount",), extra={"channel": "web"}))
    load2 = estate.load()
    changes2, _ = estate.engine.changes(datasets=[estate.raw_orders.id])
    breaking_kind = changes2[-1].kind if changes2 else None
    _say(estate, f"Airflow estate_load: {'succeeded' if load2.succeeded else 'FAILED'}; engine: raw_orders change is {breaking_kind}")
    dbt2 = estate.dbt_build(day, changed=True)
    _say(estate, f"dbt --changed: exit {dbt2.exit_code}, held {[h.rsplit('.', 1)[-1] for h in dbt2.held]}, ran {[e.rsplit('.', 1)[-1] for e in dbt2.executions]}")
    for line in dbt2.held_lines:
        _say(estate, line)
    dag2 = estate.features_tick()
    _say(estate, f"Dagster sutura_changes: {'requested a run' if dag2.requested else 'nothing requested'}")
    decisions = _decisions(estate, since)
    for d in decisions:
        if d["action"] == "skip":
            _say(estate, f"decision SKIP {d['subject']}: {d['reason']}")
    return {
        "situation": "schema_change",
        "additive": additive,
        "breaking": {
            "load_succeeded": load2.succeeded,
            "kind": breaking_kind,
            "held": dbt2.held,
            "holds": dbt2.summary.get("held", []),
            "held_lines": dbt2.held_lines,
            "dbt_exit_code": dbt2.exit_code,
            "dbt_executions": dbt2.executions,
            "dagster_requested": dag2.requested,
            "mart_unchanged": estate.query("SELECT * FROM customer_revenue ORDER BY customer") == mart_before,
            "raw_columns": list(estate.columns("raw_orders")),
        },
        "decisions": decisions,
    }


def _circuits(estate: Estate) -> dict[str, str]:
    import sqlalchemy as sa

    eng = sa.create_engine(estate.db_url)
    try:
        with eng.connect() as conn:
            return {r.source: r.state for r in conn.execute(sa.text("SELECT source, state FROM circuit"))}
    except Exception:  # noqa: BLE001 - a read-only view for the report
        return {}
    finally:
        eng.dispose()


def play(estate: Estate) -> list[dict[str, Any]]:
    """Every situation in the demo's order."""
    return [transient_failure(estate), unchanged_pass(estate), outage(estate), bad_batch(estate), schema_change(estate)]
