"""The demo: build the estate in a fresh directory, play every situation, say what Sutura did.

    python examples/demo/main.py [--json] [--workdir DIR] [--keep]

Progress goes to stdout as it happens; the last block is a summary. With ``--json`` only
the JSON report is printed (progress goes to stderr).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sutura_estate.estate import Estate
from sutura_estate.situations import bad_batch, outage, schema_change, transient_failure, unchanged_pass

__all__ = ["main", "summarize"]


def summarize(results: dict[str, dict[str, Any]]) -> list[str]:
    """One line per situation: what Sutura saw and did, from the recorded results."""
    lines = []
    t = results.get("transient_failure")
    if t:
        retry = next((d for d in t["decisions"] if d["action"] == "retry"), None)
        lines.append(
            f"1 transient failure : load tries {'/'.join(t['load_tries'])}; engine said "
            f"{'RETRY in %.1fs' % retry['delay_seconds'] if retry else 'no retry'}; dbt ran "
            f"{len(t['dbt']['executions'])} models once, Dagster 1 run: nothing downstream noticed"
        )
    u = results.get("unchanged_pass")
    if u:
        lines.append(
            f"0 unchanged pass    : load rewrote identical rows; dbt ran {len(u['dbt']['executions'])} models, "
            f"Dagster {'requested a run' if u['dagster']['requested'] else 'requested nothing'}"
        )
    o = results.get("outage")
    if o:
        waits = [d for d in o["decisions"] if d["action"] == "wait"]
        root = (o["explain"].get("root_cause") or {}).get("id")
        incident = o["explain"].get("incident") or {}
        rec = o["recovery"]
        lines.append(
            f"2 causal chain      : load tries {'/'.join(o['load_tries'])}, circuit {o['during']['circuits']}; "
            f"{len(waits)} WAIT decisions (dbt, Dagster); explain(customer_features) root cause {root}; "
            f"one incident with {len(incident.get('symptoms', []))} symptoms; after the backfill dbt ran "
            f"{len(rec['dbt_executions'])} models, Dagster {1 if rec['dagster_requested'] else 0} run"
        )
    b = results.get("bad_batch")
    if b:
        d, a = b["during"], b["after"]
        lines.append(
            f"3 bad data          : {d['quarantine_rows']} rows held in {', '.join(d['quarantine_tables'])}; raw_orders "
            f"unchanged={d['raw_orders_unchanged']} ({d['raw_orders_stale_seconds'] or 0:.0f}s stale), features still batch "
            f"{d['features_batches']}; after release dbt ran {len(a['dbt_executions'])} models, "
            f"Dagster {1 if a['dagster_requested'] else 0} run, features now batch {a['features_batches']}"
        )
    s = results.get("schema_change")
    if s:
        ad, br = s["additive"], s["breaking"]
        not_built = [n.rsplit(".", 1)[-1] for h in br["holds"] for n in h["not_built"]]
        lines.append(
            f"4 schema change     : added column -> {ad['kind']}, dbt ran {len(ad['dbt_executions'])} models "
            f"(stg_orders has 'channel': {'channel' in ad['stg_columns']}); dropped amount -> {br['kind']}, held "
            f"{[h.rsplit('.', 1)[-1] for h in br['held']]} (not built with it: {not_built}), dbt ran {len(br['dbt_executions'])}, "
            f"mart unchanged={br['mart_unchanged']}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print only a JSON report")
    parser.add_argument("--workdir", help="where to build the estate (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (always kept with --workdir)")
    args = parser.parse_args(argv)
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("sutura").setLevel(logging.ERROR)
    logging.getLogger("dagster").setLevel(logging.WARNING)  # sensor ticks log at INFO

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="sutura-estate-"))
    out = sys.stderr if args.json else sys.stdout
    echo = lambda text: print(text, file=out, flush=True)  # noqa: E731
    started = time.perf_counter()
    echo(f"Sutura estate in {workdir}: Airflow (estate_load) -> DuckDB raw_orders -> dbt (stg_orders, customer_revenue) "
         f"-> Dagster (customer_features), one engine ({workdir / 'sutura.db'})")
    results: dict[str, dict[str, Any]] = {}
    estate = Estate(workdir, echo=echo)
    code = 0
    try:
        estate.setup()
        for step in (transient_failure, unchanged_pass, outage, bad_batch, schema_change):
            t0 = time.perf_counter()
            record = step(estate)
            record["seconds"] = round(time.perf_counter() - t0, 1)
            results[record["situation"]] = record
    except Exception as exc:  # noqa: BLE001 - report what was done, then fail
        echo(f"\nFAILED: {type(exc).__name__}: {exc}")
        code = 1
    finally:
        estate.close()
    total = time.perf_counter() - started
    report = {
        "workdir": str(workdir),
        "store": estate.db_url,
        "seconds": round(total, 1),
        "seconds_by_tool": {k: round(v, 1) for k, v in estate.timings.items()},
        "situations": results,
        "summary": summarize(results),
        "ok": code == 0,
    }
    if args.json:
        print(json.dumps(report, default=str, indent=2))
    else:
        echo(f"\nSummary ({total:.0f}s: Airflow {estate.timings['airflow']:.0f}s, dbt {estate.timings['dbt']:.0f}s, Dagster {estate.timings['dagster']:.0f}s)")
        for line in report["summary"]:
            echo("  " + line)
    kept = args.keep or args.workdir or code != 0
    if not args.json:
        if kept:
            echo(f"\nEverything Sutura decided: sutura --db {estate.db_url} decisions   (and: sutura --db ... explain {estate.features.id})")
        else:
            echo("\nThe estate's folder is removed; run with --keep (or --workdir DIR) to look into its store with `sutura --db ... decisions`.")
    if not kept:
        shutil.rmtree(workdir, ignore_errors=True)
    return code
