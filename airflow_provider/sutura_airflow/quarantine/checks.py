"""Declarative checks run against an audit table, each answering one ``CheckResult``.

A check is a small object with ``name``, ``column`` and ``run(conn, relation, dataset)``;
write them as dicts in a DAG (templatable, readable)::

    checks=[
        {"not_null": "id"},
        {"unique": "id"},
        {"accepted_values": {"column": "status", "values": ["new", "paid"]}},
        {"row_count": {"min": 1, "max": 1_000_000}},
        {"sql": "select * from {relation} where amount < 0", "name": "no_negative_amounts"},
    ]

``sql`` checks return the *failing* rows (as dbt tests do); ``{relation}`` is the audited
table, quoted. Great Expectations suites are run by ``sutura_airflow.quarantine.gx``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import sqlalchemy as sa

from sutura import CheckResult, Dataset

__all__ = ["Check", "parse_checks", "run_sql_checks"]


@dataclass(frozen=True)
class Check:
    """One assertion about a relation; ``kind`` is not_null | unique | accepted_values | row_count | sql."""

    kind: str
    column: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None

    @property
    def assertion(self) -> str:
        return self.name or self.kind

    def query(self, relation: str, quote: Any) -> str:
        """SQL counting failures (or, for row_count, counting rows)."""
        col = quote(self.column) if self.column else None
        if self.kind == "not_null":
            return f"select count(*) from {relation} where {col} is null"
        if self.kind == "unique":
            return f"select count(*) from (select {col} from {relation} where {col} is not null group by {col} having count(*) > 1) d"
        if self.kind == "accepted_values":
            values = ", ".join(_literal(v) for v in self.params["values"])
            return f"select count(*) from {relation} where {col} is not null and {col} not in ({values})"
        if self.kind == "row_count":
            return f"select count(*) from {relation}"
        if self.kind == "sql":
            return f"select count(*) from ({self.params['sql'].format(relation=relation)}) failing"
        raise ValueError(f"unknown check kind {self.kind!r}")

    def run(self, conn: sa.Connection, relation: str, dataset: Dataset, quote: Any) -> CheckResult:
        observed = int(conn.execute(sa.text(self.query(relation, quote))).scalar_one())
        if self.kind == "row_count":
            low, high = self.params.get("min"), self.params.get("max")
            ok = (low is None or observed >= low) and (high is None or observed <= high)
            message = None if ok else f"{observed} rows, expected between {low if low is not None else '-inf'} and {high if high is not None else 'inf'}"
        else:
            ok = observed == 0
            message = None if ok else f"{observed} failing row(s)"
        return CheckResult(dataset, self.assertion, ok, field=self.column, source="sutura", observed=observed, message=message)


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def parse_checks(specs: Sequence[Any] | None) -> list[Check]:
    """``Check`` objects from dict specs (see module doc); ``Check`` instances pass through."""
    out: list[Check] = []
    for spec in specs or ():
        if isinstance(spec, Check):
            out.append(spec)
            continue
        if not isinstance(spec, Mapping):
            raise ValueError(f"a check must be a dict like {{'not_null': 'id'}}, got {spec!r}")
        spec = dict(spec)
        name = spec.pop("name", None)
        if len(spec) != 1:
            raise ValueError(f"a check names exactly one kind (not_null, unique, accepted_values, row_count, sql), got {sorted(spec)}")
        kind, arg = next(iter(spec.items()))
        if kind in ("not_null", "unique"):
            out.append(Check(kind, column=str(arg), name=name or f"{kind}({arg})"))
        elif kind == "accepted_values":
            out.append(Check(kind, column=arg["column"], params={"values": list(arg["values"])}, name=name or f"accepted_values({arg['column']})"))
        elif kind == "row_count":
            bounds = {k: arg.get(k) for k in ("min", "max")}
            out.append(Check(kind, params=bounds, name=name or "row_count"))
        elif kind == "sql":
            out.append(Check(kind, params={"sql": str(arg)}, name=name or "sql"))
        else:
            raise ValueError(f"unknown check kind {kind!r}: use not_null, unique, accepted_values, row_count or sql")
    return out


def run_sql_checks(engine: sa.Engine, relation: str, dataset: Dataset, checks: Sequence[Check], quote: Any) -> list[CheckResult]:
    """Run every check, each on its own connection; a check whose SQL errors is a failed check."""
    results = []
    for check in checks:
        try:
            with engine.connect() as conn:
                results.append(check.run(conn, relation, dataset, quote))
        except sa.exc.SQLAlchemyError as exc:
            results.append(CheckResult(dataset, check.assertion, False, field=check.column, source="sutura", message=f"check query failed: {exc.orig if hasattr(exc, 'orig') else exc}"))
    return results
