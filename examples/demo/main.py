"""The demo (``make demo``): the Sutura estate — Airflow, dbt and Dagster feeding one engine.

Builds the estate of ``examples/estate`` in a fresh directory and plays, for real, a
transient source failure, a source outage (the causal chain across tools), a bad batch
(quarantine and release), schema changes, and an unchanged pass. ``--json`` for machines;
``--workdir DIR`` keeps everything for ``sutura --db sqlite:///DIR/sutura.db ...``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "estate"))

from sutura_estate.driver import main  # noqa: E402

if __name__ == "__main__":
    code = main()
    # Everything is written and printed. Skip the interpreter's teardown: DuckDB's
    # bindings report the module objects still alive then as "leaked", which is noise
    # after a demo (SQLite keeps what was committed; the next open replays its WAL).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
