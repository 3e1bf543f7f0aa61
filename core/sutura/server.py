"""``sutura serve``: the engine over HTTP (FastAPI).

OpenLineage-compatible ingest (``POST /api/v1/lineage`` and ``/batch``, what the
OpenLineage HTTP transport sends), Marquez-shaped lineage reads, and the engine's
decisions. Malformed input is always a 4xx naming the field, never a 5xx; bodies
over ``server.max_body_bytes`` are refused with 413 before they are read whole.

Auth: with ``server.tokens`` configured (``{token: [scopes]}``), every endpoint but
``/healthz`` needs ``Authorization: Bearer <token>``: 401 without a known token, 403
when the token lacks the endpoint's scope (``ingest``, ``decide``, ``read``; ``admin``
holds them all and is required for releases and discards).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from sutura import codec, config
from sutura.engine import Engine
from sutura.errors import InvalidEvent, InvalidNodeId, NotFound, SuturaError
from sutura.ontology import Dataset, parse_node_id
from sutura.show import run_dict

__all__ = ["create_app"]

log = logging.getLogger("sutura.server")
SCOPES = ("ingest", "decide", "read", "admin")


class HTTPError(Exception):
    def __init__(self, status: int, message: str, **extra: Any):
        self.status, self.message, self.extra = status, message, extra


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


def create_app(engine: Engine | None = None, settings: config.Settings | None = None) -> FastAPI:
    settings = settings or (engine.settings if engine else config.resolve())
    eng = engine or Engine(settings=settings)
    tokens: dict[str, set[str]] = {str(k): set(v or ()) for k, v in (settings.get("server.tokens") or {}).items()}
    max_body = settings.get("server.max_body_bytes")
    max_depth = settings.get("server.max_depth")
    app = FastAPI(title="Sutura", version="0.1.0", description="OpenLineage graph and self-healing engine")
    app.state.engine = eng

    @app.exception_handler(HTTPError)
    async def _http_error(_: Request, exc: HTTPError) -> JSONResponse:
        return JSONResponse({"error": exc.message, **exc.extra}, status_code=exc.status)

    @app.exception_handler(InvalidEvent)
    async def _invalid(_: Request, exc: InvalidEvent) -> JSONResponse:
        return JSONResponse({"error": str(exc), **exc.to_dict()}, status_code=400)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=404)

    @app.exception_handler(InvalidNodeId)
    async def _bad_node(_: Request, exc: InvalidNodeId) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(SuturaError)
    async def _sutura(_: Request, exc: SuturaError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=409)

    def require(scope: str) -> Callable[[Request], None]:
        def check(request: Request) -> None:
            if not tokens:
                return
            header = request.headers.get("authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            if token not in tokens:
                raise HTTPError(401, "missing or unknown bearer token", hint="send Authorization: Bearer <token>")
            granted = tokens[token]
            if scope not in granted and "admin" not in granted:
                raise HTTPError(403, f"this token lacks the {scope!r} scope")

        return check

    async def body_json(request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_body:
            raise HTTPError(413, f"request body over the {max_body} byte limit")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body:
                raise HTTPError(413, f"request body over the {max_body} byte limit")
            chunks.append(chunk)
        raw = b"".join(chunks)
        try:
            value = json.loads(raw)
        except RecursionError:
            raise HTTPError(400, f"JSON nested deeper than {max_depth} levels", field="$") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HTTPError(400, f"invalid JSON: {exc}", field="$") from None
        if not _depth_ok(value, max_depth):
            raise HTTPError(400, f"JSON nested deeper than {max_depth} levels", field="$")
        return value

    # -- health --------------------------------------------------------------------
    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        eng.read(lambda conn: conn.exec_driver_sql("SELECT 1").scalar())
        return {"status": "ok"}

    # -- ingest --------------------------------------------------------------------
    @app.post("/api/v1/lineage", status_code=201, dependencies=[Depends(require("ingest"))])
    async def post_lineage(request: Request) -> dict[str, int]:
        body = await body_json(request)
        if isinstance(body, list):
            raise HTTPError(400, "send one event here, or a JSON array to /api/v1/lineage/batch", field="$")
        parsed = eng.validate(body)
        return eng.apply(parsed).to_dict()

    @app.post("/api/v1/lineage/batch", dependencies=[Depends(require("ingest"))])
    async def post_batch(request: Request) -> Any:
        body = await body_json(request)
        if not isinstance(body, list):
            raise HTTPError(400, "a batch must be a JSON array of events", field="$")
        good, rejected = [], []
        for i, item in enumerate(body):
            try:
                good.append(eng.validate(item)[0])
            except InvalidEvent as exc:
                rejected.append({"index": i, **exc.to_dict()})
        result = eng.apply(good).to_dict() if good else {"accepted": 0, "duplicates": 0}
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
        return codec.decision_to_json(eng.on_failure(failure))

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
        decision = eng.on_checks(dataset, results, run_id=body.get("run_id"), fingerprint=body.get("fingerprint"), row_count=row_count)
        return codec.decision_to_json(decision)

    @app.post("/api/v1/releases", dependencies=[Depends(require("admin"))])
    async def post_release(request: Request) -> Any:
        body = await body_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("version"), str):
            raise InvalidEvent("version", "required: a version or dataset node id")
        reason = body.get("reason") or "released"
        if body.get("discard"):
            return codec.decision_to_json(eng.discard(body["version"], str(reason), by=body.get("by")))
        return codec.decision_to_json(eng.release(body["version"], str(reason), by=body.get("by")))

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
        return {"requests": [r.to_dict() for r in eng.plan_runs(changes, integration=body.get("integration"))]}

    @app.get("/api/v1/explain", dependencies=[Depends(require("read"))])
    def get_explain(nodeId: str) -> Any:
        return eng.explain(nodeId).to_dict()

    @app.get("/api/v1/incidents", dependencies=[Depends(require("read"))])
    def get_incidents(state: str | None = None, limit: int = 100) -> Any:
        return {"incidents": [i.to_dict() for i in eng.incidents(state, limit)]}

    @app.get("/api/v1/decisions", dependencies=[Depends(require("read"))])
    def get_decisions(subject: str | None = None, action: str | None = None, limit: int = 100) -> Any:
        return {"decisions": [codec.decision_to_json(d) for d in eng.decisions(subject, action=action, limit=limit)]}

    @app.post("/api/v1/decisions/{decision_id}/outcome", dependencies=[Depends(require("decide"))])
    async def post_outcome(decision_id: str, request: Request) -> Any:
        body = await body_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("outcome"), str):
            raise InvalidEvent("outcome", "required, a string")
        eng.record_outcome(decision_id, body["outcome"])
        return {"id": decision_id, "outcome": body["outcome"]}

    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory sutura.server:app_from_env`` (one engine per worker)."""
    return create_app()
