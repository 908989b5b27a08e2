"""Property-based API testing with schemathesis against our OpenAPI document, in-process via ASGI (no network).

Every operation gets a bounded number of generated requests (with an admin key, so the handlers behind auth are
exercised); no response may be a 5xx, and responses must conform to the documented status codes, content
types and schemas.
"""

from __future__ import annotations

import pytest
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


@pytest.fixture(scope="module")
def api_app(tmp_path_factory):
    app = create_app(make_settings(tmp_path_factory.mktemp("schema"), solve_time_limit_max_s=1.0))
    yield app
    app.state.dientine.close()


@pytest.fixture(scope="module")
def api_schema(api_app):
    return schemathesis.openapi.from_asgi("/v1/openapi.json", api_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {ADMIN}"},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
