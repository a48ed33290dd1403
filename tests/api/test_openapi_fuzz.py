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


def test_no_server_errors_for_any_role(deployment):
    from hypothesis import given
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", make_app(deployment))
    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 25
    calls = []

    for op in ops:

        @given(case=op.as_strategy())
        @settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case):
            for role, tenant in PRINCIPALS:
                headers = {"Authorization": f"Bearer {deployment.tokens[(role, tenant)]}"}
                case.call_and_validate(headers=headers, checks=checks)
                calls.append(role)
            assert case.call().status_code < 500  # and without credentials

        run()
    assert len(calls) >= 5 * len(ops)
