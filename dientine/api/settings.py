"""API server settings (pydantic; every field documented, defaults marked as assumptions where they are)."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store_path: str | None = Field(
        None, description="Store root; None → env DIENTINE_STORE, else ./dientine_store"
    )
    admin_key: str | None = Field(
        default_factory=lambda: os.environ.get("DIENTINE_ADMIN_KEY"),
        description="Bootstrap admin key (env DIENTINE_ADMIN_KEY); None → print a one-time key at first start",
    )
    max_body_bytes: int = Field(
        1_048_576, gt=0, description="Request body limit in bytes (assumption: 1 MiB; 413 above)"
    )
    max_solve_body_bytes: int = Field(
        33_554_432, gt=0, description="Request body limit of POST /v1/solve in bytes (assumption: 32 MiB; solver "
        "problems are arrays of numbers, e.g. the bundled power example is 6.5 MB as JSON; 413 above)"
    )
    max_telemetry_records: int = Field(10_000, gt=0, description="Records per telemetry request (assumption)")
    telemetry_clock_skew_s: float = Field(
        60.0, ge=0, le=86_400, description="How far (s) a telemetry record's time may be ahead of the server's clock "
        "(assumption: a minute of clock skew between collectors and server; such a time counts as now, a later one "
        "is rejected with 422 naming records.<i>.time)"
    )
    max_live_twins: int = Field(
        4, ge=1, le=1000, description="Live twins held at once (assumption: a scenario twin holds its gain cache and "
        "users in memory; 409 above)"
    )
    max_step_ticks: int = Field(
        96, ge=1, description="Ticks one POST /v1/twins/{twin}/step may advance (assumption: a day in 15-min ticks)"
    )
    solve_time_limit_max_s: float = Field(
        60.0, gt=0, description="Upper bound on a synchronous solve's time limit (assumption)"
    )
    run_jobs: bool = Field(True, description="Start the background job runner in this process")
    job_workers: int = Field(1, ge=1, le=64, description="Concurrent job worker processes")
    job_timeout_s: float = Field(3600.0, gt=0, description="A job running longer is killed and failed")
    job_poll_interval_s: float = Field(0.2, gt=0, description="Job runner poll interval")
    log_flush_interval_s: float = Field(
        0.2, gt=0, description="Decision log batching interval (assumption: one catalog commit per 0.2 s)"
    )
    key_cache_ttl_s: float = Field(30.0, ge=0, description="How long a verified key is trusted without re-hashing")
    tables_dir: str | None = Field(None, description="Bundled decision tables; None → decisions/tables")
    thresholds_spec: str | None = Field(
        None, description="Threshold bounds YAML; None → decisions/tables/thresholds.yaml"
    )
    announce_admin_key: bool = Field(True, description="Print a generated bootstrap admin key to stderr")
