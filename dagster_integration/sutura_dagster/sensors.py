"""A sensor that runs exactly the assets whose inputs really changed, in any tool.

Each tick reads the engine's change feed after the sensor's cursor
(``engine.changes(since=cursor)``: published versions whose *content* differs from the
previous one; a rewrite with identical content is no change) and requests one run of
the assets that consume a changed dataset:

- an asset consumes a dataset when one of its deps is that dataset, named by the same
  :class:`SuturaDagsterTranslator` as everything else (declare a table another tool
  writes as an ``AssetSpec`` with ``dagster/table_name`` or ``dagster/uri`` metadata, or
  in the translator's ``datasets=`` mapping);
- with ``use_lineage=True`` (default) also the assets the engine saw read it
  (``engine.plan_runs(changes, integration="DAGSTER")``: lineage Dagster reported through
  the OpenLineage sensor, including reads the asset graph does not declare);
- an asset with an input whose newest version is quarantined is held back: it would only
  read the old version again; the release of that version is itself a change.

Nothing changed: no run, only the cursor moves. The cursor moves only after the runs
are requested, so a tick that fails (engine down) is retried by the next one. The first
tick (no cursor) reads the feed from its beginning, so nothing published before the
sensor was turned on is missed; reset the cursor to a value of ``sutura changes`` to
start elsewhere. An asset whose latest materialization already read the changed version
(``@sutura_asset`` records content fingerprints as Dagster data versions) is not run again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from sutura_dagster.identity import asset_dataset
from sutura_dagster.resource import UNAVAILABLE, engine_call, resource_engine

__all__ = ["affected_assets", "sutura_change_sensor"]


def sutura_change_sensor(
    *,
    name: str = "sutura_changes",
    translator: Any = None,
    resource_key: str = "sutura",
    use_lineage: bool = True,
    minimum_interval_seconds: int = 30,
    batch_size: int = 1000,
    default_status: Any = None,
    tags: Mapping[str, str] | None = None,
    asset_selection: Any = None,
) -> Any:
    """A sensor requesting runs of exactly the assets downstream of changed datasets.

    A complete example: dbt (or Airflow) rewrites ``analytics.main.orders`` in DuckDB;
    the Dagster asset ``revenue`` depends on it, so a new version of its content runs
    ``revenue``, and nothing else::

        from dagster import AssetSpec, Definitions, asset
        from sutura_dagster import SuturaDagsterTranslator, sutura_change_sensor

        orders = AssetSpec("orders", metadata={"dagster/uri": "duckdb:///srv/analytics.duckdb/analytics.main.orders"})

        @asset(deps=[orders])
        def revenue() -> None: ...

        defs = Definitions(assets=[orders, revenue], sensors=[sutura_change_sensor()])

    Args:
        translator: names datasets of asset keys (default: :class:`SuturaDagsterTranslator`).
        resource_key: where the :class:`SuturaResource` is bound (else the environment).
        use_lineage: also run assets the engine's lineage says read a changed dataset.
        batch_size: changes read per tick.
        default_status: ``DefaultSensorStatus`` (default RUNNING).
        tags: added to every requested run.
        asset_selection: the assets it may run (default: every materializable asset);
            affected assets outside it are left alone.
    """
    from dagster import AssetSelection, DefaultSensorStatus, SensorResult, SkipReason, sensor

    selection = asset_selection if asset_selection is not None else AssetSelection.all()

    @sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status or DefaultSensorStatus.RUNNING,
        asset_selection=selection,
        description="Runs exactly the assets whose upstream datasets changed content in Sutura.",
    )
    def _changes(context: Any) -> Any:
        resource = resource_engine(context, resource_key)
        answer = engine_call(resource, "changes", context.cursor or None, limit=batch_size, context_log=context.log)
        if answer is UNAVAILABLE:
            return SkipReason("Sutura engine unavailable; the cursor is kept and the next tick tries again")
        changes, cursor = answer
        if not changes:
            if cursor and cursor != context.cursor:
                return SensorResult(skip_reason=SkipReason("no content changed"), cursor=cursor)
            return SkipReason("no content changed")
        graph = context.repository_def.asset_graph
        reasons = affected_assets(graph, changes, translator=translator)
        if use_lineage:
            plan = engine_call(resource, "plan_runs", changes, integration="DAGSTER", context_log=context.log)
            if plan is not UNAVAILABLE:
                for key, why in _from_plan(graph, plan).items():
                    reasons[key].update(why)
        allowed = _selected(selection, graph)
        for key in [k for k in reasons if allowed is not None and k not in allowed]:
            reasons.pop(key)
        for key in _already_read(context.instance, graph, reasons, changes, translator):
            reasons.pop(key)
        held = _held(graph, reasons, resource, translator, context.log)
        for key in held:
            reasons.pop(key, None)
        if not reasons:
            return SensorResult(skip_reason=SkipReason(f"{len(changes)} change(s), no Dagster asset consumes them"), cursor=cursor)
        from dagster import RunRequest

        keys = sorted(reasons, key=lambda k: k.path)
        why = sorted({r for rs in reasons.values() for r in rs})
        context.log.info(f"Sutura: {len(changes)} change(s) ({', '.join(why)}) affect {', '.join(k.to_user_string() for k in keys)}")
        request = RunRequest(
            run_key=f"sutura-changes-{cursor}",
            asset_selection=keys,
            tags={"sutura/changed": ",".join(why)[:4000], **(tags or {})},
        )
        return SensorResult(run_requests=[request], cursor=cursor)

    return _changes


def affected_assets(graph: Any, changes: Any, *, translator: Any = None) -> dict[Any, set[str]]:
    """Materializable assets with a dep whose dataset changed -> the changed dataset ids."""
    consumers: dict[str, set[Any]] = defaultdict(set)
    for node in graph.asset_nodes:
        for parent in node.parent_keys:
            consumers[_dataset_id(graph, parent, translator)].add(node.key)
    reasons: dict[Any, set[str]] = defaultdict(set)
    for change in changes:
        for key in consumers.get(change.dataset.id, ()):
            if graph.get(key).is_materializable:
                reasons[key].add(change.dataset.id)
    return reasons


def _selected(selection: Any, graph: Any) -> set[Any] | None:
    try:
        return set(selection.resolve(graph))
    except Exception:  # noqa: BLE001 - an unresolvable selection filters nothing
        return None


def _dataset_id(graph: Any, key: Any, translator: Any) -> str:
    metadata = graph.get(key).metadata if graph.has(key) else {}
    return asset_dataset(key, metadata, translator).id


def _from_plan(graph: Any, plan: Any) -> dict[Any, set[str]]:
    """Engine run requests (targets ``<dagster job>.<step key>``) back to asset keys."""
    by_op: dict[str, set[Any]] = defaultdict(set)
    for node in graph.asset_nodes:
        if not node.is_materializable:
            continue
        assets_def = graph.assets_def_for_key(node.key) if hasattr(graph, "assets_def_for_key") else None
        op_name = assets_def.node_def.name if assets_def is not None else "__".join(node.key.path)
        by_op[op_name].add(node.key)
    found: dict[Any, set[str]] = defaultdict(set)
    for request in plan:
        target = request.target
        for op_name, keys in by_op.items():
            if target == op_name or target.endswith(f".{op_name}"):
                for key in keys:
                    found[key].update(request.reasons)
    return found


def _already_read(instance: Any, graph: Any, reasons: Mapping[Any, set[str]], changes: Any, translator: Any) -> list[Any]:
    """Assets whose latest materialization already read every changed version that concerns them.

    Dagster records each input's data version on a materialization
    (``dagster/input_data_version/<key>``); ``@sutura_asset`` makes an asset's data version
    its content fingerprint. So when ``orders`` and ``revenue`` ran together, ``revenue``
    already read the new ``orders`` and is not requested again.
    """
    from dagster._core.definitions.data_version import get_input_data_version_tag

    latest = {c.dataset.id: c.content_fingerprint.split(":", 1)[-1] for c in changes}
    done = []
    for key, why in reasons.items():
        parents = {_dataset_id(graph, p, translator): p for p in graph.get(key).parent_keys}
        if not all(ds in parents for ds in why):
            continue  # a change known only from lineage: no data version to compare
        try:
            event = instance.get_latest_materialization_event(key)
        except Exception:  # noqa: BLE001 - no record: not read yet
            event = None
        tags = (event.asset_materialization.tags or {}) if event is not None and event.asset_materialization else {}
        if all(tags.get(get_input_data_version_tag(parents[ds])) == latest[ds] for ds in why):
            done.append(key)
    return done


def _held(graph: Any, reasons: Mapping[Any, set[str]], resource: Any, translator: Any, log: Any) -> set[Any]:
    """Assets with an input whose newest version is quarantined."""
    from sutura import NotFound

    quarantined: dict[str, bool] = {}
    held = set()
    for key in reasons:
        for parent in graph.get(key).parent_keys:
            ds = _dataset_id(graph, parent, translator)
            if ds not in quarantined:
                try:
                    staleness = engine_call(resource, "last_published", ds)
                except NotFound:
                    staleness = UNAVAILABLE
                quarantined[ds] = staleness is not UNAVAILABLE and bool(staleness.quarantined)
            if quarantined[ds]:
                log.info(f"Sutura: holding {key.to_user_string()}: its input {ds} has a quarantined newer version")
                held.add(key)
                break
    return held
