"""The ``sutura`` command. Human output by default; ``--json`` is stable for machines.

Every command finds the engine the same way as the plugins: ``--db``/``--url``, then
``sutura.yml``, then ``SUTURA_DB_URL`` / ``SUTURA_URL``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

from sutura import codec, config
from sutura.errors import InvalidEvent, SuturaError

__all__ = ["main"]


def _engine(args: argparse.Namespace) -> Any:
    from sutura.engine import connect

    return connect(db_url=args.db, url=args.url)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False))


def _files(paths: Sequence[str]) -> Iterator[Path]:
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(x for x in p.rglob("*") if x.suffix in (".json", ".jsonl", ".ndjson") and x.is_file())
        elif p.exists():
            yield p
        else:
            raise SuturaError(f"{p}: no such file or folder")


# -- commands ---------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (a name like ``127.example.com`` is not)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    overrides = {k: v for k, v in {"db_url": args.db}.items() if v}
    settings = config.resolve(**overrides)
    host = args.host or settings.get("server.host")
    port = args.port or settings.get("server.port")
    workers = args.workers or settings.get("server.workers")
    loopback = _is_loopback(host)
    if not loopback and not settings.get("server.tokens") and not (args.insecure or settings.get("server.allow_public_without_auth")):
        raise SuturaError(f"refusing to bind {host} without auth tokens: configure server.tokens, or pass --insecure")
    import os

    if args.db:
        os.environ["SUTURA_DB_URL"] = args.db
    if not settings.get("server.metrics_dir"):
        import tempfile

        # One directory shared by this server's workers, so /metrics sums all of them.
        os.environ["SUTURA__SERVER__METRICS_DIR"] = tempfile.mkdtemp(prefix="sutura-metrics-")
    from sutura.store.db import open_store

    open_store(settings.db_url).dispose()  # migrate once, before workers start
    # uvicorn's default 5 s worker health check kills workers still importing on a busy
    # machine (import + migrate can take longer), and restarts them forever: allow a minute.
    uvicorn.run("sutura.server:app_from_env", factory=True, host=host, port=port, workers=workers, log_level=args.log_level,
                timeout_worker_healthcheck=60)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    engine = _engine(args)
    total_accepted = total_dupes = 0
    failed = 0
    for path in _files(args.paths):
        try:
            result = engine.ingest(path.read_bytes())
        except InvalidEvent as exc:
            failed += 1
            print(f"{path}: rejected: {exc}", file=sys.stderr)
            continue
        total_accepted += result.accepted
        total_dupes += result.duplicates
        if args.json:
            continue
        print(f"{path}: {result.accepted} accepted, {result.duplicates} already held")
    if args.json:
        _print_json({"accepted": total_accepted, "duplicates": total_dupes, "rejected_files": failed})
    else:
        print(f"total: {total_accepted} accepted, {total_dupes} already held, {failed} file(s) rejected")
    return 1 if failed else 0


def cmd_lineage(args: argparse.Namespace) -> int:
    graph = _engine(args).lineage(args.node, args.direction, args.depth, columns=args.columns)
    if args.json:
        _print_json(graph)
        return 0
    nodes = graph["graph"]
    print(f"{len(nodes)} nodes around {args.node} ({args.direction}, depth {args.depth})")
    for n in nodes:
        state = n["data"].get("latestRunState")
        print(f"  {n['type'].lower():7} {n['id']}" + (f"  [{state}]" if state else ""))
        for e in n["outEdges"]:
            print(f"          -> {e['destination']}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from sutura.show import run_dict

    runs = _engine(args).runs(args.job, args.limit)
    if args.json:
        _print_json([run_dict(r) for r in runs])
        return 0
    for r in runs:
        took = f"{(r.ended_at - r.started_at).total_seconds():.1f}s" if r.ended_at and r.started_at else "-"
        attempt = f" attempt {r.attempt}" if r.attempt else ""
        error = f"  {r.error_message.splitlines()[0][:100]}" if r.error_message else ""
        print(f"{r.run_id}  {r.state.value:8} {r.started_at:%Y-%m-%d %H:%M:%S} {took:>8}{attempt}{error}" if r.started_at else f"{r.run_id} {r.state.value}")
    if not runs:
        print(f"no runs of {args.job}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    info = _engine(args).show(args.node)
    if args.json:
        _print_json(info)
        return 0
    print(f"{info['id']}")
    for key, value in info.items():
        if key in ("id", "facets"):
            continue
        if isinstance(value, list):
            print(f"  {key}:")
            for item in value[:20]:
                print(f"    - {item if not isinstance(item, dict) else ', '.join(f'{k}={v}' for k, v in item.items() if v is not None and k != 'facets')}")
        else:
            print(f"  {key}: {value}")
    print(f"  facets: {', '.join(sorted(info.get('facets', {}))) or '-'}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    explanation = _engine(args).explain(args.node)
    if args.json:
        _print_json(explanation.to_dict())
        return 0
    print(explanation.text())
    if explanation.root_cause:
        print(f"\nroot cause: {explanation.root_cause['id']}")
    if explanation.incident:
        print(f"incident {explanation.incident['id']} ({explanation.incident['state']}), {len(explanation.incident['symptoms'])} symptoms")
    return 0


def cmd_incidents(args: argparse.Namespace) -> int:
    incidents = _engine(args).incidents(args.state, args.limit)
    if args.json:
        _print_json([i.to_dict() for i in incidents])
        return 0
    for i in incidents:
        print(f"{i.id}  {i.state.value:10} root cause {i.root_cause}")
        print(f"    {i.summary[:160]}")
        for s in i.symptoms:
            print(f"    symptom {s}")
    if not incidents:
        print("no incidents")
    return 0


def cmd_decisions(args: argparse.Namespace) -> int:
    decisions = _engine(args).decisions(args.subject, action=args.action, limit=args.limit)
    if args.json:
        _print_json([codec.decision_to_json(d) for d in decisions])
        return 0
    for d in decisions:
        delay = f" in {d.delay_seconds:.1f}s" if d.delay_seconds is not None else ""
        outcome = f" -> {d.outcome}" if d.outcome else ""
        at = f"{d.created_at:%Y-%m-%d %H:%M:%S}" if d.created_at else ""
        print(f"{at}  {d.action.value.upper():10}{delay}{outcome}  {d.subject}")
        print(f"    {d.reason}  [{d.policy}]")
    if not decisions:
        print("no decisions")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    engine = _engine(args)
    fn = engine.discard if args.discard else engine.release
    decision = fn(args.version, args.reason, by=args.by)
    if args.json:
        _print_json(codec.decision_to_json(decision))
    else:
        print(f"{decision.action.value}: {decision.subject}\n    {decision.reason}")
    return 0


def cmd_changes(args: argparse.Namespace) -> int:
    engine = _engine(args)
    changes, cursor = engine.changes(args.since)
    plan = engine.plan_runs(changes) if args.plan else []
    if args.json:
        _print_json({"changes": [c.to_dict() for c in changes], "cursor": cursor, "plan": [r.to_dict() for r in plan]})
        return 0
    for c in changes:
        print(f"{c.cursor:>6}  {c.dataset.id}  {c.kind}  {c.previous or '(first)'} -> {c.content_fingerprint}")
    for r in plan:
        print(f"run {r.integration} {r.target}  because {', '.join(r.reasons)}")
    print(f"cursor: {cursor}")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from sutura.engine import Engine
    from sutura.retention import prune

    if args.url or config.resolve().url:
        raise SuturaError("prune works on the store itself: pass --db (or SUTURA_DB_URL), not a remote --url")
    engine = Engine(db_url=args.db)
    try:
        events_days = args.events_days if args.events_days is not None else engine.settings.get("retention.events_days")
        runs_per_job = args.runs_per_job if args.runs_per_job is not None else engine.settings.get("retention.runs_per_job")
        if events_days is None and runs_per_job is None:
            raise SuturaError("nothing to prune: set retention.events_days / retention.runs_per_job or pass --events-days / --runs-per-job")
        result = prune(engine, events_days=events_days, runs_per_job=runs_per_job, batch_size=args.batch_size)
    finally:
        engine.close()
    if args.json:
        _print_json(result.to_dict())
    else:
        print(f"pruned {result.events} raw event(s) older than {events_days} day(s); "
              f"{result.runs} run(s) beyond {runs_per_job} per job (with {result.run_io} run_io row(s) and {result.run_events} of their raw events)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sutura", description="Sutura: one OpenLineage graph that heals itself.")
    parser.add_argument("--db", help="store URL (default: SUTURA_DB_URL or sqlite:///.sutura/sutura.db)")
    parser.add_argument("--url", help="a remote `sutura serve` (default: SUTURA_URL)")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Any, help_text: str, json_flag: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if json_flag:
            p.add_argument("--json", action="store_true", help="stable JSON output")
        p.set_defaults(fn=fn)
        return p

    p = add("serve", cmd_serve, "serve the OpenLineage endpoint and the engine over HTTP", json_flag=False)
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 5000)")
    p.add_argument("--workers", type=int, help="uvicorn worker processes")
    p.add_argument("--insecure", action="store_true", help="allow binding beyond loopback without tokens")
    p.add_argument("--log-level", default="warning")
    p = add("ingest", cmd_ingest, "ingest OpenLineage events from JSON / JSONL files or folders")
    p.add_argument("paths", nargs="+")
    p = add("lineage", cmd_lineage, "upstream/downstream lineage of a node")
    p.add_argument("node", help="dataset:<namespace>:<name> or job:<namespace>:<name>")
    p.add_argument("--depth", type=int, default=5)
    p.add_argument("--direction", choices=["upstream", "downstream", "both"], default="both")
    p.add_argument("--columns", action="store_true", help="column-level lineage")
    p = add("runs", cmd_runs, "runs of a job, newest first")
    p.add_argument("job")
    p.add_argument("--limit", type=int, default=20)
    p = add("show", cmd_show, "the current state of a node")
    p.add_argument("node")
    p = add("explain", cmd_explain, "the causal chain from a symptom to its root cause")
    p.add_argument("node")
    p = add("incidents", cmd_incidents, "incidents: symptoms grouped by root cause")
    p.add_argument("--state", choices=["open", "mitigating", "resolved"])
    p.add_argument("--limit", type=int, default=50)
    p = add("decisions", cmd_decisions, "the audit trail of the engine's decisions")
    p.add_argument("--subject")
    p.add_argument("--action")
    p.add_argument("--limit", type=int, default=50)
    p = add("release", cmd_release, "publish a quarantined dataset version (or --discard it)")
    p.add_argument("version", help="version:<ns>:<name>@<fingerprint>, or dataset:<ns>:<name> for its latest quarantine")
    p.add_argument("--reason", default="released by hand")
    p.add_argument("--by")
    p.add_argument("--discard", action="store_true")
    p = add("changes", cmd_changes, "content changes since a cursor, and (--plan) what they would run")
    p.add_argument("--since")
    p.add_argument("--plan", action="store_true")
    p = add("prune", cmd_prune, "apply retention: drop old raw events and runs beyond the newest K per job")
    p.add_argument("--events-days", type=float, help="drop raw events received more than this many days ago (default retention.events_days)")
    p.add_argument("--runs-per-job", type=int, help="keep this many newest runs per job (default retention.runs_per_job)")
    p.add_argument("--batch-size", type=int, help="rows per transaction (default retention.batch_size)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except SuturaError as exc:
        print(f"sutura: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
