"""Task decorators: ``heal`` (classified retries without ``retry_policy``) and the
write-audit-publish forms of ``@task``.

``heal`` is the older-Airflow path (no ``retry_policy`` before 3.3), and the way to *wait*
on an upstream cause without spending a try where ``SuturaPlugin`` is not loaded (with the
plugin, ``SuturaRetryPolicy`` waits the same way). It asks the engine when the callable
raises and then

- FAIL / ESCALATE → raises ``AirflowFailException`` (no retries spent), the reason in the log;
- WAIT → raises ``AirflowRescheduleException`` for the engine's delay (``up_for_reschedule``:
  not a try; Airflow 3.3 honours the date for any task), at most ``max_waits`` times;
- RETRY → re-raises: Airflow's native retry (with ``SuturaRetryPolicy`` also set, it takes
  the engine's delay; on older Airflow the task's own ``retry_delay``);
- Sutura unreachable → re-raises (native behaviour, one warning).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence, TypeVar

from sutura import Action

from sutura_airflow._compat import AirflowFailException, get_current_context
from sutura_airflow._decide import decide, passthrough, tries_of, wait_instead

__all__ = ["file_write_audit_publish", "heal", "write_audit_publish"]

F = TypeVar("F", bound=Callable[..., Any])


def _task_decorator() -> Any:
    try:
        from airflow.sdk import task
    except ImportError:  # Airflow 2
        from airflow.decorators import task  # type: ignore[no-redef]
    return task


def heal(fn: F | None = None, *, max_waits: int = 10) -> Any:
    """Give a task callable the engine's judgement on failure (see module doc)::

        @task(retries=3)
        @heal
        def extract(): ...
    """

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except passthrough():
                raise
            except Exception as exc:
                try:
                    context = get_current_context()
                    try_number, max_tries, _ = tries_of(context)
                except Exception:  # noqa: BLE001 - not inside a task: nothing to decide
                    raise exc from None
                decision = decide(exc, context=context, try_number=try_number, max_tries=max_tries)
                if decision is None:
                    raise
                if decision.action in (Action.FAIL, Action.ESCALATE):
                    raise AirflowFailException(f"Sutura: {decision.reason}") from exc
                reschedule = wait_instead(exc, context=context, max_waits=max_waits)
                if reschedule is not None:
                    raise reschedule from exc
                raise

        return wrapper  # type: ignore[return-value]

    return wrap(fn) if fn is not None else wrap


def write_audit_publish(
    *,
    table: str,
    url: str | None = None,
    conn_id: str | None = None,
    schema: str | None = None,
    checks: Sequence[Any] = (),
    gx_expectations: Any = None,
    on_quarantine: str = "fail",
    **task_kwargs: Any,
) -> Callable[[Callable[..., Any]], Any]:
    """``@task`` whose return value (DataFrame, list of dicts, or a SELECT) is audited into ``table``::

        @write_audit_publish(table="orders", url="duckdb:////data/wh.duckdb", checks=[{"not_null": "id"}])
        def load_orders():
            return pandas.read_csv("/incoming/orders.csv")
    """
    from sutura_airflow.operators import _check_on_quarantine

    _check_on_quarantine(on_quarantine)

    def decorate(func: Callable[..., Any]) -> Any:
        task = _task_decorator()

        @functools.wraps(func)
        def body(*args: Any, **kwargs: Any) -> dict[str, Any]:
            from sutura_airflow.hooks import sql_url
            from sutura_airflow.quarantine.run import run_sql_wap

            data = func(*args, **kwargs)
            _, out = run_sql_wap(
                url=sql_url(url=url, conn_id=conn_id),
                table=table,
                schema=schema,
                data=data,
                checks=checks,
                gx_expectations=gx_expectations,
                on_quarantine=on_quarantine,
                context=get_current_context(),
            )
            return out

        return task(**task_kwargs)(body)

    return decorate


def file_write_audit_publish(
    *,
    path: str,
    checks: Sequence[Any] = (),
    gx_expectations: Any = None,
    on_quarantine: str = "fail",
    **task_kwargs: Any,
) -> Callable[[Callable[..., Any]], Any]:
    """``@task`` whose returned DataFrame is audited, then renamed onto ``path`` (Parquet/CSV)."""
    from sutura_airflow.operators import _check_on_quarantine

    _check_on_quarantine(on_quarantine)

    def decorate(func: Callable[..., Any]) -> Any:
        task = _task_decorator()

        @functools.wraps(func)
        def body(*args: Any, **kwargs: Any) -> dict[str, Any]:
            from sutura_airflow.quarantine.run import run_file_wap

            _, out = run_file_wap(
                path=path, data=func(*args, **kwargs), checks=checks, gx_expectations=gx_expectations,
                on_quarantine=on_quarantine, context=get_current_context(),
            )
            return out

        return task(**task_kwargs)(body)

    return decorate
