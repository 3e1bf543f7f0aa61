"""Provider metadata, the ``sutura`` connection type and the opt-in cluster policy."""

from __future__ import annotations

import importlib
import json

import pytest


def test_provider_info_names_importable_parts():
    from sutura_airflow import get_provider_info

    info = get_provider_info()
    for key in ("operators", "sensors", "triggers", "hooks"):
        for group in info[key]:
            for module in group["python-modules"]:
                importlib.import_module(module)
    assert info["connection-types"][0]["connection-type"] == "sutura"
    assert set(info["config"]["sutura"]["options"]) == {"url", "db_url", "token", "timeout", "cluster_policy"}
    plugin = info["plugins"][0]["plugin-class"]
    module, _, name = plugin.rpartition(".")
    assert getattr(importlib.import_module(module), name).listeners


def test_hook_yields_embedded_or_remote_engine(tmp_path, monkeypatch):
    import sutura
    from sutura_airflow import SuturaHook

    db = f"sqlite:///{tmp_path / 's.db'}"
    monkeypatch.setenv("AIRFLOW_CONN_SUTURA_DEFAULT", json.dumps({"conn_type": "sutura", "extra": {"db_url": db}}))
    monkeypatch.setenv("AIRFLOW_CONN_SUTURA_REMOTE", json.dumps({"conn_type": "sutura", "host": "sutura.internal", "port": 5000, "password": "t0k"}))
    embedded = SuturaHook().get_engine()
    assert isinstance(embedded, sutura.Engine) and embedded.decisions() == []
    remote = SuturaHook("sutura_remote").get_engine()
    assert isinstance(remote, sutura.RemoteEngine) and remote.url == "http://sutura.internal:5000"


@pytest.mark.parametrize("switch, expected", [("0", False), ("1", True)])
def test_cluster_policy_is_opt_in(monkeypatch, switch, expected):
    from airflow.providers.standard.operators.empty import EmptyOperator
    from sutura_airflow import SuturaRetryPolicy
    from sutura_airflow.policy import task_policy

    monkeypatch.setenv("SUTURA_AIRFLOW_CLUSTER_POLICY", switch)
    task = EmptyOperator(task_id="t")
    task_policy(task)
    assert isinstance(task.retry_policy, SuturaRetryPolicy) is expected
    own = object()
    task.retry_policy = own
    task_policy(task)
    assert task.retry_policy is own  # a task's own policy is kept


def test_listener_arms_only_tasks_with_the_sutura_retry_policy():
    """``arm`` wraps ``execute`` of a try's task copy once, and only under ``SuturaRetryPolicy``."""
    from types import SimpleNamespace

    from airflow.providers.standard.operators.empty import EmptyOperator
    from sutura_airflow import SuturaRetryPolicy
    from sutura_airflow.retry import arm

    plain = EmptyOperator(task_id="plain")
    healed = EmptyOperator(task_id="healed", retry_policy=SuturaRetryPolicy())
    assert arm(SimpleNamespace(task=plain)) is False and "execute" not in vars(plain)
    assert arm(SimpleNamespace(task=healed)) is True
    wrapped = healed.execute
    assert arm(SimpleNamespace(task=healed)) is False and healed.execute is wrapped
    assert wrapped(context={}) is None  # the wrapper runs the operator's own execute
