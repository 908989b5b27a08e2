"""The decision API (FastAPI) under ``/v1``: ``create_app(settings)`` and ``serve(host, port, store_path)``.

``dientine serve --host H --port P`` calls :func:`serve`. One server process per store: it is the coordinating
process, the only one writing the DuckDB catalog (jobs run in worker processes that write files only).

First start: with ``DIENTINE_ADMIN_KEY`` set (or ``admin_key=``), that key gets the admin scope; otherwise, when
the store has no key yet, one admin key is generated and printed once to stderr. More keys: ``POST /v1/keys``
while the server runs, or :func:`dientine.api.keys.create_key` on a stopped store (DuckDB locks the catalog to one
process). Store location: ``store_path``, else env ``DIENTINE_STORE``, else ``./dientine_store``.
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
