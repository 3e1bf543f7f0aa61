"""When Sutura is down, the ``sutura-dbt`` console script is plain dbt plus one warning.

A real subprocess of the installed console script, pointed at a closed port: the build
runs, nothing is retried, the exit code is dbt's, and the warning is printed once.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support._process import VENV_BIN, free_port, hermetic_env, run_command

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("sutura_dbt_degraded")]

HEALING = Path(__file__).parent / "projects" / "healing"


def test_engine_down_means_plain_dbt_and_one_warning(tmp_path):
    project = tmp_path / "healing"
    shutil.copytree(HEALING, project, ignore=shutil.ignore_patterns("target", "logs"))
    env = hermetic_env(
        {
            "SUTURA_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
            "SUTURA__TIMEOUT": "1",
            "SUTURA_HEAL_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
            "SUTURA_HEAL_FEED_PATH": str(tmp_path / "feed.duckdb"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    argv = [str(VENV_BIN / "sutura-dbt"), "build", "--select", "ok_model", "broken", "--json",
            "--project-dir", str(project), "--profiles-dir", str(project)]
    result = run_command(argv, env=env, cwd=tmp_path, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # dbt's code: a model failed
    assert output.count("the Sutura engine is unavailable") == 1
    assert "Done. PASS=1 WARN=0 ERROR=1" in output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["sutura"].startswith("unavailable")
    assert summary["decisions"] == [] and len(summary["attempts"]) == 1
    assert summary["final"] == {"model.healing.ok_model": "success", "model.healing.broken": "error"}
