"""``sutura-dbt``: dbt, with lineage, healing, quarantines and change-driven selection.

    sutura-dbt build [--changed] [--max-attempts N] [--json] [any dbt build arguments]
    sutura-dbt run | test | seed | snapshot [...]

Every argument sutura-dbt does not know is passed to dbt unchanged. Any other dbt command
(``deps``, ``ls``, ``docs``...) is handed to dbt as it is. The exit code is dbt's: 0 when
every node ended well (after retries), 1 when a node failed, 2 when dbt itself could not
run. ``--json`` prints a summary of every decision as the last line of output.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sutura-dbt",
        description="Run dbt with Sutura: OpenLineage for every node, retries of transient failures only, "
        "quarantines from failing tests, and --changed to build only what changed.",
        add_help=False,
    )
    parser.add_argument("--changed", action="store_true", help="select only nodes downstream of datasets whose content changed")
    parser.add_argument("--max-attempts", type=int, default=3, help="attempts per node when failures are transient (default 3)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary of decisions as the last line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        _parser().print_help()
        return 0
    command, rest = argv[0], argv[1:]
    from sutura_dbt.runner import RUNNABLE, RunnerOptions, run

    if command not in RUNNABLE:
        from dbt.cli.main import dbtRunner

        result = dbtRunner().invoke(argv)
        return 2 if result.exception is not None else (0 if result.success else 1)
    ours, dbt_args = _parser().parse_known_args(rest)
    if ours.changed and command not in ("build", "run"):
        print(f"sutura-dbt: --changed works with build and run, not {command}", file=sys.stderr)
        return 2
    if ours.changed and any(a in ("--select", "-s", "--models", "-m", "--selector") or a.startswith(("--select=", "--selector=")) for a in dbt_args):
        print("sutura-dbt: --changed chooses the selection itself; drop --select/--selector", file=sys.stderr)
        return 2
    outcome = run(command, dbt_args, RunnerOptions(changed=ours.changed, max_attempts=max(1, ours.max_attempts)))
    if ours.json:
        print(json.dumps(outcome.summary, default=str, sort_keys=True))
    return outcome.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
