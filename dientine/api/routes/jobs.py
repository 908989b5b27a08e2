"""What-if jobs: start (queued for the background worker), list, status, result, cancel."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import ValidationError

from dientine.api.deps import ControlKey, DryRunQuery, ReadKey, State
from dientine.api.models import Job, JobKinds, JobList, JobRequest, JobResult
from dientine.api.problems import ApiError, field_error, from_pydantic, responses, validation_error
from dientine.api.routes.decisions import json_response
from dientine.jobs import RESULT_NAME, UnknownJobKind, kinds, validate_params
from dientine.store import NotFound

router = APIRouter(tags=["jobs"])

JobId = Annotated[str, Path(max_length=64, examples=["9b1d3c2a4e5f60718293a4b5c6d7e8f9"])]


def job_out(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in ("job_id", "kind", "status", "created", "started", "finished", "error")} | {
        "params": row.get("payload") or {}
    }


def _get(state: Any, job_id: str) -> dict[str, Any]:
    try:
        return state.store.get_job(job_id)
    except NotFound as exc:
        raise ApiError(404, str(exc), kind="not-found") from exc


@router.post(
    "/jobs",
    response_model=Job,
    status_code=202,
    responses=responses(401, 403, 413, 422),
    summary="Start a what-if job",
    description="The job is queued in the catalog and run by a background worker process; poll `GET "
    "/v1/jobs/{job_id}`. A job's output appears completely or not at all. `dry_run` validates only.",
)
def start_job(body: JobRequest, _key: ControlKey, state: State, dry_run_q: DryRunQuery = False) -> Response:
    body.dry_run = body.dry_run or dry_run_q
    try:
        params = validate_params(body.kind, body.params)
    except UnknownJobKind as exc:
        raise validation_error("", [field_error("kind", str(exc))]) from exc
    except ValidationError as exc:
        raise from_pydantic(exc, prefix=("params",)) from exc
    if body.dry_run:
        return json_response({"job_id": None, "kind": body.kind, "status": "dry_run", "params": params}, 202)
    row = state.store.create_job(body.kind, params)
    if state.runner is not None:
        state.runner.wake()
    return json_response(job_out(row), 202, headers={"Location": f"/v1/jobs/{row['job_id']}"})


@router.get("/jobs", response_model=JobList, responses=responses(401, 403, 422), summary="List jobs")
def list_jobs(
    _key: ReadKey,
    state: State,
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    return {"jobs": [job_out(r) for r in state.store.list_jobs(status=status, limit=limit, offset=offset)]}


@router.get("/jobs/kinds", response_model=JobKinds, responses=responses(401, 403), summary="Job kinds and their params")
def list_kinds(_key: ReadKey) -> dict[str, Any]:
    return {"kinds": [{"name": k.name, "available": k.available(), "params_schema": k.params_model.model_json_schema()}
                      for k in sorted(kinds().values(), key=lambda k: k.name)]}


@router.get("/jobs/{job_id}", response_model=Job, responses=responses(401, 403, 404), summary="A job's status")
def get_job(job_id: JobId, _key: ReadKey, state: State) -> dict[str, Any]:
    return job_out(_get(state, job_id))


@router.get(
    "/jobs/{job_id}/result",
    response_model=JobResult,
    responses=responses(401, 403, 404, 409),
    summary="A finished job's result",
    description="409 while the job is queued or running, or when it failed or was cancelled.",
)
def get_job_result(job_id: JobId, _key: ReadKey, state: State) -> dict[str, Any]:
    row = _get(state, job_id)
    if row["status"] != "succeeded":
        raise ApiError(409, f"job {job_id!r} is {row['status']}" + (f": {row['error']}" if row["error"] else ""),
                       kind="job-not-succeeded")
    out = state.store.job_dir(job_id)
    result = json.loads((out / RESULT_NAME).read_text())
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    return {"job_id": job_id, "result": result, "files": files}


@router.delete(
    "/jobs/{job_id}",
    response_model=Job,
    responses=responses(401, 403, 404, 409),
    summary="Cancel a queued or running job",
)
def cancel_job(
    job_id: JobId, _key: ControlKey, state: State, dry_run: Annotated[bool, Query()] = False
) -> dict[str, Any]:
    row = _get(state, job_id)
    if row["status"] not in ("queued", "running"):
        raise ApiError(409, f"job {job_id!r} is already {row['status']}", kind="job-finished")
    if dry_run:
        return job_out(row | {"status": "cancelled"})
    done = state.runner.cancel(job_id) if state.runner is not None else state.store.cancel_queued_job(job_id)
    if not done:
        raise ApiError(409, f"job {job_id!r} finished before it could be cancelled", kind="job-finished")
    return job_out(_get(state, job_id))
