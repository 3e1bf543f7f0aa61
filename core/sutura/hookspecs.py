"""The plugin contract: every hook a Sutura plugin may implement.

Plugins are modules or objects with functions marked ``@sutura.hookimpl``, found
through the ``sutura`` entry-point group (``[project.entry-points.sutura]``) or
registered with ``engine.hooks.register(obj)``. Sutura's own retry, quarantine and
change policies are plugins registered the same way (with ``trylast=True``, so any
third-party implementation is asked first).

Hooks are always called with keyword arguments. ``firstresult`` hooks stop at the
first implementation that returns something other than ``None``; returning ``None``
means "no opinion: ask the next plugin".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import pluggy

if TYPE_CHECKING:
    from sutura.api import EngineAPI
    from sutura.ontology import CheckResult, Dataset, Decision, Diagnosis, Failure, Job
    from sutura.translate.model import DatasetFacts

hookspec = pluggy.HookspecMarker("sutura")
hookimpl = pluggy.HookimplMarker("sutura")

# ---------------------------------------------------------------------------
# observe: after events reach the graph
# ---------------------------------------------------------------------------


@hookspec
def sutura_events_applied(engine: EngineAPI, events: Sequence[dict[str, Any]]) -> None:
    """Called after a batch of OpenLineage events was stored (new events only).

    :param events: the raw events, as received.
    Return value ignored; an exception is logged and does not undo the ingest.
    """


@hookspec(firstresult=True)
def sutura_fingerprint(dataset: DatasetFacts, run_id: str | None) -> tuple[str, str] | None:
    """Fingerprint an output dataset version written by run ``run_id``.

    Called for each output of a finished run while its event is applied.
    :return: ``(identity, content)``: identity names the DatasetVersion; two versions
        with the same content fingerprint are "unchanged" for change-driven runs.
        ``None`` defers to the next plugin (the built-in uses the version facet, else
        a ``suturaContent`` facet, else schema + output statistics).
    """


# ---------------------------------------------------------------------------
# diagnose and remedy: when a task, asset or model failed
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def sutura_classify_failure(failure: Failure, engine: EngineAPI) -> Diagnosis | None:
    """Classify a failure as transient, deterministic, upstream or data.

    Called first by ``engine.on_failure``. The built-in reads the exception type,
    message and cause chain (``sutura.diagnose.classify``), then history and lineage.
    :return: a Diagnosis, or ``None`` to defer.
    """


@hookspec(firstresult=True)
def sutura_choose_remedy(failure: Failure, diagnosis: Diagnosis, context: dict[str, Any], engine: EngineAPI) -> Decision | None:
    """Choose retry (with a delay), fail, wait or escalate for a diagnosed failure.

    :param context: what the engine knows: ``circuits`` (state of each data source's
        breaker), ``blocked_sources`` (source -> seconds its open circuit still blocks),
        ``budget_left`` (retries left for the job in the window), ``settings``, and for an
        upstream diagnosis ``upstream`` (blocking input node id -> seconds it has been
        unhealthy, or ``None`` when unknown).
    :return: a Decision, or ``None`` to defer.
    """


# ---------------------------------------------------------------------------
# quarantine: write-audit-publish
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def sutura_decide_publish(dataset: Dataset, results: Sequence[CheckResult], context: dict[str, Any]) -> Decision | None:
    """Decide publish or quarantine for a new version given its check results.

    :param context: ``version`` (the version node id), ``anomalies`` (baseline findings:
        volume, freshness, null rate, schema change), ``require_checks`` setting.
    :return: a Decision with action ``publish`` or ``quarantine`` about ``context["version"]``
        (a publish the caller deferred must be), or ``None`` to defer to the next plugin.
    """


# ---------------------------------------------------------------------------
# change-driven runs
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def sutura_run_target(job: Job) -> tuple[str, str] | None:
    """Map a downstream job to ``(integration, target)`` for a RunRequest.

    E.g. an Airflow task ``dag.task`` -> ``("AIRFLOW", "dag")``; a dbt model ->
    ``("DBT", "model_name")``; a Dagster asset -> ``("DAGSTER", "key/path")``.
    :return: ``None`` to defer; a job nobody maps is left out of plans.
    """


# ---------------------------------------------------------------------------
# notify
# ---------------------------------------------------------------------------


@hookspec
def sutura_decision_made(decision: Decision, engine: EngineAPI) -> None:
    """Called after every Decision is recorded (retry, fail, quarantine, release...).

    A publish decided with ``defer_publish`` is notified once its write is reported,
    with ``outcome`` ``published`` or ``failed_write``.

    For notifications (chat, paging, tickets). Exceptions are logged and ignored.
    """
