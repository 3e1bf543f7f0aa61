"""One ``sutura-dbt`` build of the estate's dbt project, in its own process.

    python dbt_step.py PROJECT_DIR [--changed] [--max-waits N] [dbt args...]

The same as the ``sutura-dbt build`` command (``sutura_dbt.run``), with ``max_waits``
set (the CLI keeps the default of 3) so a demo does not wait long on an upstream cause.
The last line of output is the run's JSON summary. Its own process, because dbt-duckdb
keeps the warehouse file open for the life of the process and Airflow writes it next.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    from sutura_dbt import RunnerOptions, run

    project, rest = argv[0], argv[1:]
    changed = "--changed" in rest
    rest = [a for a in rest if a != "--changed"]
    max_waits = 1
    if "--max-waits" in rest:
        i = rest.index("--max-waits")
        max_waits = int(rest[i + 1])
        del rest[i : i + 2]
    args = ["--project-dir", project, "--profiles-dir", project, *rest]
    outcome = run("build", args, RunnerOptions(changed=changed, max_waits=max_waits, echo=lambda s: print(s, flush=True)))
    print(json.dumps(outcome.summary | {"exit_code": outcome.exit_code}, default=str, sort_keys=True))
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
