"""Shared state of one API process and the FastAPI dependencies (auth by scope, services, ETags)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute

from dientine.api.engine import DecisionService
from dientine.api.keys import KeyInfo, KeyVerifier
from dientine.api.problems import ApiError
from dientine.api.settings import Settings
from dientine.api.twins import TwinRegistry
from dientine.jobs import JobRunner
from dientine.store import DecisionLogWriter, Store
from dientine.thresholds import ThresholdStore


@dataclass
class ApiState:
    settings: Settings
    store: Store
    thresholds: ThresholdStore
    keys: KeyVerifier
    tables: DecisionService
    log: DecisionLogWriter
    twins: TwinRegistry
    runner: JobRunner | None
    bootstrap_key: str | None = None
    closed: bool = False

    def close(self) -> None:
        """Stop the job runner (running jobs go back to queued), flush the decision log, close the catalog."""
        if self.closed:
            return
        self.closed = True
        if self.runner is not None:
            self.runner.stop()
        self.log.close()
        self.store.close()


async def get_state(request: Request) -> ApiState:
    return request.app.state.dientine


async def get_tables(request: Request) -> DecisionService:
    return request.app.state.dientine.tables


async def get_solver() -> Callable[..., Any]:
    """The solve entry point; tests override this dependency with a fake."""
    import solvers

    def run(problem: dict[str, Any], *, time_limit_s: float, backend: str | None) -> Any:
        parsed = solvers.load_problem(problem)
        return solvers.solve(parsed, time_limit_s=time_limit_s, backend=backend)

    return run


SECURITY_SCHEMES = {
    "HTTPBearer": {"type": "http", "scheme": "bearer", "description": "API key as a bearer token"},
    "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "API key"},
}


def presented_key(request: Request) -> str | None:
    """The key from ``Authorization: Bearer <key>`` or else ``X-API-Key``."""
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, credentials = auth.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return request.headers.get("x-api-key") or None


def require(scope: str) -> Callable[..., Any]:
    """Dependency: the request carries a valid, unrevoked key holding ``scope`` (admin holds every scope).

    Headers are read directly (one dependency on the hot path); the OpenAPI security schemes and the scope of each
    operation are added to the document by :func:`dientine.api.app.create_app` from ``check.scope``.
    """

    async def check(request: Request) -> KeyInfo:
        key = presented_key(request)
        if not key:
            raise ApiError(401, "no API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                           kind="unauthorized", headers={"WWW-Authenticate": "Bearer"})
        keys: KeyVerifier = request.app.state.dientine.keys
        info = keys.cached(key)
        if info is None:  # first sight: scrypt off the event loop
            info = await run_in_threadpool(keys.verify, key)
        if info is None:
            raise ApiError(401, "API key unknown or revoked", kind="unauthorized",
                           headers={"WWW-Authenticate": "Bearer"})
        if not info.allows(scope):
            raise ApiError(403, f"API key {info.key_id!r} lacks the {scope!r} scope (has {sorted(info.scopes)})",
                           kind="forbidden")
        return info

    check.__name__ = f"require_{scope}"
    check.scope = scope  # type: ignore[attr-defined]
    return check


ReadKey = Annotated[KeyInfo, Depends(require("read"))]
DecideKey = Annotated[KeyInfo, Depends(require("decide"))]
ControlKey = Annotated[KeyInfo, Depends(require("control"))]
AdminKey = Annotated[KeyInfo, Depends(require("admin"))]
State = Annotated[ApiState, Depends(get_state)]
DryRunQuery = Annotated[bool, Query(alias="dry_run", description="Same as the body's `dry_run`: either true makes "
                                    "it a dry run (nothing is stored or logged)")]


_QUERY_NAMES: dict[int, frozenset[str]] = {}


def _query_names(dependant: Any) -> set[str]:
    """Query parameter names of an endpoint and all its sub-dependencies."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def refuse_unknown_query(request: Request) -> None:
    """Refuse query parameters the endpoint does not declare (422 naming them), so that a misspelt or misplaced
    option (``?dryrun=1``, a body field sent as ``?explain=true``) never goes silently unused."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _QUERY_NAMES.get(id(route))
    if known is None:
        known = frozenset(_query_names(route.dependant))
        _QUERY_NAMES[id(route)] = known
    unknown = sorted({k for k in request.query_params if k not in known})
    if unknown:
        from dientine.api.problems import field_error, validation_error

        allowed = ", ".join(sorted(known)) or "none"
        raise validation_error("", [field_error(k, f"unknown query parameter (this endpoint takes: {allowed})",
                                                "query") for k in unknown])
Tables = Annotated[DecisionService, Depends(get_tables)]
Solver = Annotated[Callable[..., Any], Depends(get_solver)]


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None, *, required: bool, what: str) -> int | None:
    """The version named by an If-Match header (``"3"`` or ``W/"3"``); 428 when required and missing."""
    if value is None:
        if required:
            raise ApiError(428, f"{what}: send If-Match with the current ETag (GET it first) to change it",
                           kind="precondition-required")
        return None
    v = value.strip()
    if v.startswith("W/"):
        v = v[2:]
    v = v.strip('"')
    if not v.isdigit():
        raise ApiError(412, f"{what}: If-Match {value!r} is not an ETag this server issued", kind="precondition-failed")
    return int(v)
