"""Who is calling, and may they: principals, roles, API tokens, OIDC JWTs and the one deny-by-default check.

Every route asks :func:`allowed` (logged at DEBUG on the ``coreduce.api.auth`` logger: principal, action,
resource, answer, reason).  An action not listed in :data:`ACTIONS`, a role not in :data:`ROLES` or a resource
owned by a tenant outside the caller's scope is denied.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from coreduce.api.errors import ApiError

log = logging.getLogger("coreduce.api.auth")

ROLES = ("government", "park", "enterprise", "analyst", "admin")
COOKIE = "coreduce_token"
TOKEN_PREFIX = "crd_"

#: Action → roles that may do it.  Anything else is denied.
ACTIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "alerts.ack": frozenset({"government", "park", "enterprise", "admin"}),
    # episode curtailment orders enterprises: a government (or its analysts) decides it
    "decide.curtail": frozenset({"government", "analyst", "admin"}),
    # dispatch of one's own units and storage
    "decide.dispatch": frozenset({"park", "enterprise", "analyst", "admin"}),
    "decide.portfolio": frozenset({"government", "park", "analyst", "admin"}),
    "calculate": frozenset(ROLES),
    "ledger.verify": frozenset({"government", "analyst", "admin"}),
}


@dataclass(frozen=True)
class Principal:
    """The caller: a user with one role in one tenant.

    ``scope`` is the set of tenants whose rows the caller may see (its tenant and every tenant below it; all
    for an admin), filled by the service from the tenancy; None when the application's tenant check is off.
    """

    user_id: str
    role: str
    tenant: str
    scope: frozenset[str] | None = frozenset()
    via: str = "token"


@dataclass(frozen=True)
class Resource:
    """What an action is on: a kind (``site``, ``alert``, ``run``, ``job`` …), its id and its owning tenant."""

    kind: str
    id: str | None = None
    tenant: str | None = None


def allowed(principal: Principal | None, action: str, resource: Resource | None = None) -> bool:
    """The one authorisation check, deny by default.

    Parameters
    ----------
    principal : Principal or None
        The caller (None: anonymous, always denied).
    action : str
        A key of :data:`ACTIONS`.
    resource : Resource or None
        The object acted on; its ``tenant`` must be in the caller's scope (an object without an owner is the
        platform's: an admin's only).  None for an action on the caller's own scope (lists, calculators).
    """
    ok, why = _decide(principal, action, resource)
    log.debug(
        "allowed=%s user=%s role=%s tenant=%s action=%s resource=%s reason=%s",
        ok,
        getattr(principal, "user_id", None),
        getattr(principal, "role", None),
        getattr(principal, "tenant", None),
        action,
        resource,
        why,
    )
    return ok


def _decide(p: Principal | None, action: str, r: Resource | None) -> tuple[bool, str]:
    if p is None:
        return False, "anonymous"
    if p.role not in ROLES:
        return False, "unknown role"
    roles = ACTIONS.get(action)
    if roles is None:
        return False, "unknown action"
    if p.role not in roles:
        return False, "role may not"
    if r is None or p.scope is None:
        return True, "role may" if r is None else "role may (tenant check off)"
    if not r.tenant:
        return (p.role == "admin"), "unowned object: admin only"
    if r.tenant in p.scope:
        return True, "in scope"
    return False, "outside scope"


# --------------------------------------------------------------------------------------------- tokens
def new_token() -> str:
    """A fresh API token (shown once; only its SHA-256 is stored)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(db: Any, user_id: str, role: str, tenant: str) -> str:
    """Mint a token for ``user_id`` with ``role`` in ``tenant`` (which must exist; an admin may use ``*``)."""
    from datetime import UTC, datetime

    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if not user_id.strip():
        raise ValueError("user: expected a non-empty user id")
    if not tenant or (tenant == "*" and role != "admin"):
        raise ValueError(f"tenant {tenant!r}: expected a tenant id of the tenants table")
    if tenant != "*" and tenant not in db.tenancy(fresh=True).tenants:
        raise ValueError(f"tenant {tenant!r} is not in the tenants table")
    tok = new_token()
    db.ops_execute(
        "INSERT INTO coreduce_api_tokens (token_hash, user_id, role, tenant, created_at) VALUES (%s, %s, %s, %s, %s)",
        [token_hash(tok), user_id, role, tenant, datetime.now(UTC)],
    )
    return tok


# ----------------------------------------------------------------------------------------------- OIDC
class JwtVerifier:
    """Verify bearer JWTs of an external OIDC issuer against its JWKS (PyJWT): signature, ``iss``, ``aud``,
    ``exp``; the role and tenant come from two claims."""

    def __init__(self, settings: Any) -> None:
        import jwt

        self.s = settings
        self._jwt = jwt
        self._client = jwt.PyJWKClient(settings.oidc_jwks) if isinstance(settings.oidc_jwks, str) else None
        self._set = jwt.PyJWKSet.from_dict(settings.oidc_jwks) if isinstance(settings.oidc_jwks, dict) else None

    def principal(self, token: str) -> tuple[str, str, str] | None:
        jwt = self._jwt
        try:
            if self._client is not None:
                key = self._client.get_signing_key_from_jwt(token).key
            else:
                kid = jwt.get_unverified_header(token).get("kid")
                keys = [k for k in self._set.keys if kid is None or k.key_id == kid]
                if not keys:
                    return None
                key = keys[0].key
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"],
                audience=self.s.oidc_audience,
                issuer=self.s.oidc_issuer,
                options={"require": ["exp", "iss", "sub"]},
            )
        except Exception as exc:  # any failure is "not authenticated"
            log.debug("jwt rejected: %s", exc)
            return None
        role, tenant = claims.get(self.s.oidc_role_claim), claims.get(self.s.oidc_tenant_claim)
        if not isinstance(role, str) or not isinstance(tenant, str):
            return None
        return str(claims["sub"]), role, tenant


# ------------------------------------------------------------------------------------------ dependency
def _token_from(request: Request) -> str | None:
    h = request.headers.get("authorization", "")
    if h[:7].lower() == "bearer ":
        return h[7:].strip() or None
    return request.cookies.get(COOKIE) or None


async def resolve(service: Any, token: str) -> Principal | None:
    """The principal a token stands for (API token or JWT), with its scope; None if it stands for nobody."""
    now = time.monotonic()
    hit = service.token_cache.get(token)
    if hit and now - hit[0] < service.settings.cache_s:
        ident = hit[1]
    else:
        ident = None
        if token.startswith(TOKEN_PREFIX) and len(token) < 200:
            ident = await service.db.token_principal(token_hash(token))
        elif service.jwt is not None and token.count(".") == 2:
            ident = service.jwt.principal(token)
        if len(service.token_cache) > 10_000:
            service.token_cache.clear()
        service.token_cache[token] = (now, ident)
    if ident is None:
        return None
    user_id, role, tenant = ident
    if role not in ROLES:
        return None
    ten = service.db.tenancy()
    if role != "admin" and tenant not in ten.tenants:
        return None
    scope = ten.scope(tenant, role) if service.settings.app_checks else None
    return Principal(user_id, role, tenant, scope)


async def optional_principal(request: Request) -> Principal | None:
    """The caller, or None when the request carries no valid credentials (for pages that show a login)."""
    tok = _token_from(request)
    if not tok:
        return None
    return await resolve(request.app.state.coreduce, tok)


async def current_principal(request: Request) -> Principal:
    """The caller; the 401 JSON error without valid credentials."""
    p = await optional_principal(request)
    if p is None:
        raise ApiError(401, "unauthorized", "a valid bearer token or coreduce_token cookie is required")
    return p


def require(principal: Principal, action: str, resource: Resource | None = None) -> None:
    """:func:`allowed` or an error: 404 when the object is outside the scope (no existence oracle), 403 when
    the role may not do the action at all."""
    if allowed(principal, action, resource):
        return
    if resource is not None and allowed(principal, action, None):
        from coreduce.api.errors import not_found

        raise not_found()
    raise ApiError(403, "forbidden", f"role {principal.role!r} may not {action}")
