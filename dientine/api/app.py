"""The FastAPI application: ``create_app(settings)`` wires store, thresholds, keys, tables, log writer, job runner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from dientine.api import problems
from dientine.api.deps import SECURITY_SCHEMES, ApiState, refuse_unknown_query
from dientine.api.engine import DecisionService
from dientine.api.keys import KeyVerifier, ensure_admin
from dientine.api.middleware import BodySizeLimit
from dientine.api.models import Health
from dientine.api.routes import admin, decisions, jobs, solve, twins
from dientine.api.settings import Settings
from dientine.api.twins import TwinRegistry
from dientine.jobs import JobRunner
from dientine.store import DecisionLogWriter, Store
from dientine.thresholds import ThresholdStore

try:
    VERSION = version("dientine")
except PackageNotFoundError:  # running from a source tree without metadata
    VERSION = "0.0.0"

DESCRIPTION = """\
Decision API of the dientine network twin.

* **Auth**: `Authorization: Bearer <key>` or `X-API-Key: <key>`. Scopes: `read` (every GET), `decide` (evaluate,
  solve), `control` (telemetry, outcomes, jobs, twins), `admin` (thresholds, policies, keys; implies all).
* **Errors** are RFC 9457 problem documents (`application/problem+json`); input errors list each offending
  field in `errors[]` with its dotted path and JSON pointer.
* **Dry run**: every state-changing call accepts `dry_run` (in the body, or as `?dry_run=true`) and then
  validates and answers without changing anything. Query parameters an endpoint does not declare are refused
  (422), so a misspelt option is never silently ignored.
* **Body size**: by default at most 1 MiB per request (`max_body_bytes`), except `POST /v1/solve`: 32 MiB
  (`max_solve_body_bytes`); 413 above.
* **Live twins** (`/v1/twins`) are kept in the server's memory only and are gone after a restart; everything
  else (decision log, thresholds, policies, keys, jobs) is in the store. A twin created from a bundled scenario
  simulates it in the server process: telemetry posted to it overrides the model's per-cell KPIs while it is
  newer than the model's latest tick and younger than the twin's `telemetry_max_age_s`
  (`GET /v1/twins/{twin}/kpis` shows which values are measured); `POST /v1/twins/{twin}/step` advances it;
  `DELETE /v1/twins/{twin}` frees its place (the server holds at most `max_live_twins`).
* **Versions**: thresholds and policies carry an `ETag`; changing one needs `If-Match` with it (412 when another
  controller changed it first, 428 without If-Match).
"""


def build_state(settings: Settings) -> ApiState:
    store = Store(settings.store_path)
    store.recover_runs()
    thresholds = ThresholdStore(store, settings.thresholds_spec)
    bootstrap = ensure_admin(store, settings.admin_key, announce=settings.announce_admin_key)
    runner = None
    if settings.run_jobs:
        runner = JobRunner(store, max_workers=settings.job_workers, poll_interval_s=settings.job_poll_interval_s,
                           job_timeout_s=settings.job_timeout_s)
        runner.start()
    return ApiState(
        settings=settings,
        store=store,
        thresholds=thresholds,
        keys=KeyVerifier(store, settings.key_cache_ttl_s),
        tables=DecisionService(store, Path(settings.tables_dir) if settings.tables_dir else None),
        log=DecisionLogWriter(store, interval_s=settings.log_flush_interval_s),
        twins=TwinRegistry(settings.max_live_twins),
        runner=runner,
        bootstrap_key=bootstrap,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app and its state (store opened, job runner started) at once; the lifespan closes them."""
    settings = settings or Settings()
    state = build_state(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(title="dientine decision API", version=VERSION, description=DESCRIPTION, lifespan=lifespan,
                  openapi_url="/v1/openapi.json", docs_url="/v1/docs", redoc_url=None)
    app.state.dientine = state
    problems.install(app)
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes,
                       path_limits={"/v1/solve": settings.max_solve_body_bytes})

    meta = APIRouter(tags=["meta"])

    @meta.get("/health", response_model=Health, summary="Liveness (no auth)")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": VERSION}

    # flat: each router directly on the app (one level of route matching); the hot evaluate route comes first
    routers = (decisions.router, meta, solve.router, jobs.router, twins.router, admin.router)
    for router in routers:
        app.include_router(router, prefix="/v1", dependencies=[Depends(refuse_unknown_query)])

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _openapi_with_security(app, [("/v1", r) for r in routers])
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _openapi_with_security(app: FastAPI, routers: list[tuple[str, APIRouter]]) -> dict[str, Any]:
    """The generated document plus the security schemes and, per operation, its security and required scope.

    The operations are found through the included ``routers`` (prefix, router): FastAPI >= 0.16x keeps an included
    router as one route of the app, so ``app.routes`` no longer lists the operations themselves."""
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    doc.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    routes = [(prefix + r.path_format, r) for prefix, router in routers for r in router.routes]
    for path, route in routes:
        if not isinstance(route, APIRoute):
            continue
        scopes = [d.call.scope for d in route.dependant.dependencies if hasattr(d.call, "scope")]
        if not scopes:
            continue
        for method in route.methods:
            op = doc["paths"][path][method.lower()]
            op["security"] = [{name: []} for name in SECURITY_SCHEMES]
            op["x-required-scope"] = scopes[0]
            note = f"Requires an API key with the `{scopes[0]}` scope (or `admin`)."
            op["description"] = f"{op['description']}\n\n{note}" if op.get("description") else note
    return doc
