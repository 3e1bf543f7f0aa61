"""Run sutura-dbt in the test process (dbt imports once; each build costs only dbt's work).

``sutura_dbt.run`` is what the ``sutura-dbt`` console script calls; the environment it
reads (warehouse path, ``SUTURA_DB_URL``) is set by the test with ``monkeypatch``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["Invocation", "hermetic", "sutura_dbt"]


@dataclass
class Invocation:
    exit_code: int
    summary: dict[str, Any]
    lines: list[str] = field(default_factory=list)

    def executed(self, attempt: int | None = None) -> set[str]:
        """Unique ids of the nodes dbt executed (all attempts, or one)."""
        attempts = self.summary.get("attempts", [])
        if attempt is not None:
            attempts = [a for a in attempts if a["attempt"] == attempt]
        return {uid for a in attempts for uid in a["nodes"]}


def hermetic(monkeypatch: pytest.MonkeyPatch, cwd: Path, env: dict[str, str]) -> None:
    """No configuration from the developer's shell: only ``env``."""
    import os

    for key in list(os.environ):
        if key.startswith(("DBT_", "SUTURA_", "OPENLINEAGE")) and key not in ("SUTURA_TEST_PG_URL", "SUTURA_REQUIRE_PG"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    monkeypatch.setenv("DBT_USE_COLORS", "false")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(cwd)


def sutura_dbt(command: str, project_dir: Path, *args: str, changed: bool = False, max_attempts: int = 3) -> Invocation:
    from sutura_dbt import RunnerOptions, run

    lines: list[str] = []
    dbt_args = ["--project-dir", str(project_dir), "--profiles-dir", str(project_dir), *args]
    outcome = run(command, dbt_args, RunnerOptions(changed=changed, max_attempts=max_attempts, echo=lines.append))
    return Invocation(outcome.exit_code, outcome.summary, lines)
