"""Write-audit-publish: checks, SQL and file targets, the publish-or-quarantine flow."""

from sutura_airflow.quarantine.checks import Check, parse_checks
from sutura_airflow.quarantine.sql import SqlTarget
from sutura_airflow.quarantine.wap import WapResult, audit_and_publish, release_quarantine

__all__ = ["Check", "SqlTarget", "WapResult", "audit_and_publish", "parse_checks", "release_quarantine"]
