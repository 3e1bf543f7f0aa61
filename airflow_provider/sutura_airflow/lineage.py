"""The ``suturaContent`` OpenLineage dataset facet: the hash of the content a task wrote.

The engine fingerprints a version by it (ahead of schema + statistics), so a rewrite of
identical rows is not a change and downstream does not run for nothing.
"""

from __future__ import annotations

import attr
from openlineage.client.facet_v2 import DatasetFacet

__all__ = ["SuturaContentDatasetFacet"]


@attr.define
class SuturaContentDatasetFacet(DatasetFacet):
    fingerprint: str
    rowCount: int | None = attr.field(default=None)  # noqa: N815 - OpenLineage spells facets in camelCase
    status: str | None = attr.field(default=None)  # publish | quarantine
