"""The service's data access: tenant-scoped reads on DuckDB (one user) or PostgreSQL (many), and provisioning.

Two layers keep tenants apart on PostgreSQL, each able to hold alone (``Settings.app_checks`` /
``Settings.rls`` switch one off in the tests):

1. **The application check**: every query carries a scope predicate (``entity IN (SELECT unnest(%s::text[]))``)
   built from the caller's tenant scope (:class:`Tenancy`), and every object goes through
   :func:`coreduce.api.auth.allowed`.
2. **Row-level security**: the request path connects as a non-owner runtime role, each request is one
   transaction that first runs ``set_config('app.tenant', $tenant, true)`` (transaction-local: a pooled
   connection never carries it to the next borrower), and every tenant table has ``FORCE ROW LEVEL SECURITY``
   with policies ``TO`` that role only, reading the tenant through ``SECURITY DEFINER`` scope functions
   (an empty or unset tenant is an empty scope: fail closed).  The runtime role may only ``SELECT`` and
   ``INSERT`` the ledger (no ``UPDATE``/``DELETE``).

On DuckDB (``coreduce serve`` on the demo workspace, one user) the application check is the only layer.
Writes that make results (decisions, acknowledgements) go through the library pipelines on the store URL, as
the CLI does, and are recorded on the ledger.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

from coreduce.api.settings import Settings
from coreduce.store import Store

#: Tables whose rows belong to a tenant, and the column (and kind of id) that says which.
TENANT_TABLES: dict[str, tuple[str, str]] = {
    "sites": ("tenant", "tenant"),
    "observations": ("site_id", "entity"),
    "alerts": ("site_id", "entity"),
    "activity": ("entity", "entity"),
    "inventory": ("entity", "entity"),
    "forecasts": ("series", "entity"),
    "decisions": ("run_id", "run"),
    "claims": ("run_id", "run"),
    "ledger": ("run_id", "run"),
    "run_tenants": ("tenant", "tenant"),
    "coreduce_jobs": ("tenant", "tenant"),
    "coreduce_summary_day": ("tenant", "tenant"),
    "coreduce_summary_sector": ("tenant", "tenant"),
}
#: What the runtime role may do with each table (nothing else: no UPDATE/DELETE on the ledger).
GRANTS: dict[str, str] = {
    "sites": "SELECT",
    "observations": "SELECT",
    "alerts": "SELECT",
    "activity": "SELECT",
    "inventory": "SELECT",
    "forecasts": "SELECT",
    "decisions": "SELECT",
    "claims": "SELECT, INSERT",
    "ledger": "SELECT, INSERT",
    "run_tenants": "SELECT, INSERT",
    "coreduce_jobs": "SELECT, INSERT",
    "emission_factors": "SELECT",  # reference data, not a tenant's
    "coreduce_summary_day": "SELECT",
    "coreduce_summary_sector": "SELECT",
}

JOBS_DDL = """
CREATE TABLE IF NOT EXISTS coreduce_jobs (
    job_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    progress DOUBLE PRECISION NOT NULL DEFAULT 0,
    message TEXT,
    result TEXT,
    run_id TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ
)"""
TOKENS_DDL = """
CREATE TABLE IF NOT EXISTS coreduce_api_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    tenant TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
)"""

#: Daily and per-sector inventory totals per owning tenant (PostgreSQL): what the summary reads, so a city's
#: summary sums a few rows per tenant and day instead of every facility's rows.  Kept exact by
#: :class:`SummaryRefresher`: statement triggers on ``inventory``, ``sites`` and ``tenant_entities`` bump
#: ``coreduce_state.version``; the refresher rebuilds both tables in one transaction within a second.
SUMMARY_DDL = (
    """CREATE TABLE IF NOT EXISTS coreduce_summary_day (
        tenant TEXT NOT NULL, pollutant TEXT NOT NULL, day DATE NOT NULL, amount DOUBLE PRECISION,
        PRIMARY KEY (tenant, pollutant, day))""",
    """CREATE TABLE IF NOT EXISTS coreduce_summary_sector (
        tenant TEXT NOT NULL, pollutant TEXT NOT NULL, sector TEXT NOT NULL, amount DOUBLE PRECISION,
        PRIMARY KEY (tenant, pollutant, sector))""",
    "CREATE TABLE IF NOT EXISTS coreduce_state (key TEXT PRIMARY KEY, version BIGINT NOT NULL)",
    "INSERT INTO coreduce_state VALUES ('summary', 1) ON CONFLICT DO NOTHING",
    """CREATE OR REPLACE FUNCTION coreduce_summary_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN UPDATE coreduce_state SET version = version + 1 WHERE key = 'summary'; RETURN NULL; END $$""",
    *(
        f"""CREATE OR REPLACE TRIGGER coreduce_summary_dirty AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t}
            FOR EACH STATEMENT EXECUTE FUNCTION coreduce_summary_dirty()"""
        for t in ("inventory", "sites", "tenant_entities")
    ),
)
_OWNER_SQL = """(SELECT site_id AS entity, tenant FROM sites WHERE tenant IS NOT NULL AND tenant <> ''
    UNION ALL SELECT entity, tenant FROM tenant_entities
      WHERE entity NOT IN (SELECT site_id FROM sites WHERE tenant IS NOT NULL AND tenant <> ''))"""
REFRESH_SQL = (
    "DELETE FROM coreduce_summary_day",
    "DELETE FROM coreduce_summary_sector",
    f"""INSERT INTO coreduce_summary_day (tenant, pollutant, day, amount)
        SELECT o.tenant, i.pollutant, CAST(i.period_start AS DATE), SUM(i.amount)
        FROM inventory i JOIN {_OWNER_SQL} o ON o.entity = i.entity GROUP BY 1, 2, 3""",
    f"""INSERT INTO coreduce_summary_sector (tenant, pollutant, sector, amount)
        SELECT o.tenant, i.pollutant, i.sector, SUM(i.amount)
        FROM inventory i JOIN {_OWNER_SQL} o ON o.entity = i.entity GROUP BY 1, 2, 3""",
)


def refresh_summaries(con: Any) -> int:
    """Rebuild the summary tables in one transaction (psycopg connection of the owner); the version built."""
    with con.transaction():
        con.execute("LOCK TABLE coreduce_summary_day, coreduce_summary_sector IN EXCLUSIVE MODE")
        version = con.execute("SELECT version FROM coreduce_state WHERE key = 'summary'").fetchone()[0]
        for stmt in REFRESH_SQL:
            con.execute(stmt)
    return int(version)


class SummaryRefresher:
    """A thread that rebuilds the summary tables when their inputs changed (checked every ``every_s``)."""

    def __init__(self, url: str, every_s: float = 0.5) -> None:
        self.url, self.every_s = url, every_s
        self.built = -1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="coreduce-summary", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        import psycopg

        con = None
        while not self._stop.is_set():
            try:
                if con is None or con.closed:
                    con = psycopg.connect(self.url, autocommit=True, options="-c TimeZone=UTC")
                v = con.execute("SELECT version FROM coreduce_state WHERE key = 'summary'").fetchone()[0]
                if v != self.built:
                    self.built = refresh_summaries(con)
            except Exception:  # the server is away for a while: retry
                con = None
            self._stop.wait(self.every_s)
        if con is not None:
            con.close()


_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _role_ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"runtime role {name!r}: expected a lower-case SQL identifier")
    return name


def is_postgres(url: str) -> bool:
    return str(url).startswith(("postgresql://", "postgres://"))


def runtime_url(url: str, role: str, password: str | None) -> str:
    """The store URL with the user replaced by the runtime role (password from the settings only)."""
    u = urlparse(url)
    host = u.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{role}{':' + password if password else ''}@{host}{':' + str(u.port) if u.port else ''}"
    return urlunparse(u._replace(netloc=netloc))


# ------------------------------------------------------------------------------------------- provisioning
def _scope_functions_sql(role: str) -> list[str]:
    """Scope functions the policies call once per query (``IN (SELECT f())`` is a hashed sub-plan).

    ``SECURITY DEFINER`` (the owner reads ``tenants`` and ``tenant_entities``, which the runtime role cannot),
    ``STABLE``, fixed ``search_path``.  ``app.tenant`` unset or empty: empty scope; ``*``: every tenant
    (the platform admin)."""
    sp = "SET search_path = public, pg_temp"
    return [
        # plpgsql: the plans of the statements inside are cached per session (an SQL function plans each call)
        f"""CREATE OR REPLACE FUNCTION coreduce_scope_tenants() RETURNS SETOF text
        LANGUAGE plpgsql STABLE SECURITY DEFINER {sp} AS $$
        DECLARE me text := NULLIF(current_setting('app.tenant', true), '');
        BEGIN
          IF me IS NULL THEN RETURN; END IF;
          IF me = '*' THEN RETURN QUERY SELECT tenant FROM tenants; RETURN; END IF;
          RETURN QUERY WITH RECURSIVE tree(tenant) AS (
              SELECT t.tenant FROM tenants t WHERE t.tenant = me
              UNION SELECT c.tenant FROM tenants c JOIN tree p ON c.parent = p.tenant
            ) SELECT tree.tenant FROM tree;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION coreduce_scope_entities() RETURNS SETOF text
        LANGUAGE plpgsql STABLE SECURITY DEFINER {sp} AS $$
        DECLARE scope text[] := ARRAY(SELECT coreduce_scope_tenants());
        BEGIN
          RETURN QUERY SELECT s.site_id FROM sites s WHERE s.tenant = ANY(scope)
            UNION SELECT e.entity FROM tenant_entities e WHERE e.tenant = ANY(scope);
        END $$""",
        f"""CREATE OR REPLACE FUNCTION coreduce_scope_runs() RETURNS SETOF text
        LANGUAGE plpgsql STABLE SECURITY DEFINER {sp} AS $$
        BEGIN
          RETURN QUERY SELECT r.run_id FROM run_tenants r WHERE r.tenant = ANY(ARRAY(SELECT coreduce_scope_tenants()));
        END $$""",
        f"""CREATE OR REPLACE FUNCTION coreduce_token_principal(h text)
        RETURNS TABLE(user_id text, role text, tenant text)
        LANGUAGE sql STABLE SECURITY DEFINER {sp} AS $$
          SELECT user_id, role, tenant FROM coreduce_api_tokens WHERE token_hash = h AND revoked_at IS NULL $$""",
        f"""CREATE OR REPLACE FUNCTION coreduce_tenants_in_scope()
        RETURNS TABLE(tenant text, name text, kind text, parent text)
        LANGUAGE sql STABLE SECURITY DEFINER {sp} AS $$
          SELECT tenant, name, kind, parent FROM tenants WHERE tenant IN (SELECT coreduce_scope_tenants())
          ORDER BY tenant $$""",
        *(
            f"REVOKE ALL ON FUNCTION {f} FROM PUBLIC"
            for f in (
                "coreduce_scope_tenants()",
                "coreduce_scope_entities()",
                "coreduce_scope_runs()",
                "coreduce_token_principal(text)",
                "coreduce_tenants_in_scope()",
            )
        ),
        *(
            f"GRANT EXECUTE ON FUNCTION {f} TO {role}"
            for f in (
                "coreduce_scope_tenants()",
                "coreduce_scope_entities()",
                "coreduce_scope_runs()",
                "coreduce_token_principal(text)",
                "coreduce_tenants_in_scope()",
            )
        ),
    ]


def _policies_sql(role: str) -> list[str]:
    fn = {"tenant": "coreduce_scope_tenants()", "entity": "coreduce_scope_entities()", "run": "coreduce_scope_runs()"}
    out = []
    for table, (col, kind) in TENANT_TABLES.items():
        pred = f'"{col}" IN (SELECT {fn[kind]})'
        out += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS coreduce_read ON {table}",
            f"CREATE POLICY coreduce_read ON {table} FOR SELECT TO {role} USING ({pred})",
            f"DROP POLICY IF EXISTS coreduce_insert ON {table}",
        ]
        if "INSERT" in GRANTS.get(table, ""):
            out.append(f"CREATE POLICY coreduce_insert ON {table} FOR INSERT TO {role} WITH CHECK ({pred})")
    return out


def provision(url: str, settings: Settings | None = None) -> None:
    """Make a PostgreSQL database ready for the service (idempotent): canonical tables, the job and token
    tables, the runtime role and its grants, the scope functions, FORCE row-level security and policies.

    ``url`` connects as the tables' owner: a superuser or a role with ``BYPASSRLS`` and ``CREATEROLE``
    (the same user the CLI and the job worker write with).
    """
    import psycopg

    s = settings or Settings()
    role = _role_ident(s.runtime_role)
    with Store(url) as st:
        st.create_tables()
    with psycopg.connect(url, autocommit=True, options="-c TimeZone=UTC") as con:
        con.execute("SELECT pg_advisory_lock(6366)")  # one provisioner at a time
        try:
            if not con.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                try:
                    con.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE")
                except psycopg.errors.DuplicateObject:
                    pass
            if s.runtime_password:
                con.execute(
                    psycopg.sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        psycopg.sql.Identifier(role), psycopg.sql.Literal(s.runtime_password)
                    )
                )
            with con.transaction():
                con.execute(JOBS_DDL)
                con.execute(TOKENS_DDL)
                for stmt in SUMMARY_DDL:
                    con.execute(stmt)
                con.execute("CREATE INDEX IF NOT EXISTS coreduce_jobs_queue ON coreduce_jobs (status, created_at)")
                con.execute("CREATE INDEX IF NOT EXISTS inventory_entity ON inventory (entity, pollutant)")
                con.execute("CREATE INDEX IF NOT EXISTS alerts_site ON alerts (site_id, status)")
                dbname = con.execute("SELECT current_database()").fetchone()[0]
                con.execute(f'GRANT CONNECT ON DATABASE "{dbname}" TO {role}')
                con.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
                tables = [r[0] for r in con.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
                for t in tables:
                    con.execute(f'REVOKE ALL ON TABLE "{t}" FROM {role}')
                for t, g in GRANTS.items():
                    con.execute(f"GRANT {g} ON TABLE {t} TO {role}")
                for stmt in _scope_functions_sql(role):
                    con.execute(stmt)
                for stmt in _policies_sql(role):
                    con.execute(stmt)
            refresh_summaries(con)
        finally:
            con.execute("SELECT pg_advisory_unlock(6366)")


# -------------------------------------------------------------------------------------------- tenancy
@dataclass
class Tenancy:
    """A snapshot of who owns what: the tenant tree, entity → tenant, run → tenant."""

    tenants: dict[str, dict[str, Any]]
    owner: dict[str, str]
    runs: dict[str, str]
    taken: float = field(default_factory=time.monotonic)
    _children: dict[str, list[str]] = field(default_factory=dict)
    _cache: dict[tuple[str, frozenset[str]], list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for t, row in self.tenants.items():
            self._children.setdefault(row.get("parent") or "", []).append(t)

    def scope(self, tenant: str, role: str) -> frozenset[str]:
        """The tenant and every tenant below it (all tenants for an admin); empty for an unknown tenant."""
        if role == "admin":
            return frozenset(self.tenants)
        if not tenant or tenant not in self.tenants:
            return frozenset()
        out, todo = set(), [tenant]
        while todo:
            t = todo.pop()
            if t not in out:
                out.add(t)
                todo += self._children.get(t, [])
        return frozenset(out)

    def ids(self, kind: str, scope: frozenset[str]) -> list[str]:
        """Ids of ``kind`` (``tenant``, ``entity``, ``run``) owned by tenants in ``scope``."""
        key = (kind, scope)
        if key not in self._cache:
            if kind == "tenant":
                ids = sorted(scope)
            elif kind == "entity":
                ids = sorted(e for e, t in self.owner.items() if t in scope)
            else:
                ids = sorted(r for r, t in self.runs.items() if t in scope)
            self._cache[key] = ids
        return self._cache[key]


def _load_tenancy(execute: Any) -> Tenancy:
    tenants = {
        r[0]: {"tenant": r[0], "name": r[1], "kind": r[2], "parent": r[3] or None}
        for r in execute("SELECT tenant, name, kind, parent FROM tenants")
    }
    owner = {r[0]: r[1] for r in execute("SELECT site_id, tenant FROM sites WHERE tenant IS NOT NULL AND tenant <> ''")}
    for e, t in execute("SELECT entity, tenant FROM tenant_entities"):
        owner.setdefault(e, t)
    runs = {r[0]: r[1] for r in execute("SELECT run_id, tenant FROM run_tenants")}
    return Tenancy(tenants, owner, runs)


# ----------------------------------------------------------------------------------------------- values
def clean(v: Any) -> Any:
    """A JSON-able value: NaN/inf → None, timestamps → ISO 8601, Decimal → float."""
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, Decimal):
        return clean(float(v))
    if isinstance(v, datetime | date):
        return v.isoformat()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [clean(x) for x in v]
    try:
        import numpy as np

        if isinstance(v, np.generic):
            return clean(v.item())
    except ImportError:  # pragma: no cover
        pass
    return str(v)


_PLAIN = (str, int, type(None))


def _clean_fast(v: Any) -> Any:
    if type(v) in _PLAIN:
        return v
    if type(v) is float:
        return v if math.isfinite(v) else None
    return clean(v)


# ---------------------------------------------------------------------------------------------- database
class Database:
    """Tenant-scoped queries on the workspace.  SQL is written with ``%s`` placeholders (both dialects).

    Parameters
    ----------
    url : str
        The store URL: a DuckDB file or ``postgresql://`` (the owner; the request path connects as the
        runtime role of ``settings`` unless ``settings.rls`` is off).
    settings : Settings
    """

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = str(url)
        self.settings = settings
        self.backend = "postgres" if is_postgres(self.url) else "duckdb"
        self._tenancy: Tenancy | None = None
        self._lock = threading.Lock()
        self.pool: Any = None
        self._duck: Any = None
        self._ops: Any = None

    # -- lifecycle
    def open_sync(self) -> Database:
        """Make the workspace ready (PostgreSQL: :func:`provision`; DuckDB: tables and the connection) without
        the request path's pool: enough for :meth:`ops_execute` (tokens, tenancy, the job queue)."""
        if self.backend == "postgres":
            provision(self.url, self.settings)
        else:
            from coreduce.store.duckdb import connect

            with Store(self.url) as st:  # the canonical tables, as the CLI makes them
                st.create_tables()
            self._duck = connect(str(Path(self.url)))
            self._duck.execute(JOBS_DDL.replace("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"))
            self._duck.execute(TOKENS_DDL.replace("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"))
            self._duck.execute("SET TimeZone = 'UTC'")
        return self

    def close_sync(self) -> None:
        if self._duck is not None:
            self._duck.close()
            self._duck = None
        if self._ops is not None:
            self._ops.close()
            self._ops = None

    async def open(self) -> None:
        self.open_sync()
        if self.backend == "postgres":
            from psycopg.rows import dict_row
            from psycopg_pool import AsyncConnectionPool

            conninfo = (
                runtime_url(self.url, self.settings.runtime_role, self.settings.runtime_password)
                if self.settings.rls
                else self.url
            )
            self.pool = AsyncConnectionPool(
                conninfo,
                min_size=self.settings.pool_min,
                max_size=self.settings.pool_max,
                kwargs={"row_factory": dict_row, "options": "-c TimeZone=UTC", "autocommit": True},
                open=False,
            )
            await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        self.close_sync()

    # -- the owner's side (tenancy, tokens, writes through the library)
    def ops_execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """Run one statement as the store URL's user (not tenant-scoped: tenancy, tokens, the job queue)."""
        if self.backend == "duckdb":
            with self._lock:
                cur = self._duck.cursor()
                try:
                    cur.execute(sql.replace("%s", "?"), list(params or []))
                    return cur.fetchall() if cur.description else []
                finally:
                    cur.close()
        import psycopg

        with self._lock:
            if self._ops is None or self._ops.closed:
                self._ops = psycopg.connect(self.url, autocommit=True, options="-c TimeZone=UTC")
            with self._ops.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []

    def tenancy(self, *, fresh: bool = False) -> Tenancy:
        t = self._tenancy
        if fresh or t is None or time.monotonic() - t.taken > self.settings.cache_s:
            t = self._tenancy = _load_tenancy(self.ops_execute)
        return t

    def add_run(self, run_id: str, tenant: str, user_id: str) -> None:
        """Record the tenant a run was made for (run_tenants), as the owner."""
        self.ops_execute(
            "INSERT INTO run_tenants (run_id, tenant, user_id) SELECT %s, %s, %s "
            "WHERE NOT EXISTS (SELECT 1 FROM run_tenants WHERE run_id = %s)",
            [run_id, tenant, user_id, run_id],
        )
        if self._tenancy is not None:
            self._tenancy.runs[run_id] = tenant
            self._tenancy._cache.clear()

    # -- the request path
    def tenant_guc(self, principal: Any) -> str:
        return "*" if principal.role == "admin" else principal.tenant

    def scope(self, principal: Any, column: str, kind: str) -> tuple[str, list[Any]]:
        """The application's scope predicate on ``column`` (ids of ``kind``), or ``TRUE`` when it is off."""
        if not self.settings.app_checks:
            return "TRUE", []
        ids = self.tenancy().ids(kind, principal.scope or frozenset())
        if not ids:
            return "FALSE", []
        return f"{column} IN (SELECT unnest(%s::text[]))", [ids]

    async def rows(self, principal: Any, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run one query in a transaction scoped to the principal's tenant; rows as dicts of JSON-able values."""
        if self.backend == "postgres":
            from psycopg import AsyncClientCursor
            from psycopg.rows import tuple_row

            async with self.pool.connection() as conn:
                # one round trip: BEGIN; set_config(.., true) (transaction-local: gone at COMMIT, so a pooled
                # connection never carries it on); the query; COMMIT.  Parameters are bound client-side (quoted
                # by psycopg); on an error the pool rolls the connection back before anyone else borrows it.
                cur = AsyncClientCursor(conn, row_factory=tuple_row)
                await cur.execute(
                    f"BEGIN; SELECT set_config('app.tenant', %s, true); {sql}; COMMIT",
                    [self.tenant_guc(principal), *params],
                )
                cur.nextset()  # set_config's row
                cur.nextset()  # the query's rows
                names = [d.name for d in cur.description or ()]
                rows = await cur.fetchall() if names else []
            return [dict(zip(names, map(_clean_fast, r), strict=True)) for r in rows]
        return await asyncio.to_thread(self._duck_rows, sql, params)

    def _duck_rows(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        cur = self._duck.cursor()
        try:
            cur.execute(sql.replace("%s", "?"), list(params))
            if not cur.description:
                return []
            names = [d[0] for d in cur.description]
            return [dict(zip(names, map(_clean_fast, r), strict=True)) for r in cur.fetchall()]
        finally:
            cur.close()

    async def execute(self, principal: Any, sql: str, params: Sequence[Any] = ()) -> int:
        """A write in the principal's tenant transaction (RLS ``WITH CHECK`` applies); the row count."""
        if self.backend == "postgres":
            async with self.pool.connection() as conn:
                async with conn.transaction():
                    await conn.execute("SELECT set_config('app.tenant', %s, true)", [self.tenant_guc(principal)])
                    cur = await conn.execute(sql, list(params))
                    return cur.rowcount

        def run() -> int:
            cur = self._duck.cursor()
            try:
                cur.execute(sql.replace("%s", "?"), list(params))
                return 1
            finally:
                cur.close()

        return await asyncio.to_thread(run)

    async def token_principal(self, token_hash: str) -> tuple[str, str, str] | None:
        """``(user_id, role, tenant)`` of an API token (by its SHA-256), or None."""
        if self.backend == "postgres":
            async with self.pool.connection() as conn:
                cur = await conn.execute("SELECT * FROM coreduce_token_principal(%s)", [token_hash])
                r = await cur.fetchone()
                await conn.rollback()
            return (r["user_id"], r["role"], r["tenant"]) if r else None
        rows = await asyncio.to_thread(
            self.ops_execute,
            "SELECT user_id, role, tenant FROM coreduce_api_tokens WHERE token_hash = %s AND revoked_at IS NULL",
            [token_hash],
        )
        return tuple(rows[0]) if rows else None  # type: ignore[return-value]

    def store(self) -> Store:
        """A library store on the workspace (the owner's URL), for the pipelines and recorded writes."""
        return Store(self.url)
