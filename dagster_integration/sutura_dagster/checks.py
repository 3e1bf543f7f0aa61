"""Declarative checks that decide whether an asset's new value is published or quarantined.

Each check becomes a blocking Dagster asset check (``AssetCheckSpec(blocking=True)``) of
the asset that lists it in ``@sutura_asset(checks=[...])``; it runs inside the asset's
step on the value the asset returned, before anything downstream can read it. Their
results go to ``engine.on_checks``, which publishes the version or quarantines it::

    from sutura_dagster import accepted_values, custom_check, not_null, row_count_between, sutura_asset, unique

    @sutura_asset(checks=[
        not_null("id"), unique("id"),
        accepted_values("status", ["paid", "refunded"]),
        row_count_between(min=1),
        custom_check(lambda df: (df["amount"] >= 0).all(), name="amounts_not_negative"),
    ])
    def orders() -> pd.DataFrame: ...

A Great Expectations 1.x suite is one check too (``gx_suite(suite)``): each of its
expectations is reported to Sutura on its own (``source="gx"``).

Checks work on pandas DataFrames (a list of dicts is read as one); ``custom_check`` and
``row_count_between`` accept any value.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Check",
    "CheckOutcome",
    "accepted_values",
    "custom_check",
    "gx_suite",
    "not_null",
    "row_count_between",
    "unique",
]


@dataclass(frozen=True)
class CheckOutcome:
    """One assertion's result (a GX suite yields one per expectation)."""

    assertion: str
    success: bool
    field: str | None = None
    observed: Any = None
    message: str | None = None
    source: str = "dagster"


@dataclass(frozen=True)
class Check:
    """A named check of an asset's value; ``evaluate`` never raises (an error is a failure)."""

    name: str
    run: Callable[[Any], Sequence[CheckOutcome]] = field(repr=False)
    description: str = ""
    column: str | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]+", self.name):
            raise ValueError(
                f"check name {self.name!r} must contain only letters, digits and underscores "
                "(it names a Dagster asset check); pass name='...'"
            )

    def evaluate(self, value: Any) -> list[CheckOutcome]:
        try:
            return list(self.run(value))
        except Exception as exc:  # noqa: BLE001 - a check that crashes did not pass
            return [CheckOutcome(self.name, False, self.column, None, f"check raised {type(exc).__name__}: {exc}")]


# ---------------------------------------------------------------------- declarative checks


def not_null(column: str, *, name: str | None = None) -> Check:
    """Every value of ``column`` is present."""

    def run(value: Any) -> list[CheckOutcome]:
        series = _column(value, column)
        nulls = int(series.isna().sum())
        return [CheckOutcome("not_null", nulls == 0, column, nulls, _rows(nulls, f"null {column}"))]

    return Check(name or f"not_null_{_slug(column)}", run, f"{column} is never null", column)


def unique(column: str, *, name: str | None = None) -> Check:
    """No two rows share a (non-null) value of ``column``."""

    def run(value: Any) -> list[CheckOutcome]:
        series = _column(value, column)
        if not series.duplicated().any():  # the usual case, in one pass
            return [CheckOutcome("unique", True, column, 0, None)]
        series = series.dropna()
        dups = series[series.duplicated(keep=False)]
        count = int(dups.nunique())
        sample = ", ".join(repr(v) for v in list(dups.unique())[:5])
        message = f"{count} duplicated value(s) of {column}: {sample}" if count else None
        return [CheckOutcome("unique", count == 0, column, count, message)]

    return Check(name or f"unique_{_slug(column)}", run, f"{column} is unique", column)


def accepted_values(column: str, values: Iterable[Any], *, name: str | None = None) -> Check:
    """Every non-null value of ``column`` is one of ``values``."""
    allowed = list(values)

    def run(value: Any) -> list[CheckOutcome]:
        series = _column(value, column)
        bad = series[series.notna() & ~series.isin(allowed)]
        sample = ", ".join(repr(v) for v in list(bad.unique())[:5])
        message = f"{len(bad)} row(s) with {column} outside {allowed!r}: {sample}" if len(bad) else None
        return [CheckOutcome("accepted_values", bad.empty, column, int(len(bad)), message)]

    return Check(name or f"accepted_values_{_slug(column)}", run, f"{column} is one of {allowed!r}", column)


def row_count_between(min: int | None = None, max: int | None = None, *, name: str | None = None) -> Check:  # noqa: A002
    """The value has between ``min`` and ``max`` rows (either bound may be omitted)."""
    if min is None and max is None:
        raise ValueError("row_count_between needs min=, max= or both")
    if min is not None and max is not None and min > max:
        raise ValueError(f"row_count_between: min ({min}) is greater than max ({max})")

    def run(value: Any) -> list[CheckOutcome]:
        from sutura_dagster.content import row_count

        rows = row_count(_frame_or_value(value))
        if rows is None:
            return [CheckOutcome("row_count_between", False, None, None, f"cannot count rows of a {type(value).__name__}")]
        ok = (min is None or rows >= min) and (max is None or rows <= max)
        bounds = f"[{'-inf' if min is None else min}, {'inf' if max is None else max}]"
        return [CheckOutcome("row_count_between", ok, None, rows, None if ok else f"{rows} rows, expected {bounds}")]

    return Check(name or "row_count_between", run, f"row count between {min} and {max}")


def custom_check(
    fn: Callable[[Any], Any], *, name: str | None = None, description: str = "", column: str | None = None
) -> Check:
    """Any callable of the value: return a bool, ``(bool, message)`` or a ``CheckOutcome``."""
    check_name = name or getattr(fn, "__name__", "")
    if not check_name or check_name == "<lambda>":
        raise ValueError("custom_check of a lambda needs name='...' (it names the Dagster asset check)")

    def run(value: Any) -> list[CheckOutcome]:
        result = fn(value)
        if isinstance(result, CheckOutcome):
            return [result]
        message = None
        if isinstance(result, tuple):
            result, message = result[0], (str(result[1]) if len(result) > 1 else None)
        return [CheckOutcome(check_name, bool(result), column, None, message)]

    return Check(check_name, run, description or (fn.__doc__ or "").strip().split("\n")[0], column)


# ---------------------------------------------------------------------- Great Expectations


def gx_suite(suite: Any, *, name: str | None = None) -> Check:
    """A Great Expectations 1.x ``ExpectationSuite`` validated on a pandas DataFrame."""
    suite_name = getattr(suite, "name", None) or "suite"

    def run(value: Any) -> list[CheckOutcome]:
        result = _validate_gx(suite, _frame(value))
        outcomes = []
        for r in result.results:
            config = r.expectation_config
            kwargs = dict(config.kwargs or {})
            details = r.result or {}
            observed = details.get("unexpected_count", details.get("observed_value"))
            message = None
            if not r.success:
                sample = details.get("partial_unexpected_list")
                message = f"{config.type} failed" + (f"; unexpected: {sample[:5]!r}" if sample else "")
                if "observed_value" in details:
                    message += f"; observed {details['observed_value']!r}"
            outcomes.append(CheckOutcome(config.type, bool(r.success), kwargs.get("column"), _plain(observed), message, "gx"))
        return outcomes

    return Check(name or f"gx_{_slug(suite_name)}", run, f"Great Expectations suite {suite_name}")


_GX_LOCK = threading.Lock()
_GX: dict[str, Any] = {}


def _validate_gx(suite: Any, frame: Any) -> Any:
    """Validate with one ephemeral GX context per process (creating one is the slow part)."""
    with _GX_LOCK:
        batch_definition = _GX.get("batch_definition")
        if batch_definition is None:
            import great_expectations as gx

            context = gx.get_context(mode="ephemeral")
            try:
                from great_expectations.data_context.types.base import ProgressBarsConfig

                context.variables.progress_bars = ProgressBarsConfig(globally=False)
            except Exception:  # noqa: BLE001 - progress bars are cosmetic
                pass
            asset = context.data_sources.add_pandas("sutura").add_dataframe_asset("value")
            batch_definition = _GX["batch_definition"] = asset.add_batch_definition_whole_dataframe("whole")
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        return batch.validate(suite)


# ---------------------------------------------------------------------- internals


def _frame_or_value(value: Any) -> Any:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return _frame(value)
    return value


def _frame(value: Any) -> Any:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return value
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return pd.DataFrame(value)
    raise TypeError(f"this check needs a pandas DataFrame (or a list of dicts), got {type(value).__name__}")


def _column(value: Any, column: str) -> Any:
    frame = _frame(value)
    if column not in frame.columns:
        raise KeyError(f"column {column!r} not found; columns are {list(frame.columns)!r}")
    return frame[column]


def _rows(count: int, what: str) -> str | None:
    return f"{count} row(s) with {what}" if count else None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", str(text)).strip("_") or "value"


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    try:
        return value.item()  # numpy scalars
    except Exception:  # noqa: BLE001
        return str(value)
