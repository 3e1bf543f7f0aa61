"""Run one dbt command through dbt's programmatic runner, and heal, audit and report it.

One ``sutura-dbt build`` is: parse once (the manifest is reused by every attempt), decide
the selection (``--changed``), invoke dbt, then after each invocation emit its
OpenLineage events, hand its test results to ``engine.on_checks``, ask
``engine.on_failure`` about each failed node, and invoke dbt again for exactly the nodes
to retry. The exit code is dbt's, computed from each node's final status. With
``--changed``, a model the engine holds (a breaking schema change in its input) is left
out with what only it feeds, said so, and remembered until fixed or accepted (``held.py``).

A Sutura plugin never fails or stalls the build because Sutura is down or confused: the
first failing engine call logs one warning and the rest of the run is plain dbt.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from sutura_dbt.project import Project, flag_value, flag_values, without_flags

__all__ = ["Outcome", "RunnerOptions", "run"]

log = logging.getLogger("sutura_dbt")

OK_STATUSES = {"success", "pass", "warn", "skipped", "no-op"}
_SELECT_FLAGS = ("--select", "-s", "--models", "-m", "--selector", "--resource-type", "--resource-types")
RUNNABLE = ("build", "run", "test", "seed", "snapshot")


@dataclass
class RunnerOptions:
    changed: bool = False
    max_attempts: int = 3
    max_waits: int = 3
    echo: Callable[[str], None] = print


@dataclass
class Outcome:
    exit_code: int
    summary: dict[str, Any] = field(default_factory=dict)


class EngineGuard:
    """Calls the engine; after the first failure, warns once and answers None ever after."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self.engine: Any = None
        self.down: str | None = None
        try:
            import sutura

            self.engine = sutura.connect()
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if self.down is None:
            self.down = f"{type(exc).__name__}: {exc}"
            self.echo(
                f"Sutura: WARNING the Sutura engine is unavailable ({self.down}); "
                "running plain dbt: no lineage, no healing, no change detection"
            )

    def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self.down is not None or self.engine is None:
            return None
        try:
            return getattr(self.engine, method)(*args, **kwargs)
        except Exception as exc:
            from sutura.errors import NotFound

            if isinstance(exc, NotFound):
                raise
            self._fail(exc)
            return None

    @property
    def up(self) -> bool:
        return self.down is None and self.engine is not None

    def key(self) -> str:
        import sutura

        settings = sutura.resolve()
        return settings.url or settings.db_url


def run(command: str, dbt_args: list[str], options: RunnerOptions) -> Outcome:
    """Run ``dbt <command> <dbt_args>`` with Sutura; never raises for a failing build."""
    from dbt.cli.main import dbtRunner

    echo = options.echo
    project = Project.from_args(dbt_args)
    summary: dict[str, Any] = {"command": command, "project": project.name, "attempts": [], "decisions": [], "checks": []}

    import sutura

    if sutura.resolve().disabled:
        result = dbtRunner().invoke([command, *dbt_args])
        return Outcome(_exit_code(result), summary | {"sutura": "disabled"})

    started = time.perf_counter()
    parsed = dbtRunner().invoke(["parse", *project.parse_args()])
    if not parsed.success:
        echo(f"Sutura: dbt parse failed: {parsed.exception or 'see the log above'}")
        return Outcome(2, summary | {"error": "parse failed"})
    manifest_obj = parsed.result
    manifest = json.loads((project.target_path / "manifest.json").read_text())

    timings: dict[str, float] = {"parse": time.perf_counter() - started}
    guard = EngineGuard(echo)
    context = _Context(project, manifest, guard, echo)
    context.start()

    args = list(dbt_args)
    cursor_before: str | None = None
    head: str | None = None
    cursors = None
    holds = None
    tracks_changes = guard.up and command in ("build", "run") and (options.changed or _is_full(dbt_args))
    if tracks_changes:
        from sutura_dbt.changed import ChangeSet, observe_sources, select_changed

        cursors = _cursor_store(project, guard, context)
        if context.fingerprinter is not None:
            try:
                t_obs = time.perf_counter()
                observed = observe_sources(
                    guard.engine, manifest, context.dataset_of, context.fingerprinter, context.producer, context.fingerprinter.columns
                )
                summary["observed_sources"] = len(observed)
                timings["observe"] = time.perf_counter() - t_obs
            except Exception as exc:
                guard._fail(exc)
        cursor_before = cursors.get()
        t_changes = time.perf_counter()
        changes, head = _all_changes(guard, cursor_before)
        timings["changes"] = time.perf_counter() - t_changes
        if options.changed and guard.up and cursor_before is None:
            echo("Sutura: no change cursor yet for this project and target: building everything once")
        elif options.changed and guard.up:
            from sutura_dbt.held import exclude_words, runnable

            change_set = ChangeSet(changes, head or "", manifest, context.dataset_of)
            planned = guard("plan_runs", change_set.changes, integration="DBT") or []
            ours = context.job_names()
            change_set.add_planned(
                manifest, [(ours[r.job.name], ",".join(r.reasons)) for r in planned if r.job.namespace == context.job_namespace and r.job.name in ours]
            )
            holds = _holds(guard, cursors, change_set, manifest, context, ours)
            for uid, hold in holds.fixed.items():  # edited since it was held: build it as if its input just changed
                change_set.roots.setdefault(uid, []).append(f"edited since held: {hold.reason}")
            words = select_changed(manifest, change_set.roots)
            excluded = holds.excluded(change_set.roots)
            summary["changes"] = [c.dataset.id for c in change_set.changes]
            summary["selected"] = words
            for uid, reasons in sorted(change_set.roots.items()):
                echo(f"Sutura: changed {uid} ({', '.join(sorted(set(reasons)))})")
            summary["held"] = holds.report(excluded, echo)
            if not words or not runnable(manifest, change_set.roots, excluded):
                if words:
                    echo("Sutura: everything the changes reach is held: nothing to run")
                else:
                    echo(f"Sutura: nothing changed since the last successful build (cursor {cursor_before}): nothing to run")
                cursors.set(head or cursor_before or "", holds.remaining({}))  # the holds stay, see held.py
                context.finish(True)
                summary["exit_code"] = 0
                summary["final"] = {}
                summary["timings"] = {k: round(v, 3) for k, v in timings.items()}
                return Outcome(0, summary)
            args = without_flags(args, *_SELECT_FLAGS) + ["--select", *words]
            skip = exclude_words(manifest, excluded, holds.held)
            if skip:
                summary["excluded"] = skip
                args = without_flags(args, "--exclude") + ["--exclude", *flag_values(dbt_args, "--exclude"), *skip]

    final: dict[str, str] = {}
    attempt, waits = 1, 0
    invocation_args = [command, *args]
    previous: list[dict[str, Any]] = []
    exception: BaseException | None = None
    while True:
        (project.target_path / "run_results.json").unlink(missing_ok=True)
        if context.fingerprinter is not None:
            context.fingerprinter.close()  # never hold the warehouse while dbt works
        t0 = time.perf_counter()
        result = dbtRunner(manifest=manifest_obj).invoke(invocation_args)
        wall = time.perf_counter() - t0
        run_results = _run_results(project)
        if result.exception is not None:
            echo(f"Sutura: dbt could not run: {result.exception}")
        results = run_results.get("results", [])
        exception = result.exception
        for r in results:
            final[r["unique_id"]] = str(r["status"])
        summary["attempts"].append(
            {"attempt": attempt, "args": invocation_args, "seconds": round(wall, 3), "nodes": [r["unique_id"] for r in results if r["status"] != "skipped"]}
        )
        _record_outcomes(guard, previous, final)
        if not results or not guard.up:
            break
        timings["dbt"] = timings.get("dbt", 0.0) + wall
        t_emit = time.perf_counter()
        context.emit(run_results)
        timings["lineage"] = timings.get("lineage", 0.0) + time.perf_counter() - t_emit
        t_audit = time.perf_counter()
        summary["checks"] += context.audit(results)
        timings["checks"] = timings.get("checks", 0.0) + time.perf_counter() - t_audit
        from sutura_dbt.heal import failed_nodes, plan_healing, rerun_selection, selector

        plan = plan_healing(
            failed_nodes(results),
            job_of=context.job_of,
            decide=lambda failure: guard("on_failure", failure),
            attempt=attempt,
            max_attempts=options.max_attempts,
        )
        for d in plan.decisions:
            when = f" in {d['delay_seconds']:.1f}s" if d["action"] in ("retry", "wait") else ""
            echo(f"Sutura: {d['action'].upper()} {d['node']}{when}: {d['reason']}")
        summary["decisions"] += plan.decisions
        previous = [d for d in plan.decisions if d["action"] in ("retry", "wait")]
        again = plan.retry + plan.wait
        if not again or (not plan.retry and waits >= options.max_waits):
            break
        nodes = rerun_selection(manifest, results, again)
        if plan.delay > 0:
            time.sleep(plan.delay)
        invocation_args = [command, *without_flags(args, *_SELECT_FLAGS), "--select", *selector(manifest, nodes)]
        if plan.retry:
            attempt += 1
        else:
            waits += 1

    failed = sorted(uid for uid, status in final.items() if status not in OK_STATUSES)
    code = 2 if exception is not None and not final else (1 if failed else 0)
    summary["final"] = final
    summary["failed"] = failed
    summary["exit_code"] = code
    if guard.up and command in ("build", "run"):
        t_adv = time.perf_counter()
        store = cursors if cursors is not None else _cursor_store(project, guard, context)
        if holds is None:
            from sutura_dbt.held import Holds

            holds = Holds.load(manifest, store.held())
        remaining = holds.remaining(final)  # a held model that built successfully is fixed or accepted
        cursor = _advance(guard, head or cursor_before, context) if cursors is not None and code == 0 else None
        if cursor is not None or remaining != store.held():
            store.set(cursor, remaining)
        timings["cursor"] = time.perf_counter() - t_adv
    summary["timings"] = {k: round(v, 3) for k, v in timings.items()}
    context.finish(code == 0)
    if guard.down:
        summary["sutura"] = f"unavailable: {guard.down}"
    return Outcome(code, summary)


def _cursor_store(project: Project, guard: EngineGuard, context: _Context) -> Any:
    from sutura_dbt.changed import CursorStore

    return CursorStore(project.state_file, f"{guard.key()}|{project.profile_name}|{context.target}")


def _holds(guard: EngineGuard, cursors: Any, change_set: Any, manifest: dict[str, Any], context: _Context, ours: dict[str, str]) -> Any:
    """The models held so far (the state file) and by this plan (the engine's SKIP decisions)."""
    from sutura_dbt.held import Holds, engine_holds

    holds = Holds.load(manifest, cursors.held())
    holds.add(engine_holds(guard, change_set.changes, context.job_namespace, ours, manifest))
    return holds


def _is_full(args: list[str]) -> bool:
    return all(flag_value(args, f) is None for f in (*_SELECT_FLAGS, "--exclude"))


def _all_changes(guard: EngineGuard, since: str | None) -> tuple[list[Any], str | None]:
    changes: list[Any] = []
    cursor = since
    while True:
        page = guard("changes", since=cursor, limit=1000)
        if page is None:
            return changes, cursor
        batch, cursor = page
        changes += batch
        if len(batch) < 1000:
            return changes, cursor


def _advance(guard: EngineGuard, cursor: str | None, context: _Context) -> str:
    """The cursor after a successful build: past the changes this build wrote itself,
    and past nothing written by anyone else meanwhile (those are next run's work)."""
    changes, head = _all_changes(guard, cursor)
    position = cursor or ""
    own = context.own_outputs()
    for change in changes:
        if change.run_id not in context.run_ids and (change.dataset.namespace, change.dataset.name) not in own:
            return position
        position = change.cursor
    return head or position


def _record_outcomes(guard: EngineGuard, decisions: list[dict[str, Any]], final: dict[str, str]) -> None:
    for d in decisions:
        if d.get("decision_id"):
            guard("record_outcome", d["decision_id"], "succeeded" if final.get(d["node"]) in OK_STATUSES else "failed")


def _run_results(project: Project) -> dict[str, Any]:
    """This invocation's run_results.json (the runner removes the previous one before each)."""
    path = project.target_path / "run_results.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _exit_code(result: Any) -> int:
    if result.exception is not None:
        return 2
    return 0 if result.success else 1


class _Context:
    """What one sutura-dbt run knows across its dbt invocations."""

    def __init__(self, project: Project, manifest: dict[str, Any], guard: EngineGuard, echo: Callable[[str], None]) -> None:
        from openlineage.common.provider.dbt.utils import PRODUCER

        from sutura_dbt.lineage import Lineage, job_namespace

        self.project = project
        self.manifest = manifest
        self.guard = guard
        self.echo = echo
        self.producer = PRODUCER
        self.job_namespace = job_namespace()
        self.run_id = str(uuid.uuid4())
        self.job_name = f"dbt-run-{project.name}"
        self.nodes: dict[str, Any] = {}
        self.run_ids: set[str] = set()
        self.fingerprinter = None
        self.profile: dict[str, Any] = {}
        self.target = project.target or ""
        self.lineage = Lineage(events=[], job_namespace=self.job_namespace)
        try:
            self.profile = project.profile()
            self.target = self.profile.get("_target", self.target)
            self.lineage.namespace = _dataset_namespace(self.profile)
        except Exception as exc:
            echo(f"Sutura: WARNING cannot read the profile {project.profile_name!r}: {exc}")
        if guard.up:
            try:
                from sutura_dbt.fingerprint import open_fingerprinter

                self.fingerprinter = open_fingerprinter(self.profile, str(project.dir))
            except Exception as exc:
                echo(f"Sutura: WARNING content fingerprints disabled: cannot open the warehouse: {exc}")

    def dataset_of(self, node: dict[str, Any]) -> Any:
        return self.lineage.dataset_of(node)

    def job_names(self) -> dict[str, str]:
        """OpenLineage job name -> unique id, for this project's models, snapshots and seeds."""
        out = {}
        for uid, node in self.manifest.get("nodes", {}).items():
            if node.get("resource_type") in ("model", "snapshot", "seed"):
                out[".".join(p for p in (node.get("database"), node.get("schema"), uid.split(".", 1)[1]) if p)] = uid
        return out

    def own_outputs(self) -> set[tuple[str, str]]:
        out = set()
        for node in self.manifest.get("nodes", {}).values():
            if node.get("resource_type") in ("model", "snapshot"):
                ds = self.dataset_of(node)
                out.add((ds.namespace, ds.name))
        return out

    def _wrapper_event(self, state: str) -> dict[str, Any]:
        return {
            "eventType": state,
            "eventTime": datetime.now(timezone.utc).isoformat(),
            "run": {"runId": self.run_id, "facets": {}},
            "job": {
                "namespace": self.job_namespace,
                "name": self.job_name,
                "facets": {
                    "jobType": {
                        "_producer": self.producer,
                        "_schemaURL": "https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json",
                        "jobType": "JOB",
                        "integration": "DBT",
                        "processingType": "BATCH",
                    }
                },
            },
            "producer": self.producer,
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
            "inputs": [],
            "outputs": [],
        }

    def start(self) -> None:
        self.guard("ingest", self._wrapper_event("START"))

    def finish(self, ok: bool) -> None:
        self.guard("ingest", self._wrapper_event("COMPLETE" if ok else "FAIL"))
        if self.fingerprinter is not None:
            self.fingerprinter.close()

    def emit(self, run_results: dict[str, Any]) -> None:
        from sutura_dbt.lineage import build_lineage

        try:
            lineage = build_lineage(
                self.project,
                self.manifest,
                run_results,
                parent_run_id=self.run_id,
                parent_job=self.job_name,
                fingerprint=self.fingerprinter,
            )
        except Exception as exc:
            self.echo(f"Sutura: WARNING cannot build OpenLineage events from the artifacts: {exc}")
            return
        self.lineage.namespace = lineage.namespace or self.lineage.namespace
        self.nodes.update(lineage.nodes)
        self.run_ids |= {n.run_id for n in lineage.nodes.values()}
        if lineage.events:
            self.guard("ingest", lineage.events)

    def job_of(self, uid: str) -> tuple[Any, str | None, tuple, tuple]:
        from sutura.ontology import Job

        info = self.nodes.get(uid)
        if info is not None:
            return info.job, info.run_id, info.inputs, (info.output,) if info.output else ()
        node = self.manifest.get("nodes", {}).get(uid, {})
        kind = uid.split(".", 1)[0]
        name = ".".join(p for p in (node.get("database"), node.get("schema"), uid.split(".", 1)[1]) if p)
        return Job(self.job_namespace, name, kind.upper(), "DBT"), None, (), ()

    def audit(self, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from sutura_dbt.checks import collect_audits

        out = []
        for audit in collect_audits(self.manifest, results, self.dataset_of):
            info = self.nodes.get(audit.unique_id)
            found = info.fingerprint if info else None
            if audit.quarantine_relation and self.fingerprinter is not None:
                found = self.fingerprinter(audit.quarantine_relation)
            elif info is None:
                # tested, not built by this invocation (`sutura-dbt test`): the version under
                # test is the one holding the relation's current content; sources are left to
                # the test events' dataQualityAssertions (their versions are observations)
                node = self.manifest.get("nodes", {}).get(audit.unique_id, {})
                if self.fingerprinter is not None and node.get("relation_name") and not audit.unique_id.startswith("source."):
                    self.fingerprinter.refresh()
                    found = self.fingerprinter(node["relation_name"])
                if found is None:
                    continue  # no way to name the version: do not invent one
            decision = self.guard(
                "on_checks",
                audit.dataset,
                audit.results,
                run_id=info.run_id if info else None,
                fingerprint=found[0] if found else None,
                row_count=found[1] if found else None,
            )
            if decision is None:
                continue
            failed = [r.assertion for r in audit.results if not r.success]
            if decision.action.value == "quarantine":
                self.echo(f"Sutura: QUARANTINE {audit.dataset.id}: {decision.reason}")
            out.append(
                {
                    "node": audit.unique_id,
                    "dataset": audit.dataset.id,
                    "action": decision.action.value,
                    "subject": decision.subject,
                    "failed": failed,
                    "checks": len(audit.results),
                    "reason": decision.reason,
                }
            )
        return out


def _dataset_namespace(profile: dict[str, Any]) -> str:
    """The warehouse namespace dbt-ol computes for this profile (its own code, not a copy)."""
    from openlineage.common.provider.dbt.local import DbtLocalArtifactProcessor

    processor = DbtLocalArtifactProcessor.__new__(DbtLocalArtifactProcessor)
    processor.logger = log
    processor.dataset_symlink_namespace = None
    processor.extract_adapter_type(profile)
    return processor.extract_namespace(profile)

