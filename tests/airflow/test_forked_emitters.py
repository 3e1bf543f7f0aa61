"""OpenLineage's default, a forked child per event, into a store that cannot be opened:
the tasks run as Airflow runs them, and the task process logs one warning, not one per event."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.airflow.conftest import new_scenario, scenario_env

DAG = "sutura_retry_scenarios"


def test_unopenable_store_is_one_warning_and_native_airflow(tmp_path):
    sc = new_scenario(tmp_path / "forked")
    nowhere = "sqlite:////proc/sutura-nowhere/sutura.db"  # its folder cannot be created
    env = scenario_env(sc.root, AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps({"type": "sutura.transport.SuturaTransport", "db_url": nowhere}))
    assert "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD" not in env  # forked per event
    sc.results.append(sc.home.dags_test(DAG, env=env, timeout=600))

    states = sc.task_states(DAG)
    # the engine at SUTURA_DB_URL still decides: the transient error retried, the bugs not
    assert states == {"extract": ("success", 2), "transform": ("failed", 1), "transform_healed": ("failed", 1)}, states
    assert sc.output.count("Sutura listener skipped a task event (StoreError") == 1, sc.output[-3000:]
    assert "Sutura could not store an OpenLineage event" not in sc.output
    assert sc.engine().runs(f"job:sutura-test:{DAG}.extract"), "the retry policy's own attempt records still reach SUTURA_DB_URL"


def _import_plugin(tmp_path, transport: str | None) -> dict[str, bool]:
    """Which engine modules loading the Airflow plugin imported, in a fresh interpreter."""
    code = (
        "import json, sys; import sutura_airflow.plugin; "
        "print(json.dumps({m: m in sys.modules for m in ('sutura.engine', 'sutura.policies.retry', 'sutura.diagnose.rootcause')}))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__OPENLINEAGE", "OPENLINEAGE"))}
    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    if transport is not None:
        env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = transport
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_plugin_preloads_the_engine_only_for_the_in_process_transport(tmp_path):
    """Executors fork task processes from processes that loaded the plugin: with OpenLineage
    going to Sutura's transport they inherit the engine's imports; otherwise nothing is loaded."""
    into_sutura = json.dumps({"type": "sutura", "db_url": f"sqlite:///{tmp_path / 'sutura.db'}"})
    assert _import_plugin(tmp_path, into_sutura) == {"sutura.engine": True, "sutura.policies.retry": True, "sutura.diagnose.rootcause": True}
    assert _import_plugin(tmp_path, json.dumps({"type": "console"})) == dict.fromkeys(("sutura.engine", "sutura.policies.retry", "sutura.diagnose.rootcause"), False)
    assert not (tmp_path / "sutura.db").exists()  # it only imports: the store is opened by a task
