"""Release an asset's quarantined version from Python (the CLI equivalent: ``sutura release``).

Releasing publishes the held version: :class:`SuturaIOManager` serves it from then on,
and the change feed reports it, so :func:`sutura_change_sensor` runs what is downstream::

    from sutura_dagster import release

    release("raw/orders", "late rows confirmed with the vendor", by="ana")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sutura_dagster.identity import asset_dataset
from sutura_dagster.resource import SuturaResource, resource_engine

__all__ = ["release"]


def release(
    asset_key: Any,
    reason: str,
    *,
    by: str | None = None,
    fingerprint: str | None = None,
    sutura: SuturaResource | None = None,
    translator: Any = None,
    metadata: Mapping[str, Any] | None = None,
) -> Any:
    """Publish the newest quarantined version of ``asset_key`` (or the one with ``fingerprint``).

    ``metadata`` is the asset's definition metadata when its dataset is named from it
    (``dagster/table_name``, ``dagster/uri``). Returns the engine's RELEASE decision;
    raises when there is nothing to release (this is a person's action, not a run's).
    """
    from dagster import AssetKey

    if not reason or not reason.strip():
        raise ValueError("release needs a reason: it is recorded in the decision log")
    key = asset_key if isinstance(asset_key, AssetKey) else AssetKey.from_user_string(asset_key) if isinstance(asset_key, str) else AssetKey.from_coercible(asset_key)
    dataset = asset_dataset(key, metadata or {}, translator)
    engine = (sutura or resource_engine(None)).get_engine()
    if fingerprint:
        versions = [v for v in engine.versions(dataset) if v.status.value == "quarantined" and v.content_fingerprint in (f"c:{fingerprint}", fingerprint) or v.fingerprint == fingerprint]
        if not versions:
            from sutura import NotFound

            raise NotFound(f"no quarantined version of {dataset.id} with fingerprint {fingerprint}")
        return engine.release(versions[0].id, reason, by=by)
    return engine.release(dataset.id, reason, by=by)
