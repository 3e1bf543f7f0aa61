"""``@sutura_asset``: ``@asset`` with classified retries and, optionally, a quarantine.

It takes every argument ``dagster.asset`` takes, plus Sutura's own (keyword-only):

- ``checks``: :mod:`sutura_dagster.checks` to run on the returned value; each becomes a
  blocking asset check, and the engine publishes or quarantines the value's version;
- ``max_attempts`` / ``max_waits``: see :func:`sutura_dagster.heal`;
- ``resource_key``: where the :class:`SuturaResource` is bound (default ``sutura``). The
  asset does not *require* it: with no such resource it uses ``SUTURA_URL`` /
  ``SUTURA_DB_URL``, so adding Sutura never breaks a ``Definitions`` that lacks it;
- ``translator``: a :class:`SuturaDagsterTranslator` naming jobs and datasets (use the
  one the OpenLineage sensor uses).

A complete example::

    import pandas as pd
    from dagster import Definitions, FilesystemIOManager, RetryPolicy
    from sutura_dagster import SuturaIOManager, SuturaResource, not_null, sutura_asset, unique

    @sutura_asset(retry_policy=RetryPolicy(max_retries=3), checks=[not_null("id"), unique("id")])
    def orders() -> pd.DataFrame:
        return pd.read_parquet("s3://landing/orders.parquet")

    @sutura_asset
    def revenue(orders: pd.DataFrame) -> float:   # reads the last published orders
        return float(orders["amount"].sum())

    defs = Definitions(
        assets=[orders, revenue],
        resources={
            "sutura": SuturaResource(db_url="sqlite:////var/lib/sutura/sutura.db"),
            "io_manager": SuturaIOManager(io_manager=FilesystemIOManager(base_dir="/data")),
        },
    )
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from sutura_dagster.audit import audit, check_specs, stamp
from sutura_dagster.checks import Check
from sutura_dagster.heal import current_context, heal

__all__ = ["sutura_asset"]


def sutura_asset(
    compute_fn: Callable[..., Any] | None = None,
    *,
    checks: Sequence[Check] = (),
    max_attempts: int | None = None,
    max_waits: int = 3,
    resource_key: str = "sutura",
    translator: Any = None,
    **asset_kwargs: Any,
) -> Any:
    """A drop-in for ``dagster.asset`` that heals failures and quarantines bad values (see module doc)."""
    for check in checks:
        if not isinstance(check, Check):
            raise TypeError(
                f"checks must be sutura_dagster checks (not_null, unique, accepted_values, "
                f"row_count_between, custom_check, gx_suite), got {check!r}"
            )

    def decorate(fn: Callable[..., Any]) -> Any:
        from dagster import asset

        kwargs = dict(asset_kwargs)
        healed = heal(fn, max_attempts=max_attempts, max_waits=max_waits, resource_key=resource_key, translator=translator)
        if not checks:
            if inspect.isgeneratorfunction(fn) or inspect.iscoroutinefunction(fn):
                return asset(**kwargs)(healed)

            @functools.wraps(fn)
            def stamped(*args: Any, **fn_kwargs: Any) -> Any:
                return stamp(current_context(), healed(*args, **fn_kwargs))

            if not _returns_output(stamped, fn):
                return asset(**kwargs)(healed)
            return asset(**kwargs)(stamped)
        if inspect.isgeneratorfunction(fn) or inspect.iscoroutinefunction(fn):
            raise TypeError(
                f"@sutura_asset(checks=...) needs {fn.__name__} to return its value; "
                "generator and async assets can use @sutura_asset without checks"
            )
        key = _asset_key(fn, kwargs)
        kwargs["check_specs"] = [*(kwargs.get("check_specs") or []), *check_specs(key, checks)]

        @functools.wraps(fn)
        def audited(*args: Any, **fn_kwargs: Any) -> Any:
            result = healed(*args, **fn_kwargs)
            return audit(current_context(), result, checks, resource_key=resource_key, translator=translator)

        _returns_materialize_result(audited, fn)
        return asset(**kwargs)(audited)

    return decorate(compute_fn) if compute_fn is not None else decorate


def _returns_output(wrapper: Any, fn: Callable[..., Any]) -> bool:
    """Annotate the wrapper ``-> Output[<fn's return type>]`` (Dagster requires it to return
    an ``Output``); False when ``fn`` returns nothing or Dagster results itself."""
    import typing

    from dagster import MaterializeResult, Output

    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable annotations: drop the return one
        hints = {}
    returns = hints.get("return", inspect.Signature.empty)
    if returns is None or returns is type(None):
        return False
    origin = typing.get_origin(returns) or returns
    if isinstance(origin, type) and issubclass(origin, (Output, MaterializeResult)):
        return False
    _set_signature(wrapper, fn, hints, inspect.Signature.empty if returns is inspect.Signature.empty else Output[returns])
    return True


def _set_signature(wrapper: Any, fn: Callable[..., Any], hints: dict[str, Any], returns: Any) -> None:
    """``fn``'s signature with its annotations resolved (they may be strings naming types
    in ``fn``'s module, which Dagster would look up in this one) and ``returns``."""
    signature = inspect.signature(fn)
    parameters = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()]
    wrapper.__signature__ = signature.replace(parameters=parameters, return_annotation=returns)
    annotations = {k: hints.get(k, v) for k, v in getattr(fn, "__annotations__", {}).items() if k != "return"}
    if returns is not inspect.Signature.empty:
        annotations["return"] = returns
    wrapper.__annotations__ = annotations


def _returns_materialize_result(wrapper: Any, fn: Callable[..., Any]) -> None:
    """Drop ``fn``'s return annotation from the wrapper, which returns a MaterializeResult.

    With check specs the asset has several outputs; Dagster would read the annotation as
    a tuple of them. Unannotated, the value's output is typed ``Any`` (pass
    ``dagster_type=`` to keep a type check).
    """
    import typing

    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001
        hints = {}
    _set_signature(wrapper, fn, hints, inspect.Signature.empty)


def _asset_key(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    from dagster import AssetKey

    if kwargs.get("key") is not None:
        return AssetKey.from_coercible(kwargs["key"])
    prefix = kwargs.get("key_prefix") or []
    if isinstance(prefix, str):
        prefix = [prefix]
    return AssetKey([*prefix, kwargs.get("name") or fn.__name__])
