"""Solve a planning problem synchronously (tilt, power, spectrum, rru_sleep) through ``solvers.solve``."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ValidationError

from dientine.api.deps import DecideKey, Solver, State
from dientine.api.models import SolveRequest, SolveResponse
from dientine.api.problems import ApiError, field_error, from_pydantic, responses, validation_error
from dientine.store import DecisionRecord, new_id, utcnow

router = APIRouter(tags=["solve"])


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
    "status, objective, bound, gap and wall time honestly. Logged to the decision log unless `dry_run`.",
)
def solve(
    body: SolveRequest,
    _key: DecideKey,
    state: State,
    solver: Solver,
) -> dict[str, Any]:
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
            decision_id=decision_id, time=utcnow(), table=f"solve:{kind}", inputs=body.problem, outputs=sol,
            solver_status=status, solver_objective=objective, decide_time_ms=wall_ms, action="solve",
        ))
    if not isinstance(objective, int | float):
        objective = None
    if status == "error" and sol.get("message"):
        raise ApiError(422, f"solver error: {sol['message']}", kind="solver-error")
    return {"decision_id": decision_id, "kind": kind, "status": status, "objective": objective, "solution": sol,
            "dry_run": body.dry_run}
