"""Classify a failure: is it worth a retry, a fast fail, a wait, or a quarantine?

``classify(error) -> Diagnosis`` runs on every failure a plugin reports. It is a pure
function of the ``ErrorInfo`` (no I/O, no history) and takes tens of microseconds.

The kinds, and what the engine does with them
=============================================

==============  ====================================================================
TRANSIENT       retry with backoff: network errors and timeouts, HTTP 408/429/5xx,
                SQLSTATE 08 (connection), 40001/40P01 (serialization, deadlock),
                53 (resources), 55P03 (lock not available), 57014/57P01 (cancelled,
                shut down), "database is locked", rate limits. Memory, disk-full and
                SIGKILL are transient with low confidence (0.5): they often pass on
                another worker, and the retry budget stops a real outage.
DETERMINISTIC   fail fast: the same code or SQL fails the same way. Python programming
                errors, SQLSTATE 42 (syntax, undefined table/column/function), 28/3D
                (credentials, missing database), HTTP 400/401/403/404/422, dbt
                compilation errors, TLS misconfiguration, permission denied.
UPSTREAM        wait for the producer: a dbt source is stale, a sensor timed out, an
                input file or object is not there yet ("No such file or directory" on
                a data path, DuckDB "No files found", S3 NoSuchKey). A missing *table*
                is deterministic: tables do not appear by themselves mid-run, while
                files land on their own schedule.
DATA            quarantine: the rows are wrong. SQLSTATE 22 (bad values) and 23
                (constraint violations), parse errors in CSV/JSON, failed dbt tests
                ("Got 3 results, configured to fail if != 0"), failed GX validations
                and Dagster blocking checks.
UNKNOWN         nothing matched (confidence 0.2); the engine applies its default.
==============  ====================================================================

How it decides
==============

1. It unwraps. The error, its ``causes`` (outermost first), exceptions named inside
   messages (SQLAlchemy's ``(psycopg.errors.DeadlockDetected) ...``, Dagster's
   serialised ``ConnectionResetError: ...``, ``Caused by NewConnectionError(...)``,
   Java ``Caused by: ...`` lines) and, when there are no causes, the exception lines of
   the stack trace, all become layers. Wrappers (``DagsterExecutionStepExecutionError``,
   ``AirflowException``, ``DbtRuntimeError``, ``sqlalchemy.exc.OperationalError``) match
   no rule themselves, so the original error decides.
2. Every rule is tried on every layer: class-name rules by dictionary lookup, message
   rules as one compiled pattern, plus the SQLSTATE table (``sqlstate.py``) and the
   HTTP status table (``rules.HTTP_STATUS``).
3. The most confident hit wins; on a tie, the innermost layer, then the safer kind
   (deterministic before data before upstream before transient: a needless fast fail
   costs one run, a needless retry loop costs many). Agreeing rules add a little
   confidence; a close disagreement takes some away and is listed in ``evidence``.

``signature`` hashes the deciding layer's type and normalised message (numbers, quoted
literals, hex, UUIDs, paths and timestamps replaced), so the same failure with other ids
groups together. ``source`` names the data source when the message does
(``postgres://db.internal:5432``, ``https://api.example.com``), for per-source breakers.

Adding a rule
=============

Rules are data (``sutura.diagnose.rules``). To teach the classifier one more failure::

    from sutura.diagnose import Classifier, Rule
    from sutura.ontology import FailureKind

    classifier = Classifier.default().extend(
        Rule(FailureKind.TRANSIENT, "the vendor API is warming up: {match}", 0.9,
             message=r"warehouse is resuming"),
    )
    diagnosis = classifier.classify(error_info)

An extension rule outranks a built-in one of equal confidence. To contribute it to
Sutura, add it to the group of ``rules.py`` it belongs to, with a labelled real message
in ``tests/fixtures/errors/``. A plugin can also override the whole diagnosis through
the ``classify_failure`` hook.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Iterable, Iterator

from sutura.diagnose import sqlstate
from sutura.diagnose._compile import tokens
from sutura.diagnose.rules import DEFAULT_RULES, HTTP_STATUS, Rule
from sutura.ontology import Diagnosis, ErrorInfo, FailureKind

__all__ = ["Classifier", "classify", "normalise", "signature"]

_MAX_MESSAGE = 4000
_MAX_LAYERS = 16
_SAFETY = {
    FailureKind.DETERMINISTIC: 3,
    FailureKind.DATA: 2,
    FailureKind.UPSTREAM: 1,
    FailureKind.TRANSIENT: 0,
    FailureKind.UNKNOWN: -1,
}


@dataclass(frozen=True, slots=True)
class _Layer:
    type: str
    module: str | None
    message: str
    depth: float
    own_text: bool = False  # an embedded layer whose text no outer layer's message holds


@dataclass(frozen=True, slots=True)
class _Hit:
    kind: FailureKind
    confidence: float
    evidence: str
    layer: _Layer
    order: int  # rule position: earlier wins a full tie


# --------------------------------------------------------------------------- unwrapping

_SQLA_PREFIX = re.compile(r"^\((?P<qual>[\w.]+)\)\s+")
_SQLA_TAIL = re.compile(r"\n?\[(?:SQL|parameters): .*|\n?\(Background on this error at: [^)]*\)", re.S)
_SQL_CONTEXT = re.compile(r"^\s*LINE \d+:.*(?:\n[ \t]*\^+[ \t]*)?$", re.M)
_TYPE_LINE = re.compile(
    r"^[ \t]*(?:Caused by:[ \t]*|E[ \t]+|:[ \t]*)?(?P<qual>(?:[a-z_][\w]*\.)+)?"
    r"(?P<type>[A-Z][A-Za-z0-9_]*?(?:Error|Exception|Exit|Timeout|Failure|Interrupt|Disconnected|Violation"
    r"|Detected|Canceled|Shutdown|Expired|Unavailable|Exceeded|Available))(?::[ \t]+(?P<msg>.*))?[ \t]*$",
    re.M,
)
_INLINE_REPR = re.compile(
    r"\b(?P<type>[A-Z][A-Za-z0-9_]*(?:Error|Exception|Timeout|Disconnected))\("  # Caused by NewConnectionError(...)
    r"|raised (?P<raised>[A-Z][A-Za-z0-9_]*(?:Error|Exception|Timeout))>"  # tenacity: RetryError[<Future ... raised KeyError>]
)


def _clean(message: str) -> str:
    message = message[:_MAX_MESSAGE]
    if "[SQL: " in message or "(Background on this error" in message or "[parameters: " in message:
        message = _SQLA_TAIL.sub("", message)
    if "LINE " in message:
        message = _SQL_CONTEXT.sub("", message)
    return message.strip()


def _split_qual(qual: str | None) -> str | None:
    return qual.rstrip(".") if qual else None


def _embedded(message: str, depth: float) -> Iterator[_Layer]:
    """Exceptions named inside a message: wrappers that print the wrapped error."""
    m = _SQLA_PREFIX.match(message)
    if m:
        qual = m.group("qual")
        mod, _, typ = qual.rpartition(".")
        yield _Layer(typ, mod or None, message[m.end():], depth + 0.5)
    n = 0
    for m in _TYPE_LINE.finditer(message):
        n += 1
        yield _Layer(m.group("type"), _split_qual(m.group("qual")), (m.group("msg") or "").strip(), depth + 0.5 + n * 0.01)
        if n >= 4:
            break
    if "(" in message or "raised " in message:
        seen: set[str] = set()
        for m in _INLINE_REPR.finditer(message):
            typ = m.group("type") or m.group("raised")
            if typ not in seen:
                seen.add(typ)
                yield _Layer(typ, None, "", depth + 0.6 + len(seen) * 0.01)
            if len(seen) >= 4:
                break


def _layers(error: ErrorInfo) -> list[_Layer]:
    out: list[_Layer] = []
    chain = [error, *error.causes]
    for depth, info in enumerate(chain):
        msg = _clean(info.message or "")
        out.append(_Layer(info.type or "", info.module, msg, float(depth)))
        out.extend(_embedded(msg, float(depth)))
    if not error.causes and error.stack_trace:
        outer = out[0].message
        for m in _TYPE_LINE.finditer(error.stack_trace[-_MAX_MESSAGE:]):
            msg = _clean(m.group("msg") or "")
            out.append(_Layer(m.group("type"), _split_qual(m.group("qual")), msg, 0.5, own_text=bool(msg) and msg not in outer))
    return out[:_MAX_LAYERS]


# --------------------------------------------------------------------------- extractor tables

# Applied to the lowercased message.
_SQLSTATE_IN_MESSAGE = re.compile(
    r"sqlstate[\s:=\[]*\W?(?P<b>[0-9a-z]{5})\b"  # SQLSTATE 40001, SQLSTATE: 42P01, SQLSTATE[HY000]
    r"|'c': '(?P<c>[0-9a-z]{5})'"  # redshift_connector's error dict
    r"|pgcode[=: ]+(?P<d>[0-9a-z]{5})\b"
)
_HTTP_GATE = re.compile(r"[45]\d\d")
# requests ("503 Server Error"), google-api-core ("404 GET https://..."); a bare number
# followed by a word ("412 customers without an id") is not an HTTP status.
_HTTP_AT_START = re.compile(r"(?P<b>[45]\d{2}) (?:client|server) error|(?P<i>[45]\d{2}) (?=(?:get|post|put|patch|delete|head) )")
_HTTP_NEAR_CODE = re.compile(
    r"(?:client|server) error '(?P<a>\d{3})"  # httpx
    r"|http error:? (?P<c>\d{3})|\(http (?P<d>\d{3})\)|http/\d(?:\.\d)? (?P<e>\d{3})"
    r"|status(?:[ _]code)?[\"']?[:= ]+(?P<f>[45]\d{2})|<httperror (?P<g>\d{3})|googleapi: error (?P<h>\d{3})"
    r"|too many (?P<j>\d{3}) error responses|response (?:code )?(?P<k>[45]\d{2})"
    r"|(?P<l>[45]\d{2}) (?:service unavailable|too many requests|bad gateway|gateway time-?out|internal server error"
    r"|not found|forbidden|unauthorized|bad request|request timeout)"
)


def _http_codes(low: str) -> Iterator[int]:
    """HTTP status codes the message reports (searched only around 4xx/5xx-looking numbers)."""
    m = _HTTP_AT_START.match(low)
    if m:
        yield int(next(v for v in m.groupdict().values() if v))
    last_end = -1
    for c in _HTTP_GATE.finditer(low):
        if c.start() < last_end:
            continue
        window_start = max(0, c.start() - 30)
        for m in _HTTP_NEAR_CODE.finditer(low, window_start, min(len(low), c.end() + 30)):
            code = next(v for v in m.groupdict().values() if v)
            if m.start() <= c.start() < m.end():
                yield int(code)
                last_end = m.end()
                break


def _sqlstate_codes(low: str, words: set[str]) -> Iterator[str]:
    """SQLSTATE codes written in the message (Snowflake's ``002003 (42S02)``, ``SQLSTATE 40001``...)."""
    i = low.find(" (")
    while i >= 0:
        if i >= 6 and low[i - 6 : i].isdigit() and low[i + 7 : i + 8] == ")":
            yield low[i + 2 : i + 7]
        i = low.find(" (", i + 2)
    if "sqlstate" in words or "pgcode" in words or "'c': '" in low:
        for m in _SQLSTATE_IN_MESSAGE.finditer(low):
            code = next((v for v in m.groupdict().values() if v), None)
            if code:
                yield code


_HTTP_PHRASE = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
    409: "Conflict", 422: "Unprocessable Entity", 425: "Too Early", 429: "Too Many Requests",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _shown(original: str, low: str, m: re.Match[str]) -> str:
    """The matched text as written (the match ran on the lowercased message)."""
    text = original[m.start() : m.end()] if len(original) == len(low) else m.group(0)
    return " ".join(text.split())[:80]


def _http_kind(code: int) -> tuple[FailureKind, float, str] | None:
    phrase = _HTTP_PHRASE.get(code, "")
    label = f"HTTP {code} {phrase}".strip()
    kind = HTTP_STATUS.get(code)
    if kind is None:
        if 500 <= code < 600:
            kind = FailureKind.TRANSIENT
        elif 400 <= code < 500:
            kind = FailureKind.DETERMINISTIC
        else:
            return None
    if kind is FailureKind.TRANSIENT:
        return kind, 0.8, f"{label} is retryable"
    return kind, 0.8, f"{label} is a client error: a retry sends the same request"


# --------------------------------------------------------------------------- sources

# (gate substring, pattern, template): the pattern runs only when the gate is in the message.
_SOURCE_PATTERNS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("connection to server at", re.compile(r'connection to server at "(?P<host>[^"]+)"(?: \([^)]*\))?, port (?P<port>\d+)'), "postgres://{host}:{port}"),
    ("host", re.compile(r'(?:could not translate host name|failed to resolve host) ["\'](?P<host>[^"\']+)["\']'), "postgres://{host}"),
    ("ConnectionPool(", re.compile(r"(?P<s>HTTPS?)ConnectionPool\(host='(?P<host>[^']+)', port=(?P<port>\d+)\)"), "{s}://{host}:{port}"),
    ("snowflakecomputing.com", re.compile(r"(?P<host>[\w\-.]+)\.snowflakecomputing\.com"), "snowflake://{host}"),
    ("://", re.compile(
        r"(?P<s>https?|s3a?|gs|postgres(?:ql)?(?:\+\w+)?|mysql(?:\+\w+)?|redshift|snowflake|kafka|abfss?|hdfs|mongodb(?:\+srv)?)"
        r"://(?:[^@/\s'\"]+@)?(?P<host>[A-Za-z0-9_\-.]+)(?::(?P<port>\d+))?"
    ), ""),
    ("ot found: ", re.compile(r"[Nn]ot found: (?:[Tt]able|[Dd]ataset) [\w\-]+:"), "bigquery"),
)
_DOC_HOSTS = ("sqlalche.me", "developer.mozilla.org", "cloud.google.com", "duckdb.org", "github.com", "postgresql.org", "aka.ms", "docs.", "learn.microsoft.com", "aws.amazon.com")
_SCHEME_ALIASES = {"postgresql": "postgres", "s3a": "s3"}


def _source(layers: Iterable[_Layer]) -> str | None:
    for layer in layers:
        msg = layer.message
        if not msg:
            continue
        for gate, pattern, template in _SOURCE_PATTERNS:
            if gate not in msg:
                continue
            for m in pattern.finditer(msg):
                if template:
                    parts = {k: v for k, v in m.groupdict().items() if v}
                    if "s" in parts:
                        parts["s"] = parts["s"].lower()
                    return template.format(**parts)
                host = m.group("host")
                if any(d in host for d in _DOC_HOSTS):
                    continue
                scheme = m.group("s").lower().split("+")[0]
                scheme = _SCHEME_ALIASES.get(scheme, scheme)
                port = m.group("port")
                return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"
    return None


# --------------------------------------------------------------------------- signature

_URL = re.compile(r"[A-Za-z][\w+.-]*://[^\s'\"<>)]+")


def _hex(m: re.Match[str]) -> str:
    text = m.group(0)
    return "<hex>" if any(c.isdigit() for c in text) and any(c.isalpha() for c in text) else text


_NORMALISERS: tuple[tuple[re.Pattern[str], object], ...] = (
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<uuid>"),
    (_URL, "<url>"),
    (re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"|`[^`\n]{0,200}`"), "<q>"),
    (re.compile(r"[\\/][\w.\-@$]+(?:[\\/][\w.\-@$]+)+[\\/]?"), "<path>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"), "<ts>"),
    (re.compile(r"\d{2}:\d{2}:\d{2}(?:\.\d+)?"), "<ts>"),
    (re.compile(r"0x[0-9a-fA-F]+"), "<hex>"),
    (re.compile(r"[0-9a-fA-F]{8,}"), _hex),
    (re.compile(r"\d+(?:[.,]\d+)*"), "<n>"),
)


_DASHED = (_NORMALISERS[0][0], _NORMALISERS[4][0])


def normalise(message: str) -> str:
    """The message with run-specific parts replaced by placeholders (for grouping)."""
    text = _clean(message)[:400]
    for pattern, repl in _NORMALISERS:
        if (pattern is _URL and "://" not in text) or (pattern in _DASHED and "-" not in text):
            continue
        text = pattern.sub(repl, text)  # type: ignore[call-overload]
    return " ".join(text.split())[:300]


_TYPE_PREFIX = re.compile(r"^(?:[a-z_][\w]*\.)*[A-Z]\w*: ")


def signature(type_name: str, message: str) -> str:
    """A short stable hash of an error's type and normalised message."""
    message = _TYPE_PREFIX.sub("", message.strip(), count=1)
    text = f"{type_name}|{normalise(message)}"
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()


# --------------------------------------------------------------------------- the classifier


_RULE_POSITION = itemgetter(0, 1)


class Classifier:
    """A rule table compiled for speed. ``classify`` uses ``Classifier.default()``."""

    def __init__(self, rules: Iterable[Rule] = DEFAULT_RULES, *, extensions: int = 0):
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._extensions = extensions  # the first rules are a caller's: they win ties
        self._by_type: dict[str, list[tuple[int, Rule]]] = {}
        self._by_word: dict[str, list[tuple[int, int, Rule, re.Pattern[str]]]] = {}
        self._always: list[tuple[int, int, Rule, re.Pattern[str]]] = []
        for i, rule in enumerate(self.rules):
            if rule.types:
                for name in rule.types:
                    self._by_type.setdefault(name, []).append((i, rule))
                continue
            for j, alt in enumerate(rule.alternatives):
                entry = (i, j, rule, alt.pattern)
                if alt.trigger is None:
                    self._always.append(entry)
                else:
                    self._by_word.setdefault(alt.trigger, []).append(entry)

    @classmethod
    def default(cls) -> Classifier:
        return _default()

    def extend(self, *rules: Rule) -> Classifier:
        """A classifier with ``rules`` added; they outrank built-in rules of equal confidence."""
        return Classifier((*rules, *self.rules), extensions=self._extensions + len(rules))

    # ----------------------------------------------------------------- matching

    def _type_hits(self, layer: _Layer, low: str) -> Iterator[_Hit]:
        typ = layer.type
        names = (typ, f"{layer.module}.{typ}") if layer.module else (typ,)
        for name in names:
            for order, rule in self._by_type.get(name, ()):
                if not rule.alternatives:
                    yield _Hit(rule.kind, rule.confidence, rule.evidence.format(match=typ), layer, order)
                    continue
                for alt in rule.alternatives:
                    m = alt.pattern.search(low)
                    if m:
                        yield _Hit(rule.kind, rule.confidence, rule.evidence.format(match=_shown(layer.message, low, m)), layer, order)
                        break
        code = sqlstate.by_exception_name(typ, layer.module)
        if code:
            found = sqlstate.by_code(code)
            if found:
                words, kind, conf = found
                yield _Hit(kind, conf, f"{words} ({typ})", layer, -1)

    def _message_hits(self, layer: _Layer, low: str) -> Iterator[_Hit]:
        words = tokens(low)
        by_word = self._by_word
        candidates = [e for w in words if w in by_word for e in by_word[w]]
        candidates.extend(self._always)
        candidates.sort(key=_RULE_POSITION)  # deterministic evidence: first alternative of first rule
        done: set[int] = set()
        for order, _, rule, pattern in candidates:
            if order in done:
                continue
            m = pattern.search(low)
            if m:
                done.add(order)
                yield _Hit(rule.kind, rule.confidence, rule.evidence.format(match=_shown(layer.message, low, m)), layer, order)
        for code in _sqlstate_codes(low, words):
            found = sqlstate.by_code(code)
            if found:
                text, kind, conf = found
                yield _Hit(kind, conf, text, layer, -1)
        for status in _http_codes(low):
            found_http = _http_kind(status)
            if found_http:
                kind, conf, text = found_http
                yield _Hit(kind, conf, text, layer, -1)

    def _hits(self, layer: _Layer, *, messages: bool) -> Iterator[_Hit]:
        low = layer.message.lower()
        if layer.type:
            yield from self._type_hits(layer, low)
        if messages and low:
            yield from self._message_hits(layer, low)

    def classify(self, error: ErrorInfo) -> Diagnosis:
        """Diagnose one failure. Never raises: the worst case is UNKNOWN with the reason."""
        try:
            return self._classify(error)
        except Exception as exc:  # noqa: BLE001 - a broken rule must not break failure handling
            return Diagnosis(
                kind=FailureKind.UNKNOWN,
                confidence=0.1,
                evidence=(f"the classifier failed on this error ({type(exc).__name__}: {exc})",),
            )

    def _classify(self, error: ErrorInfo) -> Diagnosis:
        layers = _layers(error)
        # Message rules run once per distinct text, credited to the deepest layer that has it.
        deepest: dict[str, _Layer] = {}
        for layer in layers:
            if layer.message and (layer.depth == int(layer.depth) or layer.own_text):
                deepest[layer.message] = layer
        scan = set(map(id, deepest.values()))
        hits = [h for layer in layers for h in self._hits(layer, messages=id(layer) in scan)]
        source = _source(layers)
        if not hits:
            primary = next((ly for ly in reversed(layers) if ly.message and ly.depth == int(ly.depth)), layers[0])
            what = f"{error.type}: {' '.join(error.message.split())[:80]}".rstrip(": ")
            return Diagnosis(
                kind=FailureKind.UNKNOWN,
                confidence=0.2,
                evidence=(f"no rule matched {what}",),
                signature=signature(primary.type, primary.message),
                source=source,
            )
        ext = self._extensions
        hits.sort(key=lambda h: (-h.confidence, -h.layer.depth, not 0 <= h.order < ext, -_SAFETY[h.kind], h.order))
        best = hits[0]
        agree: list[str] = []
        against: list[_Hit] = []
        for h in hits:
            if h.kind is best.kind:
                if h.evidence not in agree:
                    agree.append(h.evidence)
            elif h.confidence >= best.confidence - 0.1 and all(h.evidence != a.evidence for a in against):
                against.append(h)
        confidence = best.confidence + 0.05 * min(2, len(agree) - 1)
        if against:
            confidence -= 0.1
        evidence = agree[:4] + [f"outweighed: {h.evidence} ({h.kind.value})" for h in against[:2]]
        return Diagnosis(
            kind=best.kind,
            confidence=round(max(0.05, min(0.99, confidence)), 2),
            evidence=tuple(evidence),
            signature=signature(best.layer.type, best.layer.message),
            source=source,
        )


@lru_cache(maxsize=1)
def _default() -> Classifier:
    return Classifier(DEFAULT_RULES)


def classify(error: ErrorInfo) -> Diagnosis:
    """Diagnose a failure with the built-in rules (see the module docstring)."""
    return _default().classify(error)
