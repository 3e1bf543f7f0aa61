"""The built-in rule table: one small rule per known failure, grouped by concern.

A rule says: *if an exception (or one it wraps) has one of these class names and/or its
message matches this pattern, it is this kind of failure, this sure, for this reason*.
Patterns are case-insensitive regular expressions; the first and last word of each
``|``-alternative match whole words (see ``_compile.py`` for why). ``evidence`` is what a person reads in
the decision log; ``{match}`` in it is replaced by the matched text.

Confidence is how sure the rule is on its own; when rules disagree the surer one wins,
so give a narrow rule (``SSL: CERTIFICATE_VERIFY_FAILED`` → deterministic, 0.95) a higher
confidence than the broad one it refines (``SSLError`` → transient, 0.55).
SQLSTATE codes and HTTP status codes are tables of their own (``sqlstate.py``,
``HTTP_STATUS`` below) read by two extractor rules in ``classify.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sutura.diagnose._compile import Alternative, compile_alternatives
from sutura.ontology import FailureKind

__all__ = ["DEFAULT_RULES", "HTTP_STATUS", "Rule"]

T, D, U, A = (
    FailureKind.TRANSIENT,
    FailureKind.DETERMINISTIC,
    FailureKind.UPSTREAM,
    FailureKind.DATA,
)


@dataclass(frozen=True)
class Rule:
    """One piece of knowledge: a pattern over an exception, and what it means.

    ``types`` are class names, bare (``"KeyError"``) or qualified
    (``"botocore.exceptions.ClientError"``); ``message`` is a regular expression searched in
    the message. With both, both must hold for the same exception in the chain.
    """

    kind: FailureKind
    evidence: str
    confidence: float = 0.85
    types: tuple[str, ...] = ()
    message: str | None = None
    name: str = ""
    alternatives: tuple[Alternative, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.types and not self.message:
            raise ValueError(f"rule {self.evidence!r} needs types or a message pattern")
        if not 0.0 < self.confidence <= 1.0:
            raise ValueError(f"rule {self.evidence!r}: confidence must be in (0, 1]")
        try:
            self.evidence.format(match="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"rule {self.evidence!r}: evidence may only use {{match}}") from exc
        if self.message is not None and not self.alternatives:
            try:
                alts = tuple(compile_alternatives(self.message))
            except re.error as exc:
                raise ValueError(f"rule {self.evidence!r}: bad pattern: {exc}") from exc
            object.__setattr__(self, "alternatives", alts)
        if not self.name:
            object.__setattr__(self, "name", self.evidence)


def _r(kind: FailureKind, evidence: str, confidence: float = 0.85, *, types: tuple[str, ...] = (), message: str | None = None) -> Rule:
    return Rule(kind=kind, evidence=evidence, confidence=confidence, types=types, message=message)


# HTTP status -> kind. Codes not listed: 5xx is transient, other 4xx deterministic.
HTTP_STATUS: dict[int, FailureKind] = {
    408: T,  # request timeout
    425: T,  # too early
    429: T,  # too many requests
    500: T,
    502: T,
    503: T,
    504: T,
    501: D,  # not implemented: the endpoint will not appear on retry
    505: D,
}

# --------------------------------------------------------------------------- network
NETWORK = [
    _r(T, "{match} is a network error", 0.85, types=(
        "ConnectionResetError", "ConnectionRefusedError", "ConnectionAbortedError", "BrokenPipeError",
        "ConnectionError", "RemoteDisconnected", "IncompleteRead", "ChunkedEncodingError",
        "NewConnectionError", "ProtocolError", "ConnectError", "ReadError", "WriteError",
        "RemoteProtocolError", "NetworkError", "ServerDisconnectedError", "ClientConnectorError",
        "ClientOSError", "EndpointConnectionError", "ConnectionClosedError", "ConnectException",
        "SocketException", "AutoReconnect", "ConnectionFailure", "NoBrokersAvailable",
    )),
    _r(T, "{match} is a timeout", 0.85, types=(
        "TimeoutError", "timeout", "ReadTimeout", "ConnectTimeout", "WriteTimeout", "PoolTimeout",
        "ReadTimeoutError", "ConnectTimeoutError", "TimeoutException", "Timeout", "TimeoutExpired",
        "SocketTimeoutException", "ServerTimeoutError", "DeadlineExceeded", "KafkaTimeoutError",
        "ServerSelectionTimeoutError", "NetworkTimeout", "RequestTimedOutError", "OperationTimedOut",
    )),
    _r(T, "name resolution failed ({match}); DNS or a service not up yet", 0.65, types=("gaierror", "NameResolutionError", "UnknownHostException")),
    _r(T, "network error: {match}", 0.8, message=(
        r"connection (?:reset|refused|aborted|timed out)|broken pipe|network is unreachable"
        r"|no route to host|remote end closed connection|server disconnected|connection closed by"
        r"|connection was forcibly closed|eof occurred in violation of protocol|errno 10[45]\b|errno 111\b"
    )),
    _r(T, "name resolution failed: {match}", 0.65, message=(
        r"temporary failure in name resolution|name or service not known|nodename nor servname"
        r"|could not translate host name|failed to resolve|getaddrinfo failed|no address associated with hostname"
    )),
    _r(T, "timeout: {match}", 0.65, message=r"\btimed out\b|\btimeout (?:expired|exceeded|error)\b|deadline exceeded|operation timed out"),
    _r(T, "{match}: the client gave up after repeated failures", 0.6, message=r"max retries exceeded"),
    _r(T, "the endpoint did not answer: {match}", 0.8, message=(
        r"could not connect to the endpoint url|connection was closed before we received a valid response"
        r"|broker transport failure|all brokers down|_transport|failed to update metadata after|nobrokersavailable"
        r"|tns:no listener|tns:connect timeout|end-of-file on communication channel|login timeout expired"
        r"|an existing connection was forcibly closed|communication link failure"
    )),
    _r(T, "the service asks to retry: {match}", 0.75, message=(
        r"temporarily unavailable|temporary failure|try again later|please (?:try again|retry)"
        r"|retrying (?:the job )?may solve|service unavailable|server is (?:busy|overloaded)|please try the operation again"
        r"|is retryable|(?<!non-)(?<!not )retryable error|connectiontimeout|connecttimeout|readtimeout"
    )),
    # TLS: a broken handshake mid-flight is transient, a misconfigured one is not.
    _r(T, "{match} is a TLS error (often a dropped connection)", 0.55, types=("SSLError", "SSLEOFError", "SSLZeroReturnError", "SSLSyscallError")),
    _r(T, "TLS connection dropped: {match}", 0.8, message=r"unexpected_eof_while_reading|ssl syscall error|decryption failed or bad record mac|ssl connection has been closed unexpectedly"),
    _r(D, "TLS misconfiguration: {match}", 0.95, message=(
        r"certificate_verify_failed|certificate verify failed|wrong_version_number|wrong version number"
        r"|hostname mismatch|self[- ]signed certificate|unknown ca|tlsv1 alert protocol version|unsupported protocol"
        r"|pem lib|key values mismatch|handshake failure|no protocols available|no ciphers available"
    )),
    _r(D, "{match}: the URL is malformed", 0.9, types=("UnsupportedProtocol", "InvalidURL", "MissingSchema", "InvalidSchema", "LocalProtocolError")),
]

# --------------------------------------------------------------------------- HTTP and cloud APIs
HTTP_AND_CLOUD = [
    _r(T, "rate limited: {match}", 0.9, message=(
        r"rate ?limit(?:ed|s)? exceeded|exceeded rate limits|ratelimitexceeded|too many requests|slowdown|slow down|throttled|throttling"
        r"|please reduce your request rate|throttlingexception|requestlimitexceeded"
        r"|provisionedthroughputexceeded|toomanyrequests|jobratelimitexceeded"
    )),
    _r(T, "quota exceeded (usually resets): {match}", 0.55, message=r"quota ?exceeded|quotaexceeded"),
    _r(T, "{match} is a retryable API error", 0.85, types=(
        "ServiceUnavailable", "InternalServerError", "TooManyRequests", "BadGateway", "GatewayTimeout",
        "Aborted", "RetryError", "ThrottlingException", "ServerError",
    )),
    _r(T, "the backend reported an internal error: {match}", 0.75, message=(
        r"backenderror|backend error|we encountered an internal error|internal ?error.{0,40}?(?:try again|retry)"
        r"|the job encountered an internal error|statuscode\.unavailable|\bunavailable: "
    )),
    _r(D, "credentials or permissions are wrong: {match}", 0.85, message=(
        r"permission denied|access denied|accessdenied|not authorized|unauthorized|forbidden"
        r"|insufficient privileges?|invalidaccesskeyid|signaturedoesnotmatch|authentication failed"
        r"|invalid credentials|incorrect username or password|password authentication failed|jwt token is invalid"
        r"|must be owner of"
    )),
    _r(D, "{match}: the caller is not allowed", 0.85, types=("PermissionError", "PermissionDenied", "Forbidden", "Unauthorized", "Unauthenticated", "AuthenticationError", "AccessDenied", "NoCredentialsError")),
    _r(D, "{match}: the request is wrong", 0.8, types=("BadRequest", "InvalidArgument", "UnprocessableEntity", "MethodNotAllowed", "Conflict")),
    _r(D, "BigQuery says the query is invalid: {match}", 0.9, message=r"invalidquery|responsetoolarge"),
    _r(D, "the bucket does not exist: {match}", 0.85, message=r"nosuchbucket|the specified bucket does not exist"),
    _r(D, "credentials are expired or invalid: {match}", 0.6, message=r"expiredtoken|security token included in the request is (?:expired|invalid)|invalid_grant|unable to locate credentials"),
    _r(D, "{match}: no usable credentials", 0.85, types=("NoCredentialsError", "RefreshError", "PartialCredentialsError")),
    _r(U, "an input object is not there yet: {match}", 0.75, message=r"nosuchkey|the specified key does not exist|no such object|the specified s3 prefix .{0,200}? does not exist"),
]

# --------------------------------------------------------------------------- databases by message
DATABASES = [
    # PostgreSQL / Redshift text (when only the message survives, e.g. inside dbt)
    _r(T, "transaction conflict: {match}", 0.9, message=(
        r"deadlock detected|could not serialize access|serializable isolation violation"
        r"|conflict with concurrent transaction|could not obtain lock|canceling statement due to lock timeout"
        r"|conflict on (?:update|delete|insert)|write-write conflict|transactioncontext error: conflict"
        r"|concurrent(?:append|delete\w*|modification|transaction)exception|delta_concurrent"
        r"|number of waiters for this lock exceeds"
    )),
    _r(T, "the query was cancelled: {match}", 0.8, message=(
        r"canceling statement due to (?:statement timeout|user request|conflict with recovery)"
        r"|statement reached its statement or warehouse timeout|query cancelled|query was canceled|cancelled by wlm"
        r"|execution canceled"
    )),
    _r(T, "the server went away: {match}", 0.85, message=(
        r"terminating connection due to administrator command|server closed the connection unexpectedly"
        r"|the connection is closed|connection already closed|lost connection to (?:mysql )?server"
        r"|the database system is (?:starting up|shutting down|in recovery mode)|server has gone away"
        r"|could not connect to (?:server|snowflake backend)|failed to connect to db|connection to server .{0,80}? failed: (?:connection|timeout)"
        r"|authentication token has expired"
    )),
    _r(T, "transaction conflict (MySQL, SQL Server, Oracle): {match}", 0.9, message=(
        r"deadlock found when trying to get lock|lock wait timeout exceeded|try restarting transaction"
        r"|chosen as the deadlock victim|rerun the transaction|ora-00060|ora-08177|ora-00054|iceberg_commit_error"
        r"|too many dml statements outstanding|could not serialize access due to concurrent update"
    )),
    _r(T, "{match}: a concurrent writer won the commit; a retry reads the new version", 0.85, types=(
        "ConcurrentAppendException", "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException",
        "ConcurrentTransactionException", "ConcurrentModificationException", "MetadataChangedException",
        "CommitFailedException", "SerializationFailure", "LockNotAvailable",
    )),
    _r(T, "the server went away (MySQL, Oracle): {match}", 0.85, message=(
        r"lost connection to mysql server|mysql server has gone away|can't connect to mysql server"
        r"|ora-03113|ora-03114|ora-12541|ora-12170|ora-12537"
    )),
    _r(T, "the database ran out of a resource: {match}", 0.55, message=r"out of shared memory|ora-01652|ora-04031|query exceeded (?:per-node|distributed) (?:user )?memory limit|insufficient resources to run query|too many open files|errno 24\b"),
    _r(T, "a snapshot expired under a long query: {match}", 0.75, message=r"ora-01555|snapshot too old"),
    _r(D, "the SQL is wrong (MySQL, SQL Server, Oracle, Trino): {match}", 0.9, message=(
        r"you have an error in your sql syntax|unknown column|table '[^']+' doesn't exist|invalid object name"
        r"|invalid column name|ora-00942|ora-00904|ora-00933|ora-00936|cannot be resolved|mismatched input"
        r"|no pg_hba\.conf entry|ora-01017|ora-28000|login failed for user|access denied for user"
    )),
    _r(A, "a row does not fit (MySQL, SQL Server, Oracle, Trino): {match}", 0.85, message=(
        r"duplicate entry|data too long for column|incorrect (?:integer|decimal|date|datetime|string) value|cannot be null"
        r"|violation of (?:primary|unique) key constraint|cannot insert (?:the value )?null into|conversion failed when converting"
        r"|string or binary data would be truncated|arithmetic overflow|ora-00001|ora-01400|ora-01722|ora-01830|ora-01840"
        r"|ora-12899|ora-01438|hive_bad_data|invalid_cast_argument|numeric_value_out_of_range"
    )),
    _r(A, "an input file is corrupt: {match}", 0.7, message=r"magic bytes not found|file is corrupted|corrupt(?:ed)? (?:file|block|page|footer)|not a parquet file|couldn't deserialize thrift"),
    _r(T, "out of connection slots: {match}", 0.85, message=r"too many (?:clients|connections)|remaining connection slots are reserved|connection limit exceeded"),
    _r(T, "the database file is locked by another writer: {match}", 0.85, message=r"database (?:table )?is locked|could not set lock on file|database is busy"),
    _r(D, "the database, role or schema does not exist: {match}", 0.9, message=r'(?:database|role|schema) "[^"]+" does not exist'),
    _r(D, "the SQL refers to something that does not exist: {match}", 0.85, message=(
        r'relation "[^"]+" does not exist|column "?[^"\s]+"? (?:of relation "[^"]+" )?does not exist|function .{1,200}? does not exist'
        r"|operator does not exist|no such (?:table|column|function)|does not exist or not authorized"
        r"|object does not exist|table with name .{1,200}? does not exist|not found: (?:table|dataset|view)"
        r"|table or view not found|table_or_view_not_found|unresolved_column|cannot resolve .{1,200}? given input columns"
        r"|invalid identifier|unrecognized name"
    )),
    _r(D, "the SQL does not compile: {match}", 0.9, message=(
        r"syntax error|sql compilation error|parser error|binder error|catalog error|parseexception"
        r"|must appear in the group by clause|is ambiguous|no matching signature|ambiguous column"
        r"|not supported|does not support|datatype mismatch in|cannot be cast automatically|analysisexception"
    )),
    _r(D, "{match} is a SQL compilation error", 0.9, types=("ParserException", "BinderException", "CatalogException", "NotImplementedException", "AnalysisException", "ParseException")),
    _r(A, "a row violates a constraint: {match}", 0.9, message=(
        r"violates (?:unique|not-null|foreign key|check|exclusion) constraint|duplicate key"
        r"|(?:unique|not null|check|foreign key|primary key) constraint failed|constraint error"
        r"|duplicate row detected|null result in a non-nullable column|violates primary key constraint"
        r"|update/merge must match at most one source row"
    )),
    _r(A, "a value does not fit its type: {match}", 0.85, message=(
        r"invalid input syntax for|value too long for type|out of range|conversion error|could not convert"
        r"|numeric value .{1,80}? is not recognized|timestamp .{1,80}? is not recognized|is too long and would be truncated"
        r"|bad (?:int64|double|bool) value|could not cast literal|could not parse .{1,80}? as|invalid (?:timestamp|date)"
        r"|division by zero|divide_by_zero|cast_invalid_input|numberformatexception|datatype mismatch$"
        r"|more than one row returned by a subquery|character not in repertoire|invalid byte sequence"
        r"|csv (?:table encountered too many errors|error on line)|check 'stl_load_errors'"
        r"|cannot cast (?:string|value|'|\")|cast error|conversion failed for column|cannot be converted to (?:int|float|double|date|timestamp)"
    )),
    _r(A, "{match}: the data does not fit", 0.8, types=("IntegrityError", "DataError", "ConversionException", "ConstraintException", "OutOfRangeException")),
]

# --------------------------------------------------------------------------- resources
RESOURCES = [
    _r(T, "{match}: out of memory, may pass on a retry or another worker", 0.5, types=("MemoryError", "OutOfMemoryException", "OutOfMemoryError")),
    _r(T, "out of memory ({match}), may pass on a retry or another worker", 0.5, message=(
        r"out of memory|oomkilled|cannot allocate memory|container killed by yarn for exceeding memory"
        r"|gc overhead limit exceeded|java heap space|exceeding memory limits|memory limit exceeded"
    )),
    _r(T, "killed by a signal ({match}), as the OOM killer or a preemption does", 0.5, message=(
        r"sigkill|signals\.sigkill|negsignal\.sigkill|return code -9\b|exit (?:code|status) (?:-9|137)\b|killed externally|executorlostfailure"
        r"|exit ?code[ :='\"]*(?:-9|137)\b|oom[- ]kill(?:er|ed)?|terminated by the external system|\d+ killed {2,}"
    )),
    # Decision: a full disk is retried (transient, low confidence). Workers clean temp space,
    # another worker has room, a retention job frees it; the retry budget stops a real outage.
    _r(T, "disk full ({match}): retried on the chance space is freed or another worker runs it", 0.5, message=r"no space left on device|disk quota exceeded|disk full|disk is full|errno 28\b"),
    _r(T, "the task ran past its time limit ({match})", 0.55, types=("AirflowTaskTimeout",)),
    _r(T, "resources exceeded ({match})", 0.6, message=r"resources exceeded|resourcesexceeded|insufficient resources"),
    _r(T, "the worker lost its heartbeat ({match})", 0.6, message=r"zombie|heartbeat (?:timed out|timeout|missed)"),
]

# --------------------------------------------------------------------------- dbt, Airflow, Dagster
ORCHESTRATORS = [
    _r(D, "dbt could not compile the project: {match}", 0.9, types=(
        "CompilationError", "CompilationException", "TargetNotFoundError", "ParsingError", "DbtProjectError",
        "DbtProfileError", "DbtValidationError", "UndefinedMacroError", "TemplateSyntaxError", "UndefinedError",
        "JinjaRenderingError", "DbtReferenceError",
    )),
    _r(D, "dbt compilation error: {match}", 0.9, message=r"^compilation error|depends on a node named .{1,200}? which was not found|could not find profile named"),
    _r(A, "a dbt test failed: {match}", 0.95, message=r"got \d+ results?, configured to (?:fail|warn) if|failure in test"),
    _r(U, "a dbt source is stale: {match}", 0.9, message=r"error stale|freshness of .{1,200}? (?:is stale|failed)|source .{1,200}? is stale"),
    _r(U, "{match}: what the sensor waited for never arrived", 0.85, types=("AirflowSensorTimeout",)),
    _r(U, "a sensor timed out waiting for its input: {match}", 0.85, message=r"sensor has timed out|sensor timed out"),
    _r(U, "an upstream task failed: {match}", 0.8, message=r"upstream (?:task|asset|dependency|step)s? (?:\S+ )?(?:failed|did not succeed)|upstream_failed|one or more upstream tasks failed"),
    _r(T, "the task was terminated from outside ({match}), as a preemption or redeploy does", 0.5, message=r"received sigterm|task received sigterm|terminated by (?:the )?(?:scheduler|executor)|pod (?:was )?evicted|preempted|spot instance interruption"),
    _r(D, "{match}: the task asked not to be retried", 0.8, types=("AirflowFailException",)),
    _r(D, "{match}: a connection or variable is not configured", 0.9, types=("AirflowNotFoundException",)),
    _r(D, "an Airflow connection is not defined: {match}", 0.9, message=r"conn_id .{1,100}? isn't defined|the conn_id"),
    _r(D, "{match}: the Dagster definitions or config are wrong", 0.9, types=(
        "DagsterInvalidDefinitionError", "DagsterInvalidConfigError", "DagsterInvariantViolationError",
        "DagsterInvalidInvocationError", "DagsterUnknownResourceError",
    )),
    _r(D, "{match}: the pipeline code or configuration is wrong", 0.8, types=(
        "DagsterStepOutputNotFoundError", "DagsterInvalidPropertyError", "DagsterInvalidSubsetError",
        "CheckpointError", "DataContextError", "InvalidExpectationConfigurationError", "ExpectationNotFoundError",
        "NoSuchModuleError", "ArgumentError", "ResourceClosedError", "InvalidRequestError", "NoSuchColumnError",
        "NoReferencedTableError", "UnboundExecutionError", "CompileError",
        "yaml.scanner.ScannerError", "yaml.parser.ParserError", "yaml.composer.ComposerError", "TOMLDecodeError",
    )),
    _r(T, "{match}: the connection pool lost its connection", 0.75, types=("DisconnectionError",)),
    _r(D, "an environment variable or setting is missing: {match}", 0.85, message=r"env var required but not provided|found a cycle|found two (?:models|resources|seeds)|dbt found \d+ (?:models|resources)"),
    _r(A, "{match}: a data check failed", 0.9, types=("DagsterAssetCheckFailedError", "DagsterTypeCheckDidNotPass", "SchemaError", "SchemaErrors")),
    _r(A, "a data check failed: {match}", 0.85, message=(
        r"blocking asset checks? failed|validation (?:failed|unsuccessful)|expectations? (?:failed|were not met|did not pass)"
        r"|data quality check failed|typecheck.{0,40}?did not pass"
    )),
]

# --------------------------------------------------------------------------- Python itself
PYTHON = [
    _r(D, "{match} is a programming error", 0.9, types=(
        "KeyError", "TypeError", "AttributeError", "NameError", "UnboundLocalError", "ZeroDivisionError",
        "ImportError", "ModuleNotFoundError", "SyntaxError", "IndentationError", "TabError", "AssertionError",
        "IndexError", "RecursionError", "NotImplementedError", "LookupError", "IsADirectoryError",
        "NotADirectoryError", "FileExistsError", "ClassNotFoundException", "NullPointerException",
        "NoSuchMethodError", "IllegalArgumentException",
    )),
    _r(D, "an object lacks what the code expects: {match}", 0.8, message=r"object has no attribute"),
    _r(D, "{match} usually means a bug or bad configuration", 0.55, types=("ValueError", "ValidationError", "ProgrammingError")),
    _r(A, "a value could not be parsed: {match}", 0.8, message=(
        r"invalid literal for|could not convert string to|unable to parse string|time data .{1,120}? does(?:n't| not) match format"
        r"|cannot convert non-finite values|codec can't decode|error tokenizing data|expecting value: line"
        r"|no columns to parse from file|unterminated string|expected \d+ fields"
    )),
    _r(A, "{match}: the input data is malformed", 0.75, types=(
        "UnicodeDecodeError", "UnicodeError", "JSONDecodeError", "ParserError", "EmptyDataError", "IntCastingNaNError",
        "ArrowInvalid", "DecodeError",
    )),
    _r(D, "the frame's columns are not what the code expects: {match}", 0.8, message=(
        r"not in index|none of \[.{0,200}?\] are in the \[columns\]|you are trying to merge on|length of values .{1,40}? does not match"
        r"|schema at index \d+ was different|columns? mismatch|schema mismatch|failed to merge fields"
    )),
    # Decision: a missing *input* file is upstream (another job has not written it yet);
    # a missing program, config or module file is a deployment bug.
    _r(U, "{match}: an input file is missing (not produced yet?)", 0.6, types=("FileNotFoundError", "FileNotFoundException", "NoSuchFileException")),
    _r(U, "an input file or path is missing: {match}", 0.7, message=r"no files found that match the pattern|no such file or directory|cannot open file|does not exist: (?:s3|gs|hdfs|abfss?|file)://"),
    # Spark reports a missing input path as an AnalysisException; the path, not the SQL, is wrong.
    _r(U, "an input path is missing (not produced yet?): {match}", 0.92, message=r"path does not exist"),
    _r(D, "a program or config file is missing: {match}", 0.8, message=r"no such file or directory: '(?:[^']*(?:\.py|\.ya?ml|\.cfg|\.ini|\.toml|\.json|/bin/\w+|profiles\.yml)|[\w\-]+)'"),
    _r(D, "the database file cannot be opened: {match}", 0.6, message=r"unable to open database file"),
    _r(D, "the file system is read-only: {match}", 0.8, message=r"read-only file system|errno 30\b"),
]

DEFAULT_RULES: tuple[Rule, ...] = (*NETWORK, *HTTP_AND_CLOUD, *DATABASES, *RESOURCES, *ORCHESTRATORS, *PYTHON)
