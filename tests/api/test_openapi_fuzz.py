"""schemathesis against the service's OpenAPI spec, in-process (ASGI), each generated request sent once per role
(government, park, enterprise, analyst, admin) and once without credentials: no 5xx, responses as documented."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (dev extra) is not installed")
from hypothesis import HealthCheck, settings  # noqa: E402

from .conftest import make_app  # noqa: E402

pytestmark = pytest.mark.postgres

PRINCIPALS = (
    ("government", "ca"),
    ("park", "ca_park"),
    ("enterprise", "cb_e1"),
    ("analyst", "ca_e3"),
    ("admin", "*"),
)


@pytest.fixture(scope="session")
def api_schema(deployment):
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", make_app(deployment))


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors_for_any_role(case, deployment):
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]
    for role, tenant in PRINCIPALS:
        headers = {"Authorization": f"Bearer {deployment.tokens[(role, tenant)]}"}
        case.call_and_validate(headers=headers, checks=checks)
    resp = case.call()
    assert resp.status_code < 500
