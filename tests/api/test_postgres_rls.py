"""Row-level security as provisioned: policy lint, fail-closed, the pool GUC leak (and that our path avoids it),
the ledger INSERT-only for the runtime role."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from coreduce.api.auth import Principal
from coreduce.api.db import TENANT_TABLES, Database, runtime_url
from coreduce.api.settings import Settings

pytestmark = pytest.mark.postgres


def _rt(dep) -> str:
    return runtime_url(dep.url, dep.role, None)


def test_policy_lint(deployment):
    """Runtime role: not owner, not superuser, no BYPASSRLS; every tenant table ENABLE + FORCE RLS with policies
    for that role only that read the tenant through the scope functions in a sub-select (once per query)."""
    with psycopg.connect(deployment.url) as con:
        sup, bypass = con.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [deployment.role]
        ).fetchone()
        assert (sup, bypass) == (False, False)
        for table in TENANT_TABLES:
            owner, rls, force = con.execute(
                "SELECT pg_get_userbyid(relowner), relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE relname = %s AND relkind = 'r'",
                [table],
            ).fetchone()
            assert owner != deployment.role and rls and force, table
            pols = con.execute("SELECT roles::text[], qual, with_check FROM pg_policies WHERE tablename = %s", [table])
            pols = pols.fetchall()
            assert pols, table
            for roles, qual, check in pols:
                assert roles == [deployment.role]
                for expr in (qual, check):
                    if expr is not None:
                        assert "IN ( SELECT coreduce_scope_" in expr and "current_setting" not in expr, expr
        # no privileges on the tenancy and token tables: only through SECURITY DEFINER functions
        for t in ("tenants", "tenant_entities", "coreduce_api_tokens"):
            assert not con.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", [deployment.role, t]).fetchone()[0]


def test_fail_closed_and_with_check(deployment):
    with psycopg.connect(_rt(deployment), autocommit=True) as con:
        assert con.execute("SELECT count(*) FROM sites").fetchone()[0] == 0  # no tenant set
        con.execute("SELECT set_config('app.tenant', '', false)")
        assert con.execute("SELECT count(*) FROM inventory").fetchone()[0] == 0  # empty tenant
        con.execute("SELECT set_config('app.tenant', 'ca_park_e1', false)")
        sites = {r[0] for r in con.execute("SELECT site_id FROM sites")}
        assert sites == {s for s, t in deployment.ws.owner["site"].items() if t == "ca_park_e1"}
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            con.execute("INSERT INTO run_tenants (run_id, tenant) VALUES ('x' || random()::text, 'cb')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute("SELECT * FROM tenants")


def test_ledger_insert_only_for_the_runtime_role(deployment):
    with psycopg.connect(_rt(deployment), autocommit=True) as con:
        con.execute("SELECT set_config('app.tenant', '*', false)")
        seen = {r[0] for r in con.execute("SELECT run_id FROM ledger")}
        assert seen >= set(deployment.ws.owner["run"])  # (other tests may have added runs)
        for stmt in ("UPDATE ledger SET status = 'ok'", "DELETE FROM ledger", "TRUNCATE ledger",
                     "UPDATE claims SET amount = 0", "DELETE FROM claims"):  # fmt: skip
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute(stmt)


def test_session_set_leaks_through_a_pool_and_set_config_local_does_not(deployment):
    """A plain ``SET`` on a pooled connection reaches the next borrower (the guard is needed); the service's
    transaction-local ``set_config(.., true)`` does not: 400 alternating-tenant requests on a pool of one."""
    from psycopg_pool import ConnectionPool

    with ConnectionPool(_rt(deployment), min_size=1, max_size=1, open=True) as pool:
        with pool.connection() as con:
            con.execute("SET app.tenant = 'ca_park_e1'")
        with pool.connection() as con:  # borrower 2 sets nothing
            leaked = con.execute("SELECT count(*) FROM sites").fetchone()[0]
        assert leaked == 3  # A's rows, read by someone who set no tenant

    async def alternate() -> list[str]:
        db = Database(deployment.url, Settings(runtime_role=deployment.role, pool_min=1, pool_max=1))
        await db.open()
        bad = []
        try:
            for i in range(400):
                t = ("ca_park_e1", "cb_e1")[i % 2]
                rows = await db.rows(Principal("u", "enterprise", t, None), "SELECT site_id FROM sites")
                if not rows or any(f"~{t}~" not in r["site_id"] for r in rows):
                    bad.append(f"{i} {t}: {rows}")
                if i % 50 == 0:  # and a borrower that sets nothing sees nothing
                    async with db.pool.connection() as con:
                        cur = await con.execute("SELECT count(*) AS n FROM sites")
                        if (await cur.fetchone())["n"] != 0:
                            bad.append(f"{i}: unset borrower sees rows")
        finally:
            await db.close()
        return bad

    assert asyncio.run(alternate()) == []
