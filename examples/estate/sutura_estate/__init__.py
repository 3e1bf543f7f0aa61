"""The Sutura estate: Airflow, dbt and Dagster on one machine, feeding one engine.

``Estate`` builds it in a work directory; ``situations`` plays what Sutura is for
(healing, the causal chain, quarantine, schema changes, change-driven runs);
``driver.main`` is the demo (``make demo``).
"""

from sutura_estate.estate import DbtBuild, Estate, FeatureBuild
from sutura_estate.situations import bad_batch, outage, play, schema_change, transient_failure, unchanged_pass

__all__ = ["DbtBuild", "Estate", "FeatureBuild", "bad_batch", "outage", "play", "schema_change", "transient_failure", "unchanged_pass"]
