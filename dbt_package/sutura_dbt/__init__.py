"""sutura-dbt: the Python side of the Sutura dbt package, a runner that wraps dbt.

    sutura-dbt build --changed --json

runs dbt through its programmatic runner and, around it, emits OpenLineage for every
node (named as dbt-ol names them, plus a content fingerprint of each materialized
output), retries only the nodes the engine calls transient, turns failing dbt tests into
check results (quarantines), and with ``--changed`` selects only what is downstream of
datasets whose content changed. ``run`` is the same thing from Python.
"""

from sutura_dbt.cli import main
from sutura_dbt.runner import Outcome, RunnerOptions, run

__all__ = ["Outcome", "RunnerOptions", "main", "run"]
