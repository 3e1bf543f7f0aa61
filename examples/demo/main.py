"""The demo (``make demo``): the Sutura estate — Airflow, dbt and Dagster feeding one engine.

Builds the estate of ``examples/estate`` in a fresh directory and plays, for real, a
transient source failure, a source outage (the causal chain across tools), a bad batch
(quarantine and release), schema changes, and an unchanged pass. ``--json`` for machines;
``--workdir DIR`` keeps everything for ``sutura --db sqlite:///DIR/sutura.db ...``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "estate"))

from sutura_estate.driver import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
