"""Write a layered dbt project of N sources and M table models on DuckDB, and load its sources.

Sources ``raw.src_<i>`` are tables a loader writes (``load_source``); model ``stg_<i>``
reads source i, every further model ``m_<j>`` reads one or two earlier models chosen by a
seeded random generator, so downstream sets differ per source. ``downstream`` computes
the expected selection from the generator's own graph, independently of dbt and Sutura.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GeneratedProject", "generate_project", "load_source"]


@dataclass
class GeneratedProject:
    path: Path
    warehouse: Path
    sources: int
    parents: dict[str, list[str]] = field(default_factory=dict)  # model -> parent models/sources

    @property
    def models(self) -> list[str]:
        return list(self.parents)

    def downstream(self, source: str) -> set[str]:
        """Every model that reads ``source`` directly or through other models."""
        out: set[str] = set()
        changed = True
        while changed:
            changed = False
            for model, parents in self.parents.items():
                if model not in out and any(p == source or p in out for p in parents):
                    out.add(model)
                    changed = True
        return out

    def env(self) -> dict[str, str]:
        return {"SUTURA_GEN_DUCKDB_PATH": str(self.warehouse)}


def generate_project(
    root: Path, *, sources: int, models: int, seed: int = 7, name: str = "generated", freshness: bool = False
) -> GeneratedProject:
    """Write the project under ``root/name``; with ``freshness`` its sources declare
    ``loaded_at_field: loaded_at`` so ``dbt source freshness`` / ``source_status:fresher+`` work."""
    rng = random.Random(seed)
    path = root / name
    (path / "models").mkdir(parents=True, exist_ok=True)
    warehouse = root / "warehouse.duckdb"
    (path / "dbt_project.yml").write_text(
        f"name: {name}\nversion: '1.0.0'\nconfig-version: 2\nprofile: {name}\n"
        "model-paths: ['models']\ntarget-path: target\n"
        f"models:\n  {name}:\n    +materialized: table\n"
    )
    (path / "profiles.yml").write_text(
        f"{name}:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        "      path: \"{{ env_var('SUTURA_GEN_DUCKDB_PATH') }}\"\n      threads: 4\n"
    )
    tables = "\n".join(f"      - name: src_{i}" for i in range(sources))
    fresh = (
        "    loaded_at_field: loaded_at\n    freshness:\n      warn_after: {count: 1, period: day}\n" if freshness else ""
    )
    (path / "models" / "sources.yml").write_text(
        f"version: 2\nsources:\n  - name: raw\n    schema: raw\n{fresh}    tables:\n{tables}\n"
    )
    project = GeneratedProject(path, warehouse, sources)
    for i in range(sources):
        model = f"stg_{i}"
        project.parents[model] = [f"src_{i}"]
        (path / "models" / f"{model}.sql").write_text(
            f"select id, amount, '{model}' as layer from {{{{ source('raw', 'src_{i}') }}}}\n"
        )
    built = [f"stg_{i}" for i in range(sources)]
    for j in range(models - sources):
        model = f"m_{j}"
        # mostly extend recent models so each source has its own chain, sometimes join two
        first = built[rng.randrange(max(0, len(built) - 2 * sources), len(built))]
        parents = [first]
        if rng.random() < 0.25:
            other = rng.choice(built)
            if other != first:
                parents.append(other)
        project.parents[model] = parents
        selects = [f"select id, amount from {{{{ ref('{p}') }}}}" for p in parents]
        (path / "models" / f"{model}.sql").write_text(
            f"select id, sum(amount) as amount, '{model}' as layer from (\n  "
            + "\n  union all\n  ".join(selects)
            + "\n) group by id\n"
        )
        built.append(model)
    return project


def load_source(
    project: GeneratedProject, index: int, rows: list[tuple], *, loaded_at: bool = False, amount: str | None = "double"
) -> None:
    """What a loader does: (re)write ``raw.src_<index>`` with ``rows`` in one transaction
    (with ``loaded_at``, each row also gets the load time, for dbt source freshness).
    ``amount`` is the SQL type of the ``amount`` column; None leaves the column out
    (rows are then ``(id,)``): a loader whose schema changed."""
    import duckdb

    with duckdb.connect(str(project.warehouse)) as con:
        con.execute("create schema if not exists raw")
        stamp = ", loaded_at timestamp" if loaded_at else ""
        columns = "id integer" + (f", amount {amount}" if amount else "")
        con.execute(f"create or replace table raw.src_{index} ({columns}{stamp})")
        if rows:
            values = "(" + ", ".join("?" * len(rows[0])) + (", current_timestamp)" if loaded_at else ")")
            con.executemany(f"insert into raw.src_{index} values {values}", rows)
