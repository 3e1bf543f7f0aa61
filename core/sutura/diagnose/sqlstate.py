"""SQLSTATE codes: what a five-character SQL error code says about retrying.

PostgreSQL, Redshift, Snowflake (in parentheses after its own code: ``002003 (42S02)``),
DuckDB-over-ODBC and JDBC drivers all report SQLSTATE. The first two characters are the
class; a class decides the kind unless a specific code says otherwise (``40002`` is an
integrity violation in a class of retryable transaction rollbacks). Names follow
PostgreSQL's Appendix A, so ``psycopg.errors.UndefinedTable`` (CamelCase of
``undefined_table``) maps back to ``42P01`` without the exception object.

To change a decision, edit ``CODES`` or ``CLASSES``: one line each.
"""

from __future__ import annotations

from sutura.ontology import FailureKind

__all__ = ["CLASSES", "CODES", "by_code", "by_exception_name"]

T, D, U, A = (
    FailureKind.TRANSIENT,
    FailureKind.DETERMINISTIC,
    FailureKind.UPSTREAM,
    FailureKind.DATA,
)

# class -> (description, kind, confidence). Classes not listed say nothing (e.g. XX internal).
CLASSES: dict[str, tuple[str, FailureKind, float]] = {
    "08": ("connection exception", T, 0.85),
    "0A": ("feature not supported", D, 0.85),
    "21": ("cardinality violation", A, 0.8),
    "22": ("data exception", A, 0.85),
    "23": ("integrity constraint violation", A, 0.85),
    "28": ("invalid authorization", D, 0.9),
    "3D": ("invalid catalog name", D, 0.9),
    "3F": ("invalid schema name", D, 0.9),
    "40": ("transaction rollback", T, 0.9),
    "42": ("syntax error or access rule violation", D, 0.9),
    "44": ("WITH CHECK OPTION violation", A, 0.8),
    "53": ("insufficient resources", T, 0.7),
    "54": ("program limit exceeded", D, 0.75),
    "57": ("operator intervention", T, 0.85),
    "58": ("system error", T, 0.6),
    "72": ("snapshot too old", T, 0.8),
}

# code -> (condition name, kind, confidence); kind None means "use the class".
CODES: dict[str, tuple[str, FailureKind | None, float]] = {
    # 08 connection exception
    "08000": ("connection_exception", None, 0.85),
    "08001": ("sqlclient_unable_to_establish_sqlconnection", None, 0.85),
    "08003": ("connection_does_not_exist", None, 0.85),
    "08004": ("sqlserver_rejected_establishment_of_sqlconnection", None, 0.8),
    "08006": ("connection_failure", None, 0.85),
    "08P01": ("protocol_violation", D, 0.6),  # also "too many bind parameters": not worth a retry
    # 0A
    "0A000": ("feature_not_supported", None, 0.85),
    # 21 / 22 / 23 data
    "21000": ("cardinality_violation", None, 0.8),
    "22000": ("data_exception", None, 0.8),
    "22001": ("string_data_right_truncation", None, 0.9),
    "22003": ("numeric_value_out_of_range", None, 0.9),
    "22004": ("null_value_not_allowed", None, 0.9),
    "22007": ("invalid_datetime_format", None, 0.9),
    "22008": ("datetime_field_overflow", None, 0.9),
    "22012": ("division_by_zero", None, 0.85),
    "22018": ("invalid_character_value_for_cast", None, 0.9),
    "22021": ("character_not_in_repertoire", None, 0.9),
    "22023": ("invalid_parameter_value", D, 0.7),
    "22P02": ("invalid_text_representation", None, 0.85),
    "22P04": ("bad_copy_file_format", None, 0.85),
    "22P05": ("untranslatable_character", None, 0.9),
    "23000": ("integrity_constraint_violation", None, 0.85),
    "23502": ("not_null_violation", None, 0.9),
    "23503": ("foreign_key_violation", None, 0.9),
    "23505": ("unique_violation", None, 0.9),
    "23514": ("check_violation", None, 0.9),
    "23P01": ("exclusion_violation", None, 0.9),
    # 25 invalid transaction state: only the read-only case says something (a failover)
    "25006": ("read_only_sql_transaction", T, 0.55),
    # 28 / 3D / 3F configuration
    "28000": ("invalid_authorization_specification", None, 0.9),
    "28P01": ("invalid_password", None, 0.9),
    "3D000": ("invalid_catalog_name", None, 0.9),
    "3F000": ("invalid_schema_name", None, 0.9),
    # 40 transaction rollback
    "40000": ("transaction_rollback", None, 0.85),
    "40001": ("serialization_failure", None, 0.95),
    "40002": ("transaction_integrity_constraint_violation", A, 0.8),
    "40003": ("statement_completion_unknown", None, 0.7),
    "40P01": ("deadlock_detected", None, 0.95),
    # 42 syntax error or access rule violation
    "42000": ("syntax_error_or_access_rule_violation", None, 0.9),
    "42501": ("insufficient_privilege", None, 0.9),
    "42601": ("syntax_error", None, 0.95),
    "42602": ("invalid_name", None, 0.9),
    "42622": ("name_too_long", None, 0.9),
    "42701": ("duplicate_column", None, 0.9),
    "42702": ("ambiguous_column", None, 0.95),
    "42703": ("undefined_column", None, 0.95),
    "42704": ("undefined_object", None, 0.9),
    "42710": ("duplicate_object", None, 0.85),
    "42723": ("duplicate_function", None, 0.85),
    "42725": ("ambiguous_function", None, 0.9),
    "42803": ("grouping_error", None, 0.95),
    "42804": ("datatype_mismatch", None, 0.9),
    "42809": ("wrong_object_type", None, 0.9),
    "42830": ("invalid_foreign_key", None, 0.9),
    "42846": ("cannot_coerce", None, 0.9),
    "42883": ("undefined_function", None, 0.95),
    "42P01": ("undefined_table", None, 0.95),
    "42P02": ("undefined_parameter", None, 0.9),
    "42P07": ("duplicate_table", None, 0.85),
    "42P18": ("indeterminate_datatype", None, 0.9),
    "42S02": ("base_table_or_view_not_found", None, 0.95),  # ODBC/Snowflake spelling
    "42S22": ("column_not_found", None, 0.95),  # ODBC/Snowflake spelling
    # 53 insufficient resources
    "53000": ("insufficient_resources", None, 0.7),
    "53100": ("disk_full", None, 0.55),
    "53200": ("out_of_memory", None, 0.55),
    "53300": ("too_many_connections", None, 0.85),
    "53400": ("configuration_limit_exceeded", D, 0.6),
    # 54 program limit exceeded
    "54000": ("program_limit_exceeded", None, 0.75),
    "54001": ("statement_too_complex", None, 0.8),
    # 55 object not in prerequisite state: only the lock waits are worth a retry
    "55006": ("object_in_use", T, 0.8),
    "55P03": ("lock_not_available", T, 0.9),
    # 57 operator intervention
    "57000": ("operator_intervention", None, 0.7),
    "57014": ("query_canceled", None, 0.85),
    "57P01": ("admin_shutdown", None, 0.9),
    "57P02": ("crash_shutdown", None, 0.9),
    "57P03": ("cannot_connect_now", None, 0.9),
    "57P04": ("database_dropped", D, 0.8),
    "57P05": ("idle_session_timeout", None, 0.85),
    # 58 system error
    "58000": ("system_error", None, 0.6),
    "58030": ("io_error", None, 0.6),
    "72000": ("snapshot_too_old", None, 0.8),
}


def by_code(code: str) -> tuple[str, FailureKind, float] | None:
    """``(evidence words, kind, confidence)`` for a SQLSTATE code, or None when it says nothing."""
    code = code.upper()
    cls = CLASSES.get(code[:2])
    known = CODES.get(code)
    if known is not None:
        name, kind, conf = known
        if kind is None:
            if cls is None:
                return None
            kind = cls[1]
        return f"SQLSTATE {code} {name}", kind, conf
    if cls is not None:
        return f"SQLSTATE {code} (class {code[:2]}: {cls[0]})", cls[1], cls[2] - 0.05
    return None


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


# psycopg / psycopg2 / asyncpg class names -> code. asyncpg appends "Error".
_BY_NAME: dict[str, str] = {}
for _code, (_name, _kind, _conf) in CODES.items():
    _BY_NAME.setdefault(_camel(_name), _code)
    _BY_NAME.setdefault(_camel(_name) + "Error", _code)
_BY_NAME.update(
    {
        "QueryCanceled": "57014",
        "QueryCanceledError": "57014",  # psycopg2's alias
        "TransactionRollbackError": "40000",  # psycopg2's base class for class 40
        "DeadlockDetected": "40P01",
        "DeadlockDetectedError": "40P01",
        "LockNotAvailable": "55P03",
        "LockNotAvailableError": "55P03",
        "InsufficientPrivilege": "42501",
        "InsufficientPrivilegeError": "42501",
        "DivisionByZero": "22012",
        "DivisionByZeroError": "22012",
        "SqlclientUnableToEstablishSqlconnection": "08001",
        "TooManyConnections": "53300",
        "TooManyConnectionsError": "53300",
        "SerializationError": "40001",  # asyncpg
    }
)
_BY_NAME.pop("ConnectionException", None)  # too generic a name across libraries
_BY_NAME.pop("SyntaxError", None)  # Python's own SyntaxError: handled by the Python rules
_BY_NAME.pop("SystemError", None)  # Python's own SystemError


def by_exception_name(type_name: str, module: str | None) -> str | None:
    """The SQLSTATE a driver's exception class stands for, if the class is a driver's.

    ``SyntaxError`` is only PostgreSQL's when it comes from ``psycopg.errors`` (or psycopg2),
    so bare Python names are looked up only with a PostgreSQL driver module.
    """
    code = _BY_NAME.get(type_name)
    if code is not None:
        return code
    if type_name in ("SyntaxError", "PostgresSyntaxError") and module and (
        "psycopg" in module or "asyncpg" in module
    ):
        return "42601"
    return None
