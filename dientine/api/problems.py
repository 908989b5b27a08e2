"""Errors as RFC 9457 problem details (``application/problem+json``), each naming the offending field.

Every error response has ``type``, ``title``, ``status``, ``detail``, ``instance`` and, for input errors,
``errors: [{field, pointer, location, message}]`` where ``field`` is the dotted path (``inputs.cell_load``),
``pointer`` the JSON pointer into the body (RFC 6901, ``/inputs/cell_load``) and ``location`` one of body,
query, path, header.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

_log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:dientine:problem:"


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending field", examples=["inputs.cell_load"])
    pointer: str | None = Field(None, description="RFC 6901 JSON pointer into the request body")
    location: str = Field("body", description="body, query, path or header")
    message: str = Field(description="What is wrong", examples=["Input should be a valid number"])


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field("about:blank", examples=["urn:dientine:problem:validation"])
    title: str = Field(examples=["Request validation failed"])
    status: int = Field(examples=[422])
    detail: str = Field("", examples=["inputs.cell_load: expected a number, found string 'low'"])
    instance: str = Field("", examples=["/v1/decisions/energy_saving/evaluate"])
    errors: list[FieldError] = Field(default_factory=list)


class ApiError(StarletteHTTPException):
    """Raise from handlers to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        errors: Sequence[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.kind = kind
        self.title = title or HTTPStatus(status).phrase
        self.errors = list(errors or [])


def field_error(field: str, message: str, location: str = "body") -> FieldError:
    pointer = "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in field.split(".")) if field else ""
    return FieldError(field=field, pointer=pointer if location == "body" else None, location=location,
                      message=message)


def validation_error(detail_prefix: str, errors: Sequence[FieldError], status: int = 422) -> ApiError:
    detail = "; ".join(f"{e.field or '(body)'}: {e.message}" for e in errors[:5])
    return ApiError(status, f"{detail_prefix}{detail}", kind="validation", title="Request validation failed",
                    errors=errors)


def from_pydantic(exc: ValidationError, prefix: Iterable[str | int] = (), location: str = "body") -> ApiError:
    """A pydantic ValidationError raised while handling a request (e.g. a solver problem) → 422."""
    errs = [
        field_error(".".join(str(p) for p in (*prefix, *e["loc"])), e["msg"].removeprefix("Value error, "), location)
        for e in exc.errors()
    ]
    return validation_error("", errs)


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    title: str | None = None,
    errors: Sequence[FieldError] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    body = {
        "type": TYPE_PREFIX + kind if kind else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "errors": [e.model_dump() for e in errors],
    }
    return Response(json.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _loc_to_field(loc: Sequence[Any]) -> tuple[str, str]:
    if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
        location, rest = str(loc[0]), list(loc[1:])
    else:
        location, rest = "body", list(loc)
    return location, ".".join(str(p) for p in rest)


async def _on_validation(request: Request, exc: RequestValidationError) -> Response:
    errs = []
    for e in exc.errors():
        location, field = _loc_to_field(e.get("loc", ()))
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if e.get("type") == "json_invalid":
            field, msg = "", f"malformed JSON: {e.get('ctx', {}).get('error', msg)}"
        errs.append(field_error(field, msg, location))
    err = validation_error("", errs)
    return problem_response(request, 422, err.detail, kind="validation", title=err.title, errors=errs)


async def _on_api_error(request: Request, exc: ApiError) -> Response:
    return problem_response(request, exc.status_code, exc.detail, kind=exc.kind, title=exc.title,
                            errors=exc.errors, headers=exc.headers)


async def _on_http(request: Request, exc: StarletteHTTPException) -> Response:
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    return problem_response(request, exc.status_code, detail, headers=exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    _log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(request, 500, f"internal error: {type(exc).__name__}", kind="internal")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _on_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error codes (400 and 422 always), as problem documents."""
    return {
        code: {
            "model": Problem,
            "description": HTTPStatus(code).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for code in sorted({*codes, 400, 422})
    }
