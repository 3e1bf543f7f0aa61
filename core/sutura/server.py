"""``sutura serve``: the engine over HTTP (FastAPI).

OpenLineage-compatible ingest (``POST /api/v1/lineage`` and ``/batch``, what the
OpenLineage HTTP transport sends), Marquez-shaped lineage reads, and the engine's
decisions. Malformed input is always a 4xx naming the field, never a 5xx; bodies
over ``server.max_body_bytes`` are refused with 413 before they are read whole.

Two-phase publish: ``POST /api/v1/checks`` with ``"defer_publish": true`` records a
PUBLISH without publishing the version; ``POST /api/v1/decisions/{id}/outcome`` with
``{"outcome": "published"}`` (or ``"failed_write"``) settles it, both with scope
``decide``; a refused report (not a deferred publish, a contradiction) is a 409.

Auth: with ``server.tokens`` configured (``{token: [scopes]}``), every endpoint but
``/healthz`` needs ``Authorization: Bearer <token>``: 401 without a known token, 403
when the token lacks the endpoint's scope (``ingest``, ``decide``, ``read``; ``admin``
holds them all and is required for releases and discards).

Limits (``server.max_body_bytes``, default 16 MiB; ``server.max_depth``, default 64
levels): a larger body is refused with 413 as soon as its declared or streamed size
passes the limit, so memory per request stays bounded by the limit; deeper JSON is a
400 naming ``$``. ``GET /metrics`` (scope ``read``) answers Prometheus text; see
``sutura.metrics`` for which figures come from the store and which from the workers.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse

from sutura import codec, config
from sutura.engine import Engine
from sutura.errors import InvalidEvent, InvalidNodeId, NotFound, StoreError, SuturaError
from sutura.metrics import Metrics, field_label, render, store_figures
from sutura.events import parse_event
from sutura.group_commit import GroupCommit
from sutura.ontology import Action, Dataset, IncidentState, parse_node_id
from sutura.show import run_dict

__all__ = ["create_app"]

log = logging.getLogger("sutura.server")
SCOPES = ("ingest", "decide", "read", "admin")


class HTTPError(Exception):
    def __init__(self, status: int, message: str, *, reason: str = "invalid", **extra: Any):
        self.status, self.message, self.extra, self.reason = status, message, extra, reason


def _reject(request: Request, reason: str, field: Any = None, count: int = 1) -> None:
    """Note a refusal for the metrics middleware (read back from the request scope)."""
    request.state.sutura_rejections = [*getattr(request.state, "sutura_rejections", []), (reason, field_label(field), count)]


class MetricsMiddleware:
    """Counts every request by route template and status, ingest latency, and the refusals noted."""

    INGEST = ("/api/v1/lineage", "/api/v1/lineage/batch")

    def __init__(self, app: Any, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        started = time.perf_counter()
        status = [500]

        async def send_status(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            m = self.metrics
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            m.inc("sutura_requests_total", method=scope["method"], route=route, status=str(status[0]))
            if route in self.INGEST and scope["method"] == "POST":
                m.observe("sutura_ingest_duration_seconds", time.perf_counter() - started, route=route)
            accepted, duplicates = state.get("sutura_ingested", (0, 0))
            m.inc("sutura_events_ingested_total", accepted)
            m.inc("sutura_events_duplicate_total", duplicates)
            for reason, field, count in state.get("sutura_rejections", ()):
                m.inc("sutura_rejections_total", count, reason=reason, field=field)


def _depth_ok(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def _one_of(name: str, value: str | None, choices: Any) -> None:
    """A 400 naming the query parameter when ``value`` is not one of an enum's values."""
    allowed = [c.value for c in choices]
    if value is not None and value not in allowed:
        raise HTTPError(400, f"{name} must be one of {', '.join(allowed)}", field=name)


def create_app(engine: Engine | None = None, settings: config.Settings | None = None) -> FastAPI:
    settings = settings or (engine.settings if engine else config.resolve())
    eng = engine or Engine(settings=settings)
    tokens: dict[str, set[str]] = {str(k): set(v or ()) for k, v in (settings.get("server.tokens") or {}).items()}
    max_body = settings.get("server.max_body_bytes")
    max_depth = settings.get("server.max_depth")
    app = FastAPI(title="Sutura", version="0.1.0", description="OpenLineage graph and self-healing engine")
    app.state.engine = eng
    writer = GroupCommit(eng)
    metrics = Metrics(settings.get("server.metrics_dir"))
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.exception_handler(HTTPError)
    async def _http_error(request: Request, exc: HTTPError) -> JSONResponse:
        _reject(request, exc.reason, exc.extra.get("field"))
        return JSONResponse({"error": exc.message, **exc.extra}, status_code=exc.status)

    @app.exception_handler(InvalidEvent)
    async def _invalid(request: Request, exc: InvalidEvent) -> JSONResponse:
        _reject(request, "invalid", exc.field)
        return JSONResponse({"error": str(exc), **exc.to_dict()}, status_code=400)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        _reject(request, "not_found")
        return JSONResponse({"error": str(exc)}, status_code=404)

    @app.exception_handler(InvalidNodeId)
    async def _bad_node(request: Request, exc: InvalidNodeId) -> JSONResponse:
        _reject(request, "invalid_node_id")
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(StoreError)
    async def _store(_: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=503)  # the store failed, not the caller

    @app.exception_handler(SuturaError)
    async def _sutura(request: Request, exc: SuturaError) -> JSONResponse:
        _reject(request, "conflict")
        return JSONResponse({"error": str(exc)}, status_code=409)

    def require(scope: str) -> Callable[[Request], None]:
        def check(request: Request) -> None:
            if not tokens:
                return
            header = request.headers.get("authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            if token not in tokens:
                raise HTTPError(401, "missing or unknown bearer token", reason="unauthorized", hint="send Authorization: Bearer <token>")
            granted = tokens[token]
            if scope not in granted and "admin" not in granted:
                raise HTTPError(403, f"this token lacks the {scope!r} scope", reason="forbidden")

        return check

    async def body_json(request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_body:
            raise HTTPError(413, f"request body over the {max_body} byte limit", reason="too_large")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body:
                raise HTTPError(413, f"request body over the {max_body} byte limit", reason="too_large")
            chunks.append(chunk)
        raw = b"".join(chunks)
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:  # the standard library names the error (and reads NaN)
            value = _slow_json(raw)
        if not _depth_ok(value, max_depth):
            raise HTTPError(400, f"JSON nested deeper than {max_depth} levels", reason="too_deep", field="$")
        return value

    def _slow_json(raw: bytes) -> Any:
        try:
            value = json.loads(raw)
        except RecursionError:
            raise HTTPError(400, f"JSON nested deeper than {max_depth} levels", reason="too_deep", field="$") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HTTPError(400, f"invalid JSON: {exc}", reason="invalid_json", field="$") from None
        return value

    # -- health --------------------------------------------------------------------
    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        eng.read(lambda conn: conn.exec_driver_sql("SELECT 1").scalar())
        return {"status": "ok"}

    @app.get("/metrics", response_class=PlainTextResponse, dependencies=[Depends(require("read"))])
    def get_metrics() -> PlainTextResponse:
        text = render(metrics, eng.read(store_figures))
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- ingest --------------------------------------------------------------------
    @app.post("/api/v1/lineage", status_code=201, dependencies=[Depends(require("ingest"))])
    async def post_lineage(request: Request) -> dict[str, int]:
        body = await body_json(request)
        if isinstance(body, list):
            raise HTTPError(400, "send one event here, or a JSON array to /api/v1/lineage/batch", field="$")
        parsed = eng.validate(body)
        result = await writer.apply(parsed)
        request.state.sutura_ingested = (result.accepted, result.duplicates)
        return result.to_dict()

    @app.post("/api/v1/lineage/batch", dependencies=[Depends(require("ingest"))])
    async def post_batch(request: Request) -> Any:
        body = await body_json(request)
        if not isinstance(body, list):
            raise HTTPError(400, "a batch must be a JSON array of events", field="$")
        good, rejected = [], []
        for i, item in enumerate(body):
            try:
                good.append(parse_event(item))  # one event per item: a nested list is refused, naming "$"
            except InvalidEvent as exc:
                rejected.append({"index": i, **exc.to_dict()})
        result = (await writer.apply(good)).to_dict() if good else {"accepted": 0, "duplicates": 0}
        request.state.sutura_ingested = (result["accepted"], result["duplicates"])
        for r in rejected:
            _reject(request, "invalid", r["field"])
        if rejected:
            return JSONResponse({**result, "rejected": rejected, "error": f"{len(rejected)} event(s) rejected"}, status_code=400)
        return result

    # -- read ----------------------------------------------------------------------
    @app.get("/api/v1/lineage", dependencies=[Depends(require("read"))])
    def get_lineage(nodeId: str, depth: int = 5, direction: str = "both", columns: bool = False) -> Any:
        if direction not in ("upstream", "downstream", "both"):
            raise HTTPError(400, "direction must be upstream, downstream or both", field="direction")
        return eng.lineage(nodeId, direction, depth, columns=columns)  # type: ignore[arg-type]

    @app.get("/api/v1/runs/{run_id}", dependencies=[Depends(require("read"))])
    def get_run(run_id: str) -> Any:
        return eng.read(lambda conn: run_dict(eng.run(run_id), conn))

    @app.get("/api/v1/runs", dependencies=[Depends(require("read"))])
    def get_runs(job: str, limit: int = 50) -> Any:
        return {"runs": [run_dict(r) for r in eng.runs(job, limit)]}

    @app.get("/api/v1/nodes", dependencies=[Depends(require("read"))])
    def get_node(nodeId: str) -> Any:
        return eng.show(nodeId)

    @app.get("/api/v1/versions", dependencies=[Depends(require("read"))])
    def get_versions(dataset: str, limit: int = 50) -> Any:
        return {"versions": [v.to_dict() for v in eng.versions(dataset, limit)]}

    @app.get("/api/v1/last-published", dependencies=[Depends(require("read"))])
    def get_last_published(dataset: str) -> Any:
        return eng.last_published(dataset).to_dict()

    # -- decide --------------------------------------------------------------------
    @app.post("/api/v1/failures", dependencies=[Depends(require("decide"))])
    async def post_failure(request: Request) -> Any:
        failure = codec.failure_from_json(await body_json(request))
        return codec.decision_to_json(await run_in_threadpool(eng.on_failure, failure))

    @app.post("/api/v1/checks", dependencies=[Depends(require("decide"))])
    async def post_checks(request: Request) -> Any:
        body = await body_json(request)
        if not isinstance(body, dict):
            raise HTTPError(400, "expected an object", field="$")
        ds_ref = body.get("dataset")
        if isinstance(ds_ref, dict):
            dataset = Dataset(str(ds_ref.get("namespace") or ""), str(ds_ref.get("name") or ""))
            if not dataset.namespace or not dataset.name:
                raise InvalidEvent("dataset", "needs namespace and name")
        elif isinstance(ds_ref, str):
            kind, ns, name = parse_node_id(ds_ref)
            dataset = Dataset(ns, name or "")
        else:
            raise InvalidEvent("dataset", "required: a node id or {namespace, name}")
        results = codec.checks_from_json(body.get("results"), dataset)
        row_count = body.get("row_count")
        if row_count is not None and (isinstance(row_count, bool) or not isinstance(row_count, int)):
            raise InvalidEvent("row_count", "must be an integer")
        defer = body.get("defer_publish", False)
        if not isinstance(defer, bool):
            raise InvalidEvent("defer_publish", "must be true or false")
        decision = await run_in_threadpool(
            lambda: eng.on_checks(
                dataset, results, run_id=body.get("run_id"), fingerprint=body.get("fingerprint"), row_count=row_count, defer_publish=defer
            )
        )
        return codec.decision_to_json(decision)

    @app.post("/api/v1/releases", dependencies=[Depends(require("admin"))])
    async def post_release(request: Request) -> Any:
        body = await body_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("version"), str):
            raise InvalidEvent("version", "required: a version or dataset node id")
        reason = body.get("reason") or "released"
        settle = eng.discard if body.get("discard") else eng.release
        return codec.decision_to_json(await run_in_threadpool(settle, body["version"], str(reason), by=body.get("by")))

    @app.get("/api/v1/changes", dependencies=[Depends(require("read"))])
    def get_changes(since: str | None = None, dataset: list[str] | None = None, limit: int = 1000) -> Any:
        changes, cursor = eng.changes(since, datasets=dataset, limit=limit)
        return {"changes": [c.to_dict() for c in changes], "cursor": cursor}

    @app.post("/api/v1/plan", dependencies=[Depends(require("read"))])
    async def post_plan(request: Request) -> Any:
        body = await body_json(request)
        if not isinstance(body, dict):
            raise HTTPError(400, "expected an object with 'changes'", field="$")
        try:
            changes = [codec.change_from_json(c) for c in body.get("changes") or []]
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidEvent("changes", f"not a list of changes as GET /api/v1/changes returns them ({exc})") from None
        requests = await run_in_threadpool(eng.plan_runs, changes, integration=body.get("integration"))
        return {"requests": [r.to_dict() for r in requests]}

    @app.get("/api/v1/explain", dependencies=[Depends(require("read"))])
    def get_explain(nodeId: str) -> Any:
        return eng.explain(nodeId).to_dict()

    @app.get("/api/v1/incidents", dependencies=[Depends(require("read"))])
    def get_incidents(state: str | None = None, limit: int = 100) -> Any:
        _one_of("state", state, IncidentState)
        return {"incidents": [i.to_dict() for i in eng.incidents(state, limit)]}

    @app.get("/api/v1/decisions", dependencies=[Depends(require("read"))])
    def get_decisions(subject: str | None = None, action: str | None = None, limit: int = 100) -> Any:
        _one_of("action", action, Action)
        return {"decisions": [codec.decision_to_json(d) for d in eng.decisions(subject, action=action, limit=limit)]}

    @app.post("/api/v1/decisions/{decision_id}/outcome", dependencies=[Depends(require("decide"))])
    async def post_outcome(decision_id: str, request: Request) -> Any:
        body = await body_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("outcome"), str):
            raise InvalidEvent("outcome", "required, a string")
        await run_in_threadpool(eng.record_outcome, decision_id, body["outcome"])
        return {"id": decision_id, "outcome": body["outcome"]}

    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory sutura.server:app_from_env`` (one engine per worker)."""
    return create_app()
