"""The decision API (FastAPI) under ``/v1``: ``create_app(settings)`` and ``serve(host, port, store_path)``.

``dientine serve --host H --port P`` calls :func:`serve`. One server process per store: it is the coordinating
process, the only one writing the DuckDB catalog (jobs run in worker processes that write files only).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve", "Settings"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from dientine.api.app import create_app

        return create_app
    if name == "Settings":
        from dientine.api.settings import Settings

        return Settings
    raise AttributeError(name)


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    store_path: str | None = None,
    *,
    admin_key: str | None = None,
    job_workers: int = 1,
    log_level: str = "warning",
    **settings: Any,
) -> None:
    """Run the API with uvicorn until interrupted (one process; clean shutdown re-queues running jobs)."""
    import uvicorn

    from dientine.api.app import create_app
    from dientine.api.settings import Settings

    extra: dict[str, Any] = {"store_path": store_path, "job_workers": job_workers, **settings}
    if admin_key is not None:
        extra["admin_key"] = admin_key
    app = create_app(Settings(**extra))
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
