"""An Airflow listener for what OpenLineage events do not carry, and for waiting on upstream causes.

The OpenLineage provider reports each try as a run; it does not say whether a failed try
goes ``up_for_retry`` or failed for good, nor which retry decision it settles. This
listener records, for every failed try and every success after a retry, a ``suturaAttempt``
run facet (try number, max tries, state, exception type) on the same OpenLineage run id,
and settles the outcome of the engine's earlier retry/wait decision for the task
("succeeded" after a healed retry, "failed" when the task failed for good), which is what
the retry policy learns from.

When a try starts it arms a task that has ``SuturaRetryPolicy``, so that the engine's WAIT
reschedules it instead of spending a try (see ``sutura_airflow.retry``). Where OpenLineage
goes to Sutura's in-process transport, it also warms that transport's engine once per
task process, before the OpenLineage listener forks (hence ``tryfirst``): the OpenLineage
provider emits each event from a forked child by default, and the child inherits the
open engine and its compiled statements instead of importing the plugins, opening the
store and compiling for every event (``sutura.transport.warm``). If the store cannot be
opened, that is the one warning: the children stay quiet about it.

Hook methods are thin; the work runs in ``_safe`` so that nothing ever raises into Airflow.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from typing import Any

try:
    from airflow.listeners import hookimpl
except ImportError:  # pragma: no cover - very old Airflow
    from airflow.sdk._shared.listeners import hookimpl  # type: ignore[no-redef]

from sutura_airflow._engine import call_engine, warn_once
from sutura_airflow._identity import job_of, run_id_for_try

__all__ = ["SuturaListener", "listener", "preload"]

log = logging.getLogger("sutura.airflow")
_PRODUCER = "https://github.com/sutura-data/sutura/airflow_provider"
_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"
_FACET_SCHEMA = "https://sutura.dev/spec/facets/SuturaAttemptRunFacet.json"


def _safe(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - a listener never fails the task
        warn_once(f"listener:{type(exc).__name__}", "Sutura listener skipped a task event (%s: %s)", type(exc).__name__, exc)


def _state_of(ti: Any) -> str:
    state = getattr(ti, "state", None)
    return str(getattr(state, "value", state) or "")


def _max_tries(ti: Any) -> int:
    server = getattr(ti, "_ti_context_from_server", None)
    value = getattr(server, "max_tries", None)
    if value is None:
        value = getattr(ti, "max_tries", None)
    if value is None:
        value = getattr(getattr(ti, "task", None), "retries", 0)
    return int(value or 0)


def _dag_run(ti: Any) -> Any:
    try:
        return ti.get_template_context().get("dag_run")
    except Exception:  # noqa: BLE001
        return getattr(ti, "dag_run", None)


def _arm(ti: Any) -> None:
    from sutura_airflow.retry import arm

    arm(ti)


_transport_ready = False


def _uses_sutura_transport(config: Any) -> bool:
    """Whether an OpenLineage transport config (possibly composite) includes Sutura's transport."""
    if not isinstance(config, dict):
        return False
    kind = str(config.get("type", ""))
    if kind == "sutura" or kind.endswith(".SuturaTransport"):
        return True
    nested = config.get("transports") or {}
    return any(_uses_sutura_transport(c) for c in (nested.values() if isinstance(nested, dict) else nested))


def _sutura_transport_config() -> dict[str, Any] | None:
    """The OpenLineage transport block when events go to Sutura's in-process transport, else None."""
    from airflow.providers.openlineage import conf as ol_conf

    if ol_conf.is_disabled():
        return None
    config = ol_conf.transport()
    env_type = os.environ.get("OPENLINEAGE__TRANSPORT__TYPE", "")
    if _uses_sutura_transport(config) or _uses_sutura_transport({"type": env_type}):
        return config if isinstance(config, dict) else {}
    return None


def _prepare_transport() -> None:
    """Open the engine Sutura's OpenLineage transport writes to in this process, once."""
    global _transport_ready
    if _transport_ready:
        return
    _transport_ready = True
    config = _sutura_transport_config()
    if config is None:
        return
    from sutura.transport import warm

    warm(config.get("db_url"))  # forked emitters inherit it


def preload() -> None:
    """Import the engine and its plugins, when OpenLineage goes to Sutura's in-process transport.

    Called when Airflow loads the plugin. Executors fork task processes from processes that
    loaded it, so every task inherits these imports (about 180 ms) instead of paying them
    when it first emits. Elsewhere (no such transport) nothing is imported: the scheduler
    and the DAG processor stay light. It only imports; the store is opened per task.
    """
    try:
        if _sutura_transport_config() is None:
            return
        import sutura.engine  # noqa: F401
        import sutura.transport  # noqa: F401
        from sutura.plugins import plugin_manager

        plugin_manager()  # imports the built-in policies and every ``sutura`` entry point
    except Exception as exc:  # noqa: BLE001 - a missed speed-up; the task imports it later
        log.debug("Sutura could not preload the engine (%s: %s)", type(exc).__name__, exc)


class SuturaListener:
    """Registered through ``SuturaPlugin.listeners``."""

    @hookimpl(tryfirst=True)
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        _safe(_arm, task_instance)
        _safe(_prepare_transport)

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        _safe(self._finished, task_instance, "success", None)

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any = None) -> None:
        _safe(self._finished, task_instance, None, error)

    # -- the work ------------------------------------------------------------------
    def _finished(self, ti: Any, state: str | None, error: Any) -> None:
        state = state or _state_of(ti) or "failed"
        try_number = int(getattr(ti, "try_number", 1) or 1)
        if state == "success" and try_number == 1:
            return  # OpenLineage's COMPLETE says it all; keep the common path free
        max_tries = _max_tries(ti)
        dag_run = _dag_run(ti)
        job = job_of(ti.dag_id, ti.task_id)
        run_id = run_id_for_try(ti, dag_run, try_number)
        facet: dict[str, Any] = {
            "_producer": _PRODUCER,
            "_schemaURL": _FACET_SCHEMA,
            "tryNumber": try_number,
            "maxTries": max_tries,
            "state": state,  # success | up_for_retry | failed | up_for_reschedule
            "final": state in ("success", "failed"),
        }
        if isinstance(error, BaseException):
            facet["exceptionType"] = f"{type(error).__module__}.{type(error).__qualname__}"
            facet["exceptionMessage"] = str(error)[:2000]
        elif error:
            facet["exceptionMessage"] = str(error)[:2000]
        event = {
            "eventType": "OTHER",
            "eventTime": datetime.now(timezone.utc).isoformat(),
            "producer": _PRODUCER,
            "schemaURL": _SCHEMA,
            "job": {"namespace": job.namespace, "name": job.name},
            "run": {"runId": run_id, "facets": {"suturaAttempt": facet}},
            "inputs": [],
            "outputs": [],
        }
        call_engine("recording a task attempt", lambda engine: engine.ingest(event))
        if try_number > 1 and state in ("success", "failed"):
            previous = run_id_for_try(ti, dag_run, try_number - 1)
            outcome = "succeeded" if state == "success" else "failed"
            call_engine("recording a retry outcome", lambda engine: self._settle(engine, previous, outcome))

    @staticmethod
    def _settle(engine: Any, previous_run_id: str, outcome: str) -> None:
        for decision in engine.decisions(subject=f"run:{previous_run_id}", limit=10):
            if decision.id and decision.outcome is None and decision.action.value in ("retry", "wait"):
                engine.record_outcome(decision.id, outcome)


listener = SuturaListener()
