"""Solve a planning problem synchronously (tilt, power, spectrum, rru_sleep) through ``solvers.solve``."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ValidationError

from dientine.api.deps import DecideKey, DryRunQuery, Solver, State
from dientine.api.models import SolveRequest, SolveResponse
from dientine.api.problems import ApiError, field_error, from_pydantic, responses, validation_error
from dientine.store import DecisionRecord, new_id, utcnow

router = APIRouter(tags=["solve"])


def _shape(value: Any) -> Any:
    """Shape of a nested JSON list (lengths along the first elements; ``"ragged"`` when rows differ)."""
    shape: list[int] = []
    level = [value]
    while all(isinstance(v, list) for v in level) and level:
        lengths = {len(v) for v in level}
        if len(lengths) != 1:
            return "ragged"
        shape.append(lengths.pop())
        level = [x for v in level for x in v]
        if len(level) > 1_000_000:  # deeper levels are not walked for huge arrays
            break
    return shape


def problem_digest(problem: dict[str, Any]) -> dict[str, Any]:
    """What the decision log keeps of a solver problem (not the problem itself, which can be megabytes):
    the SHA-256 of its canonical JSON, its size, the shape of every array field and the scalar fields."""
    text = json.dumps(problem, sort_keys=True, separators=(",", ":"), allow_nan=True, default=str)
    fields: dict[str, Any] = {}
    for key, value in problem.items():
        if isinstance(value, list):
            fields[key] = {"shape": _shape(value)}
        elif isinstance(value, str | int | float | bool) or value is None:
            fields[key] = value if not isinstance(value, str) or len(value) <= 200 else value[:200] + "..."
        else:
            fields[key] = {"type": type(value).__name__}
    return {"sha256": hashlib.sha256(text.encode()).hexdigest(), "bytes": len(text), "fields": fields}


def _dump(solution: Any) -> dict[str, Any]:
    if isinstance(solution, BaseModel):
        return solution.model_dump(mode="json")
    return dict(solution)


@router.post(
    "/solve",
    response_model=SolveResponse,
    responses=responses(401, 403, 413, 422),
    summary="Solve a planning problem",
    description="`problem.kind` selects the solver (see `solvers.registered_kinds()`); the solution reports "
    "status, objective, bound, gap and wall time honestly. Logged to the decision log unless `dry_run` (in the "
    "body, or `?dry_run=true`); the log keeps a digest of the problem (SHA-256 of its canonical JSON, its size, "
    "the shape of each array field and the scalar fields), not the problem itself. This endpoint takes bodies "
    "up to the server's `max_solve_body_bytes` (default 32 MiB); other endpoints take up to `max_body_bytes` "
    "(default 1 MiB).",
)
def solve(
    body: SolveRequest,
    _key: DecideKey,
    state: State,
    solver: Solver,
    dry_run_q: DryRunQuery = False,
) -> dict[str, Any]:
    body.dry_run = body.dry_run or dry_run_q
    if body.time_limit_s > state.settings.solve_time_limit_max_s:
        raise validation_error("", [field_error(
            "time_limit_s", f"at most {state.settings.solve_time_limit_max_s} s on this server")])
    kind = body.problem.get("kind")
    if not isinstance(kind, str):
        raise validation_error("", [field_error("problem.kind", "required: the problem kind (e.g. 'rru_sleep')")])
    t0 = time.perf_counter()
    try:
        solution = solver(body.problem, time_limit_s=body.time_limit_s, backend=body.backend)
    except ValidationError as exc:
        raise from_pydantic(exc, prefix=("problem",)) from exc
    except ValueError as exc:  # ProblemDataError carries .field; unknown kind / backend say so in the message
        field = getattr(exc, "field", None)
        field = f"problem.{field}" if field else ("backend" if "backend" in str(exc) else "problem.kind")
        raise validation_error("", [field_error(field, str(exc))]) from exc
    wall_ms = (time.perf_counter() - t0) * 1e3
    sol = _dump(solution)
    status = str(sol.get("status", ""))
    objective = sol.get("objective")
    decision_id = None
    if not body.dry_run:
        decision_id = new_id()
        state.log.submit(DecisionRecord(
            decision_id=decision_id, time=utcnow(), table=f"solve:{kind}", inputs=problem_digest(body.problem),
            outputs=sol,
            solver_status=status, solver_objective=objective, decide_time_ms=wall_ms, action="solve",
        ))
    if not isinstance(objective, int | float):
        objective = None
    if status == "error" and sol.get("message"):
        raise ApiError(422, f"solver error: {sol['message']}", kind="solver-error")
    return {"decision_id": decision_id, "kind": kind, "status": status, "objective": objective, "solution": sol,
            "dry_run": body.dry_run}
