"""Decision tables: list, evaluate (the hot path), the decision log and decision outcomes."""

from __future__ import annotations

import json
import math
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from decisions import ModelError
from dientine.api.deps import ControlKey, DecideKey, DryRunQuery, ReadKey, State, Tables
from dientine.api.engine import InvalidInputs, UnknownTable
from dientine.api.models import (
    DecisionList,
    DecisionRow,
    EvaluateRequest,
    EvaluateResponse,
    InTimestamp,
    OutcomeRequest,
    OutcomeResponse,
    TableList,
    iso_utc,
)
from dientine.api.problems import ApiError, field_error, responses, validation_error
from dientine.store import DecisionRecord, NotFound, new_id, utcnow

router = APIRouter(tags=["decisions"])

TableName = Annotated[str, Path(max_length=128, description="Decision table (bundled file stem or policy name)",
                                examples=["energy_saving"])]
DecisionId = Annotated[str, Path(max_length=64, examples=["3f0c1e4a9b5d4c2e8f7a6b5c4d3e2f1a"])]


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    return str(value)


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Plain ``json.dumps`` (the hot path skips response-model validation); non-finite floats become null."""
    try:
        body = json.dumps(content, separators=(",", ":"), allow_nan=False, default=_default)
    except ValueError:
        body = json.dumps(_finite(content), separators=(",", ":"), allow_nan=False, default=_default)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _action(result: Any) -> str | None:
    if isinstance(result, dict):
        a = result.get("action")
        return a if isinstance(a, str) else None
    return result if isinstance(result, str) else None


@router.post(
    "/decisions/{table}/evaluate",
    response_model=EvaluateResponse,
    responses=responses(401, 403, 404, 413, 422),
    summary="Evaluate a decision table on given inputs",
    description="Thresholds not given in `inputs` are filled from the threshold store. An input that is left "
    "out (or null) is DMN null: no rule that tests it matches. Refused with 422 naming the field "
    "(`inputs.NAME`): a name the table does not read (GET /v1/tables lists the tables), a value of the wrong "
    "kind for the input's declared type, a non-finite number. The decision is logged "
    "(asynchronously, in batches) unless `dry_run` is true; `explain` adds the engine's explanation.",
)
async def evaluate(
    table: TableName,
    body: EvaluateRequest,
    request: Request,
    _key: DecideKey,
    dry_run_q: DryRunQuery = False,
) -> Response:
    body.dry_run = body.dry_run or dry_run_q
    state = request.app.state.dientine
    tables = state.tables
    t0 = time.perf_counter()
    try:
        ev = tables.evaluate(table, body.inputs, decision=body.decision, explain=body.explain,
                             defaults=state.thresholds.values())
    except UnknownTable as exc:
        raise ApiError(404, str(exc), kind="not-found") from exc
    except InvalidInputs as exc:
        raise validation_error("", [field_error(f"inputs.{n}", m) for n, m in exc.problems]) from exc
    except ModelError as exc:  # a bundled table that does not load is a server fault, not the caller's
        raise ApiError(500, f"table {table!r} cannot be loaded: {exc}", kind="table-broken") from exc
    except LookupError as exc:  # unknown decision name inside the table
        raise validation_error("", [field_error("decision", str(exc))]) from exc
    except (ValueError, TypeError) as exc:
        where = "decision" if body.decision and body.decision in str(exc) else "inputs"
        raise validation_error("", [field_error(where, str(exc))]) from exc
    decide_ms = (time.perf_counter() - t0) * 1e3
    decision_id = None
    if not body.dry_run:
        decision_id = new_id()
        state.log.submit(DecisionRecord(
            decision_id=decision_id, time=utcnow(), table=table, table_version=ev.table_version,
            inputs=ev.inputs_used, outputs=ev.result, rule_ids=ev.matched_rules, action=_action(ev.result),
            decide_time_ms=decide_ms, source=body.source,
        ))
    return json_response({
        "decision_id": decision_id, "table": table, "table_version": ev.table_version, "result": ev.result,
        "matched_rules": ev.matched_rules, "explanation": ev.explanation, "dry_run": body.dry_run,
        "decide_time_ms": decide_ms,
    })


@router.get("/tables", response_model=TableList, responses=responses(401, 403), summary="List decision tables")
async def list_tables(_key: ReadKey, tables: Tables) -> dict[str, Any]:
    return {"tables": tables.list_tables()}


@router.get("/decisions", response_model=DecisionList, responses=responses(401, 403, 404, 422),
            summary="Read the decision log (newest first)")
def list_decisions(
    _key: ReadKey,
    state: State,
    table: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[InTimestamp | None, Query(description="Only decisions at or after this time (UTC)")] = None,
    run_id: Annotated[str | None, Query(max_length=128, description="Only the decisions of this store run (a "
                                        "closed-loop run's log, `source` = run)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    state.log.flush()
    if run_id is not None:  # a run the catalog does not hold is an error, not an empty log
        try:
            state.store.get_run(run_id)
        except NotFound as exc:
            raise ApiError(404, f"query parameter run_id: {exc}", kind="not-found") from exc
    rows = state.store.list_decisions(table=table, limit=limit, offset=offset, since=since, run_id=run_id)
    return {"decisions": rows, "limit": limit, "offset": offset}


@router.get("/decisions/{decision_id}", response_model=DecisionRow, responses=responses(401, 403, 404),
            summary="Read one logged decision")
def get_decision(decision_id: DecisionId, _key: ReadKey, state: State) -> Any:
    state.log.flush()
    try:
        return state.store.get_decision(decision_id)
    except NotFound as exc:
        raise ApiError(404, str(exc), kind="not-found") from exc


@router.post(
    "/decisions/{decision_id}/outcome",
    response_model=OutcomeResponse,
    responses=responses(401, 403, 404, 413, 422),
    summary="Report whether a decision was adopted and what it did",
)
def report_outcome(
    decision_id: DecisionId, body: OutcomeRequest, _key: ControlKey, state: State, dry_run_q: DryRunQuery = False
) -> dict[str, Any]:
    body.dry_run = body.dry_run or dry_run_q
    if body.adopted is None and body.outcome is None:
        raise validation_error("", [field_error("adopted", "give 'adopted', 'outcome' or both")])
    state.log.flush()
    try:
        if body.dry_run:
            row = state.store.get_decision(decision_id)
            if body.adopted is not None:
                row["adopted"] = body.adopted
            if body.outcome is not None:
                row["outcome"] = body.outcome
                row["outcome_time"] = utcnow()
        else:
            row = state.store.record_outcome(decision_id, adopted=body.adopted, outcome=body.outcome)
    except NotFound as exc:
        raise ApiError(404, str(exc), kind="not-found") from exc
    return {"decision": row, "dry_run": body.dry_run}
