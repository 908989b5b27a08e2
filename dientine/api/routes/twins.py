"""Live twins: create one, ingest per-cell KPI telemetry into it, read its latest state.

Live twins are held in the server process's memory only: a restart (or a second server process) starts with no
twins and their telemetry is gone. The decision log, policies, thresholds, keys and jobs are in the store.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from dientine.api.deps import ControlKey, DryRunQuery, ReadKey, State
from dientine.api.models import (
    TelemetryAck,
    TelemetryBatch,
    TwinCreate,
    TwinKpis,
    TwinList,
    TwinState,
    TwinStep,
    TwinStepped,
    TwinSummary,
)
from dientine.api.problems import ApiError, field_error, responses, validation_error
from dientine.api.routes.decisions import json_response
from dientine.api.twins import LiveTwin, SimulationTwin, TelemetryError, TwinLimitError

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


def _scenario_path(name: str):
    """``name`` under the server's scenarios directory (as ``whatif`` jobs find them); 422 naming ``scenario``."""
    from pathlib import Path as FsPath

    from dientine.jobs import scenarios_dir

    base = scenarios_dir()
    path = (base / name).resolve()
    if ".." in FsPath(name).parts or not path.is_relative_to(base) or not path.is_file():
        raise validation_error("", [field_error("scenario", f"no file {name!r} in the server's scenarios directory")])
    return path


def _build(body: TwinCreate) -> SimulationTwin:
    from dientine.scenario import ScenarioError

    path = _scenario_path(body.scenario)
    try:
        return SimulationTwin(body.scenario, path, seed=body.seed, telemetry_max_age_s=body.telemetry_max_age_s)
    except ScenarioError as exc:
        text = "; ".join(f"line {p.line}: {p.field}: {p.message}" if p.line else f"{p.field}: {p.message}"
                         for p in exc.problems)
        raise validation_error("", [field_error("scenario", f"{body.scenario}: {text}")]) from exc
    except (ValueError, OSError) as exc:  # twin errors name the scenario field
        raise validation_error("", [field_error("scenario", f"{body.scenario}: {exc}")]) from exc


def _room(state: Any, name: str, create: Any = None) -> Any:
    """``create()`` (default: only check) with a taken name or a full server as 409."""
    try:
        return create() if create is not None else state.twins.check_room(name)
    except KeyError as exc:
        raise ApiError(409, f"twin {name!r} already exists", kind="conflict") from exc
    except TwinLimitError as exc:
        raise ApiError(409, str(exc), kind="conflict") from exc


@router.post("/twins", response_model=TwinSummary, status_code=201, responses=responses(401, 403, 409, 413, 422),
             summary="Start a live twin that accepts telemetry",
             description="Give `cell_ids` (a telemetry-only twin) or `scenario` (a file under the server's scenarios "
             "directory with a `clock`: the server builds its simulation, which may take seconds; cells are "
             "named by their index). 409 when the name is taken or the server holds `max_live_twins`. " + _IN_MEMORY)
def create_twin(body: TwinCreate, _key: ControlKey, state: State, dry_run_q: DryRunQuery = False) -> Response:
    body.dry_run = body.dry_run or dry_run_q
    if (body.cell_ids is None) == (body.scenario is None):
        raise validation_error("", [field_error("scenario" if body.cell_ids is None else "cell_ids",
                                                "give exactly one of 'cell_ids' or 'scenario'")])
    for extra in ("seed", "telemetry_max_age_s"):
        if body.scenario is None and getattr(body, extra) is not None:
            raise validation_error("", [field_error(extra, "applies to a scenario twin only (give 'scenario')")])
    _room(state, body.name)  # before building: a scenario twin takes seconds and memory
    attached = _build(body) if body.scenario is not None else None
    cells = attached.cell_ids if attached is not None else body.cell_ids
    twin = _room(state, body.name, lambda: state.twins.create(body.name, cells, attached=attached,
                                                               dry_run=body.dry_run))
    return json_response(twin.summary(), 201, headers={"Location": f"/v1/twins/{body.name}"})


@router.get("/twins", response_model=TwinList, responses=responses(401, 403), summary="List live twins",
            description=_IN_MEMORY)
def list_twins(_key: ReadKey, state: State) -> dict[str, Any]:
    return {"twins": [t.summary() for t in state.twins.list()]}


@router.get("/twins/{twin}", response_model=TwinState, responses=responses(401, 403, 404),
            summary="A live twin's latest KPIs per cell", description=_IN_MEMORY)
def get_twin(twin: TwinName, _key: ReadKey, state: State) -> dict[str, Any]:
    return _twin(state, twin).state()


@router.delete("/twins/{twin}", response_model=TwinSummary, responses=responses(401, 403, 404),
               summary="Stop a live twin and free its place",
               description="Drops the twin and its telemetry from the server's memory (nothing in the store changes); "
               "with `dry_run` only says what would be dropped. " + _IN_MEMORY)
def delete_twin(twin: TwinName, _key: ControlKey, state: State, dry_run_q: DryRunQuery = False) -> dict[str, Any]:
    live = _twin(state, twin)
    if not dry_run_q:
        with live.lock:  # not while a step or an ingest is running on it
            try:
                state.twins.remove(twin)
            except LookupError as exc:  # deleted meanwhile by another request
                raise ApiError(404, str(exc), kind="not-found") from exc
    return live.summary()


@router.post(
    "/twins/{twin}/telemetry",
    response_model=TelemetryAck,
    responses=responses(401, 403, 404, 413, 422),
    summary="Ingest per-cell KPI telemetry into a running twin",
    description="All records are checked first (an unknown cell is named as `records.<i>.cell_id`; for a "
    "scenario twin also each KPI's name and range, `records.<i>.kpis.load`, and the state); then all are applied, "
    "or none. In a scenario twin a measured value overrides the model's while it is newer than the model's latest "
    "tick and younger than `telemetry_max_age_s`; a measured `tx_power_dbm` or state changes the twin itself. "
    + _IN_MEMORY,
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
        n = live.ingest(records, dry_run=body.dry_run, max_ahead_s=state.settings.telemetry_clock_skew_s)
    except TelemetryError as exc:
        raise validation_error("", [field_error(exc.field, exc.message)]) from exc
    return {"twin": twin, "accepted": n, "dry_run": body.dry_run}


def _simulated(state: Any, name: str) -> LiveTwin:
    live = _twin(state, name)
    if not live.simulated:
        raise ApiError(409, f"twin {name!r} holds telemetry only (created with cell_ids); create one from a "
                       "'scenario' to simulate", kind="conflict")
    return live


@router.get("/twins/{twin}/kpis", response_model=TwinKpis, responses=responses(401, 403, 404, 409),
            summary="Per-cell KPIs of a scenario twin: the model's latest tick with the telemetry in force",
            description="What the decision tables would read now; `measured` names the values taken from telemetry "
            "(409 for a telemetry-only twin). " + _IN_MEMORY)
def twin_kpis(twin: TwinName, _key: ReadKey, state: State) -> Response:
    return json_response(_simulated(state, twin).kpis())


@router.post("/twins/{twin}/step", response_model=TwinStepped, responses=responses(401, 403, 404, 409, 413, 422),
             summary="Advance a scenario twin's simulation",
             description="Simulates `ticks` ticks (at most the server's `max_step_ticks`; fewer at the end of the "
             "scenario's clock, 409 when it has ended). " + _IN_MEMORY)
def step_twin(twin: TwinName, body: TwinStep, _key: ControlKey, state: State,
              dry_run_q: DryRunQuery = False) -> Response:
    body.dry_run = body.dry_run or dry_run_q
    if body.ticks > state.settings.max_step_ticks:
        raise validation_error("", [field_error("ticks", f"at most {state.settings.max_step_ticks} ticks per "
                                                         f"request, got {body.ticks}")])
    live = _simulated(state, twin)
    sim = live.attached.sim
    if sim.tick >= sim.n_ticks:
        raise ApiError(409, f"twin {twin!r}: the scenario's clock has ended ({sim.n_ticks} ticks)", kind="conflict")
    done = 0 if body.dry_run else live.step(body.ticks)
    return json_response({**live.summary(), "ticks_done": done, "dry_run": body.dry_run})
