"""Property-based API testing with schemathesis against our OpenAPI document, in-process via ASGI (no network).

Every operation gets a bounded number of generated requests (with an admin key, so the handlers behind auth are
exercised); no response may be a 5xx, and responses must conform to the documented status codes, content
types and schemas.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_api import ADMIN, make_settings

from dientine.api.app import create_app

_tmp = Path(tempfile.mkdtemp(prefix="dientine-schema-"))
_app = create_app(make_settings(_tmp, solve_time_limit_max_s=1.0))


def _cleanup() -> None:
    _app.state.dientine.close()
    shutil.rmtree(_tmp, ignore_errors=True)


async def _without_lifespan(scope, receive, send):
    """The ASGI test transport runs the lifespan around every call; our state lives for the whole module."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await _app(scope, receive, send)


atexit.register(_cleanup)
schema = schemathesis.openapi.from_asgi("/v1/openapi.json", _without_lifespan)


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {ADMIN}"},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
