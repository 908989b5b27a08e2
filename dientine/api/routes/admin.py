"""Thresholds and policies (versioned; changes need If-Match with the current ETag) and API keys."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import Response

from decisions import ModelError
from dientine.api import keys as keymod
from dientine.api.deps import AdminKey, DryRunQuery, ReadKey, State, Tables, etag, parse_if_match
from dientine.api.models import (
    KeyCreate,
    KeyCreated,
    KeyList,
    KeyRevoked,
    PolicyChange,
    PolicyIn,
    PolicyList,
    PolicyOut,
    ThresholdChange,
    ThresholdHistory,
    ThresholdList,
    ThresholdOut,
    ThresholdUpdate,
)
from dientine.api.problems import ApiError, field_error, responses, validation_error
from dientine.api.routes.decisions import json_response
from dientine.store import NotFound, VersionConflict, utcnow
from dientine.thresholds import Threshold, ThresholdError

router = APIRouter()

ThresholdName = Annotated[str, Path(max_length=128, examples=["low_load_pct"])]
PolicyName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$", examples=["energy_saving"])]
IfMatch = Annotated[str | None, Header(description="ETag of the version being replaced", max_length=100)]
IfNoneMatch = Annotated[str | None, Header(description="'*' to create only when absent", max_length=100)]
ETAG_HEADER = {"ETag": {"description": "Current version", "schema": {"type": "string"}}}


def _t(t: Threshold) -> dict[str, Any]:
    d = asdict(t)
    d["min"], d["max"] = d.pop("minimum"), d.pop("maximum")
    return d


def _not_found(exc: Exception) -> ApiError:
    return ApiError(404, str(exc), kind="not-found")


# -- thresholds -------------------------------------------------------------------------------------------------
@router.get("/thresholds", response_model=ThresholdList, responses=responses(401, 403), tags=["thresholds"],
            summary="Current thresholds")
def list_thresholds(_key: ReadKey, state: State) -> dict[str, Any]:
    return {"thresholds": [_t(t) for t in state.thresholds.all()]}


@router.get("/thresholds/{name}", response_model=ThresholdOut, tags=["thresholds"],
            responses=responses(401, 403, 404) | {200: {"headers": ETAG_HEADER}}, summary="One threshold")
def get_threshold(name: ThresholdName, _key: ReadKey, state: State) -> Response:
    try:
        t = state.thresholds.get(name)
    except NotFound as exc:
        raise _not_found(exc) from exc
    return json_response(_t(t), headers={"ETag": etag(t.version)})


@router.get("/thresholds/{name}/history", response_model=ThresholdHistory, responses=responses(401, 403, 404),
            tags=["thresholds"], summary="Every version of a threshold")
def threshold_history(name: ThresholdName, _key: ReadKey, state: State) -> dict[str, Any]:
    try:
        return {"name": name, "history": [_t(t) for t in state.thresholds.history(name)]}
    except NotFound as exc:
        raise _not_found(exc) from exc


@router.put(
    "/thresholds/{name}",
    response_model=ThresholdChange,
    responses=responses(401, 403, 404, 412, 413, 422, 428) | {200: {"headers": ETAG_HEADER}},
    tags=["thresholds"],
    summary="Change a threshold (compare-and-set on its version)",
    description="Send `If-Match` with the ETag from GET; 412 when another writer changed it first, 428 without "
    "If-Match, 422 when the value is outside the bounds of decisions/tables/thresholds.yaml.",
)
def put_threshold(
    name: ThresholdName, body: ThresholdUpdate, key: AdminKey, state: State, if_match: IfMatch = None,
    dry_run_q: DryRunQuery = False,
) -> Response:
    body.dry_run = body.dry_run or dry_run_q
    try:
        current = state.thresholds.get(name)
    except NotFound as exc:
        raise _not_found(exc) from exc
    version = parse_if_match(if_match, required=True, what=f"threshold {name!r}")
    try:
        t = state.thresholds.set(name, body.value, expected_version=version, reason=body.reason,  # type: ignore
                                 changed_by=f"{key.name} ({key.key_id})", dry_run=body.dry_run)
    except VersionConflict as exc:
        raise ApiError(412, str(exc), kind="precondition-failed",
                       headers={"ETag": etag(exc.current_version or current.version)}) from exc
    except ThresholdError as exc:
        raise validation_error("", [field_error("value", str(exc))]) from exc
    new_etag = etag(current.version if body.dry_run else t.version)
    return json_response({"threshold": _t(t), "dry_run": body.dry_run}, headers={"ETag": new_etag})


# -- policies ---------------------------------------------------------------------------------------------------
def _policy(row: dict[str, Any], text: bool) -> dict[str, Any]:
    out = {k: row[k] for k in ("name", "version", "format", "changed_at", "changed_by")}
    out["text"] = row["text"] if text else None
    return out


@router.get("/policies", response_model=PolicyList, responses=responses(401, 403), tags=["policies"],
            summary="Uploaded decision policies (latest versions)")
def list_policies(_key: ReadKey, state: State) -> dict[str, Any]:
    return {"policies": [_policy(p | {"text": None}, False) for p in state.store.list_policies()]}


@router.get("/policies/{name}", response_model=PolicyOut, tags=["policies"],
            responses=responses(401, 403, 404, 422) | {200: {"headers": ETAG_HEADER}}, summary="One policy")
def get_policy(
    name: PolicyName, _key: ReadKey, state: State, version: Annotated[int | None, Query(ge=1)] = None
) -> Response:
    try:
        row = state.store.get_policy(name, version)
    except NotFound as exc:
        raise _not_found(exc) from exc
    return json_response(_policy(row, True), headers={"ETag": etag(row["version"])})


@router.put(
    "/policies/{name}",
    response_model=PolicyChange,
    responses=responses(401, 403, 412, 413, 422, 428) | {200: {"headers": ETAG_HEADER}},
    tags=["policies"],
    summary="Upload a decision policy (new or a new version)",
    description="The text is parsed by the DMN engine first (422 names file line/element on error). Replacing "
    "an existing policy needs `If-Match` with its ETag (412 on mismatch, 428 without); creating one takes no "
    "If-Match (or `If-None-Match: *`). A policy named like a bundled table overrides it.",
)
def put_policy(
    name: PolicyName,
    body: PolicyIn,
    key: AdminKey,
    state: State,
    tables: Tables,
    if_match: IfMatch = None,
    if_none_match: IfNoneMatch = None,
    dry_run_q: DryRunQuery = False,
) -> Response:
    body.dry_run = body.dry_run or dry_run_q
    try:
        cur: int | None = state.store.get_policy(name)["version"]
    except NotFound:
        cur = None
    if cur is None:
        if if_match is not None:
            raise ApiError(412, f"policy {name!r} does not exist; If-Match cannot match", kind="precondition-failed")
        expected = None
    else:
        if if_none_match is not None and if_none_match.strip() == "*":
            raise ApiError(412, f"policy {name!r} exists (If-None-Match: *)", kind="precondition-failed",
                           headers={"ETag": etag(cur)})
        expected = parse_if_match(if_match, required=True, what=f"policy {name!r}")
        if expected != cur:
            raise ApiError(412, f"policy {name!r}: version {expected} is not current ({cur})",
                           kind="precondition-failed", headers={"ETag": etag(cur)})
    try:
        tables.parse(body.text, body.format)
    except ModelError as exc:  # every problem the engine found, each with its line (YAML aliases are refused)
        raise validation_error("", [field_error("text", p.located()) for p in exc.problems]) from exc
    except (ValueError, TypeError, SyntaxError) as exc:
        raise validation_error("", [field_error("text", str(exc))]) from exc
    changed_by = f"{key.name} ({key.key_id})"
    if body.dry_run:
        row = {"name": name, "version": (cur or 0) + 1, "format": body.format, "changed_at": utcnow(),
               "changed_by": changed_by, "text": body.text}
        headers = {"ETag": etag(cur)} if cur is not None else None
    else:
        try:
            row = state.store.put_policy(name, text=body.text, fmt=body.format, changed_by=changed_by,
                                         expected_version=expected)
        except VersionConflict as exc:
            raise ApiError(412, str(exc), kind="precondition-failed") from exc
        tables.invalidate(name)
        headers = {"ETag": etag(row["version"])}
    return json_response({"policy": _policy(row, False), "dry_run": body.dry_run}, headers=headers)


# -- keys -------------------------------------------------------------------------------------------------------
def _key_out(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in ("key_id", "name", "scopes", "created", "revoked", "revoked_at")}


@router.post("/keys", response_model=KeyCreated, status_code=201, responses=responses(401, 403, 413, 422),
             tags=["keys"], summary="Create an API key (the key is shown once)")
def create_key(body: KeyCreate, _key: AdminKey, state: State, dry_run_q: DryRunQuery = False) -> Response:
    body.dry_run = body.dry_run or dry_run_q
    if body.dry_run:
        out = {"key_id": "", "name": body.name, "scopes": sorted(set(body.scopes)), "created": None,
               "revoked": False, "revoked_at": None, "key": None, "dry_run": True}
        return json_response(out, 201)
    plain, info = keymod.create_key(state.store, body.name, body.scopes)
    row = state.store.get_key(info.key_id)
    return json_response(_key_out(row) | {"key": plain, "dry_run": False}, 201)


@router.get("/keys", response_model=KeyList, responses=responses(401, 403), tags=["keys"], summary="List API keys")
def list_keys(_key: AdminKey, state: State) -> dict[str, Any]:
    return {"keys": [_key_out(r) for r in state.store.list_keys()]}


@router.delete("/keys/{key_id}", response_model=KeyRevoked, responses=responses(401, 403, 404), tags=["keys"],
               summary="Revoke an API key")
def revoke_key(
    key_id: Annotated[str, Path(max_length=64)], _key: AdminKey, state: State,
    dry_run: Annotated[bool, Query()] = False,
) -> dict[str, Any]:
    try:
        row = state.store.get_key(key_id)
    except NotFound as exc:
        raise _not_found(exc) from exc
    if dry_run:
        return {"key": _key_out(row) | {"revoked": True}, "dry_run": True}
    state.keys.revoke(key_id)
    return {"key": _key_out(state.store.get_key(key_id)), "dry_run": False}
