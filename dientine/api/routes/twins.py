"""Live twins: create one, ingest per-cell KPI telemetry into it, read its latest state.

Live twins are held in the server process's memory only: a restart (or a second server process) starts with no
twins and their telemetry is gone. The decision log, policies, thresholds, keys and jobs are in the store.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from dientine.api.deps import ControlKey, DryRunQuery, ReadKey, State
from dientine.api.models import TelemetryAck, TelemetryBatch, TwinCreate, TwinList, TwinState, TwinSummary
from dientine.api.problems import ApiError, field_error, responses, validation_error
from dientine.api.routes.decisions import json_response
from dientine.api.twins import LiveTwin, TelemetryError

router = APIRouter(tags=["twins"])

_IN_MEMORY = (
    "Live twins are held in this server process's memory only: after a restart `GET /v1/twins` is empty and "
    "their telemetry is gone (the decision log, policies, thresholds, keys and jobs persist in the store)."
)

TwinName = Annotated[str, Path(max_length=128, examples=["city-live"])]


def _twin(state: Any, name: str) -> LiveTwin:
    try:
        return state.twins.get(name)
    except LookupError as exc:
        raise ApiError(404, str(exc), kind="not-found") from exc


@router.post("/twins", response_model=TwinSummary, status_code=201, responses=responses(401, 403, 409, 413, 422),
             summary="Start a live twin that accepts telemetry",
             description=_IN_MEMORY)
def create_twin(body: TwinCreate, _key: ControlKey, state: State, dry_run_q: DryRunQuery = False) -> Response:
    body.dry_run = body.dry_run or dry_run_q
    try:
        twin = state.twins.create(body.name, body.cell_ids, dry_run=body.dry_run)
    except KeyError as exc:
        raise ApiError(409, f"twin {body.name!r} already exists", kind="conflict") from exc
    return json_response(twin.summary(), 201, headers={"Location": f"/v1/twins/{body.name}"})


@router.get("/twins", response_model=TwinList, responses=responses(401, 403), summary="List live twins",
            description=_IN_MEMORY)
def list_twins(_key: ReadKey, state: State) -> dict[str, Any]:
    return {"twins": [t.summary() for t in state.twins.list()]}


@router.get("/twins/{twin}", response_model=TwinState, responses=responses(401, 403, 404),
            summary="A live twin's latest KPIs per cell", description=_IN_MEMORY)
def get_twin(twin: TwinName, _key: ReadKey, state: State) -> dict[str, Any]:
    return _twin(state, twin).state()


@router.post(
    "/twins/{twin}/telemetry",
    response_model=TelemetryAck,
    responses=responses(401, 403, 404, 413, 422),
    summary="Ingest per-cell KPI telemetry into a running twin",
    description="All records are checked first (an unknown cell is named as `records.<i>.cell_id`); then all "
    "are applied, or none. " + _IN_MEMORY,
)
def ingest(twin: TwinName, body: TelemetryBatch, _key: ControlKey, state: State,
           dry_run_q: DryRunQuery = False) -> dict[str, Any]:
    body.dry_run = body.dry_run or dry_run_q
    if len(body.records) > state.settings.max_telemetry_records:
        raise validation_error("", [field_error(
            "records", f"at most {state.settings.max_telemetry_records} records per request, got {len(body.records)}")])
    live = _twin(state, twin)
    records = [r.model_dump() for r in body.records]
    try:
        n = live.ingest(records, dry_run=body.dry_run)
    except TelemetryError as exc:
        raise validation_error("", [field_error(exc.field, exc.message)]) from exc
    return {"twin": twin, "accepted": n, "dry_run": body.dry_run}
