"""Request and response bodies of the decision API (pydantic v2; examples feed the OpenAPI document)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints


def iso_utc(value: datetime) -> str:
    """RFC 3339 text in UTC with a ``Z`` (the catalog keeps naive UTC timestamps)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def to_naive_utc(value: datetime) -> datetime:
    """Incoming timestamps: aware → converted to UTC; naive → taken as UTC."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


Timestamp = Annotated[datetime, PlainSerializer(iso_utc, return_type=str, when_used="json")]
InTimestamp = Annotated[datetime, AfterValidator(to_naive_utc)]

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
#: A measured value: a finite JSON number (strict: ``true`` or ``"0.5"`` are type errors, not 1.0 and 0.5).
KpiNumber = Annotated[float, Field(allow_inf_nan=False, strict=True)]
Scope = Literal["read", "decide", "control", "admin"]
JSONScalar = str | bool | int | float | None


_EX_SOLVE_RESPONSE: dict[str, Any] = {
    "decision_id": "5f1c2a9e3b7d4e600000000000000031",
    "kind": "power",
    "status": "optimal",
    "objective": 0.0499,
    "solution": {"kind": "power", "status": "optimal", "objective": 0.0499, "power_w": [0.0249, 0.0249]},
    "dry_run": False,
}
_EX_JOB: dict[str, Any] = {
    "job_id": "5f1c2a9e3b7d4e60000000000000002a",
    "kind": "whatif",
    "status": "succeeded",
    "params": {"scenario": "city_day.yaml", "max_workers": 1},
    "created": "2026-01-01T10:00:00Z",
    "started": "2026-01-01T10:00:01Z",
    "finished": "2026-01-01T10:03:12Z",
    "error": None,
}
_EX_THRESHOLD_OUT: dict[str, Any] = {
    "name": "threshold_sleep_load",
    "value": 0.15,
    "version": 1,
    "min": 0.0,
    "max": 0.4,
    "reason": "default from thresholds.yaml",
    "changed_at": "2026-01-01T00:00:00Z",
    "changed_by": "system",
}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- decisions --------------------------------------------------------------------------------------------------
class EvaluateRequest(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"inputs": {"is_coverage_cell": False, "cell_asleep": False, "cell_load": 0.05, "hour": 3,
                            "neighbour_headroom": 0.6}, "explain": True},
                {"inputs": {"is_coverage_cell": False, "cell_asleep": False, "cell_load": 0.8, "hour": 14,
                            "neighbour_headroom": 0.2}, "decision": "energy_saving", "dry_run": True},
            ]
        },
    )
    inputs: dict[str, Any] = Field(
        description="Input values by name (the bundled `energy_saving` reads is_coverage_cell, cell_asleep, "
        "cell_load, hour, neighbour_headroom); thresholds not given are filled from the threshold store; a "
        "missing input is null; an unknown name or a value of the wrong type is refused (422)",
        max_length=10_000,
    )
    decision: str | None = Field(None, max_length=200, description="Decision to evaluate (default: the table's)")
    explain: bool = Field(False, description="Include the engine's explanation (rules, inputs, hit policy)")
    dry_run: bool = Field(False, description="Evaluate without logging the decision")
    source: str | None = Field(None, max_length=200, description="Who asks (controller name, cell id, ...)")


class EvaluateResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "decision_id": "3f0c1e4a9b5d4c2e8f7a6b5c4d3e2f1a",
                    "table": "energy_saving",
                    "table_version": None,
                    "result": {"energy_saving": "rru_sleep"},
                    "matched_rules": ["energy_saving_table_rule_4"],
                    "explanation": None,
                    "dry_run": False,
                    "decide_time_ms": 0.05,
                }
            ]
        }
    )
    decision_id: str | None = Field(description="Id in the decision log (None for a dry run)")
    table: str
    table_version: int | None = Field(description="Policy version (None for a bundled table)")
    result: Any = Field(description="The decision's output(s)")
    matched_rules: list[str]
    explanation: Any = None
    dry_run: bool
    decide_time_ms: float


class TableInfo(BaseModel):
    name: str
    source: Literal["bundled", "policy"]
    version: int | None


class TableList(BaseModel):
    tables: list[TableInfo]


class DecisionRow(BaseModel):
    decision_id: str
    time: Timestamp
    table: str
    table_version: int | None = None
    rule_ids: list[str] | None = None
    inputs: Any = None
    outputs: Any = None
    action: str | None = None
    solver_status: str | None = None
    solver_objective: float | None = None
    decide_time_ms: float | None = None
    adopted: bool | None = None
    outcome: Any = None
    outcome_time: Timestamp | None = None
    source: str | None = Field(None, description="Who asked (API callers), or `run` for a store run's closed loop")
    run_id: str | None = Field(None, description="The store run whose closed loop logged it (null: an API decision)")


class DecisionList(BaseModel):
    decisions: list[DecisionRow]
    limit: int
    offset: int


class OutcomeRequest(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"adopted": True, "outcome": {"energy_kwh": 412.5, "coverage_pct": 97.8}}]},
    )
    adopted: bool | None = Field(None, description="Whether the controller applied the decision")
    outcome: dict[str, JSONScalar] | None = Field(None, max_length=1000, description="Measured effect (KPIs)")
    dry_run: bool = False


class OutcomeResponse(BaseModel):
    decision: DecisionRow
    dry_run: bool


# -- solve ------------------------------------------------------------------------------------------------------
class SolveRequest(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "problem": {"kind": "rru_sleep", "...": "fields of solvers.rru_sleep.RruSleepProblem"},
                    "time_limit_s": 5,
                }
            ]
        },
    )
    problem: dict[str, Any] = Field(description="A solver problem; its 'kind' selects the solver")
    time_limit_s: float = Field(10.0, gt=0, le=3600, allow_inf_nan=False)
    backend: str | None = Field(None, max_length=64)
    dry_run: bool = Field(False, description="Solve without logging the result")


class SolveResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EX_SOLVE_RESPONSE]})

    decision_id: str | None
    kind: str
    status: str
    objective: float | None
    solution: dict[str, Any]
    dry_run: bool


# -- jobs -------------------------------------------------------------------------------------------------------
class JobRequest(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"kind": "whatif", "params": {"scenario": "city_day.yaml"}},
                {"kind": "echo", "params": {"message": "hi"}},
            ]
        },
    )
    kind: str = Field(max_length=64, description="Registered job kind: whatif, sleep, echo (GET /v1/jobs/kinds)")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameters of the kind; whatif: {scenario: file name under the server's scenarios/ "
        "| scenario_yaml: text, max_workers}",
    )
    dry_run: bool = Field(False, description="Validate and answer without queueing")


class Job(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EX_JOB]})

    job_id: str | None
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled", "dry_run"]
    params: dict[str, Any]
    created: Timestamp | None = None
    started: Timestamp | None = None
    finished: Timestamp | None = None
    error: str | None = None


class JobList(BaseModel):
    jobs: list[Job]


class JobKindInfo(BaseModel):
    name: str
    available: bool
    params_schema: dict[str, Any]


class JobKinds(BaseModel):
    kinds: list[JobKindInfo]


class JobResult(BaseModel):
    job_id: str
    result: Any
    files: list[str]


# -- twins ------------------------------------------------------------------------------------------------------
ScenarioFile = Annotated[str, StringConstraints(max_length=255, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]*\.ya?ml$")]
CellState = Literal["on", "light_sleep", "deep_sleep", "off", "failed"]


class TwinCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"name": "city-live", "cell_ids": ["0", "1", "2"]},
            {"name": "night-live", "scenario": "regression/quiet_night.yaml", "seed": 21,
             "telemetry_max_age_s": 900.0},
        ]},
    )
    name: Name
    cell_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None = Field(
        None, min_length=1, max_length=100_000,
        description="A telemetry-only twin with these cells (give this or `scenario`)",
    )
    scenario: ScenarioFile | None = Field(
        None, description="A scenario file under the server's scenarios directory (with a `clock`): the server "
        "simulates it and telemetry overrides its per-cell KPIs; cell ids are the cell indices as text",
    )
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="Override the scenario's seed")
    telemetry_max_age_s: FiniteFloat | None = Field(
        None, gt=0, le=604_800, description="Oldest telemetry (s) that still overrides the model (default 900 s)"
    )
    dry_run: bool = Field(False, description="Check the request (and build the scenario's twin) without keeping it")


class TwinSummary(BaseModel):
    name: str
    cells: int
    cells_reporting: int
    records: int
    created: Timestamp
    last_time: Timestamp | None
    scenario: str | None = Field(None, description="Scenario file of a simulated twin (null: telemetry only)")
    seed: int | None = None
    tick: int | None = Field(None, description="Ticks simulated so far")
    n_ticks: int | None = Field(None, description="Ticks of the scenario's clock")
    time_s: float | None = Field(None, description="Simulated time (s since the scenario's start)")
    telemetry_max_age_s: float | None = None


class TwinList(BaseModel):
    twins: list[TwinSummary]


class CellSample(BaseModel):
    time: Timestamp
    kpis: dict[str, float]
    state: CellState | None = None


class TwinState(TwinSummary):
    latest: dict[str, CellSample]


class TelemetryRecord(_In):
    cell_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    time: InTimestamp | None = Field(None, description="Measurement time, UTC if no offset (default: arrival); "
                                     "at most the server's `telemetry_clock_skew_s` ahead of its clock (a time "
                                     "ahead counts as now); for a scenario twin at most its `telemetry_max_age_s` old")
    kpis: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], KpiNumber] = Field(
        default_factory=dict, max_length=200,
        description="Measured KPIs (JSON numbers; a record gives kpis, a state or both). A scenario twin accepts "
        "load (0..1) or prb_util_pct (0..100), users, throughput_mbps, demand_mbps, unsatisfied_mbps, power_w, health "
        "(0..1) and tx_power_dbm (-30..80; applied to the twin's radio model)",
    )
    state: CellState | None = Field(None, description="Measured cell state (a scenario twin's cell follows it)")


class TelemetryBatch(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"records": [{"cell_id": "0", "kpis": {"prb_util_pct": 42.0, "throughput_mbps": 310.5}},
                                      {"cell_id": "1", "kpis": {"load": 0.0}, "state": "deep_sleep"}]}]
        },
    )
    records: list[TelemetryRecord] = Field(min_length=1)
    dry_run: bool = False


class TelemetryAck(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"twin": "city-live", "accepted": 57, "dry_run": False}]})

    twin: str
    accepted: int
    dry_run: bool


class TwinStep(_In):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ticks": 4}]})
    ticks: int = Field(1, ge=1, le=100_000, description="Ticks to simulate (at most the server's max_step_ticks)")
    dry_run: bool = False


class TwinStepped(TwinSummary):
    ticks_done: int = Field(description="Ticks simulated by this call (fewer at the end of the clock)")
    dry_run: bool


class CellKpis(BaseModel):
    cell_id: str
    state: CellState
    kpis: dict[str, float | None]
    measured: list[str] = Field(description="KPI columns (and `state`) whose value is the telemetry's")


class TwinKpis(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "twin": "night-live", "scenario": "regression/quiet_night.yaml", "seed": 21, "tick": 4, "n_ticks": 24,
        "time_s": 3600.0, "telemetry_max_age_s": 900.0, "now_s": 3612.5, "hour": 1.0,
        "cells": [{"cell_id": "0", "state": "on", "kpis": {"load": 0.42, "users": 61.0, "throughput_mbps": 12.5,
                                                          "neighbour_headroom": 0.71}, "measured": ["load"]}],
    }]})
    twin: str
    scenario: str
    seed: int
    tick: int
    n_ticks: int
    time_s: float = Field(description="Simulated time of the model (s since the scenario's start)")
    telemetry_max_age_s: float
    now_s: float = Field(description="The twin's clock now (model time plus wall time since the last step)")
    hour: float
    cells: list[CellKpis]


# -- thresholds, policies, keys -------------------------------------------------------------------------------
class ThresholdOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EX_THRESHOLD_OUT]})

    name: str
    value: float
    version: int
    min: float | None
    max: float | None
    reason: str
    changed_at: Timestamp
    changed_by: str


class ThresholdList(BaseModel):
    thresholds: list[ThresholdOut]


class ThresholdHistory(BaseModel):
    name: str
    history: list[ThresholdOut]


class ThresholdUpdate(_In):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"value": 25.0, "reason": "night load is lower"}]}
    )
    value: FiniteFloat
    reason: str = Field(min_length=1, max_length=500)
    dry_run: bool = False


class ThresholdChange(BaseModel):
    threshold: ThresholdOut
    dry_run: bool


class PolicyIn(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"format": "dmn", "text": "<definitions xmlns=...>...</definitions>"}]},
    )
    text: str = Field(min_length=1, description="The policy (a DMN XML document or the engine's YAML form)")
    format: Literal["dmn", "yaml"] = "dmn"
    dry_run: bool = False


class PolicyOut(BaseModel):
    name: str
    version: int
    format: str
    changed_at: Timestamp
    changed_by: str
    text: str | None = None


class PolicyList(BaseModel):
    policies: list[PolicyOut]


class PolicyChange(BaseModel):
    policy: PolicyOut
    dry_run: bool


class KeyCreate(_In):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "son-controller", "scopes": ["read", "decide"]}]}
    )
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    scopes: list[Scope] = Field(min_length=1, max_length=4)
    dry_run: bool = False


class KeyOut(BaseModel):
    key_id: str
    name: str
    scopes: list[str]
    created: Timestamp | None = None
    revoked: bool = False
    revoked_at: Timestamp | None = None


class KeyCreated(KeyOut):
    key: str | None = Field(description="The key itself, shown only in this response (None for a dry run)")
    dry_run: bool


class KeyList(BaseModel):
    keys: list[KeyOut]


class KeyRevoked(BaseModel):
    key: KeyOut
    dry_run: bool


class Health(BaseModel):
    status: Literal["ok"]
    version: str
