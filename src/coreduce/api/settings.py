"""Service settings: where the data is, how tenants are isolated, how callers are authenticated."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Settings:
    """Settings of one service instance.

    Parameters
    ----------
    runtime_role : str
        PostgreSQL role the request path connects as: not the tables' owner, not a superuser, no BYPASSRLS;
        provisioned (LOGIN, no password unless ``runtime_password``) by :func:`coreduce.api.db.provision`.
    runtime_password : str or None
        Its password (default ``$COREDUCE_RUNTIME_PASSWORD``); None with trust/peer authentication.
    app_checks : bool
        The application's tenant check (scope predicates in every query and the object check of
        :func:`coreduce.api.auth.allowed`).  Off only to prove that row-level security holds alone.
    rls : bool
        PostgreSQL row-level security for the request path (connect as ``runtime_role``).  Off (connect as the
        store URL's user, who bypasses it) only to prove that the application check holds alone.
    pool_min, pool_max : int
        Size of the request path's connection pool (PostgreSQL).
    oidc_issuer, oidc_audience : str or None
        Accept JWTs from this issuer (``iss``) for this audience (``aud``) as bearer tokens.
    oidc_jwks : str or dict or None
        The issuer's JSON Web Key Set: a URL (fetched and cached by PyJWT), or the JWKS itself as a dict.
    oidc_role_claim, oidc_tenant_claim : str
        Claims holding the coreduce role and tenant (``sub`` is the user id).
    worker : bool
        Run the background job worker inside the service process.
    cache_s : float
        How long a tenancy snapshot and a token lookup are reused [s].
    """

    runtime_role: str = "coreduce_app"
    runtime_password: str | None = field(default_factory=lambda: os.environ.get("COREDUCE_RUNTIME_PASSWORD"))
    app_checks: bool = True
    rls: bool = True
    pool_min: int = 2
    pool_max: int = 8
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks: str | dict[str, Any] | None = None
    oidc_role_claim: str = "coreduce_role"
    oidc_tenant_claim: str = "coreduce_tenant"
    worker: bool = True
    cache_s: float = 2.0
    cookie_secure: bool = False
