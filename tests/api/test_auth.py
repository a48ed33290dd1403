"""Authentication and authorisation: deny by default, role limits (BFLA), no mass-assigned tenant (BOPLA), OIDC
JWTs against a locally generated key, the cookie session, one error shape."""

from __future__ import annotations

import logging
import time

import pytest

from coreduce.api.auth import ACTIONS, ROLES, Principal, Resource, allowed

from .conftest import bearer, make_client

ERROR_KEYS = {"status", "code", "message", "detail"}


def test_allowed_is_deny_by_default(caplog):
    gov = Principal("g", "government", "ca", frozenset({"ca", "ca_park"}))
    with caplog.at_level(logging.DEBUG, logger="coreduce.api.auth"):
        assert allowed(gov, "read", Resource("site", "s", "ca_park"))
        assert not allowed(gov, "read", Resource("site", "s", "cb"))
        assert not allowed(gov, "read", Resource("site", "s", None))  # unowned: admin only
        assert not allowed(gov, "delete_everything")  # unknown action
        assert not allowed(Principal("x", "superuser", "ca", frozenset({"ca"})), "read")  # unknown role
        assert not allowed(None, "read")
        assert not allowed(gov, "decide.dispatch")  # role may not
        assert allowed(Principal("a", "admin", "*", frozenset({"ca", "cb"})), "read", Resource("site", "s", None))
    assert "allowed=False" in caplog.text and "reason=outside scope" in caplog.text
    # every role may read; only the listed roles may act
    assert all(ACTIONS["read"] >= {r} for r in ROLES)
    assert ACTIONS["decide.curtail"] == {"government", "analyst", "admin"}


@pytest.mark.postgres
def test_roles_limit_functions_and_no_tenant_mass_assignment(client, deployment):
    ent = bearer(deployment, "enterprise", "ca_park_e1")
    r = client.post("/api/v1/decisions/curtail", headers=ent, json={"example": "curtail_beijing_2016"})
    assert r.status_code == 403 and set(r.json()["error"]) == ERROR_KEYS
    r = client.post("/api/v1/ledger/verify", headers=ent)
    assert r.status_code == 403
    # BOPLA: a tenant in the body is not a field (the job's tenant is the caller's)
    r = client.post(
        "/api/v1/decisions/dispatch", headers=ent, json={"example": "dispatch_ercot_2019_week", "tenant": "cb"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    analyst = bearer(deployment, "analyst", "ca")
    some_alert = next(a for a, t in deployment.ws.owner["alert"].items() if t == "ca")
    assert client.post(f"/api/v1/alerts/{some_alert}/ack", headers=analyst).status_code == 403


@pytest.mark.postgres
def test_401_shape_cookie_session_and_bad_tokens(deployment):
    with make_client(deployment) as c:
        r = c.get("/api/v1/summary")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["code"] == "unauthorized"
        for bad in ("crd_nope", "x" * 5000, "a.b.c", ""):
            assert c.get("/api/v1/me", headers={"Authorization": f"Bearer {bad}"}).status_code == 401
        assert c.post("/api/v1/session", json={"token": "crd_nope"}).status_code == 401
        tok = deployment.tokens[("park", "ca_park")]
        r = c.post("/api/v1/session", json={"token": tok})
        assert r.status_code == 200 and r.json()["scope"] == ["ca_park", "ca_park_e1", "ca_park_e2"]
        assert "httponly" in r.headers["set-cookie"].lower()
        assert c.get("/api/v1/me").json()["tenant"] == "ca_park"  # the cookie alone
        c.delete("/api/v1/session")
        c.cookies.clear()
        assert c.get("/api/v1/me").status_code == 401
        # unknown path and validation errors have the same shape
        for resp in (c.get("/api/v1/nothing/here"), c.get("/api/v1/summary", headers=bearer(deployment, "park",
                     "ca_park"), params={"start": "not a time"})):  # fmt: skip
            assert set(resp.json()["error"]) == ERROR_KEYS


@pytest.mark.postgres
def test_oidc_jwt_against_a_local_jwks(deployment):
    """JWTs signed by a locally generated RSA key (the 'issuer'), verified against its JWKS."""
    jwt = pytest.importorskip("jwt")
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**__import__("json").loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "k1", "alg": "RS256"}
    iss, aud = "https://idp.example.test/realms/city", "coreduce"

    def token(k=key, **claims):
        base = {"iss": iss, "aud": aud, "sub": "alice", "exp": int(time.time()) + 300,
                "coreduce_role": "government", "coreduce_tenant": "cb"}  # fmt: skip
        return jwt.encode({**base, **claims}, k, algorithm="RS256", headers={"kid": "k1"})

    with make_client(deployment, oidc_issuer=iss, oidc_audience=aud, oidc_jwks={"keys": [jwk]}) as c:

        def me(t):
            return c.get("/api/v1/me", headers={"Authorization": f"Bearer {t}"})

        r = me(token())
        assert r.status_code == 200
        assert (r.json()["user_id"], r.json()["role"], r.json()["tenant"]) == ("alice", "government", "cb")
        sites = c.get("/api/v1/sites", headers={"Authorization": f"Bearer {token()}"}).json()["items"]
        assert {s["tenant"] for s in sites} == {"cb", "cb_e1"}
        assert me(token(k=other)).status_code == 401  # wrong key
        assert me(token(iss="https://evil.test")).status_code == 401
        assert me(token(aud="someone-else")).status_code == 401
        assert me(token(exp=int(time.time()) - 10)).status_code == 401
        assert me(token(coreduce_role="root")).status_code == 401
        assert me(token(coreduce_tenant="nowhere")).status_code == 401


def test_unexpected_errors_have_the_one_shape(tmp_path):
    """A route that fails unexpectedly answers 500 with the JSON error shape (no traceback, no HTML)."""
    from fastapi.testclient import TestClient

    from coreduce.api.app import create_app

    app = create_app(str(tmp_path / "ws.duckdb"))

    @app.get("/api/v1/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/boom")
        assert r.status_code == 500
        assert r.json() == {
            "error": {"status": 500, "code": "internal_error", "message": "unexpected RuntimeError", "detail": None}
        }
        r = c.put("/api/v1/health")
        assert r.status_code == 405 and set(r.json()["error"]) == ERROR_KEYS
