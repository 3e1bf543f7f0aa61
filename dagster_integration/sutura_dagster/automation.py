"""``sutura_changed()``: an ``AutomationCondition`` true when an upstream dataset's content changed in Sutura.

The condition reads the engine's change feed for the datasets of the asset's deps
(named by :class:`SuturaDagsterTranslator`, like every other Sutura part), after the
cursor it kept on its previous evaluation; it is true on the evaluation that first sees
a new content version of any of them, whoever wrote it (Airflow, dbt, another Dagster
asset), and false again afterwards. Its first evaluation only records where the feed
is (it does not replay history). When the engine is unreachable it is false and keeps
its cursor.

It runs Python, so the automation sensor must evaluate it in the code location
(``use_user_code_server=True``)::

    from dagster import AutomationCondition, AutomationConditionSensorDefinition, Definitions, asset
    from sutura_dagster import sutura_changed

    @asset(deps=[orders], automation_condition=sutura_changed() & ~AutomationCondition.in_progress())
    def revenue() -> None: ...

    defs = Definitions(
        assets=[orders, revenue],
        sensors=[AutomationConditionSensorDefinition(
            "sutura_automation", target="*", use_user_code_server=True)],
    )

Compared with :func:`sutura_change_sensor`: the sensor batches all affected assets into
one run per tick and holds assets reading a quarantine; the condition composes with
Dagster's other conditions (``& ~in_progress()``, ``| on_cron(...)``) per asset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagster import AutomationCondition, AutomationResult

from sutura_dagster.identity import asset_dataset
from sutura_dagster.resource import UNAVAILABLE, SuturaResource, engine_call

__all__ = ["SuturaChangedCondition", "sutura_changed"]


class SuturaChangedCondition(AutomationCondition):
    """True when a dataset upstream of the asset has a new content version in Sutura."""

    def __init__(
        self,
        *,
        translator: Any = None,
        sutura: SuturaResource | None = None,
        datasets: Sequence[str] = (),
    ) -> None:
        self._translator = translator
        self._sutura = sutura
        self._datasets = tuple(datasets)

    @property
    def name(self) -> str:
        return "sutura_changed"

    @property
    def description(self) -> str:
        return "an upstream dataset's content changed in Sutura"

    @property
    def requires_cursor(self) -> bool:
        return True

    def watched(self, context: Any) -> list[str]:
        """Dataset node ids of the asset's deps, plus any given as ``datasets=``."""
        graph = context.asset_graph
        ids = []
        for parent in sorted(graph.get(context.key).parent_keys, key=lambda k: k.path):
            metadata = graph.get(parent).metadata if graph.has(parent) else {}
            ids.append(asset_dataset(parent, metadata, self._translator).id)
        return sorted(set(ids) | set(self._datasets))

    def evaluate(self, context: Any) -> AutomationResult:
        from sutura import NotFound

        resource = self._sutura or _default()
        since = context.cursor
        watched = self.watched(context)
        changed = False
        cursor = since
        if watched:
            try:
                changed, cursor = _read(resource, since, watched)
            except NotFound:  # a dataset the engine never saw: nothing changed
                changed, cursor = False, since
        subset = context.candidate_subset if changed and since is not None else context.get_empty_subset()
        return AutomationResult(context, true_subset=subset, cursor=cursor or since or "0")


def sutura_changed(
    *, translator: Any = None, sutura: SuturaResource | None = None, datasets: Sequence[str] = ()
) -> SuturaChangedCondition:
    """The condition (see module doc). ``datasets=`` watches extra dataset node ids."""
    return SuturaChangedCondition(translator=translator, sutura=sutura, datasets=datasets)


def _read(resource: SuturaResource, since: str | None, watched: list[str]) -> tuple[bool, str | None]:
    """(any change after ``since``, the cursor after all of them); (False, since) when unavailable."""
    from sutura import NotFound

    known = []
    for ds in watched:  # the engine rejects datasets it never saw; they cannot have changed
        try:
            if engine_call(resource, "show", ds) is UNAVAILABLE:
                return False, since
            known.append(ds)
        except NotFound:
            continue
    if not known:
        return False, _head(resource, since)
    changed, cursor = False, since
    while True:
        answer = engine_call(resource, "changes", cursor, datasets=known, limit=1000)
        if answer is UNAVAILABLE:
            return False, since
        changes, cursor = answer
        changed = changed or bool(changes)
        if len(changes) < 1000:
            return changed, cursor


def _head(resource: SuturaResource, since: str | None) -> str | None:
    cursor = since
    while True:
        answer = engine_call(resource, "changes", cursor, limit=1000)
        if answer is UNAVAILABLE:
            return since
        changes, cursor = answer
        if len(changes) < 1000:
            return cursor


_DEFAULT: list[SuturaResource] = []


def _default() -> SuturaResource:
    if not _DEFAULT:
        _DEFAULT.append(SuturaResource())
    return _DEFAULT[0]
